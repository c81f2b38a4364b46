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
//   drills/<name>/       scratch instances of restore drills (removed when they end, and
//                        at start)
//   dbaasd.lock          flock()ed by the one daemon using this data root
//   api-token            the API's bearer token (0600)
//
// Thread-safety: every method may be called from any thread.
#pragma once

#include <atomic>
#include <chrono>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <set>
#include <string>
#include <vector>

#include "base/files.h"
#include "base/status.h"
#include "catalog/catalog.h"
#include "control/alert_latch.h"
#include "control/alerts.h"
#include "control/drill_runner.h"
#include "control/job_runner.h"
#include "control/log_spool_drainer.h"
#include "control/metrics.h"
#include "control/recovery.h"
#include "control/remote_copier.h"
#include "control/repository_access.h"
#include "control/requests.h"
#include "control/reservations.h"
#include "control/retention.h"
#include "control/scheduler.h"
#include "control/ticker.h"
#include "control/volume_watcher.h"
#include "engines/engine.h"
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
  // Alerts go to these (http:// or https:// URLs); none: alerts are only logged.
  std::vector<std::string> alert_webhooks;
  int disk_alert_percent = 85;  // data root's filesystem this full: alert
  // The volume size of an instance made without one (a Kubernetes quantity); instances
  // made before sizes were required get it on the first start.
  std::string default_instance_size = "10Gi";
  // How often each instance's volume usage is measured, and how full (of its size) is an
  // alert.
  std::chrono::milliseconds volume_check_interval{30000};
  int volume_alert_percent = 90;
  // How often the scheduler looks at the schedules (cron's finest grain is a second), and
  // at the alert conditions (disk usage, schedules without a recent good backup).
  std::chrono::milliseconds scheduler_tick{1000};
  std::chrono::milliseconds alert_check_interval{10000};
  // How often the instances' WAL spools are drained into the repository.
  std::chrono::milliseconds spool_drain_interval{1000};
  // MariaDB's recovery point objective: a binlog holding a transaction this old is closed
  // and archived (PostgreSQL's is its archive_timeout, 60 s).
  std::chrono::seconds binlog_archive_after{60};
  // The engines instances are made with, and where they run; null: Debian's packages on
  // this machine (engines::PackagedEngines(runtime::Local())). Must outlive the service.
  const engines::EngineSet* engines = nullptr;
  // Remote repositories (S3 buckets) that get copies of backups and the archived WAL.
  std::vector<storage::RemoteSpec> remotes;
  // How often the archived WAL is shipped to them and failed copies are tried again, and
  // how far behind a copy may fall before the copy_behind alert.
  std::chrono::milliseconds copy_interval{10000};
  std::chrono::seconds copy_behind_alert{3600};
  // A bucket's gc (after a deleted backup's copy is removed from it) keeps unreferenced
  // packs younger than this: a push under way elsewhere may be about to reference them.
  std::chrono::seconds remote_gc_grace{3600};
  // How the buckets are reached (retries, timeouts); tests shorten them.
  objstore::S3Options s3_options;
  // Replication: how long a primary may not answer before its most advanced standby takes
  // over (within it the supervisor may restart it in place), and how often the members
  // are looked at.
  std::chrono::milliseconds failover_delay{30000};
  std::chrono::milliseconds replication_check_interval{1000};
  // A negative control for the tests only: a failover leaves the old primary as it is
  // (no fence), which the tests must catch as two primaries.
  bool test_unfenced_failover = false;
};

// A member of a replicated instance as last seen (every replication_check_interval).
struct MemberView {
  std::string name;
  std::string role;   // primary, standby
  std::string state;  // running, unreachable, stopped, rejoining
  uint16_t port = 0;
  uint32_t timeline = 0;
  std::string lsn;  // primary: its write position; standby: received
  // A standby's link as the primary sees it (none while it does not stream).
  std::optional<engines::ReplicaLink> replication;
  std::string host = "127.0.0.1";  // the address it listens on, with `port`
};

// An instance as it is now: its record, where it runs, and how to reach it.
struct InstanceView {
  catalog::InstanceRecord record;
  catalog::InstanceState status;  // the record's, or failed while its server is down
  std::string status_message;
  std::optional<engines::ConnectionInfo> connection;  // the tenant's, once it has been made
  std::optional<engines::ConnectionInfo> superuser;   // with superuser access only
  int restarts = 0;
  // How full its volume was when last measured (none yet, or not running).
  std::optional<VolumeReading> volume;
  // Its members when it has standbys (the primary first), and where the standbys listen.
  std::vector<MemberView> members;
  std::vector<engines::HostPort> standby_endpoints;
};

