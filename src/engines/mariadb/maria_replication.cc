#include "engines/mariadb/maria_replication.h"

#include <dirent.h>

#include <map>
#include <thread>

#include <fmt/format.h>
#include <spdlog/spdlog.h>

#include "base/files.h"
#include "base/log.h"
#include "engines/backup_facts.h"
#include "engines/mariadb/maria_binlog.h"
#include "engines/mariadb/maria_connection.h"
#include "engines/mariadb/maria_log_archiving.h"
#include "engines/mariadb/maria_pitr.h"
#include "storage/wal_archive.h"

namespace dbaas::engines {
namespace {

// The account members replicate as: on every member (it is replicated like any account),
// reachable from the loopback only, with the instance's root password (members share it).
constexpr const char* kReplicaAccount = "'dbaas_replica'@'127.0.0.1'";
// A binlog holds up to max_binlog_size (64 MiB) plus its last transaction.
constexpr size_t kMaxBinlogRead = size_t{1} << 30;

uint64_t SeqSum(const GtidPosition& position) {
  uint64_t sum = 0;
  for (const auto& [domain, gtid] : position) sum += gtid.seq;
  return sum;
}

uint64_t SeqSum(const std::string& text) {
  auto parsed = ParseGtidPosition(text);
  return parsed.ok() ? SeqSum(*parsed) : 0;
}

Status EnsureReplicaAccount(MariaConnection& conn, const std::string& password) {
  RETURN_IF_ERROR(conn.ExecuteSecret(fmt::format("CREATE USER IF NOT EXISTS {} IDENTIFIED BY {}",
                                                 kReplicaAccount, MariaQuote(password)),
                                     "making the replication account"));
  return conn.Query(fmt::format("GRANT REPLICATION SLAVE ON *.* TO {}", kReplicaAccount))
      .status()
      .WithContext("grant the replication account its privilege");
}

// The position at the end of a binlog file's last whole transaction.
GtidPosition EndOf(const BinlogFileScan& scan) {
  GtidPosition at = scan.gtid_list;
  for (const BinlogTransaction& t : scan.transactions) at[t.gtid.domain] = t.gtid;
  return at;
}

// A stopped member's position at the end of its newest binlog file.
Result<GtidPosition> LastBinlogPosition(const MariaInstance& member) {
  auto spool = member.binlog_spool();
  if (!spool) {
    return Status::FailedPrecondition(fmt::format("instance '{}' has no binlog", member.name()));
  }
  DIR* dir = ::opendir(spool->dir.c_str());
  if (dir == nullptr) return ErrnoStatus("opendir", spool->dir, errno);
  uint64_t newest = 0;
  while (dirent* e = ::readdir(dir)) {
    if (auto n = BinlogFileNumber(e->d_name)) newest = std::max(newest, *n);
  }
  ::closedir(dir);
  if (newest == 0) return GtidPosition();
  // Read as root from a directory the member's server writes: no link is followed.
  ASSIGN_OR_RETURN(std::string raw,
                   ReadFileToString(JoinPath(spool->dir, BinlogFileName(newest)), kMaxBinlogRead));
  ASSIGN_OR_RETURN(BinlogFileScan scan,
                   ScanBinlogFile(std::span<const uint8_t>(
                       reinterpret_cast<const uint8_t*>(raw.data()), raw.size())));
  return EndOf(scan);
}

}  // namespace

Result<MariaSeed> MariaPrepareSeed(const MariaInstance& primary, const storage::Manifest& snapshot,
                                   const MariaReplayPlanner& plan) {
  BackupFacts facts = FromAnnotations(snapshot.annotations);
  if (primary.log_archive_id().empty() || facts.wal_archive != primary.log_archive_id()) {
    return Status::FailedPrecondition(
        fmt::format("backup {} cannot start a standby of '{}': its binlog continues in archive "
                    "'{}', the primary's is '{}'",
                    snapshot.id, primary.name(), facts.wal_archive, primary.log_archive_id()));
  }
  {
    ASSIGN_OR_RETURN(MariaConnection conn, MariaConnection::Connect(primary.client()));
    RETURN_IF_ERROR(EnsureReplicaAccount(conn, primary.endpoint().password));
  }
  // Everything written so far, the account included, into the archive: the standby
  // replays it, and replicates what follows from the primary's binlog, which keeps every
  // file not archived yet.
  ASSIGN_OR_RETURN(
      storage::WalArchive archive,
      storage::WalArchive::Open(primary.archiving().repo_path, primary.log_archive_id()));
  RETURN_IF_ERROR(ArchiveBinlogsNow(*primary.binlog_spool(), archive));
  ASSIGN_OR_RETURN(ArchiveEnd end, MariaScanArchive(primary.archiving().repo_path,
                                                    primary.log_archive_id(), facts.stop_lsn));
  MariaSeed seed;
  seed.gtid_position = end.last_gtid.empty() ? facts.gtid_position : end.last_gtid;
  if (end.last_lsn != facts.stop_lsn) {
    ASSIGN_OR_RETURN(seed.replay, plan(end.last_lsn));
  }
  return seed;
}

Status MariaReplicateFrom(const MariaInstance& member, const MariaInstance& primary,
                          const std::string& gtid_position) {
  ASSIGN_OR_RETURN(MariaConnection conn, MariaConnection::Connect(member.client()));
  // A member that was replicating (from another primary) stops first; one that never was
  // has nothing to stop, which is no error.
  (void)conn.Query("STOP SLAVE");
  if (!gtid_position.empty()) {
    RETURN_IF_ERROR(ParseGtidPosition(gtid_position).status());
    RETURN_IF_ERROR(
        conn.Query(fmt::format("SET GLOBAL gtid_slave_pos = {}", MariaQuote(gtid_position)))
            .status()
            .WithContext(fmt::format("set the GTID position of '{}'", member.name())));
  }
  RETURN_IF_ERROR(conn.ExecuteSecret(
      fmt::format("CHANGE MASTER TO MASTER_HOST = '127.0.0.1', MASTER_PORT = {}, "
                  "MASTER_USER = 'dbaas_replica', MASTER_PASSWORD = {}, "
                  "MASTER_USE_GTID = slave_pos, MASTER_CONNECT_RETRY = 1, "
                  "MASTER_HEARTBEAT_PERIOD = 1",
                  primary.endpoint().port, MariaQuote(primary.endpoint().password)),
      fmt::format("pointing '{}' at '{}'", member.name(), primary.name())));
  return conn.Query("START SLAVE")
      .status()
      .WithContext(fmt::format("start replication on '{}'", member.name()));
}

Result<MemberPosition> MariaPosition(const MariaInstance& member) {
  ASSIGN_OR_RETURN(MariaConnection conn, MariaConnection::Connect(member.client()));
  ASSIGN_OR_RETURN(auto status, conn.QueryNamed("SHOW SLAVE STATUS"));
  MemberPosition pos;
  if (status.empty()) {
    ASSIGN_OR_RETURN(pos.lsn, conn.QueryValue("SELECT @@gtid_binlog_pos"));
    pos.lsn_value = SeqSum(pos.lsn);
    return pos;
  }
  auto& s = status[0];
  pos.standby = true;
  ASSIGN_OR_RETURN(pos.replay_lsn, conn.QueryValue("SELECT @@gtid_slave_pos"));
  // Received: the IO thread's position (what a failover compares), else what was applied.
  pos.lsn = s["Gtid_IO_Pos"].empty() ? pos.replay_lsn : s["Gtid_IO_Pos"];
  pos.lsn_value = std::max(SeqSum(pos.lsn), SeqSum(pos.replay_lsn));
  ReplicaLink link;
  link.member = member.name();
  const std::string& io = s["Slave_IO_Running"];
  const std::string& sql = s["Slave_SQL_Running"];
  link.state = io == "Yes" && sql == "Yes" ? "streaming"
               : io == "Connecting"        ? "connecting"
                                           : "stopped";
  link.sync_state = "async";
  link.write_lsn = link.flush_lsn = pos.lsn;
  link.replay_lsn = pos.replay_lsn;
  link.sent_lsn = pos.lsn;
  link.lag_seconds = std::strtod(s["Seconds_Behind_Master"].c_str(), nullptr);
  // Received but not applied yet, within one binlog file of the primary's.
  if (s["Master_Log_File"] == s["Relay_Master_Log_File"]) {
    uint64_t read = std::strtoull(s["Read_Master_Log_Pos"].c_str(), nullptr, 10);
    uint64_t done = std::strtoull(s["Exec_Master_Log_Pos"].c_str(), nullptr, 10);
    link.lag_bytes = read > done ? read - done : 0;
  }
  for (const char* error : {"Last_IO_Error", "Last_SQL_Error"}) {
    if (!s[error].empty()) link.state += ": " + s[error];
  }
  pos.upstream = std::move(link);
  return pos;
}

Result<uint64_t> MariaLastPosition(const MariaInstance& member) {
  if (member.running()) {
    return Status::FailedPrecondition(fmt::format("'{}' still runs", member.name()));
  }
  ASSIGN_OR_RETURN(GtidPosition at, LastBinlogPosition(member));
  return SeqSum(at);
}

Result<uint64_t> MariaStopWrites(const MariaInstance& primary) {
  ASSIGN_OR_RETURN(MariaConnection conn, MariaConnection::Connect(primary.client()));
  // Setting it waits for the commits in progress; accounts without READ ONLY ADMIN (the
  // tenant's) write nothing after it.
  // Setting it waits for the commits in progress and for the tenant's table locks (LOCK
  // TABLES): 10 s at most, then the switchover is refused.
  RETURN_IF_ERROR(conn.Query("SET SESSION lock_wait_timeout = 10").status());
  RETURN_IF_ERROR(conn.Query("SET GLOBAL read_only = ON")
                      .status()
                      .WithContext(fmt::format("stop writes on '{}'", primary.name())));
  ASSIGN_OR_RETURN(std::string at, conn.QueryValue("SELECT @@gtid_binlog_pos"));
  return SeqSum(at);
}

Status MariaResumeWrites(const MariaInstance& primary) {
  ASSIGN_OR_RETURN(MariaConnection conn, MariaConnection::Connect(primary.client()));
  return conn.Query("SET GLOBAL read_only = OFF")
      .status()
      .WithContext(fmt::format("resume writes on '{}'", primary.name()));
}

Status MariaPromote(MariaInstance& standby, std::chrono::milliseconds timeout) {
  ASSIGN_OR_RETURN(MariaConnection conn, MariaConnection::Connect(standby.client()));
  ASSIGN_OR_RETURN(auto status, conn.QueryNamed("SHOW SLAVE STATUS"));
  if (!status.empty()) {
    // Nothing more is received; what was is applied before the primary's role is taken.
    RETURN_IF_ERROR(conn.Query("STOP SLAVE IO_THREAD").status());
    auto deadline = std::chrono::steady_clock::now() + timeout;
    while (true) {
      ASSIGN_OR_RETURN(auto now, conn.QueryNamed("SHOW SLAVE STATUS"));
      ASSIGN_OR_RETURN(std::string applied, conn.QueryValue("SELECT @@gtid_slave_pos"));
      std::string received = now.empty() ? applied : now[0]["Gtid_IO_Pos"];
      if (received.empty() || SeqSum(applied) >= SeqSum(received)) break;
      if (now[0]["Slave_SQL_Running"] != "Yes") {
        return Status::IoError(fmt::format("'{}' stopped applying what it received: {}",
                                           standby.name(), now[0]["Last_SQL_Error"]),
                               "see its mariadb.log");
      }
      if (std::chrono::steady_clock::now() > deadline) {
        return Status::IoError(fmt::format("'{}' did not apply what it received within {} ms",
                                           standby.name(), timeout.count()));
      }
      std::this_thread::sleep_for(std::chrono::milliseconds(20));
    }
    RETURN_IF_ERROR(conn.Query("STOP SLAVE").status());
    RETURN_IF_ERROR(conn.Query("RESET SLAVE ALL").status());
  }
  return standby.SetStandby(std::nullopt);
}

Result<std::string> MariaMissingOn(const MariaInstance& member, const MariaInstance& primary) {
  ASSIGN_OR_RETURN(GtidPosition own, LastBinlogPosition(member));
  // Every transaction it wrote must be in the primary's history: its last GTID of each
  // domain is in the primary's binlog state (the last of each domain and server) with at
  // least its sequence number.
  ASSIGN_OR_RETURN(MariaConnection conn, MariaConnection::Connect(primary.client()));
  ASSIGN_OR_RETURN(std::string state, conn.QueryValue("SELECT @@gtid_binlog_state"));
  std::map<std::pair<uint32_t, uint32_t>, uint64_t> newest;
  size_t at = 0;
  while (at <= state.size()) {
    size_t comma = std::min(state.find(',', at), state.size());
    if (auto g = ParseGtidPosition(state.substr(at, comma - at)); g.ok()) {
      for (const auto& [domain, gtid] : *g) newest[{gtid.domain, gtid.server}] = gtid.seq;
    }
    at = comma + 1;
  }
  for (const auto& [domain, gtid] : own) {
    auto it = newest.find({gtid.domain, gtid.server});
    if (it == newest.end() || it->second < gtid.seq) {
      return fmt::format("{}-{}-{}", gtid.domain, gtid.server, gtid.seq);
    }
  }
  return std::string();
}

Result<bool> MariaSourceLost(const MariaInstance& standby) {
  ASSIGN_OR_RETURN(MariaConnection conn, MariaConnection::Connect(standby.client()));
  ASSIGN_OR_RETURN(auto status, conn.QueryNamed("SHOW SLAVE STATUS"));
  // ER_MASTER_FATAL_ERROR_READING_BINLOG: the GTID position it asks for is purged.
  return !status.empty() && status[0]["Last_IO_Errno"] == "1236";
}

Status MariaRejoin(MariaInstance& member, const MariaInstance& primary) {
  if (member.running()) {
    return Status::FailedPrecondition(
        fmt::format("'{}' must be stopped before it rejoins", member.name()));
  }
  ASSIGN_OR_RETURN(GtidPosition own, LastBinlogPosition(member));
  ASSIGN_OR_RETURN(std::string lacking, MariaMissingOn(member, primary));
  if (!lacking.empty()) {
    return Status::FailedPrecondition(
        fmt::format("'{}' has transactions '{}' lacks (up to {}): it diverged", member.name(),
                    primary.name(), lacking),
        "it is made again from a backup (the service does so)");
  }
  // Started read_only (it is fenced), pointed at the primary from its own position; it
  // replicates from there on every start.
  RETURN_IF_ERROR(member.Start());
  Status pointed = MariaReplicateFrom(member, primary, FormatGtidPosition(own));
  WarnIfError(member.Stop(), "stop the rejoined member");
  RETURN_IF_ERROR(pointed);
  return member.Rejoined();
}

}  // namespace dbaas::engines
