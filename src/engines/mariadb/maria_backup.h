// Consistent online backup and restore of a MariaDB (or MySQL) instance.
//
// A file-by-file copy of a running datadir is not consistent by itself: InnoDB flushes
// pages and advances its checkpoint while files are copied, so a redo log copied at the end
// may start recovery after changes an earlier-copied data file never saw. Two methods
// (docs/ARCHITECTURE.md, "MariaDB backup"):
//
// Reflink (the repository and the datadir on one XFS/btrfs filesystem):
//   1. BACKUP STAGE START, FLUSH, BLOCK_DDL, BLOCK_COMMIT: no commits, no DDL, system and
//      non-transactional tables flushed;
//   2. the redo log's first 12 KiB (its header and both checkpoint blocks) are read: the
//      "pinned" checkpoint, older than anything the copy will see;
//   3. every file but the redo log is cloned (FICLONE is atomic per file: no torn pages);
//   4. the redo log is cloned too, and the log's current LSN read;
//   5. BACKUP STAGE END. Writers were blocked for steps 2-4: the clones, milliseconds;
//   6. the clone of the redo log gets the pinned header, after a check that the log did not
//      wrap over the records since the pinned checkpoint.
//   Recovery of the copy replays from the pinned checkpoint: every page reaches the same
//   committed state, whenever the clone caught it.
//
// mariadb-backup (anything else): it copies InnoDB files while following the redo log,
// re-reads torn pages, and blocks commits only for its last step; --prepare applies the
// log. The prepared directory becomes the snapshot. A plain copy under BLOCK_COMMIT would
// block writers for the whole copy and still risk torn pages, so it is never used.
//
// MySQL servers (type mysql with a MySQL binary): LOCK INSTANCE FOR BACKUP and FLUSH TABLES
// WITH READ LOCK instead of the BACKUP STAGEs; the redo files are copied after the clone
// and the copy is accepted only if InnoDB's checkpoint did not move meanwhile (retried
// otherwise). Written but not run here: Debian 12 packages no MySQL server.
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <string_view>

#include "base/status.h"
#include "engines/backup_facts.h"
#include "engines/mariadb/maria_instance.h"
#include "storage/repository.h"
#include "storage/snapshot_create.h"

namespace dbaas::engines {

enum class MariaBackupMethod {
  kAuto,         // reflink where it works, else mariadb-backup
  kReflink,      // or fail
  kMariaBackup,  // always
};

struct MariaBackupInfo {
  storage::Manifest snapshot;
  std::string server_version;         // SELECT VERSION()
  std::string method;                 // "reflink" or "mariadb-backup"
  uint64_t checkpoint_lsn = 0;        // where recovery of the copy starts (reflink)
  uint64_t end_lsn = 0;               // the redo log's end when it was copied (reflink)
  double seconds_writes_blocked = 0;  // commits blocked (BLOCK_COMMIT to END)
  double seconds = 0;
  // Where the backup is in the binary log, for point-in-time recovery (maria_pitr.h): read
  // while commits were blocked; empty when the server writes no binlog.
  std::string binlog_position;  // "binlog.000042:1234"
  std::string gtid_position;    // "0-1-42"
  int64_t point_unix_us = 0;    // when (no later than) the copy was consistent
  std::string binlog_archive;   // the archive its binlog continues in

