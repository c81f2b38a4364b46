#include "control/reservations.h"

#include <fmt/format.h>

namespace dbaas::control {

Status Reservations::ReserveBackup(const std::string& instance) {
  std::lock_guard lock(mu_);
  if (auto it = backing_up_.find(instance); it != backing_up_.end()) {
    return Status::FailedPrecondition(
        fmt::format("a backup of instance '{}' is already in progress (job {})", instance,
                    it->second),
        "wait for it to end");
  }
  backing_up_[instance] = "pending";
  return Status::Ok();
}

void Reservations::SetBackupJob(const std::string& instance, const std::string& job_id) {
  std::lock_guard lock(mu_);
  if (auto it = backing_up_.find(instance); it != backing_up_.end()) it->second = job_id;
}

void Reservations::EndBackup(const std::string& instance) {
  std::lock_guard lock(mu_);
  backing_up_.erase(instance);
}

std::optional<std::string> Reservations::BackupOf(const std::string& instance) const {
  std::lock_guard lock(mu_);
  auto it = backing_up_.find(instance);
  if (it == backing_up_.end()) return std::nullopt;
  return it->second;
}

void Reservations::UseBackup(const std::string& backup) {
  std::lock_guard lock(mu_);
  in_use_.insert(backup);
}

void Reservations::StopUsingBackup(const std::string& backup) {
  std::lock_guard lock(mu_);
  if (auto it = in_use_.find(backup); it != in_use_.end()) in_use_.erase(it);
}

bool Reservations::InUse(const std::string& backup) const {
  std::lock_guard lock(mu_);
  return in_use_.count(backup) > 0;
}

bool Reservations::Idle() const {
  std::lock_guard lock(mu_);
  return backing_up_.empty() && in_use_.empty();
}

}  // namespace dbaas::control
