#include "control/remote_copier.h"

#include <fmt/format.h>
#include <spdlog/spdlog.h>

#include <chrono>

#include "base/parallel.h"
#include "control/bucket_record.h"
#include "storage/wal_archive.h"

namespace dbaas::control {
namespace {

double NowUnix() {
  return std::chrono::duration<double>(std::chrono::system_clock::now().time_since_epoch()).count();
}

}  // namespace

RemoteCopier::RemoteCopier(std::vector<storage::RemoteSpec> specs, std::string owner,
                           std::string host, objstore::S3Options options)
    : owner_(std::move(owner)), host_(std::move(host)), options_(std::move(options)) {
  for (auto& spec : specs) {
    auto bucket = std::make_unique<Bucket>();
    std::string name = spec.name;
    bucket->spec = std::move(spec);
    buckets_.emplace(name, std::move(bucket));
    counters_[name];
  }
}

std::vector<std::string> RemoteCopier::Names() const {
  std::vector<std::string> names;
  for (const auto& [name, bucket] : buckets_) names.push_back(name);
  return names;
}

Status RemoteCopier::CheckNames(const std::vector<std::string>& names) const {
  for (const auto& name : names) {
    if (Has(name)) continue;
    auto known = Names();
    return Status::InvalidArgument(
        fmt::format("repository '{}' is not configured", name),
        known.empty() ? "this daemon has no repositories (its config file's 'repositories')"
                      : fmt::format("configured: {}", fmt::join(known, ", ")));
  }
  return Status::Ok();
}

Result<storage::RemoteRepository*> RemoteCopier::Connect(Bucket& bucket, Access access) {
  if (!bucket.repo) {
    ASSIGN_OR_RETURN(bucket.client, storage::ConnectRemote(bucket.spec, options_));
    auto opened = Open(bucket, access);
    if (!opened.ok()) {
      bucket.client.reset();
      return opened.status().WithContext(fmt::format("repository '{}'", bucket.spec.name));
    }
    bucket.repo = std::move(opened).value();
    bucket.leased = false;
  }
  if (access == Access::kWrite && !bucket.leased) {
    RETURN_IF_ERROR(bucket.repo->AcquireLease(owner_, host_, false));
    bucket.leased = true;
  }
  return bucket.repo.get();
}

Result<std::unique_ptr<storage::RemoteRepository>> RemoteCopier::Open(Bucket& bucket,
                                                                      Access access) {
  objstore::ObjectStore& client = *bucket.client;
  auto opened = storage::RemoteRepository::Open(client, bucket.spec.key);
  if (!opened.ok() && opened.status().code() == StatusCode::kNotFound && access != Access::kRead) {
    // A bucket with no repository yet gets one, as the local repository is made on first start.
    RETURN_IF_ERROR(storage::RemoteRepository::Init(client, bucket.spec.key));
    spdlog::info("event=remote_repository_made repository={} bucket={}", bucket.spec.name,
                 bucket.spec.location.bucket);
    opened = storage::RemoteRepository::Open(client, bucket.spec.key);
  }
  return opened;
}

void RemoteCopier::Record(Bucket& bucket, const Status& status, uint64_t bytes) {
  if (!status.ok()) {
    bucket.repo.reset();
    bucket.client.reset();
    bucket.leased = false;
  }
  std::lock_guard lock(counters_mu_);
  Counters& c = counters_[bucket.spec.name];
  c.bytes_sent += bytes;
  if (status.ok()) {
    c.last_success_unix = NowUnix();
    c.last_failure_open = false;
  } else {
    c.failures++;
    c.last_error = status.ToString();
    c.last_failure_open = true;
  }
}

template <typename T>
Result<T> RemoteCopier::OnBucket(
    const std::string& name, const char* what, Access access,
    const std::function<Result<T>(storage::RemoteRepository&)>& operation,
    const std::function<uint64_t(const T&)>& bytes_sent) {
  auto it = buckets_.find(name);
  if (it == buckets_.end()) return CheckNames({name});
  Bucket& bucket = *it->second;
  std::lock_guard lock(bucket.mu);
  auto repo = Connect(bucket, access);
  Result<T> done = repo.ok() ? operation(**repo) : Result<T>(repo.status());
  Record(bucket, done.status(), done.ok() ? bytes_sent(done.value()) : 0);
  if (!done.ok()) return done.status().WithContext(fmt::format("{} repository '{}'", what, name));
  return done;
}

Result<storage::PushStats> RemoteCopier::PushSnapshot(const std::string& name,
                                                      const storage::Repository& local,
                                                      const catalog::BackupRecord& backup,
                                                      storage::Progress* progress) {
  return OnBucket<storage::PushStats>(
      name, "copy to", Access::kWrite,
      [&](storage::RemoteRepository& repo) {
        std::vector<uint8_t> record = EncodeBucketRecord(backup, repo.encrypted());
        return repo.Push(local, backup.snapshot_id, progress, record);
      },
      [](const storage::PushStats& stats) { return stats.bytes_sent; });
}

Status RemoteCopier::WriteRecord(const std::string& name, const catalog::BackupRecord& backup) {
  return OnBucket<bool>(
             name, "write a record to", Access::kWrite,
             [&](storage::RemoteRepository& repo) -> Result<bool> {
               RETURN_IF_ERROR(repo.WriteRecord(backup.snapshot_id,
                                                EncodeBucketRecord(backup, repo.encrypted())));
               return true;
             },
             [](const bool&) { return uint64_t{0}; })
      .status();
}

Result<std::vector<RemoteCopier::BucketSnapshot>> RemoteCopier::ListSnapshots(
    const std::string& name) {
  return OnBucket<std::vector<BucketSnapshot>>(
      name, "list", Access::kRead,
      [&](storage::RemoteRepository& repo) -> Result<std::vector<BucketSnapshot>> {
        ASSIGN_OR_RETURN(std::vector<storage::Manifest> manifests, repo.ListSnapshots());
        std::vector<BucketSnapshot> out(manifests.size());
        // Reads in parallel (the repository's object reads are; its index is not touched).
        (void)ParallelFor(manifests.size(), 8, [&](size_t i, unsigned) -> Status {
          BucketSnapshot& listed = out[i];
          listed.snapshot = std::move(manifests[i]);
          listed.encrypted = repo.encrypted();
          auto record = repo.ReadRecord(listed.snapshot.id);
          if (record.ok()) {
            listed.record = std::move(record).value();
          } else {
            listed.record_status = record.status();
          }
          return Status::Ok();
        });
        return out;
      },
      [](const std::vector<BucketSnapshot>&) { return uint64_t{0}; });
}

Status RemoteCopier::TakeOverLease(const std::string& name) {
  return OnBucket<bool>(
             name, "take over", Access::kTakeOver,
             [&](storage::RemoteRepository& repo) -> Result<bool> {
               RETURN_IF_ERROR(repo.AcquireLease(owner_, host_, true));
               buckets_.at(name)->leased = true;
               spdlog::warn("event=remote_lease_taken_over repository={} owner={}", name, owner_);
               return true;
             },
             [](const bool&) { return uint64_t{0}; })
      .status();
}

bool RemoteCopier::Leased(const std::string& name) const {
  auto it = buckets_.find(name);
  return it != buckets_.end() && it->second->leased;
}

const storage::RemoteSpec* RemoteCopier::Spec(const std::string& name) const {
  auto it = buckets_.find(name);
  return it == buckets_.end() ? nullptr : &it->second->spec;
}

Result<storage::PullStats> RemoteCopier::PullSnapshot(const std::string& name,
                                                      storage::Repository& local,
                                                      const std::string& snapshot_id,
                                                      storage::Progress* progress) {
  return OnBucket<storage::PullStats>(
      name, "fetch from", Access::kRead,
      [&](storage::RemoteRepository& repo) { return repo.Pull(snapshot_id, local, progress); },
      [](const storage::PullStats&) { return uint64_t{0}; });
}

Result<storage::WalCopyStats> RemoteCopier::PullWal(const std::string& name,
                                                    const std::string& archive_id,
                                                    const std::string& repo_path) {
  return OnBucket<storage::WalCopyStats>(
      name, "fetch WAL from", Access::kRead,
      [&](storage::RemoteRepository& repo) { return repo.PullWal(archive_id, repo_path); },
      [](const storage::WalCopyStats&) { return uint64_t{0}; });
}

Status RemoteCopier::RemoveSnapshot(const std::string& name, const std::string& snapshot_id) {
  return OnBucket<bool>(
             name, "remove from", Access::kWrite,
             [&](storage::RemoteRepository& repo) -> Result<bool> {
               // Gone already (removed before, or never committed): done, no failure of
               // the bucket's.
               Status removed = repo.RemoveSnapshot(snapshot_id);
               if (removed.code() == StatusCode::kNotFound) return false;
               RETURN_IF_ERROR(removed);
               return true;
             },
             [](const bool&) { return uint64_t{0}; })
      .status();
}

Status RemoteCopier::RemoveWalArchive(const std::string& name, const std::string& archive_id) {
  return OnBucket<uint64_t>(
             name, "remove a WAL archive from", Access::kWrite,
             [&](storage::RemoteRepository& repo) { return repo.RemoveWalArchive(archive_id); },
             [](const uint64_t&) { return uint64_t{0}; })
      .status();
}

Result<storage::RemoteGcReport> RemoteCopier::CollectGarbage(const std::string& name,
                                                             std::chrono::seconds grace) {
  return OnBucket<storage::RemoteGcReport>(
      name, "collect the garbage of", Access::kWrite,
      [&](storage::RemoteRepository& repo) { return repo.CollectGarbage(grace); },
      [](const storage::RemoteGcReport&) { return uint64_t{0}; });
}

Status RemoteCopier::ShipWal(const std::string& name, const std::string& repo_path,
                             const std::map<std::string, std::string>& keep_from) {
  auto it = buckets_.find(name);
  if (it == buckets_.end()) return CheckNames({name});
  Bucket& bucket = *it->second;
  ASSIGN_OR_RETURN(auto ids, storage::WalArchive::ListIds(repo_path));
  std::lock_guard lock(bucket.mu);
  Status shipped;
  uint64_t files = 0, bytes = 0, pruned = 0;
  auto repo = Connect(bucket, Access::kWrite);
  if (!repo.ok()) shipped = repo.status();
  for (size_t i = 0; shipped.ok() && i < ids.size(); ++i) {
    // An archive removed since it was listed (its instance deleted) is no failure of the
    // bucket's; anything else is.
    if (!storage::WalArchive::Open(repo_path, ids[i]).ok()) continue;
    auto keep = keep_from.find(ids[i]);
    const std::string from = keep == keep_from.end() ? "" : keep->second;
    auto copied = (*repo)->PushWal(repo_path, ids[i], from);
    if (!copied.ok()) {
      shipped = copied.status();
      break;
    }
    files += copied->files;
    bytes += copied->bytes;
    if (from.empty()) continue;
    auto removed = (*repo)->RemoveWalBefore(ids[i], from);
    if (!removed.ok()) {
      shipped = removed.status();
      break;
    }
    pruned += removed.value();
  }
  std::string before;
  {
    std::lock_guard counters(counters_mu_);
    before = counters_[name].last_failure_open ? counters_[name].last_error : "";
  }
  Record(bucket, shipped, bytes);
  if (!shipped.ok() && shipped.ToString() == before) {
    // The same failure as the last tick's (a bucket leased to another daemon, down for a
    // while): counted, logged once.
    spdlog::debug("event=wal_ship_failed repository={} error=\"{}\"", name, shipped.ToString());
  } else if (!shipped.ok()) {
    spdlog::warn("event=wal_ship_failed repository={} error=\"{}\"", name, shipped.ToString());
  } else if (files > 0 || pruned > 0) {
    spdlog::info("event=wal_shipped repository={} files={} bytes={} pruned={}", name, files, bytes,
                 pruned);
  }
  return shipped;
}

std::map<std::string, RemoteCopier::Counters> RemoteCopier::CountersByName() const {
  std::lock_guard lock(counters_mu_);
  return counters_;
}

}  // namespace dbaas::control
