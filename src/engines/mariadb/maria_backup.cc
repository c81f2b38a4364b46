#include "engines/mariadb/maria_backup.h"

#include <fcntl.h>
#include <signal.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <filesystem>
#include <functional>
#include <regex>
#include <sstream>
#include <thread>
#include <utility>

#include <fmt/format.h>

#include "base/clock.h"
#include "base/files.h"
#include "base/kill_points.h"
#include "base/log.h"
#include "engines/backup_files.h"
#include "engines/mariadb/maria_binlog.h"
#include "engines/mariadb/maria_log_archiving.h"
#include "runtime/runtime.h"
#include "storage/reflink.h"

namespace dbaas::engines {
namespace {

// The snapshot's annotations: what is known of the backup when it commits, and whose it is
// (a backup whose catalog row a crash cut off is completed from them).
std::map<std::string, std::string> Annotations(const MariaInstance& instance,
                                               const MariaBackupInfo& info) {
  std::map<std::string, std::string> a = ToAnnotations(info.Facts(instance.type()));
  a["instance"] = instance.name();
  return a;
}

using std::chrono::steady_clock;
using storage::ExtraFile;
using storage::ScanFilter;
using storage::TreeEntry;

constexpr const char* kRedoLog = "ib_logfile0";        // MariaDB 10.8+: one circular file
constexpr const char* kMySqlRedoDir = "#innodb_redo";  // MySQL 8.0.30+

double SecondsSince(steady_clock::time_point t) {
  return std::chrono::duration<double>(steady_clock::now() - t).count();
}

uint64_t BigEndian64(std::string_view bytes, size_t at) {
  uint64_t v = 0;
  for (size_t i = 0; i < 8; ++i) v = v << 8 | static_cast<unsigned char>(bytes[at + i]);
  return v;
}

// What a copy of the datadir leaves out: the redo log (added at the end, see above), the
// temporary tablespace (recreated at start), and what describes the running server.
ScanFilter MariaCopyFilter(const std::string& path, bool is_directory) {
  if (is_directory) {
    if (path == kMySqlRedoDir || path == "#innodb_temp") return ScanFilter::kIncludeEmpty;
    return ScanFilter::kInclude;
  }
  if (path == kRedoLog || path == "ib_logfile1" || path == "ibtmp1" ||
      path.starts_with(std::string(kMySqlRedoDir) + "/")) {
    return ScanFilter::kSkip;
  }
  return ScanFilter::kInclude;
}

Result<std::string> ReadPrefix(const std::string& path, size_t size) {
  ASSIGN_OR_RETURN(UniqueFd fd, OpenFile(path, O_RDONLY));
  std::string out(size, '\0');
  ssize_t n = ::pread(fd.get(), out.data(), size, 0);
  if (n < 0) return ErrnoStatus("read", path, errno);
  if (static_cast<size_t>(n) != size) {
    return Status::Corruption(fmt::format("'{}' is shorter than {} bytes", path, size));
  }
  return out;
}

// InnoDB's last checkpoint as the server reports it (MySQL's status variable, else the
// "Log sequence number ... Last checkpoint at" lines of SHOW ENGINE INNODB STATUS).
Result<uint64_t> ServerCheckpointLsn(MariaConnection& conn) {
  if (auto v = conn.GlobalStatus("Innodb_redo_log_checkpoint_lsn"); v.ok()) {
    return std::stoull(v.value());
  }
  if (auto v = conn.GlobalStatus("Innodb_lsn_last_checkpoint"); v.ok()) {
    return std::stoull(v.value());
  }
  ASSIGN_OR_RETURN(auto rows, conn.Query("SHOW ENGINE INNODB STATUS"));
  static const std::regex kLine(R"(Last checkpoint at\s+(\d+))");
  std::smatch m;
  if (!rows.empty() && rows[0].size() >= 3 && std::regex_search(rows[0][2], m, kLine)) {
    return std::stoull(m[1].str());
  }
  return Status::NotFound("the server does not report InnoDB's checkpoint");
}

Result<MariaConnection> ConnectForBackup(const MariaInstance& instance) {
  auto connected = MariaConnection::Connect(instance.client());
  if (!connected.ok()) {
    return Status::FailedPrecondition(fmt::format("instance '{}' is not accepting connections: {}",
                                                  instance.name(), connected.status().message()),
                                      "start it before backing it up");
  }
  // Idle while mariadb-backup runs, and a tenant may set wait_timeout: the connection must
  // outlive the backup to set back what it changed (and to end its stages).
  RETURN_IF_ERROR(connected->Query("SET SESSION wait_timeout = 31536000").status());
  return connected;
}

// The binlog position and GTID position of an instance that archives its binlog, read
// while commits are blocked.
Status RecordBinlogPoint(const MariaInstance& instance, MariaConnection& conn,
                         MariaBackupInfo& info) {
  if (instance.log_archive_id().empty()) return Status::Ok();
  info.point_unix_us = NowUnixNs() / 1000;
  ASSIGN_OR_RETURN(BinlogPoint point, CurrentBinlogPoint(conn));
  info.binlog_position = point.position;
  info.gtid_position = point.gtid;
  info.binlog_archive = instance.log_archive_id();
  return Status::Ok();
}

// xtrabackup_binlog_info: "binlog.000042\t1234\t0-1-42", where mariadb-backup found the
// binlog under BLOCK_COMMIT.
Status ReadMariaBackupBinlogInfo(const MariaInstance& instance, const std::string& stage,
                                 MariaBackupInfo& info) {
  if (instance.log_archive_id().empty()) return Status::Ok();
  const std::string path = JoinPath(stage, "xtrabackup_binlog_info");
  ASSIGN_OR_RETURN(std::string text, ReadFileToString(path, 64 << 10));
  std::istringstream in(text);
  std::string file, offset, gtid;
  in >> file >> offset >> gtid;
  auto position = ParseBinlogPosition(file + ":" + offset);
  if (!position) {
    return Status::Corruption(fmt::format("'{}' names no binlog position: {}", path, text),
                              "report this: mariadb-backup wrote what dbaas cannot read");
  }
  info.binlog_position = position->ToString();
  info.gtid_position = gtid;
  info.binlog_archive = instance.log_archive_id();
  return Status::Ok();
}

// A server-wide setting of the tenant's changed for a backup's while and set back after,
// unless somebody changed it meanwhile (left changed if that fails: each use below is the
// safer value, and the option file has the tenant's again at the server's next start). The
// variable is one of ours, never input; the tenant's value is set back only if it reads as
// a number.
class TemporaryGlobal {
 public:
  // `variable` set to `value` while this lives, if `needed` says so of its current value;
  // `instance` names the server in errors.
  static Result<TemporaryGlobal> Set(MariaConnection& conn, const std::string& instance,
                                     const std::string& variable, const std::string& value,
                                     const std::function<bool(const std::string&)>& needed) {
    auto context = [&](const Status& st) {
      return st.WithContext(
          fmt::format("set {} = {} for a backup of instance '{}'", variable, value, instance));
    };
    auto current = conn.QueryValue("SELECT @@GLOBAL." + variable);
    if (!current.ok()) return context(current.status());
    if (!needed(*current) || current->empty() ||
        current->find_first_not_of("0123456789") != std::string::npos) {
      return TemporaryGlobal(nullptr, "", "", "", "");
    }
    if (Status set = conn.Query(fmt::format("SET GLOBAL {} = {}", variable, value)).status();
        !set.ok()) {
      return context(set);
    }
    return TemporaryGlobal(&conn, instance, variable, value, *current);
  }
  TemporaryGlobal(TemporaryGlobal&& other) noexcept
      : conn_(std::exchange(other.conn_, nullptr)),
        instance_(std::move(other.instance_)),
        variable_(std::move(other.variable_)),
        ours_(std::move(other.ours_)),
        tenants_(std::move(other.tenants_)) {}
  TemporaryGlobal& operator=(TemporaryGlobal&&) = delete;
  ~TemporaryGlobal() {
    if (!conn_) return;
    WarnIfError(
        conn_
            ->Query(fmt::format("SET GLOBAL {0} = IF(@@GLOBAL.{0} = {1}, {2}, @@GLOBAL.{0})",
                                variable_, ours_, tenants_))
            .status(),
        fmt::format("set {} back to the tenant's {} after a backup of instance '{}' (it "
                    "stays {} until the server restarts or it is set by hand)",
                    variable_, tenants_, instance_, ours_));
  }