// The local repository's sizes now and as they were (a record each time they changed).
struct RepositorySummary {
  uint64_t logical_bytes = 0;                           // the snapshots' file sizes, summed
  uint64_t stored_bytes = 0;                            // its packs on disk
  std::vector<catalog::RepositorySizesRecord> history;  // oldest first, now's included
};

// A remote repository as configured, and how it fares.
struct RepositoryView {
  storage::RemoteSpec spec;
  bool leased = false;  // this daemon holds its writer's lease
  RemoteCopier::Counters counters;
};

// A backup in a remote repository: its snapshot, and the backup its record describes
// (none when it has no readable record, `unavailable` says why). It can be imported when
// `unavailable` is empty.
struct BucketBackup {
  std::string snapshot_id;
  int64_t snapshot_created_unix_ns = 0;
  std::optional<catalog::BackupRecord> backup;
  bool in_catalog = false;  // this daemon's catalog lists it (by name and snapshot)
  std::string unavailable;
};

// What an import took into the catalog, and what it left and why.
struct ImportReport {
  std::vector<std::string> imported;
  std::vector<std::pair<std::string, std::string>> skipped;  // backup or snapshot, why
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
  // Sets the instance's volume size; refused (kInvalidArgument) below what its files use
  // (measured now if the watcher has not yet), and while it is made, restored or deleted.
  // The local runtime records it (volume.enforced says so); a runtime with sized volumes
  // grows the volume.
  Result<InstanceView> ResizeInstance(const std::string& name, const std::string& size);
  Result<std::vector<InstanceView>> ListInstances() const;

  // Replication (control/replication_ops.cc). Sets the number of standbys and whether a
  // commit waits for one, as a job: standbys are made from the primary, or removed.
  Result<catalog::JobRecord> SetReplication(const std::string& name, std::optional<int> replicas,
                                            std::optional<bool> synchronous);
  // Hands the primary's role to standby `to` (empty: the most advanced) with nothing lost:
  // the primary stops cleanly, the standby has all of its log, is promoted, and the old
  // primary follows it.
  Result<catalog::JobRecord> Switchover(const std::string& name, const std::string& to);

  Result<catalog::JobRecord> CreateBackup(const BackupRequest& request);
  // Copies a ready backup to a configured remote repository, as a job (what is there
  // already is not sent again).
  Result<catalog::JobRecord> CopyBackup(const std::string& instance, const std::string& backup,
                                        const std::string& to);
  // The backups of an instance (which may have been deleted since: backups outlive it).
  Result<std::vector<catalog::BackupRecord>> ListBackups(const std::string& instance) const;
  Result<catalog::BackupRecord> GetBackup(const std::string& instance,
                                          const std::string& backup) const;
  // Unlists the backup, removes its snapshot and collects the repository's garbage.
  Status DeleteBackup(const std::string& instance, const std::string& backup);

  // With a target, the backup is chosen (the newest that ends before it) unless named, and
  // a target outside the recoverable window is refused with the window.
  Result<catalog::JobRecord> Restore(const RestoreRequest& request);

  // A branch: a new, independent, writable instance from the source as it is now (a
  // consistent copy taken under the engine's backup protocol into a transient snapshot:
  // reflink clones where the filesystem has them, else through the repository; no backup
  // is left) or as it was (a backup, or a target: a restore listed as a branch). As a job
  // whose result says how it was made ("clone" or "copy") and what it does not share.
  Result<catalog::JobRecord> Branch(const BranchRequest& request);
  // Makes a branch again from its parent's current state; what it held is gone. A reset
  // cut off by a crash leaves the branch failed and empty (reset it again, or delete it).
  Result<catalog::JobRecord> ResetBranch(const std::string& name);
  // The branches made from `parent`, which may have been deleted since.
  Result<std::vector<InstanceView>> ListBranches(const std::string& parent) const;

  // Point-in-time recovery. The window reads the archive as it is (GET has no effects);
  // a restore to a target archives the source's current WAL first.
  Result<RecoveryWindow> GetRecoveryWindow(const std::string& instance);
  Result<catalog::RestorePointRecord> CreateRestorePoint(const std::string& instance,
                                                         const std::string& name);
  Result<std::vector<catalog::RestorePointRecord>> ListRestorePoints(
      const std::string& instance) const;

