// The daemon's remote repositories (its `repositories` configuration): pushes backups'
// snapshots to buckets, ships the archived WAL to every bucket, and keeps what /metrics
// reports of each (bytes sent, failures, the last success).
//
// A bucket is connected on first use: opened, and made when a write finds no repository
// there yet. Writes (copies, removals, gc, WAL shipping) take the writer's lease for this
// daemon (its local repository's id) first; a bucket leased to another daemon is refused
// until this one takes it over explicitly (TakeOverLease). Reads (listing, fetching) need
// no lease: a disaster-recovery host lists and restores before it takes a bucket over.
// A failed operation drops the connection, and the next one connects again.
//
// Buckets are independent: one at a time per bucket (a RemoteRepository is not
// thread-safe), any number of buckets at once, so an unreachable one holds up no other.
// Lock order: the caller's RepositoryAccess hold before a bucket's lock; never under
// Service's mutex.
#pragma once

#include <atomic>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <vector>

#include "base/status.h"
#include "catalog/catalog.h"
#include "objstore/s3_client.h"
#include "storage/progress.h"
#include "storage/remote_repository.h"
#include "storage/remote_spec.h"
#include "storage/repository.h"

namespace dbaas::control {

class RemoteCopier {
 public:
  struct Counters {
    uint64_t bytes_sent = 0;
    uint64_t failures = 0;
    double last_success_unix = 0;  // 0: never
    std::string last_error;
    bool last_failure_open = false;  // the last operation failed (with last_error)
  };

  RemoteCopier(std::vector<storage::RemoteSpec> specs, std::string owner, std::string host,
               objstore::S3Options options = {});
  RemoteCopier(const RemoteCopier&) = delete;
  RemoteCopier& operator=(const RemoteCopier&) = delete;

  bool Has(const std::string& name) const { return buckets_.count(name) > 0; }
  std::vector<std::string> Names() const;
  // kInvalidArgument naming the configured ones unless every name is configured.
  Status CheckNames(const std::vector<std::string>& names) const;

  // What a bucket holds of one snapshot: its manifest's header, and the record pushed with
  // it (control/bucket_record.h; none from earlier builds), or why that cannot be read.
  struct BucketSnapshot {
    storage::Manifest snapshot;
    std::optional<std::vector<uint8_t>> record;
    Status record_status;
    bool encrypted = false;  // the repository seals its objects (the record is authenticated)
  };

  // Pushes the snapshot of `backup` (ready) from `local` (under the caller's read hold) to
  // `name`, with the backup's record (its secret only where the bucket is encrypted).
  Result<storage::PushStats> PushSnapshot(const std::string& name, const storage::Repository& local,
                                          const catalog::BackupRecord& backup,
                                          storage::Progress* progress);
  // Writes the record of `backup`, whose snapshot bucket `name` holds, anew.
  Status WriteRecord(const std::string& name, const catalog::BackupRecord& backup);
  // The snapshots in bucket `name`, newest first, with their records.
  Result<std::vector<BucketSnapshot>> ListSnapshots(const std::string& name);
  // Takes bucket `name`'s writer's lease from whichever daemon holds it: that one is
  // refused from then on. For a host that replaces a lost one.
  Status TakeOverLease(const std::string& name);
  // Whether this daemon holds bucket `name`'s lease (as far as its last write knew).
  bool Leased(const std::string& name) const;
  const storage::RemoteSpec* Spec(const std::string& name) const;
  // Copies snapshot `snapshot_id` of bucket `name` into `local` (under the caller's write
  // hold and the repository's writer lock): the blobs it lacks, then the manifest.
  Result<storage::PullStats> PullSnapshot(const std::string& name, storage::Repository& local,
                                          const std::string& snapshot_id,
                                          storage::Progress* progress);
  // Copies what the local repository at `repo_path` lacks of WAL archive `archive_id` from
  // bucket `name` (under the caller's hold of the repository's writer).
  Result<storage::WalCopyStats> PullWal(const std::string& name, const std::string& archive_id,
                                        const std::string& repo_path);
  // Removes snapshot `snapshot_id` from bucket `name`; one that is not there is fine.
  Status RemoveSnapshot(const std::string& name, const std::string& snapshot_id);
  // Deletes WAL archive `archive_id` from bucket `name` (none there is fine).
  Status RemoveWalArchive(const std::string& name, const std::string& archive_id);
  // Deletes what no snapshot of bucket `name` references, older than `grace`.
  Result<storage::RemoteGcReport> CollectGarbage(const std::string& name,
                                                 std::chrono::seconds grace);
  // Ships the WAL archives of the local repository at `repo_path` that bucket `name` lacks.
  // For an archive in `keep_from` (archive id -> WalFileName position), only the files from
  // that position on, and the bucket's files before it are deleted: no backup there needs
  // them. A failure is logged and counted.
  Status ShipWal(const std::string& name, const std::string& repo_path,
                 const std::map<std::string, std::string>& keep_from = {});

  std::map<std::string, Counters> CountersByName() const;

 private:
  struct Bucket {
    storage::RemoteSpec spec;
    std::mutex mu;  // one operation at a time; guards client and repo
    std::unique_ptr<objstore::S3Client> client;
    std::unique_ptr<storage::RemoteRepository> repo;
    std::atomic<bool> leased{false};  // repo holds the lease (written under mu)
  };
  // A write makes the repository if the bucket has none and takes the lease; a take-over
  // makes it too, and takes the lease itself.
  enum class Access { kRead, kWrite, kTakeOver };
  // Under bucket.mu.
  Result<storage::RemoteRepository*> Connect(Bucket& bucket, Access access);
  // Opens the bucket's repository (bucket.client set), making it for a write if need be.
  Result<std::unique_ptr<storage::RemoteRepository>> Open(Bucket& bucket, Access access);
  // Records an operation's outcome; a failure drops the bucket's connection (under its mu).
  void Record(Bucket& bucket, const Status& status, uint64_t bytes);
  // Runs `operation` on bucket `name`, connected, under its lock, and records the outcome;
  // an error says `what` ("copy to") and the repository.
  template <typename T>
  Result<T> OnBucket(const std::string& name, const char* what, Access access,
                     const std::function<Result<T>(storage::RemoteRepository&)>& operation,
                     const std::function<uint64_t(const T&)>& bytes_sent);

  std::map<std::string, std::unique_ptr<Bucket>> buckets_;  // fixed after construction
  std::string owner_;
  std::string host_;
  objstore::S3Options options_;
  mutable std::mutex counters_mu_;
  std::map<std::string, Counters> counters_;  // guarded by counters_mu_
};

}  // namespace dbaas::control
