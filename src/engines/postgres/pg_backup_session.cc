#include "engines/postgres/pg_backup_session.h"

#include <charconv>
#include <string_view>

#include <fmt/format.h>
#include <spdlog/spdlog.h>

#include "base/hex.h"

namespace dbaas::engines {
namespace {

// `show wal_segment_size` ("16MB"): a power of two from 1 MiB to 1 GiB, as initdb allows;
// anything else is refused rather than divided by.
Result<uint64_t> ParseSegmentSize(const std::string& text) {
  uint64_t mb = 0;
  auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), mb);
  std::string_view unit(end, text.data() + text.size() - end);
  uint64_t bytes = unit == "MB" ? mb << 20 : unit == "GB" ? mb << 30 : 0;
  if (ec != std::errc() || bytes < (1u << 20) || bytes > (1u << 30) || (bytes & (bytes - 1))) {
    return Status::Internal(fmt::format("the server reports a WAL segment size of '{}'", text));
  }
  return bytes;
}

}  // namespace

Result<PgBackupSession> PgBackupSession::Begin(const PgInstance& instance,
                                               const std::string& label) {
  // Whoever started the server (this process or an earlier one), it must accept us.
  auto connected = PgConnection::ConnectOwn(instance.connection().SocketConninfo());
  if (!connected.ok()) {
    return Status::FailedPrecondition(fmt::format("instance '{}' is not accepting connections: {}",
                                                  instance.name(), connected.status().message()),
                                      "start it before backing it up");
  }
  PgBackupSession s(std::move(connected.value()), instance.name());
  PgConnection& conn = s.conn_;
  // A tenant with the superuser's login can give it a search_path that finds its own
  // pg_settings or pg_backup_start first: this session names only the system's.
  // Nor end it early: backup mode may be held idle (a volume backup) for as long as the
  // caller's lease, whatever timeouts the role was given.
  RETURN_IF_ERROR(conn.Query("set search_path = pg_catalog; set idle_session_timeout = 0; "
                             "set statement_timeout = 0")
                      .status()
                      .WithContext("backup session"));
  PgBackupBegun& b = s.begun_;
  ASSIGN_OR_RETURN(b.server_version, conn.QueryValue("show server_version_num"));
  ASSIGN_OR_RETURN(b.system_identifier,
                   conn.QueryValue("select system_identifier from pg_control_system()"));
  ASSIGN_OR_RETURN(std::string seg_size_text, conn.QueryValue("show wal_segment_size"));
  ASSIGN_OR_RETURN(b.segment_size, ParseSegmentSize(seg_size_text));
  // The slot keeps every WAL segment from now on until this session ends, so the segments
  // between start and stop are still there when they are copied.
  std::string slot = "dbaas_backup_" + RandomHex(6);
  RETURN_IF_ERROR(
      conn.QueryParams("select pg_create_physical_replication_slot($1, true, true)", {slot})
          .status()
          .WithContext("reserve WAL"));
  ASSIGN_OR_RETURN(auto start_rows, conn.QueryParams("select pg_backup_start($1, true)", {label}));
  s.started_ = std::chrono::steady_clock::now();
  s.in_backup_mode_ = true;
  b.start_lsn = start_rows.at(0).at(0);
  ASSIGN_OR_RETURN(std::string tli,
                   conn.QueryValue("select timeline_id from pg_control_checkpoint()"));
  uint32_t timeline = 0;
  auto [end, ec] = std::from_chars(tli.data(), tli.data() + tli.size(), timeline);
  if (ec != std::errc() || end != tli.data() + tli.size() || timeline == 0) {
    return Status::Internal(fmt::format("the server reports timeline '{}'", tli));
  }
  b.timeline = timeline;
  return s;
}

Result<PgBackupEnded> PgBackupSession::End() {
  if (!in_backup_mode_) {
    return Status::FailedPrecondition(
        fmt::format("instance '{}' is not in backup mode for this session", instance_));
  }
  // Not waiting for the archive (a failing archive must not hang backups): the session's
  // slot holds the WAL the copy needs until the session is destroyed.
  auto rows = conn_.Query("select lsn, labelfile, spcmapfile from pg_backup_stop(false)");
  in_backup_mode_ = false;  // ended, or the session is unusable: either way not any more
  if (!rows.ok()) return rows.status().WithContext("pg_backup_stop");
  PgBackupEnded e;
  e.seconds_in_backup_mode =
      std::chrono::duration<double>(std::chrono::steady_clock::now() - started_).count();
  e.stop_time_unix_us = std::chrono::duration_cast<std::chrono::microseconds>(
                            std::chrono::system_clock::now().time_since_epoch())
                            .count();
  e.stop_lsn = rows->at(0).at(0);
  e.backup_label = rows->at(0).at(1);
  e.tablespace_map = rows->at(0).at(2);
  return e;
}

void PgBackupSession::Abort(const std::string& why) {
  if (!in_backup_mode_) return;
  in_backup_mode_ = false;
  spdlog::warn("instance '{}': leaving backup mode without a backup: {}", instance_, why);
  // The session would end it on disconnect too; say so explicitly.
  auto stopped = conn_.Query("select pg_backup_stop(false)");
  if (!stopped.ok()) {
    spdlog::warn("instance '{}': pg_backup_stop: {}", instance_, stopped.status().ToString());
  }
}

PgBackupSession::PgBackupSession(PgBackupSession&& other) noexcept
    : conn_(std::move(other.conn_)),
      instance_(std::move(other.instance_)),
      begun_(std::move(other.begun_)),
      in_backup_mode_(std::exchange(other.in_backup_mode_, false)),
      started_(other.started_) {}

PgBackupSession::~PgBackupSession() {
  if (in_backup_mode_) Abort("the backup was abandoned");
}

}  // namespace dbaas::engines