  // Remote repositories: the disaster-recovery path (control/repository_ops.cc). A daemon
  // on a new host lists a bucket's backups, imports them into its catalog (ready, copied
  // there, restored from it with `repository`), and takes the bucket's lease over before
  // it writes there. Listing, importing and restoring need no lease.
  std::vector<RepositoryView> ListRepositories() const;
  Result<std::vector<BucketBackup>> ListBucketBackups(const std::string& repository);
  // Imports the backups of `repository` that this catalog lacks (of `instance` only, and
  // only those `names`, when given); each must be restorable (a record with its secret,
  // an engine for its type, a configuration that engine accepts). A backup whose name the
  // catalog holds for another snapshot is skipped. Their retention counts from the import:
  // a host that has just found its backups must not expire them at once.
  Result<ImportReport> ImportBackups(const std::string& repository, const std::string& instance,
                                     const std::vector<std::string>& names);
  Status TakeOverRepository(const std::string& repository);

  // Operations: schedules, retention, restore drills, metrics.
  Result<catalog::ScheduleRecord> CreateSchedule(const ScheduleRequest& request);
  Result<std::vector<catalog::ScheduleRecord>> ListSchedules(const std::string& instance) const;
  Status DeleteSchedule(const std::string& instance, const std::string& id);
  // A pinned backup never expires.
  Result<catalog::BackupRecord> SetBackupPinned(const std::string& instance,
                                                const std::string& backup, bool pinned);
  // A restore drill as a job: restores the backup into a scratch instance, checks its files
  // before the server starts (PostgreSQL: pg_verifybackup) and its data after
  // (engines::Engine::CheckIntegrity), records the result and the time to a usable instance
  // on the backup, removes the scratch instance. A failed drill is a result, not a failed
  // job: the job's result says passed true or false.
  Result<catalog::JobRecord> VerifyBackup(const std::string& instance, const std::string& backup);
  // Deletes the backups retention says have expired (control/retention.h), then collects
  // the repository's garbage once. Returns how many went. The scheduler runs it.
  Result<int> ApplyRetention();
  // /metrics in Prometheus' text format.
  std::string RenderMetrics() const;

  Result<catalog::JobRecord> GetJob(const std::string& id) const;
  Result<std::vector<catalog::JobRecord>> ListJobs() const;
  // Warnings and errors (alerts, failed jobs and drills, ...) after event `after_id`,
  // newest first, at most `limit` (1..1000).
  Result<std::vector<catalog::EventRecord>> ListAlerts(int64_t after_id, int64_t limit) const;
  // The local repository's sizes now (recorded when they changed) and their history.
  Result<RepositorySummary> LocalRepository();
  Result<catalog::JobRecord> WaitJob(const std::string& id,
                                     std::chrono::milliseconds timeout) const;

  const std::string& data_root() const { return options_.data_root; }
  const catalog::Catalog& catalog() const { return *catalog_; }
  size_t jobs_in_flight() const { return jobs_->in_flight(); }

 private:
  Service(ServiceOptions options, UniqueFd lock, std::unique_ptr<catalog::Catalog> catalog);
  std::string instances_dir() const { return JoinPath(options_.data_root, "instances"); }
  const std::string& repository_dir() const { return repo_.path(); }
  std::string drills_dir() const { return JoinPath(options_.data_root, "drills"); }

