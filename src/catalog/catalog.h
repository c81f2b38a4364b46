// The catalog: what the service knows about instances, backups, restores, jobs and events, in one
// SQLite database (WAL mode, synchronous=FULL) under the data root. Its schema is versioned
// (PRAGMA user_version) and migrated forward on open, one transaction per step.
//
// The catalog records intent and outcome; the data itself lives in the instances'
// directories and the snapshot repository. States: catalog/states.h.
//
// Thread-safety: every method may be called from any thread (one mutex inside).
#pragma once

#include <chrono>
#include <cstdint>
#include <map>
#include <mutex>
#include <optional>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "base/status.h"
#include "catalog/sqlite_db.h"
#include "catalog/states.h"

namespace dbaas::catalog {

struct RestoredFrom {
  std::string source_instance;
  std::string backup_name;  // empty for a branch of the source as it was then
  std::string restored_at;
  // A branch (POST /instances/:name/branch) lists its source as its parent: how it was made
  // ("clone": reflinks, sharing the parent's blocks; "copy": through the repository) and
  // the instant whose state of the parent it started from (RFC 3339, µs). Empty for a
  // restore.
  std::string branch_method;  // "pending" while it is made
  std::string branch_point;
  // When the parent was made: an instance made later under its name is not its parent.
  std::string source_created_at;
  bool is_branch() const { return !branch_method.empty(); }
};

// An instance's members (issue 15): its primary and standbys, each a server of its own.
// No members: a single server, the instance itself.
struct InstanceReplication {
  int replicas = 0;          // standbys asked for
  bool synchronous = false;  // a commit waits for one standby
  // Every member's name: the instance's own (its first server) and `<instance>-<n>`.
  std::vector<std::string> members;
  std::string primary;  // which member is primary; empty: the instance's own
  int failovers = 0;    // how many times another member took over
  bool empty() const { return members.empty(); }
};

struct InstanceRecord {
  std::string name;
  std::string type;  // postgresql, mariadb, mysql
  InstanceState status = InstanceState::kCreating;
  std::string status_message;
  std::string size;  // as requested ("10Gi"), empty when not given
  std::map<std::string, std::string> config;
  int port = 0;
  std::string created_at;  // RFC 3339, UTC
  std::string updated_at;
  std::optional<RestoredFrom> restored_from;
  InstanceReplication replication;
  // The member that is primary now.
  const std::string& primary() const {
    return replication.primary.empty() ? name : replication.primary;
  }
};

struct BackupRecord {
  std::string name;  // unique across the catalog, like a VolumeSnapshot in its namespace
  std::string instance;
  std::string instance_type;
  BackupState status = BackupState::kCreating;
  std::string snapshot_id;  // the repository snapshot, once ready
  std::string created_at;
  std::optional<int> retention_days;
  std::string expires_at;     // empty: never
  uint64_t size = 0;          // logical bytes of the data directory copy
  uint64_t stored_bytes = 0;  // new bytes this backup added to the repository
  nlohmann::json info;        // engine details: LSNs, time in backup mode, ...
  std::string secret;         // the superuser password inside the copy; never shown
  bool pinned = false;        // never expires
  std::string schedule_id;    // the schedule that made it; empty: asked for
  nlohmann::json drill;       // the last restore drill's result (null: never drilled)
  // Its copies in remote repositories, by repository name: {"state": "pending" | "copied" |
  // "failed" | "refused" (a volume snapshot backup: never copied), "at", "bytes", "error"}.
  nlohmann::json copies = nlohmann::json::object();
  // Its snapshot is in the local repository. Not when it was imported from a bucket, or
  // when the local copy expired while a bucket keeps it longer: restored from a bucket.
  bool local = true;
  // Whether remote repository `repository` holds a finished copy of it.
  bool CopiedTo(const std::string& repository) const {
    return copies.is_object() && copies.contains(repository) && copies[repository].is_object() &&
           copies[repository].value("state", "") == "copied";
  }
};

// A backup schedule of an instance and what became of its last run.
struct ScheduleRecord {
  std::string id;  // "s" + 8 hex digits
  std::string instance;
  std::string cron;       // five fields (six with seconds), or a macro (@daily)
  std::string time_zone;  // IANA name the cron is read in
  std::optional<int> retention_days;
  int keep_daily = 0;  // keep the newest good backup of each of the last N days, ...
  int keep_weekly = 0;
  int keep_monthly = 0;
  bool verify = false;  // a restore drill after each backup
  std::string created_at;
  std::string last_slot_at;  // the last cron slot handled (run or given up)
  std::string last_run_at;   // when its last backup started; empty: never
  std::string last_status;   // started, succeeded, failed, skipped
  std::string last_message;
  std::vector<std::string> repositories;  // remote repositories each backup is copied to
  // Where each backup's data files go, as the API names it ("local", "volumeSnapshot"; ""
  // for the runtime's default).
  std::string repository;
};

struct JobRecord {
  std::string id;
  std::string kind;      // create-instance, delete-instance, backup, restore
  std::string instance;  // the instance it works on
  JobState status = JobState::kQueued;
  double progress = 0;  // 0..1
  std::string message;
  std::optional<StatusCode> error_code;  // set when it failed
  std::string error_message;
  nlohmann::json request;  // what was asked
  nlohmann::json result;   // what came of it
  std::string created_at;
  std::string started_at;
  std::string finished_at;
};

// One restore, as it ended.
struct RestoreRecord {
  int64_t id = 0;
  std::string job_id;
  std::string source_instance;
  std::string backup_name;
  std::string new_instance;
  std::string status;  // succeeded, failed, interrupted
  std::string started_at;
  std::string finished_at;
  double seconds = 0;  // to a server accepting connections, out of recovery
  std::string error;
};

struct EventRecord {
  int64_t id = 0;
  std::string at;
  std::string level;  // info, warn, error
  std::string instance;
  std::string job;
  std::string message;
};

// The local repository's sizes at a time.
struct RepositorySizesRecord {
  std::string at;  // RFC 3339
  uint64_t logical_bytes = 0;
  uint64_t stored_bytes = 0;
};

// A named point in an instance's archived WAL (pg_create_restore_point).
struct RestorePointRecord {
  std::string wal_archive;  // the archive of the instance incarnation it was made in
  std::string name;
  std::string instance;
  std::string lsn;  // PostgreSQL's LSN, MariaDB's binlog position
  std::string created_at;
  std::string gtid;  // MariaDB: @@gtid_binlog_pos at the point; "" for PostgreSQL
};

// The item of a queued removal of a whole WAL archive: this, then the archive's id.
inline constexpr std::string_view kWalArchiveItem = "wal/";

// What is still to be removed from a remote repository: a deleted backup's copy, or a WAL
// archive the local repository no longer keeps.
struct RemoteRemovalRecord {
  std::string repository;
  std::string item;    // a snapshot id, or kWalArchiveItem + an archive id
  std::string backup;  // the backup's name, for logs ("" for a WAL archive)
  std::string queued_at;
};

// RFC 3339 UTC with milliseconds: "2026-11-24T23:59:01.123Z" (sorts as text).
std::string FormatRfc3339(std::chrono::system_clock::time_point t);
std::string NowRfc3339();
// With microseconds, for times read from a database's log: "2026-11-24T23:59:01.123456Z".
std::string FormatRfc3339Us(int64_t unix_us);
// Any RFC 3339 time with a zone ("Z" or "+01:00") -> microseconds since the epoch.
Result<int64_t> ParseRfc3339(std::string_view text);
// The catalog's own timestamps as time points; one that does not parse is the epoch (the
// catalog writes them, so only a damaged row reads that way).
std::chrono::system_clock::time_point TimePointOf(std::string_view rfc3339);

class Catalog {
 public:
  static Result<std::unique_ptr<Catalog>> Open(const std::string& path);
  // The schema version this build writes.
  static int SchemaVersion();
  int schema_version() const;

