#include "engines/mariadb/maria_log_archiving.h"

#include <dirent.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <ctime>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <vector>

#include <fmt/format.h>
#include <spdlog/spdlog.h>

#include "base/files.h"
#include "engines/mariadb/maria_binlog.h"

namespace dbaas::engines {
namespace {

// One transaction larger than this cannot be archived (WalArchive's bound).
constexpr uint64_t kMaxBinlogSize = storage::kMaxArchivedFileBytes;

struct SpoolFile {
  uint64_t number = 0;
  std::string name;
};

// The binlog.NNNNNN files of the directory, oldest first, and its owner (the server's user).
Result<std::vector<SpoolFile>> ListBinlogs(const std::string& dir, uid_t* owner) {
  ASSIGN_OR_RETURN(UniqueFd fd, OpenFile(dir, O_RDONLY | O_DIRECTORY));
  struct stat st;
  if (::fstat(fd.get(), &st) != 0) return ErrnoStatus("stat", dir, errno);
  *owner = st.st_uid;
  DIR* d = ::fdopendir(fd.Release());
  if (d == nullptr) return ErrnoStatus("opendir", dir, errno);
  std::vector<SpoolFile> files;
  while (dirent* e = ::readdir(d)) {
    // As the server names them only: binlog.0000007 is not binlog.000007.
    auto n = BinlogFileNumber(e->d_name);
    if (n && BinlogFileName(*n) == e->d_name) files.push_back({*n, e->d_name});
  }
  ::closedir(d);
  std::sort(files.begin(), files.end(),
            [](const SpoolFile& a, const SpoolFile& b) { return a.number < b.number; });
  return files;
}

// Reads a binlog of the directory whole, as the tenant's file it is: no link, no FIFO, a
// regular file of the directory's owner, at most kMaxBinlogSize bytes (`limit` caps what is
// read: the head of a file only).
Result<std::vector<uint8_t>> ReadBinlog(const std::string& dir, const std::string& name,
                                        uid_t owner, uint64_t limit = kMaxBinlogSize) {
  const std::string path = JoinPath(dir, name);
  ASSIGN_OR_RETURN(UniqueFd fd, OpenFile(path, O_RDONLY | O_NONBLOCK));
  struct stat st;
  if (::fstat(fd.get(), &st) != 0) return ErrnoStatus("stat", path, errno);
  if (!S_ISREG(st.st_mode) || st.st_uid != owner) {
    return Status::FailedPrecondition(
        fmt::format("'{}' is not a binlog the server wrote (not a regular file of its user)", path),
        "remove it; the server writes its binary logs there");
  }
  const uint64_t size = static_cast<uint64_t>(st.st_size);
  if (static_cast<uint64_t>(st.st_blocks) * 512 + (1 << 20) < size) {
    return Status::InvalidArgument(
        fmt::format("'{}' is sparse ({} bytes, {} allocated): not a binlog the server wrote", path,
                    size, static_cast<uint64_t>(st.st_blocks) * 512),
        "remove it if the server did not write it; it stays on the server until then");
  }
  if (size > kMaxBinlogSize && limit == kMaxBinlogSize) {
    return Status::InvalidArgument(
        fmt::format("binlog '{}' has {} bytes: more than the archive takes (1 GiB)", path, size),
        "split very large transactions; the binlog stays on the server until then");
  }
  std::vector<uint8_t> data(static_cast<size_t>(std::min(size, limit)));
  ASSIGN_OR_RETURN(size_t got, PreadFull(fd.get(), data.data(), data.size(), 0, path));
  data.resize(got);
  return data;
}

// Whether the server closed this file (at shutdown or rotation): clear in-use flag, and a
// STOP or ROTATE event last.
Result<bool> ClosedByServer(const std::string& dir, const std::string& name, uid_t owner) {
  ASSIGN_OR_RETURN(std::vector<uint8_t> head, ReadBinlog(dir, name, owner, kBinlogHeadSize));
  std::optional<bool> in_use = BinlogInUse(head);
  if (!in_use || *in_use) return false;
  ASSIGN_OR_RETURN(std::vector<uint8_t> data, ReadBinlog(dir, name, owner));
  auto scan = ScanBinlogFile(data);
  return scan.ok() && scan->closed;
}

// Whether the archive holds `name` with `size` raw bytes already (a file stored by an
// earlier drain that the server has not purged yet: the server was down).
bool StoredAlready(const storage::WalArchive& archive, const std::string& name, uint64_t size) {
  auto stored = archive.RawSize(name);
  return stored.ok() && *stored == size;
}

Result<uint64_t> FileSize(const std::string& path) {
  struct stat st;
  if (::lstat(path.c_str(), &st) != 0) return ErrnoStatus("stat", path, errno);
  return static_cast<uint64_t>(st.st_size);
}

// Closes the file in progress when it holds a transaction and was opened `close_after` ago
// or more (its format description's timestamp says when).
Status CloseIfDue(MariaConnection& conn, const BinlogSpool& spool, const SpoolFile& current,
                  uid_t owner, std::chrono::seconds close_after) {
  ASSIGN_OR_RETURN(std::vector<uint8_t> head,
                   ReadBinlog(spool.dir, current.name, owner, kBinlogHeadSize));
  if (head.size() < 8) return Status::Ok();
  uint32_t opened = head[4] | head[5] << 8 | head[6] << 16 | static_cast<uint32_t>(head[7]) << 24;
  if (::time(nullptr) - static_cast<time_t>(opened) < close_after.count()) return Status::Ok();
  // Its first events are bookkeeping (format description, GTID list, checkpoints); a GTID
  // event among the first few means a transaction.
  ASSIGN_OR_RETURN(auto events,
                   conn.Query(fmt::format("SHOW BINLOG EVENTS IN '{}' LIMIT 8", current.name)));
  bool holds_transaction = std::any_of(events.begin(), events.end(), [](const MariaRow& row) {
    return row.size() > 2 && row[2] == "Gtid";
  });
  if (!holds_transaction) return Status::Ok();
  return conn.Query("FLUSH BINARY LOGS").status();
}

// Lets the server purge its binlogs up to and including `stored_through`, naming a file of
// its own index (a stray file in the directory may not be one): the newest listed file not
// after stored_through + 1. The server keeps the one it writes, and any its storage engines
// still need (it refuses to purge those).
Status PurgeThrough(MariaConnection& conn, uint64_t stored_through) {
  ASSIGN_OR_RETURN(auto rows, conn.Query("SHOW BINARY LOGS"));
  std::optional<uint64_t> to;
  for (const MariaRow& row : rows) {
    auto n = row.empty() ? std::nullopt : BinlogFileNumber(row[0]);
    if (n && *n <= stored_through + 1 && (!to || *n > *to)) to = n;
  }
  if (!to) return Status::Ok();
  return conn.Query(fmt::format("PURGE BINARY LOGS TO '{}'", BinlogFileName(*to)))
      .status()
      .WithContext("purge archived binlogs");
}

// Drains of one archive take turns: the drainer's tick, a restore point's or a restore's
// ArchiveBinlogsNow and a deletion's final drain would otherwise purge what another listed.
// A turn lives while a drain holds it: the registry keeps only archives being drained. Keyed
// by the archive's directory on a machine, by the binlog directory in a pod (its agent's
// listing, sending and purging take turns the same way).
std::shared_ptr<std::mutex> DrainTurn(const std::string& key) {
  static std::mutex registry_mu;
  static std::map<std::string, std::weak_ptr<std::mutex>> turns;
  std::lock_guard lock(registry_mu);
  std::erase_if(turns, [](const auto& entry) { return entry.second.expired(); });
  std::weak_ptr<std::mutex>& known = turns[key];
  std::shared_ptr<std::mutex> turn = known.lock();
  if (!turn) {
    turn = std::make_shared<std::mutex>();
    known = turn;
  }
  return turn;
}

// The server, asked with a short timeout: one that does not answer at once is treated as
// down (a drain never waits on it).
MariaEndpoint QuickEndpoint(const BinlogSpool& spool) {
  MariaEndpoint quick = spool.endpoint;
  quick.timeout = std::chrono::seconds(5);
  return quick;
}

// What a drain finds in the spool's directory: its binlogs, oldest first, of which the first
// `finished` are done with (the rest the server writes), and the server when it answers.
struct ScannedBinlog {
  SpoolFile file;
  uint64_t size = 0;
  bool stored = false;  // in the archive already (an earlier drain's, not purged yet)
};
struct SpoolScan {
  uid_t owner = 0;
  std::vector<ScannedBinlog> files;
  size_t finished = 0;
  std::optional<MariaConnection> conn;
  std::optional<uint64_t> current;  // the file the server writes, in its own words
  // No answer while the newest file is open: the server crashed, or cannot be reached while
  // it writes; nothing is closed or purged then.
  bool unreachable = false;
};

// `stored` says whether the archive holds a file with that size already (the pod's side has
// no archive: always false).
using StoredFn = std::function<bool(const std::string& name, uint64_t size)>;

Result<SpoolScan> ScanSpool(const BinlogSpool& spool, BinlogDrain mode, const StoredFn& stored) {
  SpoolScan scan;
  ASSIGN_OR_RETURN(std::vector<SpoolFile> files, ListBinlogs(spool.dir, &scan.owner));
  if (mode == BinlogDrain::kRunning) {
    if (auto connected = MariaConnection::Connect(QuickEndpoint(spool)); connected.ok()) {
      scan.conn = std::move(*connected);
      ASSIGN_OR_RETURN(BinlogPoint point, CurrentBinlogPoint(*scan.conn));
      auto position = ParseBinlogPosition(point.position);
      if (!position) return Status::Internal("the server's binlog position does not parse");
      scan.current = position->file;
    }
  }
  if (mode == BinlogDrain::kRunning && !scan.conn && !files.empty()) {
    auto head = ReadBinlog(spool.dir, files.back().name, scan.owner, kBinlogHeadSize);
    scan.unreachable = head.ok() && BinlogInUse(*head).value_or(false);
  }
  // Up to the first file not finished: it and what follows stay where they are.
  for (size_t i = 0; i < files.size(); ++i) {
    const SpoolFile& f = files[i];
    ASSIGN_OR_RETURN(uint64_t size, FileSize(JoinPath(spool.dir, f.name)));
    const bool in_archive = stored && stored(f.name, size);
    // Finished: before the file the server writes; without the server, any but the newest
    // (the server moved on from it), and the newest when the server closed it at shutdown
    // (read once: then it is stored). A deleted instance's are all finished.
    bool finished = true;
    if (scan.current) {
      finished = f.number < *scan.current;
    } else if (mode == BinlogDrain::kRunning && i + 1 == files.size() && !in_archive) {
      ASSIGN_OR_RETURN(finished, ClosedByServer(spool.dir, f.name, scan.owner));
    }
    scan.files.push_back({f, size, in_archive});
    if (!finished) break;
    ++scan.finished;
  }
  return scan;
}

// CloseIfDue for the file the scan found the server writing (the scan has a server).
Status CloseCurrentIfDue(SpoolScan& scan, const BinlogSpool& spool,
                         std::chrono::seconds close_after) {
  return CloseIfDue(*scan.conn, spool, SpoolFile{*scan.current, BinlogFileName(*scan.current)},
                    scan.owner, close_after);
}

Status UnreachableWhileOpen(const BinlogSpool& spool) {
  return Status::IoError(
      fmt::format("the server of instance '{}' does not answer while its binlog is open: "
                  "what it writes is neither closed nor archived",
                  spool.instance),
      "see the instance's status and mariadb.log; archiving resumes when it answers");
}

// A binlog's name as the server gives it (binlog.000042), or kInvalidArgument.
Result<uint64_t> BinlogNumberOf(const std::string& name) {
  auto n = BinlogFileNumber(name);
  if (!n || BinlogFileName(*n) != name) {
    return Status::InvalidArgument(fmt::format("'{}' is not a binlog's name", name),
                                   "binlogs are named binlog.NNNNNN");
  }
  return *n;
}

}  // namespace

Result<storage::SpoolDrain> DrainBinlogs(const BinlogSpool& spool,
                                         const storage::WalArchive& archive,
                                         std::chrono::seconds close_after, BinlogDrain mode) {
  const std::shared_ptr<std::mutex> turn = DrainTurn(archive.dir());
  std::lock_guard in_turn(*turn);
  ASSIGN_OR_RETURN(SpoolScan scan,
                   ScanSpool(spool, mode, [&](const std::string& name, uint64_t size) {
                     return StoredAlready(archive, name, size);
                   }));
  storage::SpoolDrain drained;
  std::optional<uint64_t> stored_through;  // the newest of the files stored from the oldest on
  for (size_t i = 0; i < scan.finished; ++i) {
    const ScannedBinlog& f = scan.files[i];
    if (!f.stored) {
      auto data = ReadBinlog(spool.dir, f.file.name, scan.owner);
      if (!data.ok() && mode == BinlogDrain::kFinal &&
          data.status().code() == StatusCode::kFailedPrecondition) {
        // Not the server's (a link, a FIFO, another owner's: planted): it cannot keep the
        // instance from being deleted. (A binlog too large or sparse fails the deletion.)
        spdlog::warn("event=binlog_skipped instance={} error=\"{}\"", spool.instance,
                     data.status().ToString());
        continue;
      }
      RETURN_IF_ERROR(data.status());
      RETURN_IF_ERROR(archive.Store(*data, f.file.name)
                          .WithContext(fmt::format("store binlog {} of instance '{}'", f.file.name,
                                                   spool.instance)));
      ++drained.files;
      drained.raw_bytes += data->size();
    }
    stored_through = f.file.number;
  }
  if (!scan.conn) {
    if (scan.unreachable) return UnreachableWhileOpen(spool);
    return drained;
  }
  Status purged = stored_through ? PurgeThrough(*scan.conn, *stored_through) : Status::Ok();
  // The recovery point does not wait on a purge that failed.
  if (close_after.count() > 0) {
    RETURN_IF_ERROR(CloseCurrentIfDue(scan, spool, close_after));
  }
  RETURN_IF_ERROR(purged);
  return drained;
}

Result<std::vector<FinishedBinlog>> ListFinishedBinlogs(const BinlogSpool& spool,
                                                        std::chrono::seconds close_after) {
  const std::shared_ptr<std::mutex> turn = DrainTurn(spool.dir);
  std::lock_guard in_turn(*turn);
  // A server that does not answer while its newest file is open: the files before it are
  // finished all the same (its state says it does not answer).
  ASSIGN_OR_RETURN(SpoolScan scan, ScanSpool(spool, BinlogDrain::kRunning, {}));
  std::vector<FinishedBinlog> finished;
  for (size_t i = 0; i < scan.finished; ++i) {
    finished.push_back({scan.files[i].file.name, scan.files[i].size});
  }
  // Closed now, listed at the next drain.
  if (scan.conn && close_after.count() > 0) {
    RETURN_IF_ERROR(CloseCurrentIfDue(scan, spool, close_after));
  }
  return finished;
}

Result<std::vector<uint8_t>> ReadFinishedBinlog(const BinlogSpool& spool, const std::string& name) {
  ASSIGN_OR_RETURN(uint64_t number, BinlogNumberOf(name));
  const std::shared_ptr<std::mutex> turn = DrainTurn(spool.dir);
  std::lock_guard in_turn(*turn);
  ASSIGN_OR_RETURN(SpoolScan scan, ScanSpool(spool, BinlogDrain::kRunning, {}));
  for (size_t i = 0; i < scan.files.size(); ++i) {
    if (scan.files[i].file.number != number) continue;
    if (i >= scan.finished) {
      return Status::FailedPrecondition(
          fmt::format("binlog {} is still being written", name),
          "fetch only the binlogs the listing names: they are finished");
    }
    return ReadBinlog(spool.dir, name, scan.owner);
  }
  return Status::NotFound(fmt::format("binlog {} is not there (purged)", name));
}

Status PurgeStoredBinlogs(const BinlogSpool& spool, const std::string& name) {
  ASSIGN_OR_RETURN(uint64_t number, BinlogNumberOf(name));
  const std::shared_ptr<std::mutex> turn = DrainTurn(spool.dir);
  std::lock_guard in_turn(*turn);
  // A server that is down purges nothing: its binlogs stay until it runs (the daemon finds
  // them stored already), or go with the pod (a deleted instance, drained first).
  auto conn = MariaConnection::Connect(QuickEndpoint(spool));
  if (!conn.ok()) return Status::Ok();
  return PurgeThrough(*conn, number);
}

Status ArchiveBinlogsNow(const BinlogSpool& spool, const storage::WalArchive& archive) {
  ASSIGN_OR_RETURN(MariaConnection conn, MariaConnection::Connect(spool.endpoint));
  RETURN_IF_ERROR(conn.Query("FLUSH BINARY LOGS").status());
  return DrainBinlogs(spool, archive, std::chrono::seconds(0), BinlogDrain::kRunning).status();
}

Result<BinlogPoint> CurrentBinlogPoint(MariaConnection& conn) {
  ASSIGN_OR_RETURN(auto rows, conn.Query("SHOW MASTER STATUS"));
  if (rows.empty() || rows[0].size() < 2) {
    return Status::FailedPrecondition("the server writes no binary log",
                                      "an instance made before binlog archiving has none");
  }
  auto position = ParseBinlogPosition(rows[0][0] + ":" + rows[0][1]);
  if (!position || position->ToString() != rows[0][0] + ":" + rows[0][1]) {
    return Status::Internal(
        fmt::format("SHOW MASTER STATUS names '{}' at '{}', not a binlog position dbaas reads",
                    rows[0][0], rows[0][1]));
  }
  BinlogPoint point;
  point.position = position->ToString();
  ASSIGN_OR_RETURN(point.gtid, conn.QueryValue("SELECT @@gtid_binlog_pos"));
  return point;
}

}  // namespace dbaas::engines
