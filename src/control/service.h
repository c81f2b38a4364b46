// The service: instances, backups, restores and jobs over the catalog, the engines and the
// snapshot repository. The API layer calls it; it knows nothing of HTTP.
//
// Every operation validates its input and reserves what it will make (a catalog row in
// state creating/restoring/deleting, a backup row in state creating) before it returns; an
// error at that point changed nothing. The work itself runs as a job.
//
// Data root layout:
//   catalog.db           the catalog (SQLite, 0600)
//   repository/          the snapshot repository all backups go to
//   instances/<name>/    each instance (engines/postgres/pg_instance.h,
//                        engines/mariadb/maria_instance.h)
//   dbaasd.lock          flock()ed by the one daemon using this data root
//   api-token            the API's bearer token (0600)
//
// Thread-safety: every method may be called from any thread.
#pragma once

#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <set>
#include <shared_mutex>
#include <string>
#include <vector>

#include "base/files.h"
#include "base/status.h"
#include "catalog/catalog.h"
#include "control/job_runner.h"
#include "engines/instance.h"
#include "engines/recovery.h"

namespace dbaas::control {

struct ServiceOptions {
  std::string data_root;
  unsigned job_workers = 4;
  std::string pg_bin_dir;     // empty: found with pg_config
  std::string mysql_bin_dir;  // where a MySQL mysqld is; empty: /usr/sbin (else MariaDB)
  // The dbaas CLI, which PostgreSQL's archive_command and restore_command run; empty: new
  // instances do not archive their WAL (no point-in-time recovery).
  std::string dbaas_binary;
};

struct CreateInstanceRequest {
  std::string name;
  std::string type;  // postgresql, mariadb, mysql
  std::string size;  // a Kubernetes quantity ("10Gi"), optional
  std::map<std::string, std::string> config;
};

struct BackupRequest {
  std::string instance;
  std::string backup_name;  // empty: <instance>-backup-<yyyymmdd-hhmmss>
  std::optional<int> retention_days;
};

struct RestoreRequest {
  std::string source_instance;
  std::string backup_name;  // empty with a target: the newest backup before it
  std::string new_instance_name;
  std::string size;
  engines::RecoveryTarget target;  // archive_id is filled in from the backup
};

// What point-in-time recovery can reach for an instance: from its oldest backup's end to
// the last transaction in its archived WAL.
struct RecoveryWindow {
  std::string instance;
  std::string wal_archive;
  int64_t earliest_unix_us = 0;
  int64_t latest_unix_us = 0;
  std::string earliest_lsn;
  std::string latest_lsn;
  std::string last_segment;  // the newest WAL segment archived without a gap
  size_t backups = 0;        // the backups it starts from
};

// An instance as it is now: its record, where it runs, and how to reach it.
struct InstanceView {
  catalog::InstanceRecord record;
  std::string status;  // the record's, or "failed" while its server is down
  std::string status_message;
  std::optional<engines::ConnectionInfo> connection;  // once it has been made
  int restarts = 0;
};

class Service {
 public:
  // Takes the data root (one daemon per data root), opens the catalog and the repository
  // (created on first start), and reconciles: instances that should run are started, work
  // cut off by a crash is finished or rolled back and its job marked failed.
  static Result<std::unique_ptr<Service>> Start(const ServiceOptions& options);
  ~Service();  // Shutdown()
  Service(const Service&) = delete;
  Service& operator=(const Service&) = delete;

  // Takes no new work, cancels queued jobs, waits for running ones, stops the servers.
  void Shutdown();

  Result<catalog::JobRecord> CreateInstance(const CreateInstanceRequest& request);
  Result<catalog::JobRecord> DeleteInstance(const std::string& name, bool delete_backups);
  Result<InstanceView> GetInstance(const std::string& name) const;
  Result<std::vector<InstanceView>> ListInstances() const;

  Result<catalog::JobRecord> CreateBackup(const BackupRequest& request);
  // The backups of an instance (which may have been deleted since: backups outlive it).
  Result<std::vector<catalog::BackupRecord>> ListBackups(const std::string& instance) const;
  Result<catalog::BackupRecord> GetBackup(const std::string& instance,
                                          const std::string& backup) const;
  // Unlists the backup, removes its snapshot and collects the repository's garbage.
  Status DeleteBackup(const std::string& instance, const std::string& backup);

  // With a target, the backup is chosen (the newest that ends before it) unless named, and
  // a target outside the recoverable window is refused with the window.
  Result<catalog::JobRecord> Restore(const RestoreRequest& request);

  // Point-in-time recovery. The window reads the archive as it is (GET has no effects);
  // a restore to a target archives the source's current WAL first.
  Result<RecoveryWindow> GetRecoveryWindow(const std::string& instance);
  Result<catalog::RestorePointRecord> CreateRestorePoint(const std::string& instance,
                                                         const std::string& name);
  Result<std::vector<catalog::RestorePointRecord>> ListRestorePoints(
      const std::string& instance) const;

  Result<catalog::JobRecord> GetJob(const std::string& id) const;
  Result<std::vector<catalog::JobRecord>> ListJobs() const;
  Result<catalog::JobRecord> WaitJob(const std::string& id,
                                     std::chrono::milliseconds timeout) const;

  const std::string& data_root() const { return options_.data_root; }
  const catalog::Catalog& catalog() const { return *catalog_; }
  size_t jobs_in_flight() const { return jobs_->in_flight(); }

 private:
  Service(ServiceOptions options, UniqueFd lock, std::unique_ptr<catalog::Catalog> catalog);
  std::string instances_dir() const { return JoinPath(options_.data_root, "instances"); }
  std::string repository_dir() const { return JoinPath(options_.data_root, "repository"); }

  // The record with what is live: where its server listens, whether it runs.
  InstanceView ViewOf(catalog::InstanceRecord record) const;
  Status Reconcile();
  Status ReconcileBackups();
  // Removes an instance's directory and row; used when a create or restore fails or was
  // cut off.
  void Discard(const std::string& name, const std::string& why);
  Status RemoveBackupData(const catalog::BackupRecord& backup);
  Result<nlohmann::json> RunBackup(const BackupRequest& request, JobContext& job);
  Result<nlohmann::json> RunRestore(const RestoreRequest& request, JobContext& job);
  Result<nlohmann::json> RunDelete(const std::string& name, bool delete_backups);
  // Chooses the base backup of a restore to a target and checks the target is in reach.
  Status ResolveTarget(RestoreRequest& request);
  // WAL retention follows backup retention: removes archived WAL older than the oldest
  // kept backup of each archive, and archives of deleted instances without backups. The
  // caller holds repo_writer_ (no backup is running).
  void PruneWalArchives();
  // Where a new instance of `type` is made, with the daemon's binaries for its engine.
  engines::InstanceSpec SpecFor(const std::string& name, const std::string& type,
                                const std::map<std::string, std::string>& config) const;

  ServiceOptions options_;
  UniqueFd lock_;
  std::unique_ptr<catalog::Catalog> catalog_;

  mutable std::mutex mu_;
  // Running instances' servers.
  std::map<std::string, std::unique_ptr<engines::Instance>> servers_;  // guarded by mu_
  std::map<std::string, std::string> backing_up_;  // instance -> job id; guarded by mu_
  std::multiset<std::string> restoring_from_;      // backup names in use; guarded by mu_

  // One writer of the repository at a time (backups, deletes); gc excludes everyone,
  // since it deletes packs a reader may be about to open.
  std::mutex repo_writer_;
  std::shared_mutex repo_gc_;

  std::unique_ptr<JobRunner> jobs_;  // last: its workers use everything above
};

}  // namespace dbaas::control
