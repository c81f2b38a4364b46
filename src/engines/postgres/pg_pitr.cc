#include "engines/postgres/pg_pitr.h"

#include <stdlib.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <set>
#include <thread>

#include <fmt/format.h>
#include <spdlog/spdlog.h>

#include "base/files.h"
#include "base/hex.h"
#include "base/log.h"
#include "base/process.h"
#include "engines/log_spool.h"
#include "engines/postgres/pg_backup.h"
#include "engines/postgres/pg_connection.h"
#include "engines/postgres/pg_wal_blocks.h"
#include "storage/wal_archive.h"

namespace dbaas::engines {
namespace {

using storage::WalArchive;
using storage::WalFileInfo;
using storage::WalFileName;

// "2026-11-25 08:12:13.123456" (UTC) -> microseconds since the epoch.
std::optional<int64_t> ParseWaldumpTime(std::string_view s) {
  if (s.size() < 26 || s[4] != '-' || s[10] != ' ' || s[19] != '.') return std::nullopt;
  struct tm tm = {};
  std::string text(s.substr(0, 19));
  const char* end = ::strptime(text.c_str(), "%Y-%m-%d %H:%M:%S", &tm);
  if (end == nullptr || *end != '\0') return std::nullopt;
  int64_t usec = 0;
  for (char c : s.substr(20, 6)) {
    if (c < '0' || c > '9') return std::nullopt;
    usec = usec * 10 + (c - '0');
  }
  return static_cast<int64_t>(::timegm(&tm)) * 1000000 + usec;
}

struct SegmentScan {
  std::string last_lsn;
  std::optional<int64_t> last_commit_unix_us;
};

// The records of one segment as pg_waldump prints them (TZ=UTC: it prints local times).
Result<SegmentScan> ScanSegment(const WalArchive& archive, const std::string& name,
                                const std::string& bin_dir) {
  char tmpl[] = "/tmp/dbaas-walscan-XXXXXX";
  if (::mkdtemp(tmpl) == nullptr) return ErrnoStatus("mkdtemp", tmpl, errno);
  const std::string dir = tmpl;
  auto scanned = [&]() -> Result<SegmentScan> {
    // The WAL is a tenant's bytes: its parser runs as nobody, on a copy of its own. Other
    // processes running as nobody must not read that copy: it lies in a directory of ours
    // that can be passed through but not listed (0711), under a random name.
    if (::chmod(dir.c_str(), 0711) != 0) return ErrnoStatus("chmod", dir, errno);
    const std::string hidden = JoinPath(dir, RandomHex(16));
    RETURN_IF_ERROR(MakeDir(hidden, 0711));
    const std::string copy = JoinPath(hidden, name);
    RETURN_IF_ERROR(archive.Fetch(name, copy));
    ProcessOptions o;
    o.argv = {JoinPath(bin_dir, "pg_waldump"), "--path=" + hidden, name};
    o.env = {"TZ=UTC"};
    if (::geteuid() == 0) {
      ASSIGN_OR_RETURN(UserIds nobody, LookupUser("nobody"));
      // pg_waldump lists its --path: that directory is nobody's, its parent only ours.
      for (const std::string& p : {hidden, copy}) {
        if (::chown(p.c_str(), nobody.uid, nobody.gid) != 0) return ErrnoStatus("chown", p, errno);
      }
      if (::chmod(copy.c_str(), 0400) != 0) return ErrnoStatus("chmod", copy, errno);
      o.user = nobody;
    }
    ASSIGN_OR_RETURN(RunResult run, RunProcess(o, std::chrono::minutes(2)));
    // pg_waldump ends with an error at the end of valid WAL; the records before it count.
    SegmentScan scan;
    size_t pos = 0;
    while (pos < run.output.size()) {
      size_t eol = run.output.find('\n', pos);
      if (eol == std::string::npos) eol = run.output.size();
      std::string_view line(run.output.data() + pos, eol - pos);
      pos = eol + 1;
      if (!line.starts_with("rmgr:")) continue;
      if (auto at = line.find(", lsn: "); at != std::string_view::npos) {
        std::string_view rest = line.substr(at + 7);
        scan.last_lsn = std::string(rest.substr(0, rest.find(',')));
      }
      if (auto desc = line.find("desc: COMMIT "); desc != std::string_view::npos) {
        auto t = ParseWaldumpTime(line.substr(desc + 13));
        if (t && (!scan.last_commit_unix_us || *t > *scan.last_commit_unix_us)) {
          scan.last_commit_unix_us = t;
        }
      }
    }
    if (scan.last_lsn.empty()) {
      return Status::Corruption(fmt::format("pg_waldump found no WAL record in archived '{}': {}",
                                            name, run.output.substr(0, 300)));
    }
    return scan;
  }();
  WarnIfError(RemoveTree(dir), "remove the WAL scan's copy");
  return scanned;
}

// The position ("LLLLLLLLSSSSSSSS") after `pos` for segments of `seg_size` bytes ("" when
// `pos` is not one of such a segment).
std::string NextPosition(const std::string& pos, uint64_t seg_size) {
  auto lsn = WalSegmentLsn(pos, seg_size);
  return lsn ? WalSegmentPosition(*lsn + seg_size, seg_size) : "";
}

}  // namespace

std::string FormatPgTimestamp(int64_t unix_us) {
  time_t secs = static_cast<time_t>(unix_us / 1000000);
  int64_t frac = unix_us % 1000000;
  if (frac < 0) {
    frac += 1000000;
    --secs;
  }
  struct tm tm;
  ::gmtime_r(&secs, &tm);
  char buf[32];
  ::strftime(buf, sizeof buf, "%Y-%m-%d %H:%M:%S", &tm);
  return fmt::format("{}.{:06d}+00", buf, frac);
}

Result<std::map<std::string, std::string>> PgRecoverySettings(const RecoveryTarget& target,
                                                              const LogArchiving& archiving) {
  if (archiving.repo_path.empty()) {
    return Status::FailedPrecondition("point-in-time recovery needs WAL archiving",
                                      "run dbaasd with the dbaas binary available");
  }
  RETURN_IF_ERROR(ValidateArchivingPaths(archiving));
  RETURN_IF_ERROR(storage::ValidateArchiveId(target.archive_id));
  std::map<std::string, std::string> s;
  s["restore_command"] =
      fmt::format("{} wal-fetch --repo {} --archive {} %f %p", archiving.dbaas_binary,
                  archiving.repo_path, target.archive_id);
  s["recovery_target_action"] = "promote";
  s["recovery_target_timeline"] = "latest";
  switch (target.kind) {
    case RecoveryTarget::Kind::kBackupEnd:
      return Status::InvalidArgument("no recovery target: restore the backup as taken");
    case RecoveryTarget::Kind::kLatest:
      break;
    case RecoveryTarget::Kind::kTime:
      s["recovery_target_time"] = FormatPgTimestamp(target.time_unix_us);
      break;
    case RecoveryTarget::Kind::kLsn:
      RETURN_IF_ERROR(ParseLsn(target.lsn).status());
      s["recovery_target_lsn"] = target.lsn;
      break;
    case RecoveryTarget::Kind::kName:
      if (target.name.empty() || target.name.size() > 63 ||
          target.name.find_first_of("\n\r") != std::string::npos) {
        return Status::InvalidArgument(
            fmt::format("'{}' is not a restore point name (1 to 63 characters)", target.name));
      }
      s["recovery_target_name"] = target.name;
      break;
    case RecoveryTarget::Kind::kGtid:
      return Status::InvalidArgument("targetGtid is MariaDB's; PostgreSQL has no GTIDs",
                                     "give targetTime, targetLsn or targetName");
  }
  return s;
}

Status PgArchiveNow(const PgInstance& instance, std::chrono::milliseconds timeout) {
  if (instance.log_archive_id().empty()) {
    return Status::FailedPrecondition(
        fmt::format("instance '{}' does not archive its WAL", instance.name()),
        "it was made before WAL archiving; back it up and restore it into a new instance");
  }
  const LogSpool spool = instance.log_spool().value();
  ASSIGN_OR_RETURN(PgConnection conn, ConnectOwn(instance));
  ASSIGN_OR_RETURN(std::string segment, conn.QueryValue("select pg_walfile_name(pg_switch_wal())"));
  auto deadline = std::chrono::steady_clock::now() + timeout;
  auto late = [&]() -> Status {
    std::string why = LogSpoolNote(spool);
    return Status::Busy(
        fmt::format("WAL segment {} of instance '{}' is not archived after {} s{}", segment,
                    instance.name(), timeout.count() / 1000, why.empty() ? "" : ": " + why),
        "PostgreSQL keeps it and retries; see the instance's status");
  };
  if (spool.repo_path.empty()) {
    // Into a spool the daemon drains (a pod's): archived once the spool holds the segment,
    // or the archiver has gone past it (the daemon may have drained it already). The daemon
    // then drains the spool itself.
    while (true) {
      struct stat st;
      const std::string spooled = JoinPath(spool.dir, segment);
      if (::lstat(spooled.c_str(), &st) == 0 && S_ISREG(st.st_mode)) return Status::Ok();
      ASSIGN_OR_RETURN(std::string archived,
                       conn.QueryValue("select coalesce(last_archived_wal, '') from "
                                       "pg_stat_archiver"));
      if (archived.size() >= 24 && archived.substr(0, 24) >= segment) return Status::Ok();
      if (std::chrono::steady_clock::now() > deadline) return late();
      std::this_thread::sleep_for(std::chrono::milliseconds(20));
    }
  }
  ASSIGN_OR_RETURN(WalArchive archive, WalArchive::Open(spool.repo_path, spool.archive_id));
  // The archiver puts the segment in the spool; the drain stores it in the repository. A
  // repository that cannot take it fails this at once, with the drain's reason.
  auto drain = [&]() -> Status {
    return DrainLogSpool(spool).status().WithContext(
        fmt::format("archive WAL segment {} of instance '{}'", segment, instance.name()));
  };
  while (true) {
    RETURN_IF_ERROR(drain());
    // The repository, not pg_stat_archiver, says whether the segment is durable: the
    // archiver's last_archived_wal can name a .backup file archived after its segment, and
    // then stays there until the next segment, which an idle server may never fill.
    Result<uint64_t> stored = archive.RawSize(segment);
    if (stored.ok()) return Status::Ok();
    if (stored.status().code() != StatusCode::kNotFound) return stored.status();
    // A later segment spooled also proves it (stored by now, perhaps pruned since).
    ASSIGN_OR_RETURN(std::string archived,
                     conn.QueryValue("select coalesce(last_archived_wal, '') from "
                                     "pg_stat_archiver"));
    if (archived.size() == 24 && archived >= segment) return drain();
    if (std::chrono::steady_clock::now() > deadline) return late();
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
}

Result<std::string> PgCreateRestorePoint(const PgInstance& instance, const std::string& name,
                                         std::chrono::milliseconds timeout) {
  if (name.empty() || name.size() > 63) {
    return Status::InvalidArgument(
        fmt::format("'{}' is not a restore point name (1 to 63 characters)", name));
  }
  ASSIGN_OR_RETURN(PgConnection conn, ConnectOwn(instance));
  ASSIGN_OR_RETURN(auto rows, conn.QueryParams("select pg_create_restore_point($1)::text", {name}));
  RETURN_IF_ERROR(PgArchiveNow(instance, timeout));
  return rows.at(0).at(0);
}

namespace {

// The position ("LLLLLLLLSSSSSSSS") of the segment holding `lsn`, with the segment size of
// the archive's segments; nullopt when it has none.
Result<std::optional<std::string>> SegmentPositionOf(const WalArchive& archive,
                                                     const std::string& lsn) {
  ASSIGN_OR_RETURN(uint64_t at, ParseLsn(lsn));
  ASSIGN_OR_RETURN(std::vector<WalFileInfo> files, archive.List());
  for (const WalFileInfo& f : files) {
    if (f.parsed.kind != WalFileName::Kind::kSegment) continue;
    ASSIGN_OR_RETURN(uint64_t seg_size, archive.RawSize(f.name));
    if (seg_size == 0 || (seg_size & (seg_size - 1)) != 0) {
      return Status::Corruption(
          fmt::format("archived WAL segment {} has {} bytes", f.name, seg_size));
    }
    return std::optional<std::string>(WalSegmentPosition(at, seg_size));
  }
  return std::optional<std::string>();
}

}  // namespace

Result<std::optional<std::string>> PgArchivePositionOf(const std::string& repo_path,
                                                       const std::string& archive_id,
                                                       const std::string& lsn) {
  RETURN_IF_ERROR(storage::ValidateArchiveId(archive_id));
  ASSIGN_OR_RETURN(WalArchive archive, WalArchive::Open(repo_path, archive_id));
  return SegmentPositionOf(archive, lsn);
}

Result<uint64_t> PgPruneArchive(const std::string& repo_path, const std::string& archive_id,
                                const std::optional<std::string>& keep_from_lsn) {
  RETURN_IF_ERROR(storage::ValidateArchiveId(archive_id));
  ASSIGN_OR_RETURN(WalArchive archive, WalArchive::Open(repo_path, archive_id));
  if (!keep_from_lsn) return archive.RemoveBefore("~");  // sorts after every position
  ASSIGN_OR_RETURN(std::optional<std::string> keep, SegmentPositionOf(archive, *keep_from_lsn));
  if (!keep) return uint64_t{0};  // no segment: nothing to remove
  return archive.RemoveBefore(*keep);
}

Status PgStageArchive(const std::string& repo_path, const std::string& archive_id,
                      const std::string& from_lsn, const std::string& stage_repo) {
  RETURN_IF_ERROR(storage::ValidateArchiveId(archive_id));
  ASSIGN_OR_RETURN(WalArchive source, WalArchive::Open(repo_path, archive_id));
  ASSIGN_OR_RETURN(std::optional<std::string> from, SegmentPositionOf(source, from_lsn));
  RETURN_IF_ERROR(WalArchive::Create(stage_repo, archive_id));
  ASSIGN_OR_RETURN(WalArchive stage, WalArchive::Open(stage_repo, archive_id));
  ASSIGN_OR_RETURN(uint64_t copied, source.CopyInto(stage, from.value_or("")));
  spdlog::debug("staged {} archived WAL files of {} in {}", copied, archive_id, stage_repo);
  return Status::Ok();
}

Result<ArchiveEnd> PgScanArchive(const std::string& repo_path, const std::string& archive_id,
                                 const std::string& from_lsn, const std::string& bin_dir) {
  RETURN_IF_ERROR(storage::ValidateArchiveId(archive_id));
  ASSIGN_OR_RETURN(uint64_t from, ParseLsn(from_lsn));
  ASSIGN_OR_RETURN(WalArchive archive, WalArchive::Open(repo_path, archive_id));
  ASSIGN_OR_RETURN(std::vector<WalFileInfo> files, archive.List());
  // Per position, the newest timeline's segment (a promotion continues the same position
  // on the next timeline).
  std::map<std::string, std::string> by_position;
  for (const WalFileInfo& f : files) {
    if (f.parsed.kind == WalFileName::Kind::kSegment) by_position[f.parsed.position] = f.name;
  }
  ArchiveEnd end;
  end.last_lsn = from_lsn;
  if (by_position.empty()) return end;
  // A segment's raw size is the server's wal_segment_size.
  ASSIGN_OR_RETURN(uint64_t seg_size, archive.RawSize(by_position.rbegin()->second));
  if (seg_size < (1u << 20) || (seg_size & (seg_size - 1)) != 0) {
    return Status::Corruption(fmt::format("archived WAL segment {} has {} bytes",
                                          by_position.rbegin()->second, seg_size));
  }
  std::string pos = WalSegmentPosition(from, seg_size);
  if (!by_position.count(pos)) return end;  // not even the backup's last segment yet
  std::vector<std::string> run = {pos};
  while (by_position.count(NextPosition(run.back(), seg_size))) {
    run.push_back(NextPosition(run.back(), seg_size));
  }
  end.last_segment = by_position[run.back()];
  for (auto it = run.rbegin(); it != run.rend(); ++it) {
    ASSIGN_OR_RETURN(SegmentScan scan, ScanSegment(archive, by_position[*it], bin_dir));
    if (it == run.rbegin()) end.last_lsn = scan.last_lsn;
    if (scan.last_commit_unix_us) {
      end.last_commit_unix_us = scan.last_commit_unix_us;
      break;
    }
  }
  return end;
}

}  // namespace dbaas::engines
