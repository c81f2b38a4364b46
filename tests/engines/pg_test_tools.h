// What the PostgreSQL engine tests share: running the server's own tools against an
// instance, and the consistency checks a restored pgbench database must pass.
#pragma once

#include <memory>
#include <string>
#include <vector>

#include <gtest/gtest.h>

#include "base/process.h"
#include "engines/postgres/pg_connection.h"
#include "engines/postgres/pg_instance.h"
#include "storage/repository.h"
#include "test_util.h"

namespace dbaas::engines {

// A data root (root_, traversable by the instances' users) with a repository in
// root_/repo, for tests that back PostgreSQL instances up; skipped without PostgreSQL 15.
class PgRepositoryTest : public ::testing::Test {
 protected:
  void SetUp() override;
  ProcessOptions Tool(const std::string& name, std::vector<std::string> args,
                      const PgInstance& inst) const;

  testing::TempDir root_;
  std::string bin_;
  std::unique_ptr<storage::Repository> repo_;
};

// The first value of the first row of `sql` ("" when there is none); an error fails the
// test.
std::string SqlValue(PgConnection& conn, const std::string& sql);

// `name` (pgbench, pg_amcheck, psql, ...) from `bin_dir`, connected to `inst` as postgres.
ProcessOptions PgTool(const std::string& bin_dir, const std::string& name,
                      std::vector<std::string> args, const PgInstance& inst);

// pg_amcheck --heapallindexed passes, and pgbench's invariant holds (every run used -n: the
// balances of accounts, tellers and branches and the history's deltas all sum alike), with
// at least one transaction in the history.
void ExpectPgbenchConsistent(const std::string& bin_dir, const PgInstance& inst);

}  // namespace dbaas::engines
