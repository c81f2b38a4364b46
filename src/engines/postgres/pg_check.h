// The PostgreSQL half of a restore drill: pg_amcheck (heap and B-tree checks, installing
// the amcheck extension where missing) over every database, and a row count per table.
#pragma once

#include "base/status.h"
#include "engines/integrity.h"
#include "engines/postgres/pg_instance.h"

namespace dbaas::engines {

// `instance` must be running. Corruption is reported in the report's problems, not as an
// error; an error means the check itself could not run.
Result<IntegrityReport> CheckPostgres(const PgInstance& instance);

}  // namespace dbaas::engines