  // The instance's server, no longer the service's (null when none runs); the caller stops
  // it.
  std::unique_ptr<engines::Instance> TakeServer(const std::string& name);
  // A standby of `name`, no longer the service's (null when it has none of that name).
  std::unique_ptr<engines::Instance> TakeStandby(const std::string& name,
                                                 const std::string& member);
  // How to measure a running instance's volume (empty when it does not run); called without
  // the service's lock.
  engines::VolumeProbe VolumeProbeOf(const std::string& name) const;
  // What an instance's files use: the watcher's last reading, else (or when `now`) measured
  // now; none while it does not run.
  Result<std::optional<uint64_t>> UsedBytes(const std::string& name, bool now = false) const;
  // The record with what is live: where its server listens, whether it runs.
  InstanceView ViewOf(catalog::InstanceRecord record) const;
  Status Reconcile();
  Status ReconcileBackups();
  // Removes an instance's directory and row; used when a create or restore fails or was
  // cut off.
  void Discard(const std::string& name, const std::string& why);
  // Marks a ready backup deleting (refused while it is restored or drilled).
  // Re-reads `backup` and marks it deleting; refused while it is restored or drilled, and
  // when `unless_pinned` and it is pinned.
  Status MarkDeleting(catalog::BackupRecord& backup, bool unless_pinned);
  // Removes the snapshots of backups marked deleting, collects the garbage once, prunes
  // the WAL archives.
  Status RemoveBackupData(const std::vector<catalog::BackupRecord>& backups);
  // The local part of that: snapshots, garbage, WAL pruning; no copy is touched.
  Status RemoveLocalSnapshots(const std::vector<catalog::BackupRecord>& backups);
  // The same, under the caller's exclusive hold of the repository.
  Status RemoveSnapshotsHeld(const std::vector<catalog::BackupRecord>& backups);
  // Retention's part in the buckets: copies whose repository's retention ended are queued
  // for removal, and local snapshots of backups a bucket keeps longer are removed.
  void DropExpiredCopies(const RetentionPlan& plan);
  // After a backup that stored page patches: stores them again as deltas of their base
  // chunks (the backup did not read those, to be fast). A failure is logged: the backup is
  // made either way.
  void CompactPagePatches(const std::string& backup);
  // `stored_patches`: the backup stored page patches, which CompactPagePatches compacts.
  Result<nlohmann::json> RunBackup(const BackupRequest& request, JobContext& job,
                                   bool& stored_patches);
  Result<nlohmann::json> RunRestore(const RestoreRequest& request, JobContext& job);
  Result<nlohmann::json> RunDelete(const std::string& name, bool delete_backups);
  // A branch of `source` as it is now, made as `name` (whose row is in state restoring):
  // the source copied into a transient snapshot (kBranchSnapshotPrefix + name), restored,
  // the snapshot removed. The source's backup reservation, made by the caller, ends once
  // the copy is taken. `reset_from`: `name` is a branch made again, which was in that
  // state; its own reservation (the caller's too) keeps backups and deletes off it. Its
  // server is stopped and its files removed only once the copy is taken: a failure before
  // leaves it as it was, one after leaves it failed and empty (never unlisted).
  Result<nlohmann::json> RunBranchNow(const std::string& source, const std::string& name,
                                      std::optional<catalog::InstanceState> reset_from,
                                      JobContext& job);
  // Refused (kInvalidArgument) when `size` cannot hold what `source` uses now.
  Status CheckBranchSize(const std::string& source, const std::string& size) const;
  // Whether `parent` is the instance a branch was made from, not a later one of its name.
  static bool IsParent(const catalog::InstanceRecord& parent, const catalog::RestoredFrom& from);
  // What a branch's job result adds: how it was made and the bytes it shares with no other
  // file (measured now); its parent and point are on the instance (branchedFrom).
  nlohmann::json BranchAnswer(const std::string& name, const catalog::RestoredFrom& from);
  // Removes a transient snapshot (a branch's, a new standby's): a thin one alone, else with
  // a gc of what it stored (exclusive, as a backup's deletion). A failure is logged (the
  // next start removes it: ReconcileBackups).
  void RemoveTransientSnapshot(const storage::Manifest& snapshot);
  // Transient snapshots of branches and standbys are named so; no backup name (a DNS label)
  // has a dot.
  static constexpr std::string_view kBranchSnapshotPrefix = "branch.";
  static constexpr std::string_view kStandbySnapshotPrefix = "standby.";
  // Replaces a member that cannot follow (Engine::Diverged) with a new standby of the same
  // name; when none can be made, the member leaves the instance (an event says so). It runs
  // in the ticker, which no failover passes while it does. Under members_mu_.
  void RemakeStandby(const catalog::InstanceRecord& record, const std::string& member,
                     const engines::Engine& engine, const engines::Instance& primary);
  // A new standby from a backup of the primary taken for it (an engine that copies only
  // from backups, when the instance has none that serves), removed once the standby is made.
  Result<std::unique_ptr<engines::Instance>> MakeStandbyFromFreshBackup(
      const std::string& name, const engines::Engine& engine, const engines::Instance& primary,
      const engines::InstanceSpec& spec);
  // The instance configuration a backup was taken with (a restore gets it again).
  static std::map<std::string, std::string> BackupConfig(const catalog::BackupRecord& backup);
  Result<nlohmann::json> RunDrill(const catalog::BackupRecord& backup, JobContext& job);
  // The end of a backup job: metrics, the schedule's last run, an alert on failure, the
  // drill that follows.
  void BackupEnded(const BackupRequest& request, const Status& status, double seconds);
  // Records an alert in the event log and sends it to the webhooks.
  void RaiseAlert(Alert alert);
  // What the volume watcher measures: each running instance, with its size.
  std::vector<VolumeWatcher::Probe> VolumeProbes() const;
  // The scheduler's tick: retention, due schedules, alert conditions.
  void SchedulerTick();
  // Pushes a backup's snapshot to remote repository `to` and records the outcome on the
  // backup (its `copies`).
  Status CopyBackupNow(const std::string& backup, const std::string& to,
                       storage::Progress* progress);
  // Pushes a ready backup's local snapshot to `to` and records the copy (under a read hold).
  Status PushAndRecord(const std::string& backup, const std::string& to,
                       storage::Progress* progress);
  // The copier's tick: archived WAL to every remote, copies that failed tried again, the
  // copy_behind alert.
  void CopyTick();
  // Records the local repository's sizes in the catalog when they changed since the last
  // record (a backup, a delete, a gc): the dashboard's history of them. Returns them (not
  // valid when they could not be read now).
  RepositoryAccess::Sizes RecordRepositorySizes();
  // Brings what the local repository lacks of `backup`'s snapshot from `repository` (under
  // the writer's hold and lock), for a restore from a remote copy.
  Status FetchFromRemote(const catalog::BackupRecord& backup, const std::string& repository,
                         storage::Progress& progress);
  // Brings what the local repository lacks of the WAL archive a restore of `instance` to a
  // target replays (from `backup`, or its newest) from `repository`: a point-in-time
  // restore from a bucket after the local archive was lost.
  Status FetchWalFromRemote(const std::string& instance, const std::string& backup,
                            const std::string& repository);
  // Where each WAL archive shipped to bucket `repository` needs to begin there: the file
  // holding the start of the oldest backup copied (or to be copied) there. Only archives
  // of running instances here; others, and archives no backup there uses, are shipped
  // whole and not pruned.
  std::map<std::string, std::string> BucketWalKeep(const std::string& repository) const;
  // A configured repository that holds a finished copy of `backup` ("" when none does).
  std::string RepositoryHolding(const catalog::BackupRecord& backup) const;
  // Queues the removal of a backup's copies from their buckets, before its row goes (the
  // copier's tick removes them: RemoveQueuedCopies).
  Status QueueCopyRemovals(const catalog::BackupRecord& backup);
  // Removes the queued copies of deleted backups from bucket `name`, then collects its
  // garbage if any went. Stops at the first failure (tried again on the next tick).
  void RemoveQueuedCopies(const std::string& name);
  // At start: copies left pending by a daemon that stopped become failed (tried again).
  void ReconcileCopies();
  // Per remote: seconds since the oldest ready backup still waiting for its copy there.
  std::map<std::string, double> CopyLagSeconds() const;
  // Where a new instance of `type` is made, with the daemon's binaries for its engine.
  engines::InstanceSpec SpecFor(const std::string& name, const std::string& type,
                                const std::map<std::string, std::string>& config) const;

