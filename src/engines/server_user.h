// The OS user a database server runs as: when dbaasd runs as root, servers run as their
// Debian package's unprivileged user (PostgreSQL refuses root; MariaDB should not have
// it); otherwise as ourselves.
#pragma once

#include <optional>
#include <string>

#include "base/process.h"
#include "base/status.h"

namespace dbaas::engines {

// `name` (created as a system user if missing) when we are root, else none (ourselves).
Result<std::optional<UserIds>> ServerUser(const std::string& name);

// Gives `path` (and everything below it, by descriptor: no link is followed, VisitTreeBelow)
// to `user`; a no-op when `user` is none.
Status ChownTree(const std::string& path, const std::optional<UserIds>& user);

}  // namespace dbaas::engines
