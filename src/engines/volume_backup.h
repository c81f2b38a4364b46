// A backup whose copy someone else makes: the engine holds the database consistent for a
// copy of its whole volume taken between Begin and End (a CSI VolumeSnapshot cut by the
// daemon on the Kubernetes runtime), and says what the copy needs to start as the backup.
// The same consistency protocol as the engine's own backups (PostgreSQL: pg_backup.h), with
// the copy left to the caller.
#pragma once

#include <cstdint>
#include <map>
#include <string>
#include <string_view>

#include <nlohmann/json.hpp>

#include "base/status.h"
#include "engines/backup_facts.h"
#include "engines/recovery.h"
#include "storage/tree_scan.h"

namespace dbaas::engines {

struct VolumeBackupEnd {
  BackupFacts facts;  // the span in the log (start and stop), the stop time, ...
  // Files to write into the copy's data directory, by path relative to it, before its
  // server first starts (PostgreSQL: backup_label, and tablespace_map with tablespaces).
  std::map<std::string, std::string> files;
  // The server's log the copy needs to become consistent, written after it was cut
  // (PostgreSQL: the WAL segments from the start LSN to the stop LSN, and the timeline's
  // history): by path relative to the data directory, the absolute path where the server
  // keeps it now. Kept there until the VolumeBackup is destroyed (PostgreSQL: the session's
  // slot), so the caller collects it first.
  std::map<std::string, std::string> log_files;
};

// A restore from a volume backup past its end (point in time): archive recovery to
// `target`, replaying a copy of the source's archive staged under `staged_repo` (the archive
// target.archive_id there, as PgStageArchive stages one), which the restore removes once
// the server is out of recovery.
struct StagedRecovery {
  RecoveryTarget target;
  std::string staged_repo;
};

// A StagedRecovery's target as the daemon sends it to the pod's agent: {"kind": "latest" |
// "time" | "lsn" | "name" | "gtid", "timeUnixUs", "lsn", "name", "gtid", "archiveId"} (a
// MariaDB restore point's "name" with its "lsn", the binlog position the catalog has). From
// JSON, checked whole (kInvalidArgument naming what is wrong); the backup's end is not sent.
nlohmann::json RecoveryTargetJson(const RecoveryTarget& target);
Result<RecoveryTarget> RecoveryTargetFromJson(const nlohmann::json& j);

// What crosses between the pod's agent and the daemon for a volume backup, on both sides:
// the files an end writes into the copy, the largest log file (a WAL segment: initdb's
// --wal-segsize allows up to 1 GiB), and the largest a restore sends to a pod in one request
// (a larger segment makes a backup that cannot restore: refused when it is taken).
inline constexpr const char* kVolumeBackupEndFiles[] = {"backup_label", "tablespace_map"};
inline constexpr uint64_t kMaxVolumeLogFileBytes = uint64_t{1} << 30;
inline constexpr uint64_t kMaxRestorableLogFileBytes = uint64_t{64} << 20;

// Whether `path` is one of kVolumeBackupEndFiles.
bool IsVolumeBackupEndFile(std::string_view path);

// Whether `path` can name one of VolumeBackupEnd's log files where they cross a trust
// boundary (the pod's agent and the daemon): "pg_wal/<name>", the name of plain characters
// ([A-Za-z0-9._-], not "." or ".."). Nothing else is written or read by such a name.
bool IsVolumeLogPath(std::string_view path);

class VolumeBackup {
 public:
  // Leaves backup mode when End was not called: the server is never left in it.
  virtual ~VolumeBackup() = default;
  // What is known as the copy may begin (the start of its span in the log).
  virtual const BackupFacts& begun() const = 0;
  // The directory the copy is of (PostgreSQL: the data directory), and what a copy of it
  // made file by file leaves out (PostgreSQL: what pg_basebackup leaves out, the WAL
  // among it): for a copy read through the pod's agent rather than cut by a CSI driver.
  // Null where no copy may be made file by file (MariaDB: commits wait until End).
  virtual std::string data_dir() const = 0;
  virtual storage::ScanFilterFn copy_filter() const = 0;
  // Ends backup mode once the copy is made. Once only. The log it names stays until this
  // object is destroyed.
  virtual Result<VolumeBackupEnd> End() = 0;
};

}  // namespace dbaas::engines
