#include "engines/postgres/pg_backup.h"

#include <sys/stat.h>
#include <unistd.h>

#include <charconv>
#include <chrono>
#include <filesystem>
#include <optional>
#include <sstream>
#include <thread>

#include <fmt/format.h>
#include <spdlog/spdlog.h>

#include "base/clock.h"
#include "base/files.h"
#include "base/hex.h"
#include "base/kill_points.h"
#include "base/log.h"
#include "base/process.h"
#include "base/sha256.h"
#include "engines/backup_files.h"
#include "engines/postgres/pg_backup_session.h"
#include "engines/postgres/pg_changed_blocks.h"
#include "engines/postgres/pg_connection.h"
#include "engines/postgres/pg_pitr.h"
#include "storage/wal_archive.h"

namespace dbaas::engines {
namespace {

using storage::EntryType;
using storage::ExtraFile;
using storage::ScanFilter;
using storage::TreeEntry;

// "2026-11-24 19:35:18 GMT", the Last-Modified format of backup manifests.
std::string ManifestTime(int64_t unix_ns) {
  return storage::FormatUnixTime(unix_ns, "%Y-%m-%d %H:%M:%S GMT");
}

std::string JsonEscape(const std::string& s) {
  std::string out;
  for (char c : s) {
    if (c == '"' || c == '\\') {
      out += '\\';
      out += c;
    } else if (static_cast<unsigned char>(c) < 0x20) {
      out += fmt::format("\\u{:04x}", c);
    } else {
      out += c;
    }
  }
  return out;
}

// The last "FATAL:" line of a server log that says why it stopped, without its prefix; ""
// if none.
std::string LastFatalLine(const std::string& log_path) {
  auto text = ReadFileToString(log_path, 16 << 20);
  if (!text.ok()) return "";
  // Our own connection, refused while the server was going down, logs a FATAL too, and may
  // do so after the one that says why: the refusals ("the database system is ...") are not it.
  for (size_t end = text->size(); end > 0;) {
    auto at = text->rfind("FATAL:  ", end - 1);
    if (at == std::string::npos) return "";
    std::string line = text->substr(at + 8, text->find('\n', at) - at - 8);
    if (!line.starts_with("the database system is ")) return line;
    end = at;
  }
  return "";
}

}  // namespace

std::string PgBackupManifest(const std::vector<TreeEntry>& entries,
                             const std::vector<ExtraFile>& extras, uint32_t timeline,
                             const std::string& start_lsn, const std::string& stop_lsn,
                             int64_t now_ns) {
  std::vector<std::string> lines;
  auto add = [&lines](const std::string& path, uint64_t size, int64_t mtime_ns) {
    lines.push_back(fmt::format("{{ \"Path\": \"{}\", \"Size\": {}, \"Last-Modified\": \"{}\" }}",
                                JsonEscape(path), size, ManifestTime(mtime_ns)));
  };
  for (const TreeEntry& e : entries) {
    if (e.type != EntryType::kFile || e.path.starts_with("pg_wal/")) continue;
    bool replaced = false;
    for (const ExtraFile& x : extras) replaced |= x.path == e.path;
    if (!replaced) add(e.path, e.size, e.mtime_ns);
  }
  for (const ExtraFile& x : extras) {
    if (!x.path.starts_with("pg_wal/")) add(x.path, x.content.size(), now_ns);
  }
  std::string body = "{ \"PostgreSQL-Backup-Manifest-Version\": 1,\n\"Files\": [\n";
  for (size_t i = 0; i < lines.size(); ++i) {
    body += lines[i] + (i + 1 < lines.size() ? ",\n" : "\n");
  }
  body += "],\n\"WAL-Ranges\": [\n";
  body += fmt::format("{{ \"Timeline\": {}, \"Start-LSN\": \"{}\", \"End-LSN\": \"{}\" }}\n",
                      timeline, start_lsn, stop_lsn);
  body += "],\n";
  // The checksum covers everything before its own line.
  return body + fmt::format("\"Manifest-Checksum\": \"{}\"}}\n", Sha256(body).Hex());
}

Result<uint64_t> ParseLsn(const std::string& lsn) {
  auto slash = lsn.find('/');
  if (slash == std::string::npos || slash == 0 || slash + 1 == lsn.size() || slash > 8 ||
      lsn.size() - slash - 1 > 8) {
    return Status::InvalidArgument(fmt::format("'{}' is not an LSN", lsn));
  }
  uint64_t hi = 0, lo = 0;
  for (size_t i = 0; i < lsn.size(); ++i) {
    if (i == slash) continue;
    char c = lsn[i];
    int v = (c >= '0' && c <= '9')   ? c - '0'
            : (c >= 'A' && c <= 'F') ? c - 'A' + 10
            : (c >= 'a' && c <= 'f') ? c - 'a' + 10
                                     : -1;
    if (v < 0) return Status::InvalidArgument(fmt::format("'{}' is not an LSN", lsn));
    uint64_t& part = i < slash ? hi : lo;
    part = part * 16 + static_cast<uint64_t>(v);
  }
  return hi << 32 | lo;
}

std::string FormatLsn(uint64_t lsn) {
  return fmt::format("{:X}/{:X}", lsn >> 32, lsn & 0xffffffff);
}

ScanFilter PgBackupFilter(const std::string& path, bool is_directory) {
  // What pg_basebackup leaves out (PostgreSQL 15, "Backup Manifest"/"pg_basebackup" docs and
  // basebackup.c): files that describe the running server, and directories whose contents
  // are rebuilt at start (kept, empty).
  static const char* kSkipFiles[] = {
      "postmaster.pid",           "postmaster.opts",     "backup_label",
      "tablespace_map",           "backup_manifest",     "backup_label.old",
      "postgresql.auto.conf.tmp", "current_logfiles.tmp"};
  static const char* kEmptyDirs[] = {"pg_wal",    "pg_replslot",  "pg_dynshmem", "pg_notify",
                                     "pg_serial", "pg_snapshots", "pg_stat_tmp", "pg_subtrans"};
  std::string_view base = path;
  if (auto slash = base.rfind('/'); slash != std::string_view::npos) base = base.substr(slash + 1);
  if (is_directory) {
    for (const char* d : kEmptyDirs) {
      if (path == d) return ScanFilter::kIncludeEmpty;
    }
    if (base.starts_with("pgsql_tmp")) return ScanFilter::kIncludeEmpty;
    return ScanFilter::kInclude;
  }
  for (const char* f : kSkipFiles) {
    if (path == f) return ScanFilter::kSkip;
  }
  if (base == "pg_internal.init" || base.starts_with("pgsql_tmp")) return ScanFilter::kSkip;
  return ScanFilter::kInclude;
}

BackupFacts PgBackupInfo::Facts() const {
  BackupFacts f;
  f.engine = "postgresql";
  f.server_version = server_version;
  f.snapshot_kind = snapshot_kind;
  if (seconds > 0) f.duration_seconds = seconds;
  f.system_identifier = system_identifier;
  f.timeline = timeline;
  f.start_lsn = start_lsn;
  f.stop_lsn = stop_lsn;
  f.stop_time_unix_us = stop_time_unix_us;
  f.seconds_in_backup_mode = seconds_in_backup_mode;
  f.wal_archive = wal_archive;
  return f;
}

namespace {

// The WAL a copy made in backup mode needs to become consistent: the segments from the
// start LSN to the stop LSN, and (on a later timeline) the timeline's history, which a
// restored server serves its standbys as pg_basebackup's copies do. By path in the data
// directory, the absolute path in the server's pg_wal.
Result<std::map<std::string, std::string>> LogFilesOfBackup(const PgInstance& instance,
                                                            const PgBackupInfo& info,
                                                            uint64_t seg_size) {
  const std::string pg_wal = JoinPath(instance.data_dir(), "pg_wal");
  std::map<std::string, std::string> files;
  ASSIGN_OR_RETURN(uint64_t start, ParseLsn(info.start_lsn));
  ASSIGN_OR_RETURN(uint64_t stop, ParseLsn(info.stop_lsn));
  for (const std::string& file : PgBackupWalSegments(info.timeline, start, stop, seg_size)) {
    files["pg_wal/" + file] = JoinPath(pg_wal, file);
  }
  if (info.timeline > 1) {
    std::string history = TimelineHistoryName(info.timeline);
    std::string source = JoinPath(pg_wal, history);
    struct stat st;
    if (::lstat(source.c_str(), &st) == 0 && S_ISREG(st.st_mode)) {
      files["pg_wal/" + history] = std::move(source);
    }
  }
  return files;
}

// What a backup records of its session: where it began, and (`ended`) where it stopped.
PgBackupInfo InfoOf(const PgInstance& instance, const PgBackupBegun& begun,
                    const PgBackupEnded* ended) {
  PgBackupInfo info;
  info.server_version = begun.server_version;
  info.system_identifier = begun.system_identifier;
  info.start_lsn = begun.start_lsn;
  info.timeline = begun.timeline;
  info.wal_archive = instance.log_archive_id();
  if (ended) {
    info.stop_lsn = ended->stop_lsn;
    info.stop_time_unix_us = ended->stop_time_unix_us;
    info.seconds_in_backup_mode = ended->seconds_in_backup_mode;
  }
  return info;
}

class PgVolumeBackup final : public VolumeBackup {
 public:
  PgVolumeBackup(const PgInstance& instance, PgBackupSession session)
      : instance_(instance), session_(std::move(session)) {
    facts_ = Facts(nullptr);
  }
  const BackupFacts& begun() const override { return facts_; }
  std::string data_dir() const override { return instance_.data_dir(); }
  storage::ScanFilterFn copy_filter() const override { return PgBackupFilter; }
  Result<VolumeBackupEnd> End() override {
    ASSIGN_OR_RETURN(PgBackupEnded ended, session_.End());
    VolumeBackupEnd out;
    out.facts = Facts(&ended);
    ASSIGN_OR_RETURN(out.log_files,
                     LogFilesOfBackup(instance_, InfoOf(instance_, session_.begun(), &ended),
                                      session_.begun().segment_size));
    out.files["backup_label"] = std::move(ended.backup_label);
    if (!ended.tablespace_map.empty()) {
      out.files["tablespace_map"] = std::move(ended.tablespace_map);
    }
    return out;
  }

