// Point-in-time recovery of MariaDB from the binary logs archived in the repository
// (maria_log_archiving.h; docs/ARCHITECTURE.md, "MariaDB point-in-time recovery"):
//   - a backup records its binlog position and GTID position, taken while commits were
//     blocked (reflink) or as mariadb-backup read them under BLOCK_COMMIT;
//   - a restore to a target restores the newest backup before it, then replays the archived
//     binlogs from the backup's position with mariadb-binlog | mariadb, as the new
//     instance's OS user, into the new instance only;
//   - where the replay stops is worked out here, from the binlogs' own events: the end of
//     the last whole transaction the target keeps (mariadb-binlog --stop-position), so a
//     replay never ends inside a transaction. Times are the events' timestamps, whole
//     seconds: a time target keeps every transaction committed in its second.
#pragma once

#include <optional>
#include <string>
#include <vector>

#include "base/status.h"
#include "engines/backup_facts.h"
#include "engines/mariadb/maria_binlog.h"
#include "engines/mariadb/maria_instance.h"
#include "engines/recovery.h"
#include "storage/wal_archive.h"

namespace dbaas::engines {

// How far the archive reaches without a gap from `from` (a backup's binlog position): the
// end of its last whole transaction, that transaction's commit time and GTID position.
Result<ArchiveEnd> MariaScanArchive(const std::string& repo_path, const std::string& archive_id,
                                    const std::string& from);

// Removes archived binlogs before the one holding `keep_from`; all of them when nullopt.
// The position of the binlog file that holds `position` ("binlog.000042:1234").
Result<std::optional<std::string>> MariaArchivePositionOf(const std::string& position);
Result<uint64_t> MariaPruneArchive(const std::string& repo_path, const std::string& archive_id,
                                   const std::optional<std::string>& keep_from);

// Copies the archived binlogs from the one holding `from` (a backup's binlog position) on
// into a new archive of the same id under `stage_repo`: what a pod's restore replays, sent
// to its agent (kube_runtime). Not synced: a copy for one restore.
Status MariaStageArchive(const std::string& repo_path, const std::string& archive_id,
                         const std::string& from, const std::string& stage_repo);

// What a restore replays of one archived binlog file: [from, to) (to: the file's end when
// nullopt).
struct BinlogReplayPart {
  uint64_t file = 0;
  uint64_t from = 4;
  std::optional<uint64_t> to;
};
struct BinlogReplayPlan {
  std::vector<BinlogReplayPart> parts;
  size_t transactions = 0;
};

// The binlogs to replay from `from` (the base backup's position, where its GTID position
// was `from_gtid`) to `target`: every whole transaction the target keeps. kInvalidArgument
// when the archive does not reach a GTID or position target; kCorruption when a hole
// (a missing or damaged binlog) lies before the target; kFailedPrecondition when the
// backup's own binlog is not archived.
Result<BinlogReplayPlan> PlanBinlogReplay(const storage::WalArchive& archive,
                                          const BinlogPosition& from, const GtidPosition& from_gtid,
                                          const RecoveryTarget& target);

// PlanBinlogReplay from a backup's binlog position and GTID position (its facts):
// kFailedPrecondition when it has none (taken without binlog archiving).
Result<BinlogReplayPlan> PlanReplayFromBackup(const storage::WalArchive& archive,
                                              const BackupFacts& facts,
                                              const RecoveryTarget& target);

// Replays the plan into the running `instance`: each file staged in the instance's
// directory (its user's), mariadb-binlog to SQL and mariadb to apply it, both as the
// instance's user; the replay is not written to the instance's own binlog (it begins a
// new history).
Status ReplayBinlogs(const MariaInstance& instance, const storage::WalArchive& archive,
                     const BinlogReplayPlan& plan);

}  // namespace dbaas::engines
