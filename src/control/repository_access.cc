#include "control/repository_access.h"

#include "storage/repo_maintenance.h"

namespace dbaas::control {

RepositoryAccess::ReadHold RepositoryAccess::HoldForRead() const {
  return ReadHold{std::shared_lock(gc_)};
}

RepositoryAccess::WriteHold RepositoryAccess::HoldForWrite() {
  std::unique_lock writer(writer_);
  return WriteHold{std::move(writer), std::shared_lock(gc_)};
}

RepositoryAccess::ExclusiveHold RepositoryAccess::HoldExclusive() {
  std::unique_lock writer(writer_);
  return ExclusiveHold{std::move(writer), std::unique_lock(gc_)};
}

RepositoryAccess::ExclusiveHold RepositoryAccess::MakeExclusive(WriteHold&& hold) {
  hold.no_gc.unlock();  // readers that came meanwhile finish before the unique lock is had
  return ExclusiveHold{std::move(hold.writer), std::unique_lock(gc_)};
}

std::unique_lock<std::mutex> RepositoryAccess::HoldWriterOnly() {
  return std::unique_lock(writer_);
}

Result<std::unique_ptr<storage::Repository>> RepositoryAccess::Open() const {
  return storage::Repository::Open(path_);
}

RepositoryAccess::Sizes RepositoryAccess::CurrentSizes() const {
  std::lock_guard lock(sizes_mu_);
  auto now = std::chrono::steady_clock::now();
  std::shared_lock no_gc(gc_, std::try_to_lock);
  if (!no_gc.owns_lock()) return cached_.sizes;
  auto changed_at = storage::Repository::SnapshotsChangedAt(path_);
  if (!changed_at.ok()) return cached_.sizes;
  if (cached_.sizes.valid && cached_.snapshots_changed_at == *changed_at &&
      now - cached_.read_at < std::chrono::minutes(10)) {
    return cached_.sizes;
  }
  auto repo = Open();
  if (!repo.ok()) return cached_.sizes;
  auto stats = storage::ComputeStats(**repo);
  if (!stats.ok()) return cached_.sizes;
  cached_ = {{stats->logical_bytes, stats->stored_bytes, true}, *changed_at, now};
  return cached_.sizes;
}

}  // namespace dbaas::control