  // What the service records and shows of it; `engine` is the instance's type.
  BackupFacts Facts(const std::string& engine) const;
};

// The instance must be running. `name` labels the snapshot.
Result<MariaBackupInfo> BackupMaria(const MariaInstance& instance, storage::Repository& repo,
                                    const std::string& name,
                                    MariaBackupMethod method = MariaBackupMethod::kAuto,
                                    storage::Progress* progress = nullptr);

// The mariadb-backup method's copy, made and prepared, not yet in a repository (the Kubernetes
// runtime's repository method reads it through the pod's agent: maria_volume_backup.h):
// mariadb-backup --backup into MariaBackupStage, made afresh (RemoveMariaBackupLeftovers
// first), then --prepare; the tenant's innodb_flush_log_at_timeout is 1 s meanwhile (see
// WriteRedoOfCommits). Refused before anything is written when the filesystem lacks room for
// the copy beside the data (RoomForCopy). The info has no snapshot; the caller removes the
// stage. The instance must be a running MariaDB server.
Result<MariaBackupInfo> PrepareMariaBackupCopy(const MariaInstance& instance);
// Where an instance's copy is staged: in its directory, beside its data directory.
std::string MariaBackupStage(const MariaInstance& instance);
// What a backup cut off by a kill left: its mariadb-backup stopped if it still runs, its
// stage and the run's pid, options and log files removed.
Status RemoveMariaBackupLeftovers(const MariaInstance& instance);
// What of a prepared copy is the data directory: mariadb-backup's own records left out.
storage::ScanFilter MariaPreparedCopyFilter(const std::string& path, bool is_directory);
// Whether a copy of `copy_bytes` fits on a filesystem with `free_bytes` of `total_bytes`
// free, keeping a fiftieth of it (64 MiB to 1 GiB) for the server's writes meanwhile:
// kFailedPrecondition naming the sizes and `stage` if not.
Status RoomForCopy(uint64_t copy_bytes, uint64_t free_bytes, uint64_t total_bytes,
                   const std::string& stage);

// Restores a backup into a new instance (spec.name unused), starts it (InnoDB recovers),
// runs `recover` on it if given (a point-in-time restore's binlog replay), and runs CHECK
// TABLE on every table; any table not OK fails the restore. `password` is root's password
// of the backed-up instance (it is inside the data). Nothing is left behind on failure.
// A standby keeps the tenant's password (renew_tenant_login false): it is the same database.
using MariaRecovery = std::function<Status(MariaInstance& restored)>;
Result<std::unique_ptr<MariaInstance>> RestoreMaria(
    const storage::Repository& repo, const storage::Manifest& snapshot, const InstanceSpec& spec,
    const std::string& password, storage::Progress* progress = nullptr,
    const MariaRecovery& recover = {}, bool renew_tenant_login = true);

// The same from a datadir `fill` makes (a volume snapshot's copy moved into place).
Result<std::unique_ptr<MariaInstance>> RestoreMariaFilled(const InstanceSpec& spec,
                                                          const std::string& password,
                                                          const MariaInstance::FillDataFn& fill,
                                                          const MariaRecovery& recover = {},
                                                          bool renew_tenant_login = true);

// Under BLOCK_COMMIT, before the redo log is copied: the redo of every acknowledged commit
// written to the file (FLUSH ENGINE LOGS; with a binlog InnoDB writes a commit's redo
// lazily). FLUSH ENGINE LOGS writes nothing at innodb_flush_log_at_trx_commit = 0 (a
// tenant's setting, measured: a copy then lacks commits acknowledged before the backup), so
// the setting is 2 for the flush and the tenant's again after it. (mariadb-backup never lacks
// a commit: it waits for the log to reach the server's LSN; BackupMaria has the tenant's
// innodb_flush_log_at_timeout at 1 s while it runs, so that it does not wait in vain.)
Status WriteRedoOfCommits(MariaConnection& conn, const std::string& instance);

// CHECK TABLE on every base table of every database: the names of tables not OK, with the
// server's message, or an empty list.
Result<std::vector<std::string>> CheckAllTables(const MariaEndpoint& endpoint);

// The checkpoint a MariaDB 10.8+ redo log header (its first 12 KiB) names: the newer of
// its two checkpoint blocks.
struct RedoCheckpoint {
  uint64_t checkpoint_lsn = 0;
  uint64_t end_lsn = 0;
};
Result<RedoCheckpoint> ParseRedoHeader(std::string_view header);
constexpr size_t kRedoHeaderSize = 12288;

}  // namespace dbaas::engines