  // Replication (control/replication_ops.cc).
  // Where member `member` of `instance` lives: the instance's own in instances/, the
  // others in members/<instance>/.
  std::string MemberRoot(const std::string& instance, const std::string& member) const;
  // A second handle on an instance's primary, wherever it is (not started: it reaches the
  // running server).
  Result<std::unique_ptr<engines::Instance>> OpenPrimary(const std::string& name) const;
  static Status ValidateReplicas(const std::string& name, const std::string& type, int replicas,
                                 bool synchronous);
  // Makes standbys until there are `replicas` or removes the surplus, then sets the
  // synchronous standbys; the catalog follows each step. Each standby made goes into
  // `added` ({member, source, note?}) when given. Under members_mu_.
  Status ReshapeMembers(const std::string& name, int replicas, bool synchronous,
                        nlohmann::json* added = nullptr);
  // Where a new standby's first copy came from; `note`: why the newest backup did not
  // serve, when it did not.
  struct StandbySource {
    std::string source;
    std::string note;
  };
  // A new standby of `primary`, started: from the instance's newest backup where it can
  // serve (control/standby_seeding.cc), else copied from the primary. `from` says which.
  Result<std::unique_ptr<engines::Instance>> StartStandby(const std::string& name,
                                                          const engines::Engine& engine,
                                                          const engines::Instance& primary,
                                                          const engines::InstanceSpec& spec,
                                                          StandbySource& from);
  Status SetSynchronousStandbys(const std::string& name);
  Result<nlohmann::json> RunSwitchover(const std::string& name, const std::string& to);
  // The primary did not answer for failover_delay: the most advanced standby takes over.
  // Under members_mu_.
  Status Failover(const std::string& name);
  // Makes `to` the primary: the old one, stopped and fenced, follows it. Under members_mu_.
  Status HandOver(const catalog::InstanceRecord& record, const std::string& to,
                  const std::string& why);
  // A switchover's check that nothing is lost: the target has received the stopped old
  // primary's last record (its shutdown checkpoint), waiting up to 30 s.
  static Status WaitForCatchUp(const engines::Engine& engine, const engines::Instance& old_primary,
                               const engines::Instance& target, const std::string& to);
  // Until the target's position (Position's lsn_value) reaches `last`, up to 30 s.
  static Status WaitForPosition(const engines::Engine& engine, const engines::Instance& target,
                                uint64_t last, const std::string& to);
  // After a promotion: the catalog's port and state, the other standbys pointed at the new
  // primary, its synchronous standbys. Under members_mu_.
  Status FinishHandOver(const std::string& name);
  // The members of `name` as raw handles, taken under mu_; they stay valid while the
  // caller holds members_mu_ (members are destroyed only under it), so their servers can
  // be queried without mu_.
  struct MemberHandles {
    engines::Instance* primary = nullptr;
    std::vector<std::pair<std::string, engines::Instance*>> standbys;
  };
  MemberHandles MembersOf(const std::string& name);
  // The replication ticker: member positions, failover, rejoins.
  void ReplicationTick();
  // At start: an instance's members opened and started, its primary as the catalog says
  // (a promotion cut off is finished, an old primary fenced).
  Status StartMembers(const catalog::InstanceRecord& record);
  // Stops and removes every standby of `name` (the instance is deleted), and whatever
  // else is in its members/ directory but its primary's.
  Status RemoveStandbys(const std::string& name, const std::string& primary);

