// What the service's operations have reserved while they run: the one backup each instance
// may have in progress, and the backups restores and drills read (not deleted meanwhile).
// A conflict is a 409 with the job to wait for.
//
// Thread-safety: its own mutex, a leaf in the lock order (docs/ARCHITECTURE.md): taken
// under Service::mu_ where a check must be atomic with the service's own state.
#pragma once

#include <map>
#include <mutex>
#include <optional>
#include <set>
#include <string>

#include "base/status.h"

namespace dbaas::control {

class Reservations {
 public:
  // kFailedPrecondition naming the running job if `instance` has a backup in progress;
  // otherwise reserves it (job "pending" until SetBackupJob).
  Status ReserveBackup(const std::string& instance);
  // The reservation's job, once it has one (a reservation already ended is left ended).
  void SetBackupJob(const std::string& instance, const std::string& job_id);
  void EndBackup(const std::string& instance);
  // The job of the backup in progress on `instance`, if any.
  std::optional<std::string> BackupOf(const std::string& instance) const;

  // A restore or a drill reads `backup` until StopUsingBackup (uses are counted).
  void UseBackup(const std::string& backup);
  void StopUsingBackup(const std::string& backup);
  bool InUse(const std::string& backup) const;

  // Nothing reserved: no backup runs and no backup is read.
  bool Idle() const;

 private:
  mutable std::mutex mu_;
  std::map<std::string, std::string> backing_up_;  // instance -> job id; guarded by mu_
  std::multiset<std::string> in_use_;              // backup names; guarded by mu_
};

}  // namespace dbaas::control
