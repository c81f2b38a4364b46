// Point-in-time recovery of PostgreSQL from the WAL archive in the repository
// (docs/ARCHITECTURE.md, "Point-in-time recovery"):
//   - every instance archives its WAL (pg_instance.h: archive_command = dbaas wal-push);
//   - a restore with a target starts the copy of a base backup in archive recovery:
//     recovery.signal, restore_command = dbaas wal-fetch from the source's archive, the
//     recovery_target_* setting, recovery_target_action = promote; the server replays to
//     the target and promotes on a new timeline;
//   - how far an archive reaches is read from the WAL itself with pg_waldump: the last
//     record and the last commit's time in the newest segments archived without a gap.
#pragma once

#include <chrono>
#include <map>
#include <optional>
#include <string>

#include "base/status.h"
#include "engines/postgres/pg_instance.h"
#include "engines/recovery.h"

namespace dbaas::engines {

// The configuration for archive recovery to `target` (not kBackupEnd) from the archive
// `target.archive_id` of the repository `archiving` names.
Result<std::map<std::string, std::string>> PgRecoverySettings(const RecoveryTarget& target,
                                                              const LogArchiving& archiving);

// pg_create_restore_point(name), then the WAL switched and archived (up to `timeout`) so
// that the restore point can be restored to at once. Returns its LSN.
Result<std::string> PgCreateRestorePoint(const PgInstance& instance, const std::string& name,
                                         std::chrono::milliseconds timeout);

// pg_switch_wal() and a wait until the archiver has archived that segment.
Status PgArchiveNow(const PgInstance& instance, std::chrono::milliseconds timeout);

// How far the archive reaches, without a gap, from the segment holding `from_lsn`: the
// last record and the last commit (pg_waldump from `bin_dir` reads the segments).
Result<ArchiveEnd> PgScanArchive(const std::string& repo_path, const std::string& archive_id,
                                 const std::string& from_lsn, const std::string& bin_dir);

// Removes archived files before the segment holding `keep_from_lsn`; every segment (not
// the timeline history) when nullopt.
// The position of the archived segment that holds `lsn` (the archive's segment size read
// from a segment in it); nullopt when it holds none.
Result<std::optional<std::string>> PgArchivePositionOf(const std::string& repo_path,
                                                       const std::string& archive_id,
                                                       const std::string& lsn);
Result<uint64_t> PgPruneArchive(const std::string& repo_path, const std::string& archive_id,
                                const std::optional<std::string>& keep_from_lsn);

// Copies what a recovery from `from_lsn` on needs of the archive (its segments from the
// one holding `from_lsn`, and every history file) into an archive of the same id under
// `stage_repo` (the caller gives it to the restored server, whose restore_command reads
// that copy: the repository is root's alone).
Status PgStageArchive(const std::string& repo_path, const std::string& archive_id,
                      const std::string& from_lsn, const std::string& stage_repo);

// "2026-11-25 10:00:00.123456+00", how PostgreSQL reads a timestamptz.
std::string FormatPgTimestamp(int64_t unix_us);

}  // namespace dbaas::engines
