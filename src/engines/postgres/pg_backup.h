// Consistent online backup and restore of a PostgreSQL instance through a volume snapshot.
//
// A file-by-file copy of a running data directory is not consistent by itself: a copy of
// pg_control taken after some data files can point at a checkpoint they never saw. The
// protocol (docs/ARCHITECTURE.md, "PostgreSQL backup"):
//   1. one session: a temporary physical replication slot reserves WAL from now on;
//   2. pg_backup_start(label, fast => true): a checkpoint, and the start LSN;
//   3. the snapshot of the data directory (reflink clones or the repository), leaving out
//      what a base backup leaves out (postmaster.pid, pg_replslot/*, pg_wal/*, ...);
//   4. pg_backup_stop(): the backup_label (and tablespace_map) and the stop LSN, which go
//      into the snapshot with every WAL segment from the start to the stop LSN, and a
//      PostgreSQL-format backup_manifest so that pg_verifybackup accepts the restored copy.
// Restoring starts a server on the copy: it replays WAL to the backup's end and is
// consistent.
#pragma once

#include <memory>
#include <string>
#include <vector>

#include "base/status.h"
#include "engines/backup_facts.h"
#include "engines/integrity.h"
#include "engines/postgres/pg_instance.h"
#include "engines/recovery.h"
#include "engines/volume_backup.h"
#include "storage/repository.h"
#include "storage/snapshot_create.h"

namespace dbaas::engines {

struct PgBackupInfo {
  storage::Manifest snapshot;
  std::string server_version;     // server_version_num, e.g. "150018"
  std::string system_identifier;  // pg_control_system()
  uint32_t timeline = 0;
  std::string start_lsn;
  std::string stop_lsn;
  double seconds_in_backup_mode = 0;  // from pg_backup_start to pg_backup_stop
  double seconds = 0;
  // When pg_backup_stop returned: the copy is consistent from here on, the earliest
  // time a point-in-time restore from it can reach.
  int64_t stop_time_unix_us = 0;
  std::string wal_archive;    // the instance's archive id; "" without archiving
  std::string snapshot_kind;  // as the snapshot was made: "repository" or "thin"

  // What the service records and shows of it.
  BackupFacts Facts() const;
};

struct PgBackupOptions {
  storage::SnapshotMode mode = storage::SnapshotMode::kAuto;
  storage::Progress* progress = nullptr;
  // An incremental reads only the blocks the WAL since its parent changed
  // (pg_changed_blocks.h); false reads every changed file whole.
  bool changed_blocks_from_wal = true;
  // Reads everything anyway and reports each change the WAL's map left out (the tests').
  bool check_changed_blocks = false;
};

// A volume backup (volume_backup.h) of the running instance: backup mode held by a session
// (pg_backup_session.h) until End, which returns backup_label (and tablespace_map) for the
// copy and the facts as BackupPostgres records them. `instance` must outlive the backup.
Result<std::unique_ptr<VolumeBackup>> BeginPgVolumeBackup(const PgInstance& instance,
                                                          const std::string& label);

// The instance must be running. `name` labels the snapshot.
Result<PgBackupInfo> BackupPostgres(const PgInstance& instance, storage::Repository& repo,
                                    const std::string& name, const PgBackupOptions& options = {});

// Restores a backup into a new instance (spec.name must be unused), starts it and waits
// until it accepts connections and is out of recovery. `password` is the superuser
// password of the backed-up instance (it is inside the data). With a target other than
// kBackupEnd the server replays the source's archived WAL to it (pg_pitr.h) and promotes.
// Nothing is left behind on failure. With `file_check`, pg_verifybackup checks the copy
// against its backup_manifest before the server first starts.
Result<PgInstance> RestorePostgres(const storage::Repository& repo,
                                   const storage::Manifest& snapshot, const PgInstanceSpec& spec,
                                   const std::string& password, const RecoveryTarget& target = {},
                                   storage::Progress* progress = nullptr,
                                   FileCheck* file_check = nullptr);

// The WAL segments a backup from `start_lsn` to `stop_lsn` needs, by file name.
std::vector<std::string> PgBackupWalSegments(uint32_t timeline, uint64_t start_lsn,
                                             uint64_t stop_lsn, uint64_t segment_size);

// A new instance from a copy of a volume backup (volume_backup.h) on the filesystem the
// instance is made on: the source's data directory `copy_data_dir`, as its snapshot cut it,
// is moved into the new instance, what pg_basebackup leaves out removed from it, `end`'s
// files (backup_label) written and its log files (staged copies, by path in the data
// directory) moved in before the server first starts; it then recovers to the backup's end
// (or, with `recovery`, replays the staged archive to its target and promotes) and starts
// as RestorePostgres's do. Nothing of the instance is left behind on failure.
Result<PgInstance> RestorePostgresVolumeCopy(const std::string& copy_data_dir,
                                             const VolumeBackupEnd& end, const PgInstanceSpec& spec,
                                             const std::string& password,
                                             const StagedRecovery* recovery);

// pg_verifybackup on a restored data directory before any server touches it: every file the
// backup_manifest lists is there with its size, no other file is, and the WAL from the
// backup's start to its stop parses. What it finds goes to check.problems (the status is
// an error only when the check could not run). `bin_dir` "" finds the installed one. Runs
// through `run` (an instance's RunTool: as its identity, since the files are a tenant's).
Status PgVerifyBackupFiles(const std::string& bin_dir, const std::string& data_dir,
                           const ToolRunner& run, FileCheck& check);

// The backup_manifest pg_basebackup would write for a copy of `entries` with `extras` added
// (version 1, no per-file checksums: sizes are checked; the chunks' SHA-256 in the
// repository protect the content), for pg_verifybackup to check a restore by.
std::string PgBackupManifest(const std::vector<storage::TreeEntry>& entries,
                             const std::vector<storage::ExtraFile>& extras, uint32_t timeline,
                             const std::string& start_lsn, const std::string& stop_lsn,
                             int64_t now_ns);

// Which paths a base backup leaves out (relative to PGDATA).
storage::ScanFilter PgBackupFilter(const std::string& path, bool is_directory);

// "16/B374D848" <-> 0x16B374D848
Result<uint64_t> ParseLsn(const std::string& lsn);
std::string FormatLsn(uint64_t lsn);

}  // namespace dbaas::engines