 private:
  BackupFacts Facts(const PgBackupEnded* ended) const {
    PgBackupInfo info = InfoOf(instance_, session_.begun(), ended);
    info.snapshot_kind = "volume";
    return info.Facts();
  }

  const PgInstance& instance_;
  PgBackupSession session_;
  BackupFacts facts_;
};

}  // namespace

Result<std::unique_ptr<VolumeBackup>> BeginPgVolumeBackup(const PgInstance& instance,
                                                          const std::string& label) {
  ASSIGN_OR_RETURN(PgBackupSession session, PgBackupSession::Begin(instance, label));
  return std::unique_ptr<VolumeBackup>(
      std::make_unique<PgVolumeBackup>(instance, std::move(session)));
}

Result<PgBackupInfo> BackupPostgres(const PgInstance& instance, storage::Repository& repo,
                                    const std::string& name, const PgBackupOptions& options) {
  auto started = std::chrono::steady_clock::now();
  std::string label = fmt::format("dbaas backup {} of {}", name, instance.name());
  ASSIGN_OR_RETURN(PgBackupSession session, PgBackupSession::Begin(instance, label));
  const uint64_t seg_size = session.begun().segment_size;
  PgBackupInfo info = InfoOf(instance, session.begun(), nullptr);

  storage::CreateOptions o;
  o.source = instance.data_dir();
  o.name = name;
  o.mode = options.mode;
  o.filter = PgBackupFilter;
  o.progress = options.progress;
  o.check_change_map = options.check_changed_blocks;
  std::optional<PgChangeMapReport> map_report;
  if (options.changed_blocks_from_wal) {
    ASSIGN_OR_RETURN(uint64_t start_lsn, ParseLsn(info.start_lsn));
    PgBackupStart now{instance.log_archive_id(), info.system_identifier, info.timeline, start_lsn,
                      seg_size};
    PgWalSources sources = WalSourcesOf(instance);
    o.change_map = [now, sources, &map_report](const storage::Manifest& parent) {
      storage::ChangeMapOffer offer = PgChangeMapFor(parent, now, sources, &map_report.emplace());
      if (!offer.map) map_report.reset();
      return offer;
    };
  }
  o.before_commit =
      [&](const std::vector<TreeEntry>& entries) -> Result<storage::BeforeCommitResult> {
    // Kill point for tests: hold backup mode open so a test can kill us inside it.
    ReachKillPoint(KillPoint::kBackupMode);
    // The backup carries its own WAL (below): pg_backup_stop does not wait for the archive.
    ASSIGN_OR_RETURN(PgBackupEnded ended, session.End());
    info = InfoOf(instance, session.begun(), &ended);
    std::vector<ExtraFile> extras;
    auto add = [&](std::string path, std::string content, std::string source) {
      ExtraFile x = ServerOwnedFile(instance.server_user(), std::move(path));
      x.content = std::move(content);
      x.source_path = std::move(source);
      extras.push_back(std::move(x));
    };
    add("backup_label", ended.backup_label, "");
    if (!ended.tablespace_map.empty()) add("tablespace_map", ended.tablespace_map, "");
    ASSIGN_OR_RETURN(auto log_files, LogFilesOfBackup(instance, info, seg_size));
    for (auto& [path, source] : log_files) add(path, "", std::move(source));
    // Directories pg_basebackup creates that a restored server expects.
    std::string manifest = PgBackupManifest(entries, extras, info.timeline, info.start_lsn,
                                            info.stop_lsn, NowUnixNs());
    add("backup_manifest", std::move(manifest), "");
    std::map<std::string, std::string> annotations = ToAnnotations(info.Facts());
    annotations["instance"] = instance.name();
    if (map_report) {  // how the incremental knew which blocks to read
      annotations["changed_blocks_wal_bytes"] = std::to_string(map_report->wal_bytes);
      annotations["changed_blocks_summaries"] = std::to_string(map_report->summarized_segments);
      annotations["changed_blocks_wal_records"] = std::to_string(map_report->records);
      annotations["changed_blocks_seconds"] = fmt::format("{:.3f}", map_report->seconds);
    }
    return storage::BeforeCommitResult{std::move(extras), std::move(annotations)};
  };
  auto snapshot = storage::CreateSnapshot(repo, o);
  if (!snapshot.ok()) {
    session.Abort(snapshot.status().message());
    return snapshot.status().WithContext(fmt::format("backup of instance '{}'", instance.name()));
  }
  info.snapshot = std::move(snapshot.value());
  info.snapshot_kind = SnapshotKindName(info.snapshot.kind);
  info.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - started).count();
  return info;
}

