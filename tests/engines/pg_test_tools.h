// What the PostgreSQL engine tests share: running the server's own tools against an
// instance, and the consistency checks a restored pgbench database must pass.
#pragma once

#include <string>
#include <vector>

#include "base/process.h"
#include "engines/postgres/pg_instance.h"

namespace dbaas::engines {

// `name` (pgbench, pg_amcheck, psql, ...) from `bin_dir`, connected to `inst` as postgres.
ProcessOptions PgTool(const std::string& bin_dir, const std::string& name,
                      std::vector<std::string> args, const PgInstance& inst);

// pg_amcheck --heapallindexed passes, and pgbench's invariant holds (every run used -n: the
// balances of accounts, tellers and branches and the history's deltas all sum alike), with
// at least one transaction in the history.
void ExpectPgbenchConsistent(const std::string& bin_dir, const PgInstance& inst);

}  // namespace dbaas::engines