  // Instances.
  Status InsertInstance(const InstanceRecord& r);  // kAlreadyExists if the name is taken
  Result<InstanceRecord> GetInstance(const std::string& name) const;
  Result<std::vector<InstanceRecord>> ListInstances() const;
  Status UpdateInstanceStatus(const std::string& name, InstanceState status,
                              const std::string& message = {});
  Status UpdateInstancePort(const std::string& name, int port);
  Status UpdateInstanceSize(const std::string& name, const std::string& size);
  Status UpdateInstanceReplication(const std::string& name, const InstanceReplication& r);
  Status UpdateRestoredFrom(const std::string& name, const RestoredFrom& from);
  Status DeleteInstance(const std::string& name);

  // Backups.
  Status InsertBackup(const BackupRecord& r);  // kAlreadyExists if the name is taken
  Result<BackupRecord> GetBackup(const std::string& name) const;
  // Newest first; `instance` empty: all.
  Result<std::vector<BackupRecord>> ListBackups(const std::string& instance = {}) const;
  Status UpdateBackup(const BackupRecord& r);
  // Sets what became of the backup's copy in `repository` (a name ValidateName accepts),
  // leaving the rest of the row alone.
  Status SetBackupCopy(const std::string& backup, const std::string& repository,
                       const nlohmann::json& state);
  // Forgets the backup's copy in `repository` (removed from there), leaving the rest.
  Status RemoveBackupCopy(const std::string& backup, const std::string& repository);
  // Whether its snapshot is in the local repository, leaving the rest of the row alone.
  Status SetBackupLocal(const std::string& backup, bool local);
  Status DeleteBackup(const std::string& name);