Status PgVerifyBackupFiles(const std::string& bin_dir, const std::string& data_dir,
                           const ToolRunner& run, FileCheck& check) {
  std::string bin = bin_dir;
  if (bin.empty()) {
    ASSIGN_OR_RETURN(bin, FindPgBinDir());
  }
  check.checker = "pg_verifybackup";
  ProcessOptions verify;
  verify.argv = {JoinPath(bin, "pg_verifybackup"), "--quiet", data_dir};
  auto started = std::chrono::steady_clock::now();
  ASSIGN_OR_RETURN(RunResult ran, run(verify, std::chrono::minutes(30)));
  check.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - started).count();
  if (ran.exit_code == 0) return Status::Ok();
  std::istringstream lines(ran.output);
  std::string line;
  while (std::getline(lines, line) && check.problems.size() < 20) {
    if (!line.empty()) check.problems.push_back(line);
  }
  if (check.problems.empty()) {
    check.problems.push_back(fmt::format("pg_verifybackup exited with {}", ran.exit_code));
  }
  return Status::Ok();
}

namespace {

// A backup taken on a later timeline before its history went into backups (2026-11-30)
// lacks it: it comes from the archive the backup names, where the promotion archived it.
// Without it the restored server runs, but cannot serve a standby.
Status SupplyTimelineHistory(const storage::Manifest& snapshot, const std::string& repo_path,
                             const std::string& data_dir) {
  BackupFacts facts = FromAnnotations(snapshot.annotations);
  if (!facts.timeline || *facts.timeline <= 1 || facts.wal_archive.empty() || repo_path.empty()) {
    return Status::Ok();
  }
  std::string history = TimelineHistoryName(*facts.timeline);
  std::string dest = JoinPath(JoinPath(data_dir, "pg_wal"), history);
  if (::access(dest.c_str(), F_OK) == 0) return Status::Ok();
  RETURN_IF_ERROR(storage::ValidateArchiveId(facts.wal_archive));
  auto archive = storage::WalArchive::Open(repo_path, facts.wal_archive);
  if (!archive.ok()) return Status::Ok();  // a repository without that archive
  Status fetched = archive->Fetch(history, dest);
  if (fetched.code() == StatusCode::kNotFound) {
    spdlog::warn("snapshot {}: no {} in archive {}; the restored server cannot serve standbys",
                 snapshot.id, history, facts.wal_archive);
    return Status::Ok();
  }
  return fetched.WithContext(fmt::format("fetch {} for the restored server", history));
}

// Starts a restored instance, waits until recovery has replayed to its target and the
// server left recovery, and gives the tenant a login of its own. On failure the instance is
// deleted and the error says what the server said last.
Status BringUpRestored(PgInstance& inst) {
  auto fail = [&](const Status& st) -> Status {
    // A recovery that cannot reach its target ends the server with a FATAL line that says
    // why; the connection error alone would not.
    std::string fatal = LastFatalLine(JoinPath(inst.dir(), "postgres.log"));
    WarnIfError(inst.Delete(), "remove the restored instance that did not come up");
    Status out = st;
    if (!fatal.empty() && st.message().find(fatal) == std::string::npos) {
      out = Status(st.code(), st.message() + "; the server said: " + fatal, st.hint());
    }
    return out.WithContext(fmt::format("restore into instance '{}'", inst.name()));
  };
  Status started = inst.Start(std::chrono::minutes(5));
  if (!started.ok()) return fail(started);
  // Recovery replays to the backup's end; the server then leaves recovery by itself.
  auto conn = PgConnection::ConnectOwn(inst.connection().SocketConninfo());
  if (!conn.ok()) return fail(conn.status());
  auto deadline = std::chrono::steady_clock::now() + std::chrono::minutes(5);
  while (true) {
    auto in_recovery = conn->QueryValue("select pg_is_in_recovery()");
    if (!in_recovery.ok()) return fail(in_recovery.status());
    if (in_recovery.value() == "f") break;
    if (std::chrono::steady_clock::now() > deadline) {
      return fail(Status::IoError("the restored server is still in recovery after 5 minutes"));
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  if (Status st = inst.FinishRecovery(); !st.ok()) return fail(st);
  if (Status st = inst.RenewTenantLogin(*conn); !st.ok()) return fail(st);
  return Status::Ok();
}

// A volume copy made as pg_basebackup's copies are: what it leaves out removed (the running
// server's files, the contents of directories rebuilt at start), by PgBackupFilter. No link
// is followed.
Status PruneToBackup(const std::string& data_dir) {
  namespace fs = std::filesystem;
  std::error_code ec;
  std::vector<fs::path> going;
  for (auto it = fs::recursive_directory_iterator(data_dir, ec);
       !ec && it != fs::recursive_directory_iterator(); it.increment(ec)) {
    const fs::path rel = fs::relative(it->path(), data_dir);
    std::error_code entry_ec;  // a dangling link (a tablespace elsewhere) is a file here
    const bool dir = it->symlink_status(entry_ec).type() == fs::file_type::directory;
    const storage::ScanFilter filter = PgBackupFilter(rel.string(), dir);
    if (filter == storage::ScanFilter::kSkip) {
      going.push_back(it->path());
      if (dir) it.disable_recursion_pending();
    } else if (filter == storage::ScanFilter::kIncludeEmpty) {
      for (const auto& inside : fs::directory_iterator(it->path(), ec)) going.push_back(inside);
      it.disable_recursion_pending();
    }
  }
  if (ec) return Status::IoError(fmt::format("cannot walk '{}': {}", data_dir, ec.message()));
  for (const fs::path& path : going) RETURN_IF_ERROR(RemoveTree(path.string()));
  return Status::Ok();
}

}  // namespace

std::vector<std::string> PgBackupWalSegments(uint32_t timeline, uint64_t start_lsn,
                                             uint64_t stop_lsn, uint64_t segment_size) {
  std::vector<std::string> names;
  const uint64_t first = start_lsn / segment_size;
  const uint64_t last = stop_lsn / segment_size;
  for (uint64_t seg = first; seg <= last; ++seg) {
    // A stop at a segment's very start needs nothing of that segment.
    if (seg == last && stop_lsn % segment_size == 0 && seg > first) break;
    names.push_back(WalSegmentName(timeline, seg * segment_size, segment_size));
  }
  return names;
}

Result<PgInstance> RestorePostgresVolumeCopy(const std::string& copy_data_dir,
                                             const VolumeBackupEnd& end, const PgInstanceSpec& spec,
                                             const std::string& password,
                                             const StagedRecovery* recovery) {
  if (end.files.find("backup_label") == end.files.end()) {
    return Status::InvalidArgument("a volume backup's end without backup_label cannot restore");
  }
  std::map<std::string, std::string> settings;
  if (recovery != nullptr) {
    LogArchiving staged = spec.archiving;
    staged.repo_path = recovery->staged_repo;
    ASSIGN_OR_RETURN(settings, PgRecoverySettings(recovery->target, staged));
  }
  auto fill = [&](const std::string& data_dir) -> Status {
    if (::rmdir(data_dir.c_str()) != 0 && errno != ENOENT) {
      return ErrnoStatus("rmdir", data_dir, errno);
    }
    if (::rename(copy_data_dir.c_str(), data_dir.c_str()) != 0) {
      return ErrnoStatus("move the volume copy to", data_dir, errno);
    }
    RETURN_IF_ERROR(PruneToBackup(data_dir));
    for (const auto& [file, content] : end.files) {
      RETURN_IF_ERROR(WriteFileAtomic(JoinPath(data_dir, file), content, 0600));
    }
    for (const auto& [path, staged] : end.log_files) {
      const std::string to = JoinPath(data_dir, path);
      if (::rename(staged.c_str(), to.c_str()) != 0) {
        return ErrnoStatus("move the backup's log file to", to, errno);
      }
    }
    // Archive recovery: the server fetches the WAL past the backup's end and promotes.
    if (recovery != nullptr) {
      RETURN_IF_ERROR(WriteFileAtomic(JoinPath(data_dir, "recovery.signal"), "", 0600));
    }
    return MakeDirs(JoinPath(JoinPath(data_dir, "pg_wal"), "archive_status"));
  };
  auto give_staged = [&](const std::string&, const PgInstance& inst) -> Status {
    return recovery == nullptr ? Status::Ok() : inst.GiveToServer(recovery->staged_repo);
  };
  ASSIGN_OR_RETURN(PgInstance inst,
                   PgInstance::CreateFrom(spec, password, fill, settings, give_staged));
  RETURN_IF_ERROR(BringUpRestored(inst));
  if (recovery != nullptr) WarnIfError(RemoveTree(recovery->staged_repo), "remove the staged WAL");
  return inst;
}

Result<PgInstance> RestorePostgres(const storage::Repository& repo,
                                   const storage::Manifest& snapshot, const PgInstanceSpec& spec,
                                   const std::string& password, const RecoveryTarget& target,
                                   storage::Progress* progress, FileCheck* file_check) {
  std::map<std::string, std::string> recovery;
  bool pitr = target.kind != RecoveryTarget::Kind::kBackupEnd;
  // Archive recovery reads a copy of the source's archive in the new instance's directory
  // (PgStageArchive), removed once the server is out of recovery.
  const std::string stage_repo = JoinPath(JoinPath(spec.data_root, spec.name), "wal-restore");
  if (pitr) {
    LogArchiving staged = spec.archiving;
    staged.repo_path = stage_repo;
    ASSIGN_OR_RETURN(recovery, PgRecoverySettings(target, staged));
  }
  auto fill = [&](const std::string& data_dir) -> Status {
    RETURN_IF_ERROR(FillFromSnapshot(repo, snapshot, data_dir, progress));
    RETURN_IF_ERROR(SupplyTimelineHistory(snapshot, spec.archiving.repo_path, data_dir));
    // Archive recovery: the server fetches WAL past the backup's end and promotes.
    if (pitr) RETURN_IF_ERROR(WriteFileAtomic(JoinPath(data_dir, "recovery.signal"), "", 0600));
    // archive_status is where the server tracks WAL archiving; base backups carry it empty.
    return MakeDirs(JoinPath(JoinPath(data_dir, "pg_wal"), "archive_status"));
  };
  // Checked as the instance's user, once the files are its own (they are the tenant's
  // bytes: no parser of them runs as root), before any server touches them.
  auto check = [&](const std::string& data_dir, const PgInstance& inst) -> Status {
    if (pitr) {
      auto start = snapshot.annotations.find("start_lsn");
      if (start == snapshot.annotations.end()) {
        return Status::Corruption(fmt::format("snapshot {} has no start_lsn", snapshot.id));
      }
      RETURN_IF_ERROR(
          PgStageArchive(spec.archiving.repo_path, target.archive_id, start->second, stage_repo));
      RETURN_IF_ERROR(inst.GiveToServer(stage_repo));
    }
    if (!file_check) return Status::Ok();
    return PgVerifyBackupFiles(spec.bin_dir, data_dir, inst.tool_runner(), *file_check);
  };
  ASSIGN_OR_RETURN(PgInstance inst, PgInstance::CreateFrom(spec, password, fill, recovery, check));
  RETURN_IF_ERROR(BringUpRestored(inst));
  if (pitr) {
    if (Status removed = RemoveTree(stage_repo); !removed.ok()) {
      spdlog::warn("instance {}: {}", spec.name, removed.ToString());
    }
  }
  return inst;
}

}  // namespace dbaas::engines