  ServiceOptions options_;
  std::unique_ptr<engines::EngineSet> packaged_engines_;  // when options_ names none
  const engines::EngineSet* engines_;
  UniqueFd lock_;
  std::unique_ptr<catalog::Catalog> catalog_;

  mutable std::mutex mu_;
  // Running instances' servers.
  std::map<std::string, std::unique_ptr<engines::Instance>> servers_;  // guarded by mu_
  // The standbys of replicated instances, by instance and member (servers_ holds each
  // one's primary).
  std::map<std::string, std::map<std::string, std::unique_ptr<engines::Instance>>>
      standbys_;                                                 // guarded by mu_
  std::map<std::string, std::vector<MemberView>> member_views_;  // guarded by mu_
  std::set<std::string> reshaping_;  // instances with a member job queued; guarded by mu_
  Reservations reservations_;        // a leaf: taken under mu_ where a check must be atomic
  // Serializes whatever changes members (jobs, failover, deletes); taken before mu_. The
  // instances in servers_ and standbys_ are destroyed only under it.
  std::mutex members_mu_;
  // Since when each replicated instance's primary has not answered (the ticker's alone).
  std::map<std::string, std::chrono::steady_clock::time_point> primary_down_since_;
  std::unique_ptr<Ticker> replication_ticker_;  // ReplicationTick

  RepositoryAccess repo_;                // its own locks: taken before mu_, never under it
  std::unique_ptr<Recovery> recovery_;   // no state of its own
  std::unique_ptr<DrillRunner> drills_;  // no state of its own

  std::unique_ptr<ServiceMetrics> metrics_;
  std::unique_ptr<AlertSender> alerts_;

  std::unique_ptr<JobRunner> jobs_;           // its workers use everything above
  std::unique_ptr<LogSpoolDrainer> drainer_;  // lists servers_ under mu_
  std::unique_ptr<VolumeWatcher> volumes_;    // lists servers_ under mu_
  std::unique_ptr<RemoteCopier> copier_;      // its own locks, under a repository hold
  std::unique_ptr<Ticker> copy_ticker_;       // CopyTick
  std::unique_ptr<Ticker> sizes_ticker_;      // RecordRepositorySizes
  std::mutex sizes_record_mu_;                // one RecordRepositorySizes at a time
  AlertLatch copy_alerts_;                    // copy_behind, per remote

  // The scheduler, stopped first; the time points are its thread's alone.
  std::atomic<bool> retention_due_{true};
  std::chrono::steady_clock::time_point last_retention_{};
  std::chrono::steady_clock::time_point last_checks_{};
  std::unique_ptr<Scheduler> schedules_;  // used by the ticker's thread only
  std::unique_ptr<Ticker> scheduler_;
};

}  // namespace dbaas::control