  // Jobs.
  Status InsertJob(const JobRecord& r);
  Result<JobRecord> GetJob(const std::string& id) const;
  // Newest first, at most `limit`.
  Result<std::vector<JobRecord>> ListJobs(size_t limit = 100) const;
  Result<std::vector<JobRecord>> ListUnfinishedJobs() const;
  Status UpdateJob(const JobRecord& r);

  // Schedules.
  Status InsertSchedule(const ScheduleRecord& r);
  Result<ScheduleRecord> GetSchedule(const std::string& id) const;
  // Oldest first; `instance` empty: all.
  Result<std::vector<ScheduleRecord>> ListSchedules(const std::string& instance = {}) const;
  Status UpdateSchedule(const ScheduleRecord& r);
  Status DeleteSchedule(const std::string& id);

  // Restore points; kAlreadyExists if the archive has one of that name.
  Status InsertRestorePoint(const RestorePointRecord& r);
  // Newest first.
  Result<std::vector<RestorePointRecord>> ListRestorePoints(const std::string& instance) const;

  // Copies of deleted backups to remove from their buckets: queued before the backup's row
  // goes (queuing one twice is fine), done when the bucket no longer has it.
  Status QueueRemoteRemoval(const RemoteRemovalRecord& r);
  // Oldest first; `repository` empty: all.
  Result<std::vector<RemoteRemovalRecord>> ListRemoteRemovals(
      const std::string& repository = {}) const;
  Status DeleteRemoteRemoval(const std::string& repository, const std::string& item);

  // Restores: their history, newest first.
  Status AddRestore(const RestoreRecord& r);
  Result<std::vector<RestoreRecord>> ListRestores(size_t limit = 100) const;

  // Events: an append-only log of what happened.
  Status AddEvent(const std::string& level, const std::string& instance, const std::string& job,
                  const std::string& message);
  Result<std::vector<EventRecord>> ListEvents(size_t limit = 100) const;
  // The warnings and errors (the alerts among them) with ids above `after_id`, newest first.
  Result<std::vector<EventRecord>> ListProblems(int64_t after_id, size_t limit) const;
  // Records the repository's sizes now, unless they are the last ones recorded (returns
  // whether a row was added); keeps the newest `keep` rows.
  Result<bool> AddRepositorySizes(uint64_t logical_bytes, uint64_t stored_bytes,
                                  size_t keep = 5000);
  // The newest `limit` records, oldest first.
  Result<std::vector<RepositorySizesRecord>> ListRepositorySizes(size_t limit) const;

 private:
  explicit Catalog(SqliteDb db) : db_(std::move(db)) {}
  Status Migrate();
  Result<std::vector<EventRecord>> QueryEvents(const char* sql, std::vector<SqlValue> args) const;

  mutable std::mutex mu_;
  mutable SqliteDb db_;
};

}  // namespace dbaas::catalog
