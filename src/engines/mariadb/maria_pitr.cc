#include "engines/mariadb/maria_pitr.h"

#include <fcntl.h>
#include <unistd.h>

#include <algorithm>
#include <functional>
#include <map>
#include <set>

#include <fmt/format.h>
#include <spdlog/spdlog.h>

#include "base/files.h"
#include "base/log.h"
#include "engines/mariadb/maria_connection.h"

namespace dbaas::engines {
namespace {

using storage::WalArchive;
using storage::WalFileName;

// Calls `visit` with each archived binlog from number `first` on, in order, while the
// numbers follow one another and each file reads and walks; `visit` returns false to stop.
// Returns where the walk ended early, if it did: the missing or damaged file (a hole).
using BinlogVisitor = std::function<Result<bool>(uint64_t number, const BinlogFileScan& scan)>;
Result<std::set<uint64_t>> ArchivedNumbers(const WalArchive& archive) {
  ASSIGN_OR_RETURN(std::vector<storage::WalFileInfo> files, archive.List());
  std::set<uint64_t> numbers;
  for (const auto& f : files) {
    if (f.parsed.kind != WalFileName::Kind::kBinlog) continue;
    if (auto n = BinlogFileNumber(f.name)) numbers.insert(*n);
  }
  return numbers;
}

Result<std::string> WalkArchive(const WalArchive& archive, uint64_t first,
                                const BinlogVisitor& visit) {
  ASSIGN_OR_RETURN(std::set<uint64_t> numbers, ArchivedNumbers(archive));
  for (uint64_t n = first; numbers.count(n) > 0; ++n) {
    const std::string name = BinlogFileName(n);
    auto raw = archive.Read(name, storage::BlobCheck::kFrameChecksum);
    Result<BinlogFileScan> scan =
        raw.ok() ? ScanBinlogFile(*raw) : Result<BinlogFileScan>(raw.status());
    if (!scan.ok()) {
      spdlog::warn("event=binlog_archive_damaged archive={} file={} error=\"{}\"", archive.dir(),
                   name, scan.status().ToString());
      return fmt::format("{} cannot be read ({})", name, scan.status().message());
    }
    ASSIGN_OR_RETURN(bool more, visit(n, *scan));
    if (!more) return std::string();
  }
  // The next file is not archived yet (the server writes it), or a hole: both end here.
  return std::string();
}

Result<BinlogPosition> PositionOf(const std::string& text, const char* what) {
  auto position = ParseBinlogPosition(text);
  if (!position) {
    return Status::InvalidArgument(fmt::format("{} '{}' is not a binlog position", what, text),
                                   "write it as binlog.000042:1234");
  }
  return *position;
}

}  // namespace

Result<ArchiveEnd> MariaScanArchive(const std::string& repo_path, const std::string& archive_id,
                                    const std::string& from) {
  ASSIGN_OR_RETURN(BinlogPosition start, PositionOf(from, "backup position"));
  ASSIGN_OR_RETURN(WalArchive archive, WalArchive::Open(repo_path, archive_id));
  // The files that follow one another from the backup's; only the newest are read (a
  // window is asked for often, and a day of binlogs is gigabytes). A damaged file in the
  // middle is found by the restore's full walk, which refuses to replay across it.
  ASSIGN_OR_RETURN(std::set<uint64_t> numbers, ArchivedNumbers(archive));
  uint64_t last = start.file;
  while (numbers.count(last + 1) > 0) ++last;
  ArchiveEnd end;
  end.last_lsn = start.ToString();
  if (numbers.count(start.file) == 0) return end;  // the backup's file is not archived yet
  end.last_segment = BinlogFileName(last);
  for (uint64_t n = last + 1; n-- > start.file;) {
    const std::string name = BinlogFileName(n);
    auto raw = archive.Read(name, storage::BlobCheck::kFrameChecksum);
    Result<BinlogFileScan> scan =
        raw.ok() ? ScanBinlogFile(*raw) : Result<BinlogFileScan>(raw.status());
    if (!scan.ok()) {
      // A damaged binlog ends the window before it; what precedes it can still be reached.
      spdlog::warn("event=binlog_archive_damaged archive={} file={} error=\"{}\"", archive_id, name,
                   scan.status().ToString());
      last = n - 1;
      end.last_segment = n > start.file ? BinlogFileName(last) : "";
      continue;
    }
    GtidPosition at_end = scan->gtid_list;
    const BinlogTransaction* newest = nullptr;
    for (const BinlogTransaction& t : scan->transactions) {
      at_end[t.gtid.domain] = t.gtid;  // the backup's own are in the position too
      if (n == start.file && t.start < start.offset) continue;
      newest = &t;
    }
    if (n == last) end.last_gtid = FormatGtidPosition(at_end);
    if (newest != nullptr) {
      end.last_commit_unix_us = newest->commit_time * 1000000;
      end.last_lsn = BinlogPosition{n, newest->end}.ToString();
      break;
    }
  }
  return end;
}

Result<std::optional<std::string>> MariaArchivePositionOf(const std::string& position) {
  ASSIGN_OR_RETURN(BinlogPosition keep, PositionOf(position, "backup position"));
  ASSIGN_OR_RETURN(WalFileName name, storage::ParseWalFileName(BinlogFileName(keep.file)));
  return std::optional<std::string>(name.position);
}

Result<uint64_t> MariaPruneArchive(const std::string& repo_path, const std::string& archive_id,
                                   const std::optional<std::string>& keep_from) {
  ASSIGN_OR_RETURN(WalArchive archive, WalArchive::Open(repo_path, archive_id));
  if (!keep_from) return archive.RemoveBefore(std::string(16, '9'));
  ASSIGN_OR_RETURN(std::optional<std::string> keep, MariaArchivePositionOf(*keep_from));
  return archive.RemoveBefore(*keep);
}

Status MariaStageArchive(const std::string& repo_path, const std::string& archive_id,
                         const std::string& from, const std::string& stage_repo) {
  RETURN_IF_ERROR(storage::ValidateArchiveId(archive_id));
  ASSIGN_OR_RETURN(WalArchive source, WalArchive::Open(repo_path, archive_id));
  ASSIGN_OR_RETURN(std::optional<std::string> position, MariaArchivePositionOf(from));
  RETURN_IF_ERROR(WalArchive::Create(stage_repo, archive_id));
  ASSIGN_OR_RETURN(WalArchive stage, WalArchive::Open(stage_repo, archive_id));
  return source.CopyInto(stage, position.value_or("")).status();
}

Result<BinlogReplayPlan> PlanReplayFromBackup(const WalArchive& archive, const BackupFacts& facts,
                                              const RecoveryTarget& target) {
  auto from = ParseBinlogPosition(facts.stop_lsn);
  auto from_gtid = ParseGtidPosition(facts.gtid_position);
  if (!from || !from_gtid.ok()) {
    return Status::FailedPrecondition(
        "the backup has no binlog position (taken without binlog archiving)",
        "restore it without a target, or choose a backup taken since archiving began");
  }
  return PlanBinlogReplay(archive, *from, *from_gtid, target);
}

Result<BinlogReplayPlan> PlanBinlogReplay(const WalArchive& archive, const BinlogPosition& from,
                                          const GtidPosition& from_gtid,
                                          const RecoveryTarget& target) {
  using Kind = RecoveryTarget::Kind;
  std::optional<BinlogPosition> stop_at;  // kLsn, kName
  GtidPosition gtids;                     // kGtid
  switch (target.kind) {
    case Kind::kBackupEnd:
      return Status::InvalidArgument("no recovery target: restore the backup as taken");
    case Kind::kLatest:
    case Kind::kTime:
      break;
    case Kind::kName:
      if (target.lsn.empty()) {
        return Status::InvalidArgument(
            fmt::format("restore point '{}' is not one dbaas made", target.name),
            "MariaDB's binlog has no named points: use the restore points of "
            "GET /instances/:name/restore-points, a time or a GTID");
      }
      [[fallthrough]];
    case Kind::kLsn: {
      ASSIGN_OR_RETURN(stop_at, PositionOf(target.lsn, "target position"));
      break;
    }
    case Kind::kGtid: {
      ASSIGN_OR_RETURN(gtids, ParseGtidPosition(target.gtid));
      if (gtids.empty()) return Status::InvalidArgument("targetGtid is empty");
      break;
    }
  }
  const int64_t time_limit = target.time_unix_us / 1000000;  // whole seconds, as events have
  BinlogReplayPlan plan;
  std::optional<BinlogPosition> cut;  // where the replay stops; none: everything walked
  BinlogPosition reached = from;
  GtidPosition replayed = from_gtid;  // what the restored backup holds already
  std::string violation;
  auto gtid_reached = [&] {
    bool all = true;
    for (const auto& [domain, g] : gtids) {
      auto it = replayed.find(domain);
      all &= it != replayed.end() && it->second.seq == g.seq;
    }
    return all;
  };
  ASSIGN_OR_RETURN(std::set<uint64_t> numbers, ArchivedNumbers(archive));
  if (numbers.count(from.file) == 0) {
    return Status::FailedPrecondition(
        fmt::format("{}, where the backup's binlog continues, is not in the archive",
                    BinlogFileName(from.file)),
        "its server has not finished it (archiving resumes when the server answers), or it was "
        "lost: restore the backup without a target");
  }
  if (target.kind == Kind::kGtid && gtid_reached()) return plan;  // the backup is the target
  ASSIGN_OR_RETURN(
      std::string hole,
      WalkArchive(archive, from.file, [&](uint64_t n, const BinlogFileScan& scan) -> Result<bool> {
        // A file its server did not close (a crash) is replayed up to its last whole
        // transaction: mariadb-binlog must not read the half-written rest.
        const uint64_t start_at = n == from.file ? from.offset : 4;
        std::optional<uint64_t> file_end;
        if (!scan.closed) file_end = std::max(start_at, scan.end);
        plan.parts.push_back({n, start_at, file_end});
        for (const BinlogTransaction& t : scan.transactions) {
          if (n == from.file && t.start < from.offset) continue;
          bool keep = true;
          if (target.kind == Kind::kTime) keep = t.commit_time <= time_limit;
          if (stop_at) keep = BinlogPosition{n, t.end} <= *stop_at;
          if (target.kind == Kind::kGtid) {
            auto it = gtids.find(t.gtid.domain);
            if (it != gtids.end() && t.gtid.seq > it->second.seq) {
              violation = t.gtid.ToString();
              keep = false;
            }
          }
          if (!keep) {
            cut = BinlogPosition{n, t.start};
            return false;
          }
          ++plan.transactions;
          reached = {n, t.end};
          replayed[t.gtid.domain] = t.gtid;
          if (target.kind == Kind::kGtid && gtid_reached()) {
            cut = reached;
            return false;
          }
        }
        if (stop_at && n >= stop_at->file) {
          cut = *stop_at <= reached ? reached : BinlogPosition{n, scan.end};
          return false;
        }
        return true;
      }));
  // Walked to the end of what follows without a gap; a later binlog means a hole (missing or
  // damaged) that no replay may cross.
  const uint64_t walked = plan.parts.empty() ? from.file : plan.parts.back().file;
  if (hole.empty() && !cut && *numbers.rbegin() > walked) {
    hole = fmt::format("{} is missing from the archive", BinlogFileName(walked + 1));
  }
  if (!cut && !hole.empty() && (target.kind == Kind::kLatest || target.kind == Kind::kTime)) {
    return Status::Corruption(
        fmt::format("the binlog archive has a hole after {}: {}; later binlogs cannot be "
                    "replayed",
                    reached.ToString(), hole),
        fmt::format("restore to a target up to {} (targetLsn), or from a later backup",
                    reached.ToString()));
  }
  auto beyond = [&](const std::string& what) {
    return Status::InvalidArgument(
        fmt::format("{} is beyond what the binlog archive holds after the backup (it reaches "
                    "{}{})",
                    what, reached.ToString(), hole.empty() ? "" : "; then " + hole),
        "choose a target in the recovery window (GET /instances/:name/recovery-window)");
  };
  if (target.kind == Kind::kGtid && (!cut || !violation.empty())) {
    if (!violation.empty()) {
      return Status::InvalidArgument(
          fmt::format("targetGtid {} is not in the binlog after the backup: {} comes first",
                      target.gtid, violation),
          "give a GTID the source committed after the backup");
    }
    return beyond("targetGtid " + target.gtid);
  }
  if (stop_at && !cut && reached < *stop_at) return beyond("position " + stop_at->ToString());
  if (cut && !plan.parts.empty()) {
    while (!plan.parts.empty() && plan.parts.back().file > cut->file) plan.parts.pop_back();
    if (!plan.parts.empty()) plan.parts.back().to = cut->offset;
  }
  return plan;
}

Status ReplayBinlogs(const MariaInstance& instance, const WalArchive& archive,
                     const BinlogReplayPlan& plan) {
  if (plan.transactions == 0) return Status::Ok();
  // The instance's user reads the staged binlogs and writes the SQL: a directory of its own.
  const std::string stage = JoinPath(instance.dir(), "binlog-replay");
  RETURN_IF_ERROR(RemoveTree(stage));
  RETURN_IF_ERROR(MakeDir(stage, 0700));
  // Replayed transactions need not be durable one by one: a restore that stops half way is
  // removed whole. The instance's own setting comes back, and the redo is flushed, at the end.
  ASSIGN_OR_RETURN(MariaConnection conn, MariaConnection::Connect(instance.client()));
  ASSIGN_OR_RETURN(std::string durability,
                   conn.QueryValue("SELECT @@GLOBAL.innodb_flush_log_at_trx_commit"));
  if (durability != "0" && durability != "1" && durability != "2") durability = "1";
  RETURN_IF_ERROR(conn.Query("SET GLOBAL innodb_flush_log_at_trx_commit = 0").status());
  auto replayed = [&]() -> Status {
    RETURN_IF_ERROR(instance.GiveToServer(stage));
    const std::string options = JoinPath(stage, "client.cnf");
    RETURN_IF_ERROR(WriteFileAtomic(options, instance.ClientOptions(), 0600));
    RETURN_IF_ERROR(instance.GiveToServer(options));
    const std::string sql = JoinPath(stage, "replay.sql");
    for (const BinlogReplayPart& part : plan.parts) {
      const std::string name = BinlogFileName(part.file);
      const std::string staged = JoinPath(stage, name);
      {
        ASSIGN_OR_RETURN(std::vector<uint8_t> raw, archive.Read(name));
        ASSIGN_OR_RETURN(UniqueFd fd, OpenFile(staged, O_WRONLY | O_CREAT | O_EXCL, 0600));
        RETURN_IF_ERROR(WriteAll(fd.get(), raw, staged));
      }
      RETURN_IF_ERROR(instance.GiveToServer(staged));
      // Not logged into the new instance's binlog: its history begins after the restore.
      ProcessOptions decode;
      decode.argv = {"mariadb-binlog", "--no-defaults", "--disable-log-bin", "--result-file=" + sql,
                     fmt::format("--start-position={}", part.from)};
      if (part.to) decode.argv.push_back(fmt::format("--stop-position={}", *part.to));
      decode.argv.push_back(staged);
      decode.cwd = stage;
      RETURN_IF_ERROR(CheckExit(instance.RunTool(decode, std::chrono::hours(1)), "mariadb-binlog")
                          .status()
                          .WithContext(fmt::format("decode archived {}", name)));
      // The SQL on stdin, opened by us as OpenFile does (no link, no FIFO), in binary mode
      // as MariaDB advises for mariadb-binlog's output.
      ProcessOptions apply;
      apply.argv = {"mariadb", "--defaults-file=" + options, "--binary-mode", "--batch"};
      apply.input_path = sql;
      apply.cwd = stage;
      RETURN_IF_ERROR(CheckExit(instance.RunTool(apply, std::chrono::hours(6)), "mariadb")
                          .status()
                          .WithContext(fmt::format("replay archived {}", name)));
      WarnIfError(UnlinkPath(staged), "remove a staged binlog");
      WarnIfError(UnlinkPath(sql), "remove a replayed binlog's SQL");
    }
    return Status::Ok();
  }();
  WarnIfError(RemoveTree(stage), "remove the binlog replay's stage");
  RETURN_IF_ERROR(replayed);
  RETURN_IF_ERROR(conn.Query("SET GLOBAL innodb_flush_log_at_trx_commit = " + durability).status());
  return conn.Query("FLUSH NO_WRITE_TO_BINLOG ENGINE LOGS").status();
}

}  // namespace dbaas::engines
