// The OS user a database server runs as: when dbaasd runs as root, servers run as their
// Debian package's unprivileged user (PostgreSQL refuses root; MariaDB should not have
// it); otherwise as ourselves.
#pragma once

#include <optional>
#include <string>

#include "base/process.h"
#include "base/status.h"

namespace dbaas::runtime {

// `name` (created as a system user if missing) when we are root, else none (ourselves).
Result<std::optional<UserIds>> ServerUser(const std::string& name);

// Every instance's server runs as an OS user of its own (docs/SECURITY.md): whoever is the
// database's superuser is that user, so two instances sharing one could read and change
// each other's data. Named "dbaas-" and 8 random hex digits (Linux allows 32 characters),
// with a uid from [kFirstInstanceUid, kLastInstanceUid] higher than any given before on
// this machine (the high-water mark is kept in kInstanceUidFile under a lock), so a removed
// instance's uid never owns a later instance's files. None when we are not root (the
// servers then run as ourselves). The name is written to `record_path` (the instance's
// os-user file, ours) before the user is made, so that a daemon killed before the instance
// is complete leaves a record its successor removes the user by
// (RemoveRecordedInstanceUser).
inline constexpr uid_t kFirstInstanceUid = 1500000;
inline constexpr uid_t kLastInstanceUid = 1999999;
inline constexpr char kInstanceUidFile[] = "/var/lib/dbaas/last-instance-uid";
Result<std::optional<UserIds>> MakeInstanceUser(const std::string& instance,
                                                const std::string& record_path);
// The instance's file MakeInstanceUser records the user's name in.
inline constexpr char kOsUserRecord[] = "os-user";
// Removes the user `record_path` names, if it still exists; no record is fine.
Status RemoveRecordedInstanceUser(const std::string& record_path);
// The user MakeInstanceUser made, by name; none when we are not root.
Result<std::optional<UserIds>> InstanceUser(const std::string& name);
// userdel; a user already gone is fine, none is a no-op.
Status RemoveInstanceUser(const std::optional<UserIds>& user);

// Gives `path` (and everything below it, by descriptor: no link is followed, VisitTreeBelow)
// to `user`; a no-op when `user` is none.
Status ChownTree(const std::string& path, const std::optional<UserIds>& user);

}  // namespace dbaas::runtime
