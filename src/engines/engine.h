// One interface over the engines (PostgreSQL, MariaDB/MySQL) for the service: validate a
// configuration, create or open an instance, back it up consistently, restore a backup.
#pragma once

#include <chrono>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "base/status.h"
#include "engines/backup_facts.h"
#include "engines/instance.h"
#include "engines/integrity.h"
#include "engines/recovery.h"
#include "engines/volume_backup.h"
#include "storage/progress.h"
#include "storage/repository.h"

namespace dbaas::engines {

struct EngineBackup {
  storage::Manifest snapshot;
  BackupFacts facts;  // what the backup records about itself
  // How long the database held back writers (PostgreSQL: none; its backup mode is
  // reported in info) and the whole backup.
  double seconds_writes_blocked = 0;
  double seconds = 0;
};

// Where a new standby's first copy comes from: a backup of its primary (`snapshot` in
// `repo`), else (null) the running primary itself.
struct StandbySeed {
  const storage::Repository* repo = nullptr;
  const storage::Manifest* snapshot = nullptr;
};

class Engine {
 public:
  virtual ~Engine() = default;
  virtual const char* type() const = 0;  // postgresql, mariadb, mysql
  virtual Status ValidateConfig(const std::map<std::string, std::string>& config) const = 0;
  // Makes the instance (initialized, configured, not started).
  virtual Result<std::unique_ptr<Instance>> Create(const InstanceSpec& spec) const = 0;
  virtual Result<std::unique_ptr<Instance>> Open(const std::string& data_root,
                                                 const std::string& name) const = 0;
  // `instance` must be one of this engine's, and running.
  virtual Result<EngineBackup> Backup(const Instance& instance, storage::Repository& repo,
                                      const std::string& name,
                                      storage::Progress* progress) const = 0;
  // Whether a backup of `instance` can go into `into`; kInvalidArgument with the reason if
  // not (an engine whose runtime has nothing but its repository: kVolumeSnapshot).
  virtual Status CheckBackupStore(BackupStore into, const std::string& instance) const;
  // Backup into `into` (CheckBackupStore): Backup, for an engine whose runtime has nothing
  // but its repository.
  virtual Result<EngineBackup> BackupInto(BackupStore into, const Instance& instance,
                                          storage::Repository& repo, const std::string& name,
                                          storage::Progress* progress) const;
  // A new instance from a backup, started, verified; nothing left behind on failure.
  // With `file_check`, the restored files are checked before the server first starts (a
  // restore drill); what the check finds does not stop the restore.
  virtual Result<std::unique_ptr<Instance>> Restore(
      const storage::Repository& repo, const storage::Manifest& snapshot, const InstanceSpec& spec,
      const std::string& password, const RecoveryTarget& target, storage::Progress* progress,
      FileCheck* file_check) const = 0;

  // Backup mode held for a copy of the running instance's volume made by the caller
  // (volume_backup.h; MariaDB: commits blocked, maria_volume_backup.h); kInvalidArgument
  // where the engine has none (MySQL servers).
  // `label` names the backup in the database's own records (PostgreSQL's backup_label).
  // `instance` must outlive the backup.
  virtual Result<std::unique_ptr<VolumeBackup>> BeginVolumeBackup(const Instance& instance,
                                                                  const std::string& label) const;
  // The same for a copy read file by file from data_dir() (the Kubernetes runtime's
  // repository method): PostgreSQL's backup mode serves both; MariaDB's commits would wait
  // for the whole copy under its volume backup, so its copy is mariadb-backup's, staged
  // beside the data (maria_volume_backup.h).
  virtual Result<std::unique_ptr<VolumeBackup>> BeginCopyBackup(const Instance& instance,
                                                                const std::string& label) const {
    return BeginVolumeBackup(instance, label);
  }
  // Removes what a BeginCopyBackup cut off by a kill left beside the data (MariaDB's staged
  // copy; a run still going is stopped): the pod's agent calls it as it starts.
  virtual Status RemoveCopyLeftovers(const Instance& /*instance*/) const { return Status::Ok(); }

  // A new instance `spec.name` from a copy of a volume backup on the filesystem it is made
  // on: `copy_data_dir` is the source's data directory as the volume's snapshot cut it
  // (moved into the instance); `end` the backup's end, its log_files the paths of staged
  // copies; `recovery`, when given, replays past the end to a target. Started, out of
  // recovery; nothing left behind on failure. kInvalidArgument where the engine has no
  // volume backups (MySQL servers), or no recovery past the end from a staged archive
  // (MariaDB).
  virtual Result<std::unique_ptr<Instance>> RestoreVolumeCopy(const std::string& copy_data_dir,
                                                              const VolumeBackupEnd& end,
                                                              const InstanceSpec& spec,
                                                              const std::string& password,
                                                              const StagedRecovery* recovery) const;

  // Removes what of a backup lives outside the repository (the Kubernetes runtime's
  // VolumeSnapshot, named in its facts); the repository's part is the caller's. Gone
  // already is fine. Nothing elsewhere.
  virtual Status DeleteBackupVolume(const BackupFacts& /*facts*/) const { return Status::Ok(); }
  // The same for instance `instance`'s backup `backup`, cut off (a daemon killed) before
  // its facts were recorded.
  virtual Status DeleteCutOffBackupVolume(const std::string& /*instance*/,
                                          const std::string& /*backup*/) const {
    return Status::Ok();
  }

  // A restore drill's check of a restored, running instance: the database's own checker
  // over every table, and a row count per table. Damage is in the report's problems.
  virtual Result<IntegrityReport> CheckIntegrity(const Instance& instance) const = 0;