 private:
  TemporaryGlobal(MariaConnection* conn, std::string instance, std::string variable,
                  std::string ours, std::string tenants)
      : conn_(conn),
        instance_(std::move(instance)),
        variable_(std::move(variable)),
        ours_(std::move(ours)),
        tenants_(std::move(tenants)) {}
  MariaConnection* conn_;  // null: nothing to set back
  std::string instance_;
  std::string variable_;
  std::string ours_;
  std::string tenants_;
};

// Steps 1-6 of the reflink method on MariaDB (see the header).
Result<MariaBackupInfo> BackupMariaDbByReflink(const MariaInstance& instance, MariaConnection& conn,
                                               storage::Repository& repo, const std::string& name,
                                               storage::Progress* progress) {
  MariaBackupInfo info;
  info.method = "reflink";
  const std::string redo_path = JoinPath(instance.data_dir(), kRedoLog);
  for (const char* stage : {"START", "FLUSH", "BLOCK_DDL"}) {
    RETURN_IF_ERROR(conn.Query(fmt::format("BACKUP STAGE {}", stage)).status());
  }
  // Commits queue behind BLOCK_COMMIT from the moment it is asked for.
  auto blocked_since = steady_clock::now();
  RETURN_IF_ERROR(conn.Query("BACKUP STAGE BLOCK_COMMIT").status());
  bool in_backup = true;
  auto end_backup = [&] {
    if (!in_backup) return Status::Ok();
    in_backup = false;
    info.seconds_writes_blocked = SecondsSince(blocked_since);
    return conn.Query("BACKUP STAGE END").status();
  };
  // No commit moves the binlog now: its position is the copy's.
  if (Status read = RecordBinlogPoint(instance, conn, info); !read.ok()) {
    WarnIfError(end_backup(), "end backup mode after a failed backup");
    return read;
  }
  auto pinned = ReadPrefix(redo_path, kRedoHeaderSize);
  if (!pinned.ok()) {
    WarnIfError(end_backup(), "end backup mode after a failed backup");
    return pinned.status();
  }
  auto checkpoint = ParseRedoHeader(pinned.value());
  if (!checkpoint.ok()) {
    WarnIfError(end_backup(), "end backup mode after a failed backup");
    return checkpoint.status().WithContext(redo_path);
  }
  info.checkpoint_lsn = checkpoint->checkpoint_lsn;

  storage::CreateOptions o;
  o.source = instance.data_dir();
  o.name = name;
  o.mode = storage::SnapshotMode::kThin;
  o.filter = MariaCopyFilter;
  o.progress = progress;
  // The redo log is cloned too (instantly, while commits are blocked); the clone gets the
  // pinned header after BACKUP STAGE END and is copied into the snapshot from there.
  const std::string redo_clone = JoinPath(repo.TmpDir(), "ib_logfile0." + name);
  o.before_commit = [&](const std::vector<TreeEntry>&) -> Result<storage::BeforeCommitResult> {
    ReachKillPoint(KillPoint::kBackupMode);
    // What committed must be in the redo log before it is cloned (a restored copy has none
    // of the source's binlog to decide a crash's outcome).
    RETURN_IF_ERROR(WriteRedoOfCommits(conn, instance.name()));
    RETURN_IF_ERROR(storage::ClonePath(redo_path, redo_clone));
    ASSIGN_OR_RETURN(std::string lsn_now, conn.GlobalStatus("Innodb_lsn_current"));
    info.end_lsn = std::stoull(lsn_now);
    RETURN_IF_ERROR(end_backup());
    struct stat st {};
    if (::stat(redo_clone.c_str(), &st) != 0) return ErrnoStatus("stat", redo_clone, errno);
    uint64_t capacity = static_cast<uint64_t>(st.st_size) - kRedoHeaderSize;
    // Every record from the pinned checkpoint to the end must still be in the circular
    // file: it holds size - 12 KiB bytes of log.
    if (st.st_size <= static_cast<off_t>(kRedoHeaderSize) ||
        info.end_lsn - info.checkpoint_lsn >= capacity) {
      return Status::Busy(
          fmt::format("the redo log wrapped during the copy ({} bytes written since the "
                      "checkpoint, the log holds {})",
                      info.end_lsn - info.checkpoint_lsn, capacity),
          "raise innodb_log_file_size, or back up when the write load is lower");
    }
    ASSIGN_OR_RETURN(UniqueFd fd, OpenFile(redo_clone, O_WRONLY));
    if (::pwrite(fd.get(), pinned->data(), kRedoHeaderSize, 0) !=
        static_cast<ssize_t>(kRedoHeaderSize)) {
      return ErrnoStatus("write", redo_clone, errno);
    }
    ExtraFile log = ServerOwnedFile(instance.server_user(), kRedoLog);
    log.source_path = redo_clone;
    log.take_source = true;  // a clone in the repository's tmp/: moved, not written again
    std::vector<ExtraFile> extras;
    extras.push_back(std::move(log));
    return storage::BeforeCommitResult{std::move(extras), Annotations(instance, info)};
  };
  auto snapshot = storage::CreateSnapshot(repo, o);
  Status ended = end_backup();
  ::unlink(redo_clone.c_str());
  if (!snapshot.ok()) return snapshot.status();
  RETURN_IF_ERROR(ended);
  info.snapshot = std::move(snapshot.value());
  return info;
}

// The reflink method on a MySQL server: its locks, and a copy accepted only if the
// checkpoint did not move between the clone's start and the redo files' copy.
Result<MariaBackupInfo> BackupMySqlByReflink(const MariaInstance& instance, MariaConnection& conn,
                                             storage::Repository& repo, const std::string& name,
                                             storage::Progress* progress) {
  MariaBackupInfo info;
  info.method = "reflink";
  RETURN_IF_ERROR(conn.Query("LOCK INSTANCE FOR BACKUP").status());
  auto blocked_since = steady_clock::now();
  RETURN_IF_ERROR(conn.Query("FLUSH TABLES WITH READ LOCK").status());
  auto unlock = [&] {
    info.seconds_writes_blocked = SecondsSince(blocked_since);
    WarnIfError(conn.Query("UNLOCK TABLES"), "unlock tables after a failed backup");
    WarnIfError(conn.Query("UNLOCK INSTANCE"), "unlock the instance after a failed backup");
  };
  Status last;
  for (int attempt = 0; attempt < 5; ++attempt) {
    auto before = ServerCheckpointLsn(conn);
    if (!before.ok()) {
      unlock();
      return before.status();
    }
    storage::CreateOptions o;
    o.source = instance.data_dir();
    o.name = name;
    o.mode = storage::SnapshotMode::kThin;
    o.filter = MariaCopyFilter;
    o.progress = progress;
    o.before_commit = [&](const std::vector<TreeEntry>&) -> Result<storage::BeforeCommitResult> {
      ReachKillPoint(KillPoint::kBackupMode);
      std::vector<ExtraFile> extras;
      std::error_code ec;
      std::string redo_dir = JoinPath(instance.data_dir(), kMySqlRedoDir);
      for (const auto& e : std::filesystem::directory_iterator(redo_dir, ec)) {
        std::string file = e.path().filename().string();
        if (file.find("_tmp") != std::string::npos) continue;  // spare files, recreated
        ExtraFile x =
            ServerOwnedFile(instance.server_user(), std::string(kMySqlRedoDir) + "/" + file);
        ASSIGN_OR_RETURN(x.content, ReadFileToString(e.path().string(), 1ull << 34));
        extras.push_back(std::move(x));
      }
      if (ec) return ErrnoStatus("list", redo_dir, ec.value());
      ASSIGN_OR_RETURN(uint64_t after, ServerCheckpointLsn(conn));
      if (after != before.value()) {
        return Status::Busy("InnoDB checkpointed during the copy", "it is taken again");
      }
      info.checkpoint_lsn = after;
      return storage::BeforeCommitResult{std::move(extras), Annotations(instance, info)};
    };
    auto snapshot = storage::CreateSnapshot(repo, o);
    if (snapshot.ok()) {
      unlock();
      info.snapshot = std::move(snapshot.value());
      return info;
    }
    last = snapshot.status();
    if (last.code() != StatusCode::kBusy) break;
  }
  unlock();
  return last;
}

// "[00] 2026-11-25 10:11:12 ..." -> seconds since midnight, or -1.
int LogLineSeconds(const std::string& line) {
  static const std::regex kStamp(R"(\d{4}-\d\d-\d\d (\d\d):(\d\d):(\d\d))");
  std::smatch m;
  if (!std::regex_search(line, m, kStamp)) return -1;
  return std::stoi(m[1].str()) * 3600 + std::stoi(m[2].str()) * 60 + std::stoi(m[3].str());
}

// How long mariadb-backup held BLOCK_COMMIT, from its log (to the second).
double BlockedSecondsFromLog(const std::string& log) {
  int from = -1, to = -1;
  size_t pos = 0;
  while (pos < log.size()) {
    size_t end = log.find('\n', pos);
    if (end == std::string::npos) end = log.size();
    std::string line = log.substr(pos, end - pos);
    if (line.find("BACKUP STAGE BLOCK_COMMIT") != std::string::npos && from < 0) {
      from = LogLineSeconds(line);
    } else if (line.find("BACKUP STAGE END") != std::string::npos) {
      to = LogLineSeconds(line);
    }
    pos = end + 1;
  }
  if (from < 0 || to < 0) return 0;
  return to >= from ? to - from : to + 86400 - from;
}

// Kills every mariadb-backup running as `user` and waits until none is left.
Status StopMariaBackupsOf(const UserIds& user) {
  std::string uid = std::to_string(user.uid);
  ProcessOptions kill;
  kill.argv = {"pkill", "-KILL", "-U", uid, "-x", "mariadb-backup"};
  ASSIGN_OR_RETURN(RunResult killed, RunProcess(kill, std::chrono::seconds(10)));
  if (killed.exit_code == 1) return Status::Ok();  // none was running
  ProcessOptions left;
  left.argv = {"pgrep", "-U", uid, "-x", "mariadb-backup"};
  for (int i = 0; i < 100; ++i) {
    ASSIGN_OR_RETURN(RunResult found, RunProcess(left, std::chrono::seconds(10)));
    if (found.exit_code == 1) return Status::Ok();
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
  }
  return Status::IoError(fmt::format("a mariadb-backup of user {} does not stop", user.name),
                         "stop it by hand");
}

// Runs mariadb-backup with `args`; its pid is kept in <stage>.pid while it runs, so that a
// run left by a killed daemon can be stopped by the next one.
Result<std::string> RunMariaBackup(const MariaInstance& instance, const std::string& stage,
                                   const std::vector<std::string>& args) {
  std::string log_path = stage + ".log";
  ::unlink(log_path.c_str());
  // It reads the tenant's data files and writes the staged copy: as the instance's user,
  // never as root (docs/SECURITY.md), with the credentials in a file of that user's for the
  // run (the user owns the data they guard; client.cnf stays ours alone).
  std::string options = stage + ".cnf";
  RETURN_IF_ERROR(WriteFileAtomic(options, instance.ClientOptions(), 0600));
  RETURN_IF_ERROR(instance.GiveToServer(options));
  ProcessOptions p;
  p.argv = {"mariadb-backup", "--defaults-file=" + options};
  p.argv.insert(p.argv.end(), args.begin(), args.end());
  p.cwd = instance.dir();
  p.output_path = log_path;
  p.user = instance.server_user();
  auto started = Process::Start(p);
  if (!started.ok()) {
    ::unlink(options.c_str());
    return started.status();
  }
  Process process = std::move(started.value());
  RETURN_IF_ERROR(
      WriteFileAtomic(stage + ".pid", fmt::format("{}\n{}\n", process.pid(), stage), 0600));
  auto code = process.Wait(std::chrono::hours(12));
  ::unlink((stage + ".pid").c_str());
  ::unlink(options.c_str());
  std::string log = ReadFileToString(log_path).value_or("");
  ::unlink(log_path.c_str());
  if (!code.ok()) return code.status();
  if (code.value() != 0) {
    return Status::IoError(
        fmt::format("mariadb-backup {} exited with {}: {}", args.front(), code.value(),
                    log.substr(log.size() > 1500 ? log.size() - 1500 : 0)),
        "see the server's mariadb.log too");
  }
  return log;
}

// The prepared copy of `PrepareMariaBackupCopy` in the instance's directory, taken into the
// repository and removed.
Result<MariaBackupInfo> BackupByMariaBackup(const MariaInstance& instance,
                                            storage::Repository& repo, const std::string& name,
                                            storage::Progress* progress) {
  const std::string stage = MariaBackupStage(instance);
  auto staged = [&]() -> Result<MariaBackupInfo> {
    ASSIGN_OR_RETURN(MariaBackupInfo info, PrepareMariaBackupCopy(instance));
    storage::CreateOptions o;
    o.source = stage;
    o.name = name;
    o.mode = storage::SnapshotMode::kRepository;
    o.filter = MariaPreparedCopyFilter;
    o.progress = progress;
    o.before_commit = [&](const std::vector<TreeEntry>&) -> Result<storage::BeforeCommitResult> {
      return storage::BeforeCommitResult{{}, Annotations(instance, info)};
    };
    ASSIGN_OR_RETURN(info.snapshot, storage::CreateSnapshot(repo, o));
    return info;
  }();
  WarnIfError(RemoveTree(stage), "remove mariadb-backup's stage");
  return staged;
}

// Room beside the data for a copy of it, and some left for the server's own writes.
Status CheckRoomForCopy(const MariaInstance& instance, const std::string& stage) {
  // What mariadb-backup copies whole (the redo log it follows instead, the temporary
  // tablespace not at all).
  ASSIGN_OR_RETURN(storage::ScanResult data,
                   storage::ScanTree(instance.data_dir(), MariaCopyFilter));
  uint64_t copy_bytes = 0;
  for (const TreeEntry& entry : data.entries) copy_bytes += entry.size;
  const std::string where = instance.dir();
  struct statvfs fs {};
  if (::statvfs(where.c_str(), &fs) != 0) return ErrnoStatus("statvfs", where, errno);
  return RoomForCopy(copy_bytes, uint64_t{fs.f_bavail} * fs.f_frsize,
                     uint64_t{fs.f_blocks} * fs.f_frsize, stage);
}

}  // namespace

ScanFilter MariaPreparedCopyFilter(const std::string& path, bool is_directory) {
  // Top-level files only: a database may be named "xtrabackup_x".
  const bool top = path.find('/') == std::string::npos;
  if (!is_directory && top &&
      (path.starts_with("xtrabackup_") || path == "backup-my.cnf" ||
       path == "aria_log_control.backup" || path == "ib_logfile0.backup")) {
    return ScanFilter::kSkip;
  }
  return ScanFilter::kInclude;
}

std::string MariaBackupStage(const MariaInstance& instance) {
  return JoinPath(instance.dir(), "backup-stage");
}

Status RoomForCopy(uint64_t copy_bytes, uint64_t free_bytes, uint64_t total_bytes,
                   const std::string& stage) {
  // What the server may write meanwhile: a fiftieth of the filesystem, 64 MiB at least and
  // 1 GiB at most.
  const uint64_t reserve =
      std::clamp<uint64_t>(total_bytes / 50, uint64_t{64} << 20, uint64_t{1} << 30);
  if (free_bytes >= reserve && free_bytes - reserve >= copy_bytes) return Status::Ok();
  return Status::FailedPrecondition(
      fmt::format("no room for a copy of the data in '{}': it needs {} MiB and {} MiB kept free "
                  "for the server, the filesystem has {} MiB free",
                  stage, copy_bytes >> 20, reserve >> 20, free_bytes >> 20),
      "grow the volume, or back up by a storage snapshot (repository volumeSnapshot on "
      "Kubernetes; a reflink-capable filesystem on a machine)");
}

Status RemoveMariaBackupLeftovers(const MariaInstance& instance) {
  const std::string stage = MariaBackupStage(instance);
  // mariadb-backup runs as the instance's user; its pid file is ours, in the instance's
  // directory.
  RETURN_IF_ERROR(instance.runtime().StopLeftover(
      instance.placement(), {stage + ".pid", "mariadb-backup", stage, SIGTERM, SIGKILL}));
  // One killed before its pid file was written is found by its user, the instance's own:
  // any mariadb-backup of that user is a backup of this instance's.
  if (instance.server_user()) RETURN_IF_ERROR(StopMariaBackupsOf(*instance.server_user()));
  // RunMariaBackup's files: the pid, the options (credentials) and the log.
  for (const char* suffix : {".pid", ".cnf", ".log"}) {
    const std::string file = stage + suffix;
    if (::unlink(file.c_str()) != 0 && errno != ENOENT) return ErrnoStatus("remove", file, errno);
  }
  return RemoveTree(stage);
}

Result<MariaBackupInfo> PrepareMariaBackupCopy(const MariaInstance& instance) {
  const std::string stage = MariaBackupStage(instance);
  ASSIGN_OR_RETURN(MariaConnection conn, ConnectForBackup(instance));
  MariaBackupInfo info;
  info.method = "mariadb-backup";
  ASSIGN_OR_RETURN(info.server_version, conn.QueryValue("SELECT VERSION()"));
  // mariadb-backup waits for the log file to reach the LSN it reads from the server, which
  // a redo log buffered for the tenant's innodb_flush_log_at_timeout (up to 2,700 s) may
  // not do for that long (measured: it gives up): the buffer written every second while
  // it runs.
  ASSIGN_OR_RETURN(TemporaryGlobal prompt,
                   TemporaryGlobal::Set(conn, instance.name(), "innodb_flush_log_at_timeout", "1",
                                        [](const std::string& now) { return now != "1"; }));
  // What a killed backup left (its copy, or mariadb-backup itself still running).
  RETURN_IF_ERROR(RemoveMariaBackupLeftovers(instance));
  RETURN_IF_ERROR(CheckRoomForCopy(instance, stage));
  auto staged = [&]() -> Status {
    RETURN_IF_ERROR(MakeDir(stage, 0700));
    RETURN_IF_ERROR(instance.GiveToServer(stage));
    ASSIGN_OR_RETURN(std::string log,
                     RunMariaBackup(instance, stage, {"--backup", "--target-dir=" + stage}));
    info.seconds_writes_blocked = BlockedSecondsFromLog(log);
    // It blocked commits at its end, before it returned: no later than now.
    info.point_unix_us = NowUnixNs() / 1000;
    RETURN_IF_ERROR(ReadMariaBackupBinlogInfo(instance, stage, info));
    RETURN_IF_ERROR(
        RunMariaBackup(instance, stage, {"--prepare", "--target-dir=" + stage}).status());
    ASSIGN_OR_RETURN(std::string checkpoints,
                     ReadFileToString(JoinPath(stage, "xtrabackup_checkpoints")));
    static const std::regex kTo(R"(to_lsn = (\d+))");
    std::smatch m;
    if (std::regex_search(checkpoints, m, kTo)) info.end_lsn = std::stoull(m[1].str());
    return Status::Ok();
  }();
  if (!staged.ok()) {
    WarnIfError(RemoveTree(stage), "remove mariadb-backup's stage");
    return staged.WithContext("mariadb-backup");
  }
  return info;
}

Status WriteRedoOfCommits(MariaConnection& conn, const std::string& instance) {
  // FLUSH ENGINE LOGS writes the buffer at 1 and 2 (measured: at 0 it does not).
  ASSIGN_OR_RETURN(TemporaryGlobal written,
                   TemporaryGlobal::Set(conn, instance, "innodb_flush_log_at_trx_commit", "2",
                                        [](const std::string& now) { return now == "0"; }));
  return conn.Query("FLUSH NO_WRITE_TO_BINLOG ENGINE LOGS").status();
}

Result<RedoCheckpoint> ParseRedoHeader(std::string_view header) {
  // MariaDB 10.8+ (log_t::FORMAT_10_8): "Phys" at 0; checkpoint blocks at 4096 and 8192,
  // each the checkpoint LSN and the log's end LSN at that checkpoint (big-endian).
  if (header.size() < kRedoHeaderSize || header.substr(0, 4) != "Phys") {
    return Status::FailedPrecondition(
        "the redo log is not in MariaDB's 10.8+ format",
        "back up with the mariadb-backup method (dbaas picks it when reflinks do not work)");
  }
  RedoCheckpoint best;
  for (size_t block : {size_t{4096}, size_t{8192}}) {
    RedoCheckpoint c{BigEndian64(header, block), BigEndian64(header, block + 8)};
    if (c.checkpoint_lsn >= kRedoHeaderSize && c.end_lsn >= c.checkpoint_lsn &&
        c.checkpoint_lsn > best.checkpoint_lsn) {
      best = c;
    }
  }
  if (best.checkpoint_lsn == 0) return Status::Corruption("the redo log names no checkpoint");
  return best;
}

Result<MariaBackupInfo> BackupMaria(const MariaInstance& instance, storage::Repository& repo,
                                    const std::string& name, MariaBackupMethod method,
                                    storage::Progress* progress) {
  auto started = steady_clock::now();
  ASSIGN_OR_RETURN(MariaConnection conn, ConnectForBackup(instance));
  ASSIGN_OR_RETURN(std::string version, conn.QueryValue("SELECT VERSION()"));
  bool mysql = instance.flavor() == MariaFlavor::kMySQL;
  if (method == MariaBackupMethod::kAuto) {
    std::string probe = JoinPath(instance.data_dir(), "ibdata1");
    method = storage::ReflinkWorks(probe, repo.TmpDir()) ? MariaBackupMethod::kReflink
                                                         : MariaBackupMethod::kMariaBackup;
  }
  Result<MariaBackupInfo> info = Status::Internal("no backup method");
  if (method == MariaBackupMethod::kReflink) {
    info = mysql ? BackupMySqlByReflink(instance, conn, repo, name, progress)
                 : BackupMariaDbByReflink(instance, conn, repo, name, progress);
  } else if (mysql) {
    info = Status::FailedPrecondition(
        "a MySQL server is backed up only by reflink clones here (mariadb-backup does not read "
        "MySQL 8's redo log)",
        "put the data root on an XFS (reflink=1) or btrfs filesystem");
  } else {
    info = BackupByMariaBackup(instance, repo, name, progress);
  }
  if (!info.ok()) {
    return info.status().WithContext(fmt::format("backup of instance '{}'", instance.name()));
  }
  info->server_version = version;
  info->seconds = SecondsSince(started);
  return info;
}

BackupFacts MariaBackupInfo::Facts(const std::string& engine) const {
  BackupFacts f;
  f.engine = engine;
  f.server_version = server_version;
  f.snapshot_kind = std::string(storage::SnapshotKindName(snapshot.kind));
  if (seconds > 0) f.duration_seconds = seconds;
  f.method = method;
  if (checkpoint_lsn != 0) f.checkpoint_lsn = checkpoint_lsn;
  if (end_lsn != 0) f.end_lsn = end_lsn;
  f.seconds_writes_blocked = seconds_writes_blocked;
  if (!binlog_position.empty()) {
    // A point, not a span: recovery replays from where the copy was consistent.
    f.start_lsn = f.stop_lsn = binlog_position;
    f.gtid_position = gtid_position;
    f.stop_time_unix_us = point_unix_us;
    f.wal_archive = binlog_archive;
  }
  return f;
}

Result<std::vector<std::string>> CheckAllTables(const MariaEndpoint& endpoint) {
  ASSIGN_OR_RETURN(MariaConnection conn, MariaConnection::Connect(endpoint));
  ASSIGN_OR_RETURN(auto tables,
                   conn.Query("SELECT CONCAT('`', REPLACE(table_schema, '`', '``'), '`.`', "
                              "REPLACE(table_name, '`', '``'), '`') FROM "
                              "information_schema.tables WHERE table_type = 'BASE TABLE' "
                              "AND table_schema NOT IN ('information_schema', "
                              "'performance_schema', 'sys')"));
  std::vector<std::string> bad;
  constexpr size_t kPerStatement = 64;
  for (size_t i = 0; i < tables.size(); i += kPerStatement) {
    std::string sql = "CHECK TABLE ";
    for (size_t j = i; j < std::min(tables.size(), i + kPerStatement); ++j) {
      sql += (j > i ? ", " : "") + tables[j][0];
    }
    // Rows: Table, Op, Msg_type, Msg_text; a table's last "status" row says OK or not.
    ASSIGN_OR_RETURN(auto rows, conn.Query(sql));
    for (const auto& row : rows) {
      if (row.size() < 4) continue;
      if ((row[2] == "status" && row[3] != "OK") || row[2] == "error") {
        bad.push_back(fmt::format("{}: {} {}", row[0], row[2], row[3]));
      }
    }
  }
  return bad;
}

Result<std::unique_ptr<MariaInstance>> RestoreMaria(
    const storage::Repository& repo, const storage::Manifest& snapshot, const InstanceSpec& spec,
    const std::string& password, storage::Progress* progress, const MariaRecovery& recover,
    bool renew_tenant_login) {
  auto fill = [&](const std::string& data_dir) {
    return FillFromSnapshot(repo, snapshot, data_dir, progress);
  };
  return RestoreMariaFilled(spec, password, fill, recover, renew_tenant_login);
}

Result<std::unique_ptr<MariaInstance>> RestoreMariaFilled(const InstanceSpec& spec,
                                                          const std::string& password,
                                                          const MariaInstance::FillDataFn& fill,
                                                          const MariaRecovery& recover,
                                                          bool renew_tenant_login) {
  ASSIGN_OR_RETURN(std::unique_ptr<MariaInstance> inst,
                   MariaInstance::CreateFrom(spec, password, fill));
  auto fail = [&](const Status& st) -> Status {
    WarnIfError(inst->Delete(), "remove the restored instance that did not come up");
    return st.WithContext(fmt::format("restore into instance '{}'", spec.name));
  };
  // InnoDB recovery runs before the server accepts connections.
  if (Status st = inst->Start(std::chrono::minutes(10)); !st.ok()) return fail(st);
  if (renew_tenant_login && inst->flavor() == MariaFlavor::kMariaDB) {
    // A copy, not a standby: whatever primary a backed-up standby followed is forgotten
    // (skip_slave_start kept it from starting).
    auto conn = MariaConnection::Connect(inst->client());
    Status forgot = conn.ok() ? conn->Query("RESET SLAVE ALL").status() : conn.status();
    if (!forgot.ok()) return fail(forgot.WithContext("forget the replication source of the copy"));
  }
  if (recover) {
    if (Status st = recover(*inst); !st.ok()) return fail(st);
  }
  auto bad = CheckAllTables(inst->client());
  if (!bad.ok()) return fail(bad.status());
  if (!bad->empty()) {
    std::string list;
    for (const auto& b : *bad) list += (list.empty() ? "" : "; ") + b;
    return fail(
        Status::Corruption(fmt::format("CHECK TABLE failed on {} table(s) of the restored copy: {}",
                                       bad->size(), list),
                           "restore an older backup, and report this"));
  }
  if (!renew_tenant_login) return inst;
  if (Status st = inst->RenewTenantLogin(); !st.ok()) return fail(st);
  return inst;
}

}  // namespace dbaas::engines
