// Which PostgreSQL settings a tenant may give an instance. An allowlist, not a denylist:
// a parameter we overlooked, or one a later release adds, is refused until someone has
// decided it is safe. Refused are settings that run commands, load code, move files or
// where the server listens, weaken crash safety or backups, or that dbaas sets itself.
#pragma once

#include <map>
#include <string>
#include <vector>

#include "base/status.h"

namespace dbaas::engines {

// Ok when every name in `config` is an allowed PostgreSQL 15 parameter (matched without
// regard to case, as PostgreSQL matches them) and every value fits on one line of
// postgresql.conf (no line break or NUL, at most 1024 bytes).
Status ValidatePgSettings(const std::map<std::string, std::string>& config);

// The allowed parameter names, lower-case and sorted (for docs/SECURITY.md).
const std::vector<std::string>& AllowedPgSettings();

}  // namespace dbaas::engines