  // Point-in-time recovery (PostgreSQL only for now; the others fail with kUnimplemented).
  // A named restore point in the running instance's log; returns where it is.
  virtual Result<RestorePointAt> CreateRestorePoint(const Instance& instance,
                                                    const std::string& name) const;
  // Closes the current log segment and waits (up to `timeout`) until it is archived, so
  // the archive holds every transaction committed before the call.
  virtual Status ArchiveNow(const Instance& instance, std::chrono::milliseconds timeout) const;
  // How far `archive_id` reaches without a gap from the backup that stopped at
  // `from_lsn`.
  virtual Result<ArchiveEnd> ScanArchive(const std::string& repo_path,
                                         const std::string& archive_id,
                                         const std::string& from_lsn) const;
  // Removes the archived log no restore can need: everything before the segment holding
  // `keep_from_lsn` (the oldest kept backup's start), or every segment when nullopt.
  // Returns how many files went.
  virtual Result<uint64_t> PruneArchive(const std::string& repo_path, const std::string& archive_id,
                                        const std::optional<std::string>& keep_from_lsn) const;
  // Where what a restore from `from_lsn` replays begins in `archive_id`: the position
  // (storage::WalFileName::position) of the file holding it; every file before it can go.
  // nullopt when the archive cannot say yet (PostgreSQL: no segment archived to size).
  virtual Result<std::optional<std::string>> ArchivePositionOf(const std::string& repo_path,
                                                               const std::string& archive_id,
                                                               const std::string& from_lsn) const;

  // Replication between an instance's members (engines/replication.h): PostgreSQL's
  // streaming and MariaDB's GTID replication; MySQL fails with kInvalidArgument.
  // A standby of the running `primary` named spec.name (PostgreSQL: streaming through a slot
  // of its own, archiving once promoted into the primary's archive; MariaDB: an archive of
  // its own, named after the instance). Not started. From
  // `seed`'s backup when it names one: kFailedPrecondition, nothing made, when that backup
  // cannot serve (the caller may copy the primary instead).
  virtual Result<std::unique_ptr<Instance>> MakeStandby(const Instance& primary,
                                                        const InstanceSpec& spec,
                                                        const StandbySeed& seed) const;
  virtual Result<MemberPosition> Position(const Instance& member) const;
  virtual Status Promote(Instance& standby, std::chrono::milliseconds timeout) const;
  // A switchover's first step on the running primary: no more writes, and (as Position's
  // lsn_value) where its last one is, which the target must reach before the primary
  // stops; nullopt when its clean shutdown sends everything to its standbys itself
  // (PostgreSQL's walsenders). MariaDB: read_only (until its next start), whose dump
  // threads die at shutdown with what they did not send.
  virtual Result<std::optional<uint64_t>> StopWrites(Instance& primary) const;
  // Undoes StopWrites on a primary that stays one (a refused switchover).
  virtual Status ResumeWrites(Instance& primary) const;
  // What a standby that has everything a stopped member wrote reaches at least, as
  // Position's lsn_value (PostgreSQL: past its shutdown checkpoint, kFailedPrecondition when
  // it did not shut down cleanly; MariaDB: its binlog's last transaction).
  virtual Result<uint64_t> CleanShutdownPosition(const Instance& member) const;
  // Points a standby at `primary` (reloaded when running).
  virtual Status Follow(Instance& member, const Instance& primary) const;
  // A stopped member that may have diverged (an old primary) made a standby of `primary`.
  virtual Status Rejoin(Instance& member, const Instance& primary) const;
  // Marks a stopped member fenced: it starts only as a standby, after Rejoin.
  virtual Status Fence(Instance& member, const Instance& primary) const;
  virtual bool NeedsRejoin(const Instance& member) const;
  // Whether a member cannot follow `primary` and must be made again: MariaDB: a fenced one
  // whose binlog holds transactions the new primary never got, or a running standby whose
  // primary no longer has the binlog it needs (purged while it was down); PostgreSQL:
  // never (pg_rewind or a copy mends a fenced one; a slot keeps a standby's WAL).
  virtual Result<bool> Diverged(const Instance& member, const Instance& primary) const;
  virtual Status SetSynchronous(Instance& primary, const std::vector<std::string>& members) const;
  virtual Status DropMemberSlot(const Instance& primary, const std::string& member) const;
};

// The engines a daemon offers, on one runtime. The service reaches engines only through
// one of these: its unit tests give it fakes.
class EngineSet {
 public:
  virtual ~EngineSet() = default;
  // The engine of an instance type, or kInvalidArgument naming the types there are.
  virtual Result<const Engine*> For(const std::string& type) const = 0;
  // An instance made earlier, whatever its engine (here: instance.json says which).
  virtual Result<std::unique_ptr<Instance>> Open(const std::string& data_root,
                                                 const std::string& name) const;
  // Removes what is left of an instance cut off while it was made, restored or drilled (a
  // daemon killed, a failure past the point of undoing): its server if one runs, its
  // identity (recorded before it was made, so even one made before instance.json), its
  // directory.
  virtual Status RemoveRemains(const std::string& data_root, const std::string& name) const = 0;
  // kInvalidArgument with the reason when `name` cannot be an instance's where these engines
  // run, beyond the service's own rule (a cluster's object names are shorter).
  virtual Status CheckInstanceName(const std::string& /*name*/) const { return Status::Ok(); }
  // Whether servers run on without the daemon (a cluster's pods): its shutdown lets them be,
  // where a machine's servers, its children, are stopped with it.
  virtual bool servers_outlive_daemon() const { return false; }
};

// PostgreSQL, MariaDB and MySQL from Debian's packages, on `rt`.
std::unique_ptr<EngineSet> PackagedEngines(runtime::Runtime& rt);

}  // namespace dbaas::engines
