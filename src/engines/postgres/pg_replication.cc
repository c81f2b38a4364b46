#include "engines/postgres/pg_replication.h"

#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <thread>

#include <fmt/format.h>
#include <spdlog/spdlog.h>

#include "base/files.h"
#include "base/names.h"
#include "engines/backup_files.h"
#include "engines/postgres/pg_backup.h"
#include "engines/postgres/pg_connection.h"
#include "engines/postgres/pg_pitr.h"
#include "engines/postgres/pg_wal_blocks.h"
#include "storage/wal_archive.h"

namespace dbaas::engines {
namespace {

// Copies and rewinds of a large database take a while; a hung one must still end.
constexpr auto kCopyTimeout = std::chrono::minutes(60);
// WAL a standby made from a backup replays whatever the data's size.
constexpr uint64_t kSeedWalFloor = uint64_t{1} << 30;

}  // namespace

StandbySpec StandbyOf(const PgInstance& primary, const std::string& member) {
  PgConnectionInfo c = primary.connection();
  return StandbySpec{c.port, SlotNameOf(member), c.host};
}

namespace {

// libpq's conninfo for the primary over TCP (the member's identity cannot reach another
// member's socket directory); the password goes in the tool's environment.
std::string PrimaryConninfo(const StandbySpec& spec) {
  return fmt::format("host={} port={} user=postgres dbname=postgres connect_timeout=5",
                     PgConninfoQuote(spec.primary_host), spec.primary_port);
}

Status Reload(const PgInstance& instance) {
  ASSIGN_OR_RETURN(PgConnection conn, ConnectOwn(instance));
  return conn.Query("select pg_reload_conf()")
      .status()
      .WithContext(fmt::format("reload the configuration of '{}'", instance.name()));
}

uint32_t TimelineOf(const std::string& walfile) {
  if (walfile.size() < 8) return 0;
  return static_cast<uint32_t>(std::strtoul(walfile.substr(0, 8).c_str(), nullptr, 16));
}

uint64_t ToU64(const std::string& text) {
  return text.empty() ? 0 : std::strtoull(text.c_str(), nullptr, 10);
}

}  // namespace

std::string SlotNameOf(const std::string& member) {
  std::string slot = member;
  for (char& c : slot) {
    if (c == '-') c = '_';
  }
  return slot;
}

Status PgEnsureSlot(const PgInstance& primary, const std::string& member) {
  RETURN_IF_ERROR(ValidateName("member name", member));
  ASSIGN_OR_RETURN(PgConnection conn, ConnectOwn(primary));
  return conn
      .QueryParams(
          "select pg_create_physical_replication_slot($1, true) where not exists "
          "(select 1 from pg_replication_slots where slot_name = $1)",
          {SlotNameOf(member)})
      .status()
      .WithContext(
          fmt::format("make the replication slot of '{}' on '{}'", member, primary.name()));
}

Status PgDropSlot(const PgInstance& primary, const std::string& member) {
  RETURN_IF_ERROR(ValidateName("member name", member));
  ASSIGN_OR_RETURN(PgConnection conn, ConnectOwn(primary));
  // A slot still in use (its standby streaming) cannot go: its walsender is ended first.
  RETURN_IF_ERROR(conn.QueryParams("select pg_terminate_backend(active_pid) from "
                                   "pg_replication_slots where slot_name = $1 and active_pid "
                                   "is not null",
                                   {SlotNameOf(member)})
                      .status()
                      .WithContext("end the walsender of the slot"));
  // The walsender takes a moment to end and release the slot.
  for (int attempt = 0; attempt < 50; ++attempt) {
    RETURN_IF_ERROR(conn.QueryParams("select pg_drop_replication_slot(slot_name) from "
                                     "pg_replication_slots where slot_name = $1 and not active",
                                     {SlotNameOf(member)})
                        .status()
                        .WithContext(fmt::format("drop the replication slot of '{}' on '{}'",
                                                 member, primary.name())));
    ASSIGN_OR_RETURN(auto left,
                     conn.QueryParams("select 1 from pg_replication_slots where slot_name = $1",
                                      {SlotNameOf(member)}));
    if (left.empty()) return Status::Ok();
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
  }
  return Status::Busy(
      fmt::format("the replication slot of '{}' on '{}' stays in use", member, primary.name()),
      "stop that member's server and try again");
}

Result<PgInstance> PgInstance::CreateStandby(const PgInstanceSpec& spec, const PgInstance& primary,
                                             const FillDataFn& seed) {
  if (!spec.standby) return Status::Internal("a standby's spec names no primary");
  PgInstanceSpec member = spec;
  member.superuser_access = primary.superuser_access_;
  return Make(member, primary.password_, {}, [&primary, &seed](PgInstance& inst) -> Status {
    // The same database, so the same logins: the tenant's too.
    if (!primary.tenant_password_.empty()) {
      RETURN_IF_ERROR(inst.SaveTenantPassword(primary.tenant_password_));
    }
    std::string data = inst.data_dir();
    if (seed) {
      RETURN_IF_ERROR(seed(data));
      if (::chmod(data.c_str(), 0700) != 0) return ErrnoStatus("chmod", data, errno);
      return inst.GiveToServer(data);
    }
    if (::mkdir(data.c_str(), 0700) != 0) return ErrnoStatus("mkdir", data, errno);
    RETURN_IF_ERROR(inst.GiveToServer(data));
    return inst.CopyFromPrimary();
  });
}

Result<PgInstance::FillDataFn> PgSeedFromBackup(const PgInstance& primary,
                                                const std::string& member,
                                                const storage::Repository& repo,
                                                const storage::Manifest& snapshot) {
  auto refuse = [&](const std::string& why) {
    return Status::FailedPrecondition(
        fmt::format("standby '{}' cannot start from backup {}: {}", member, snapshot.id, why));
  };
  BackupFacts facts = FromAnnotations(snapshot.annotations);
  const std::string& archive_id = primary.log_archive_id();
  if (archive_id.empty() || facts.wal_archive != archive_id) {
    return refuse(fmt::format("its WAL continues in archive '{}', the primary's is '{}'",
                              facts.wal_archive, archive_id));
  }
  RETURN_IF_ERROR(ParseLsn(facts.start_lsn).status());
  // Where the slot holds WAL from: the archive must reach it.
  std::string slot_start;
  {
    ASSIGN_OR_RETURN(PgConnection conn, ConnectOwn(primary));
    ASSIGN_OR_RETURN(slot_start,
                     conn.QueryValue(fmt::format("select coalesce(restart_lsn::text, '') from "
                                                 "pg_replication_slots where slot_name = '{}'",
                                                 SlotNameOf(member))));
  }
  if (slot_start.empty()) return refuse("its slot on the primary holds no WAL");
  ASSIGN_OR_RETURN(uint64_t slot_lsn, ParseLsn(slot_start));
  RETURN_IF_ERROR(PgArchiveNow(primary, std::chrono::seconds(60)));
  const std::string& repo_path = primary.archiving().repo_path;
  ASSIGN_OR_RETURN(ArchiveEnd end,
                   PgScanArchive(repo_path, archive_id, facts.start_lsn, primary.bin_dir()));
  ASSIGN_OR_RETURN(uint64_t reaches, ParseLsn(end.last_lsn));
  if (reaches < slot_lsn) {
    return refuse(fmt::format("the archive reaches {} without a gap, the slot starts at {}",
                              end.last_lsn, slot_start));
  }
  ASSIGN_OR_RETURN(storage::WalArchive archive, storage::WalArchive::Open(repo_path, archive_id));
  ASSIGN_OR_RETURN(std::optional<std::string> from,
                   PgArchivePositionOf(repo_path, archive_id, facts.start_lsn));
  ASSIGN_OR_RETURN(std::vector<storage::WalFileInfo> files, archive.List());
  std::vector<std::string> wal;
  uint64_t wal_bytes = 0;
  for (const storage::WalFileInfo& f : files) {
    using Kind = storage::WalFileName::Kind;
    bool segment = f.parsed.kind == Kind::kSegment && from && f.parsed.position >= *from;
    if (!segment && f.parsed.kind != Kind::kHistory) continue;
    if (segment) {
      ASSIGN_OR_RETURN(uint64_t raw, archive.RawSize(f.name));
      wal_bytes += raw;
    }
    wal.push_back(f.name);
  }
  // Replaying costs about what reading costs: past the data's size (and a floor under
  // which either is quick), copying the primary is cheaper.
  if (wal_bytes > std::max<uint64_t>(snapshot.stats.logical_bytes, kSeedWalFloor)) {
    return refuse(fmt::format("the {} MiB of WAL archived since outweigh its {} MiB of data",
                              wal_bytes >> 20, snapshot.stats.logical_bytes >> 20));
  }
  spdlog::info("standby '{}': from backup {} (start {}) and {} archived WAL files ({} MiB)", member,
               snapshot.id, facts.start_lsn, wal.size(), wal_bytes >> 20);
  return PgInstance::FillDataFn([&repo, &snapshot, archive = std::move(archive),
                                 wal = std::move(wal)](const std::string& data_dir) -> Status {
    RETURN_IF_ERROR(FillFromSnapshot(repo, snapshot, data_dir, nullptr));
    std::string pg_wal = JoinPath(data_dir, "pg_wal");
    RETURN_IF_ERROR(MakeDirs(JoinPath(pg_wal, "archive_status")));
    // Root writes here before the directory is the member's: OpenFile follows no link.
    for (const std::string& name : wal) {
      RETURN_IF_ERROR(archive.Fetch(name, JoinPath(pg_wal, name))
                          .WithContext(fmt::format("copy archived {} into the standby", name)));
    }
    return Status::Ok();
  });
}

Status PgInstance::CopyFromPrimary() {
  if (!standby_) return Status::Internal(fmt::format("'{}' is not a standby", name_));
  std::string data = data_dir();
  // An earlier copy's files go; the directory stays the identity's.
  RETURN_IF_ERROR(RemoveTree(data));
  if (::mkdir(data.c_str(), 0700) != 0) return ErrnoStatus("mkdir", data, errno);
  RETURN_IF_ERROR(GiveToServer(data));
  ProcessOptions copy;
  // As the member's identity: the files (and any tablespace a tenant with the superuser's
  // login made) land only where that identity may write.
  copy.argv = {JoinPath(bin_dir_, "pg_basebackup"),
               "--pgdata",
               data,
               "--dbname",
               PrimaryConninfo(*standby_),
               "--wal-method=stream",
               "--slot",
               standby_->slot,
               "--checkpoint=fast",
               "--no-password"};
  copy.env = {"PGPASSWORD=" + password_};
  copy.cwd = dir_;
  RETURN_IF_ERROR(CheckExit(RunTool(copy, kCopyTimeout), copy.argv[0])
                      .status()
                      .WithContext(fmt::format("copy the primary into standby '{}'", name_)));
  // The copy holds the primary's dbaas.conf (its port, its spool): this member's own.
  return WriteConfig();
}

Result<MemberPosition> PgPosition(const PgInstance& member) {
  ASSIGN_OR_RETURN(PgConnection conn, ConnectOwn(member));
  ASSIGN_OR_RETURN(
      auto rows,
      conn.Query(
          "select pg_is_in_recovery(), "
          // A walreceiver that (re)started reports the start of its segment as received:
          // what it replayed may be further.
          "case when pg_is_in_recovery() then "
          "greatest(coalesce(pg_last_wal_receive_lsn(), '0/0'), "
          "coalesce(pg_last_wal_replay_lsn(), '0/0'))::text "
          "else pg_current_wal_lsn()::text end, "
          "coalesce(pg_last_wal_replay_lsn()::text, ''), "
          "case when pg_is_in_recovery() then "
          "coalesce((select lpad(to_hex(received_tli), 8, '0') from pg_stat_wal_receiver "
          "where received_tli > 0), lpad(to_hex((pg_control_checkpoint()).timeline_id), 8, '0')) "
          "else pg_walfile_name(pg_current_wal_lsn()) end"));
  if (rows.size() != 1 || rows[0].size() != 4) {
    return Status::Internal(
        fmt::format("'{}': unexpected answer to the position query", member.name()));
  }
  MemberPosition pos;
  pos.standby = rows[0][0] == "t";
  pos.lsn = rows[0][1];
  pos.replay_lsn = rows[0][2];
  pos.timeline = TimelineOf(rows[0][3]);
  if (auto lsn = ParseLsn(pos.lsn); lsn.ok()) pos.lsn_value = lsn.value();
  if (pos.standby) return pos;
  ASSIGN_OR_RETURN(
      auto links,
      conn.Query("select application_name, coalesce(state, ''), coalesce(sync_state, ''), "
                 "coalesce(sent_lsn::text, ''), coalesce(write_lsn::text, ''), "
                 "coalesce(flush_lsn::text, ''), coalesce(replay_lsn::text, ''), "
                 "coalesce(pg_wal_lsn_diff(pg_current_wal_lsn(), replay_lsn), 0)::bigint, "
                 "coalesce(extract(epoch from replay_lag), 0) "
                 "from pg_stat_replication order by application_name"));
  for (const auto& r : links) {
    if (r.size() != 9) continue;
    ReplicaLink link{
        r[0], r[1], r[2], r[3], r[4], r[5], r[6], ToU64(r[7]), std::strtod(r[8].c_str(), nullptr)};
    pos.replicas.push_back(std::move(link));
  }
  return pos;
}

Result<uint64_t> PgCleanShutdownLsn(const PgInstance& member) {
  if (member.running()) {
    return Status::FailedPrecondition(fmt::format("'{}' still runs", member.name()));
  }
  ProcessOptions control;
  // As the member's identity: pg_control is a file its server writes.
  control.argv = {JoinPath(member.bin_dir(), "pg_controldata"), "-D", member.data_dir()};
  control.env = {"LC_ALL=C"};
  control.cwd = member.dir();
  ASSIGN_OR_RETURN(std::string out,
                   CheckExit(member.RunTool(control, std::chrono::seconds(30)), control.argv[0]));
  auto field = [&](std::string_view name) -> std::string {
    auto at = out.find(name);
    if (at == std::string::npos) return "";
    auto begin = out.find_first_not_of(' ', at + name.size());
    auto end = out.find('\n', begin);
    return begin == std::string::npos ? "" : out.substr(begin, end - begin);
  };
  std::string state = field("Database cluster state:");
  if (state != "shut down") {
    return Status::FailedPrecondition(
        fmt::format("'{}' did not shut down cleanly (its state: '{}')", member.name(), state));
  }
  return ParseLsn(field("Latest checkpoint location:"));
}

Status PgPromote(PgInstance& standby, std::chrono::milliseconds timeout) {
  ASSIGN_OR_RETURN(PgConnection conn, ConnectOwn(standby));
  ASSIGN_OR_RETURN(std::string in_recovery, conn.QueryValue("select pg_is_in_recovery()"));
  if (in_recovery == "t") {
    int seconds = std::max<int>(1, static_cast<int>(timeout.count() / 1000));
    ASSIGN_OR_RETURN(std::string promoted,
                     conn.QueryValue(fmt::format("select pg_promote(true, {})", seconds)));
    if (promoted != "t") {
      return Status::IoError(
          fmt::format("'{}' did not finish its promotion within {} s", standby.name(), seconds),
          "see its postgres.log");
    }
  }
  // Its control file names the new timeline only after a checkpoint, and pg_rewind reads
  // the timeline from there: without one, a rewind against it finds "no rewind required"
  // and the old primary stays diverged.
  RETURN_IF_ERROR(
      conn.Query("checkpoint")
          .status()
          .WithContext(fmt::format("checkpoint '{}' after its promotion", standby.name())));
  // Its next start must not go back to following the old primary.
  return standby.SetStandby(std::nullopt);
}

Status PgFollow(PgInstance& member, const PgInstance& primary) {
  RETURN_IF_ERROR(PgEnsureSlot(primary, member.name()));
  StandbySpec spec = StandbyOf(primary, member.name());
  RETURN_IF_ERROR(member.SetStandby(spec));
  // primary_conninfo and primary_slot_name take effect on reload (PostgreSQL 13 and later):
  // the walreceiver reconnects to the new primary.
  return member.running() ? Reload(member) : Status::Ok();
}

Status PgRejoin(PgInstance& member, const PgInstance& primary) {
  if (member.running()) {
    return Status::FailedPrecondition(
        fmt::format("'{}' must be stopped before it rejoins", member.name()));
  }
  RETURN_IF_ERROR(PgEnsureSlot(primary, member.name()));
  {
    // pg_rewind reads the source's timeline from its control file (see PgPromote).
    ASSIGN_OR_RETURN(PgConnection conn, ConnectOwn(primary));
    RETURN_IF_ERROR(conn.Query("checkpoint")
                        .status()
                        .WithContext(fmt::format("checkpoint '{}' before a rewind against it",
                                                 primary.name())));
  }
  StandbySpec spec = StandbyOf(primary, member.name());
  // Fenced from here on whatever happens next: it starts only as a standby.
  RETURN_IF_ERROR(member.Fence(spec));
  // pg_rewind recovers a target that was not shut down cleanly in single-user mode first,
  // which refuses a standby.signal: the signal is written again with the configuration.
  std::string signal = JoinPath(member.data_dir(), "standby.signal");
  if (::unlink(signal.c_str()) != 0 && errno != ENOENT) return ErrnoStatus("unlink", signal, errno);
  ProcessOptions rewind;
  rewind.argv = {JoinPath(member.bin_dir(), "pg_rewind"), "--target-pgdata", member.data_dir(),
                 "--source-server", PrimaryConninfo(spec)};
  rewind.env = {"PGPASSWORD=" + member.connection().password};
  rewind.cwd = member.dir();
  Status rewound = CheckExit(member.RunTool(rewind, kCopyTimeout), rewind.argv[0]).status();
  if (rewound.ok()) {
    // pg_rewind copied the source's configuration files over the member's: Rejoined()
    // writes the member's own again.
    spdlog::info("'{}' rewound to follow '{}'", member.name(), primary.name());
  } else {
    spdlog::warn("'{}' cannot be rewound ({}); copying '{}' again", member.name(),
                 rewound.message(), primary.name());
    RETURN_IF_ERROR(member.CopyFromPrimary());
  }
  return member.Rejoined();
}

Status PgSetSynchronous(PgInstance& primary, std::vector<std::string> members) {
  RETURN_IF_ERROR(primary.SetSynchronousStandbys(std::move(members)));
  return primary.running() ? Reload(primary) : Status::Ok();
}

}  // namespace dbaas::engines
