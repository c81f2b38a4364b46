// The MariaDB/MySQL half of a restore drill: CHECK TABLE and a row count for every table
// outside the server's own schemas.
#pragma once

#include "base/status.h"
#include "engines/integrity.h"
#include "engines/mariadb/maria_instance.h"

namespace dbaas::engines {

// `instance` must be running. Damage is reported in the report's problems, not as an error.
Result<IntegrityReport> CheckMaria(const MariaInstance& instance);

}  // namespace dbaas::engines
