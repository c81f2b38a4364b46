// What a backup records about itself, whatever the engine: filled by the engine that took
// it (fields of another engine stay empty), kept with its snapshot as annotations, stored
// by the service in the catalog and shown by the API, each under its own names, which only
// those layers know. One struct, so a new fact is one field here and one line where each
// layer names it.
#pragma once

#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <string_view>

#include "base/status.h"

namespace dbaas::engines {

// Where a backup's data files go, where the runtime offers a choice (the API's
// `repository`): the daemon's repository, or a storage snapshot of the instance's volume
// (the Kubernetes runtime's volumeSnapshot method). kDefault: the runtime's choice.
enum class BackupStore { kDefault, kRepository, kVolumeSnapshot };
// "local" and "volumeSnapshot", as the API names them ("" for kDefault); kInvalidArgument
// for any other name.
std::string_view BackupStoreName(BackupStore into);
Result<BackupStore> ParseBackupStore(std::string_view name);

struct BackupFacts {
  std::string engine;          // postgresql, mariadb, mysql
  std::string server_version;  // PostgreSQL: server_version_num ("150018"); MariaDB: VERSION()
  // "repository" (copied into packs), "thin" (reflink clones) or "volume" (the data files
  // in a storage snapshot of the volume, `volume_snapshot`; the repository holds the rest).
  std::string snapshot_kind;
  // The Kubernetes runtime's volumeSnapshot method: the VolumeSnapshot holding the data
  // files, "<namespace>/<name>", and its VolumeSnapshotContent (kept, Retain, when the
  // namespace goes: the backup outlives its instance).
  std::string volume_snapshot;
  std::string volume_snapshot_content;
  std::optional<double> duration_seconds;

  // PostgreSQL: the backup's span in the WAL and where it continues (pg_backup.h).
  // MariaDB: its binary log position ("binlog.000042:1234") in both, a point.
  std::string system_identifier;
  std::optional<uint32_t> timeline;
  std::string start_lsn;  // "0/3000028"
  std::string stop_lsn;
  // When pg_backup_stop returned: the earliest a point-in-time restore from it reaches.
  std::optional<int64_t> stop_time_unix_us;
  std::optional<double> seconds_in_backup_mode;
  std::string wal_archive;  // the archive its log continues in; "" without archiving
  // MariaDB: @@gtid_binlog_pos at that point ("0-1-42").
  std::string gtid_position;

  // MariaDB/MySQL (maria_backup.h).
  std::string method;  // "reflink", "mariadb-backup" or "backup-stage" (a volume snapshot)
  std::optional<uint64_t> checkpoint_lsn;
  std::optional<uint64_t> end_lsn;
  std::optional<double> seconds_writes_blocked;
};

// The facts as a snapshot's annotations (snake_case), and back: a backup whose catalog row
// a crash cut off is completed from its snapshot. Absent facts are not written; what does
// not parse is left out.
std::map<std::string, std::string> ToAnnotations(const BackupFacts& facts);
BackupFacts FromAnnotations(const std::map<std::string, std::string>& annotations);

}  // namespace dbaas::engines
