#include "engines/postgres/pg_instance.h"

#include <libpq-fe.h>
#include <signal.h>
#include <sys/stat.h>
#include <unistd.h>

#include <fmt/format.h>
#include <spdlog/spdlog.h>
#include <nlohmann/json.hpp>

#include "base/files.h"
#include "base/hex.h"
#include "base/log.h"
#include "base/names.h"
#include "engines/log_spool.h"
#include "engines/postgres/pg_connection.h"
#include "engines/postgres/pg_settings.h"
#include "engines/postgres/pg_wal_summary.h"
#include "storage/wal_archive.h"

namespace dbaas::engines {
namespace {

using nlohmann::json;
using std::chrono::milliseconds;

const std::map<std::string, std::string>& DefaultConfig() {
  static const std::map<std::string, std::string> kDefaults = {
      {"max_connections", "200"},
      {"shared_buffers", "128MB"},
      {"effective_cache_size", "512MB"},
      {"maintenance_work_mem", "64MB"},
      {"checkpoint_completion_target", "0.9"},
      {"wal_buffers", "16MB"},
      // An idle instance still ships its last writes within a minute.
      {"archive_timeout", "60s"},
  };
  return kDefaults;
}

// pg_hba.conf of a server reached from other hosts (a test host's, a pod's): initdb's
// rules, plus the same for `clients` (runtime::Placement: "samenet" or "all"), where its
// peers, the daemon and clients are. Passwords (SCRAM) everywhere, as initdb's.
std::string HostHba(const std::string& clients) {
  return fmt::format(
      "# Written by dbaas for a server reached from other hosts.\n"
      "local all all scram-sha-256\n"
      "host all all 127.0.0.1/32 scram-sha-256\n"
      "host all all {0} scram-sha-256\n"
      "local replication all scram-sha-256\n"
      "host replication all 127.0.0.1/32 scram-sha-256\n"
      "host replication all {0} scram-sha-256\n",
      clients);
}

}  // namespace

namespace {

std::string QuoteConfValue(const std::string& value) {
  std::string out = "'";
  for (char c : value) {
    if (c == '\'' || c == '\\') out += c;  // PostgreSQL doubles quotes and backslashes
    out += c;
  }
  return out + "'";
}

}  // namespace

namespace {

Status CheckPlainPath(const char* what, const std::string& path) {
  bool plain = !path.empty() && path[0] == '/';
  for (char c : path) {
    plain &= (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
             c == '/' || c == '.' || c == '_' || c == '-' || c == '+';
  }
  if (plain) return Status::Ok();
  return Status::InvalidArgument(fmt::format("{} '{}' cannot go into archive_command", what, path),
                                 "use an absolute path of letters, digits and / . _ - + only");
}

}  // namespace

Status ValidateArchivingPaths(const LogArchiving& archiving) {
  // Into a spool only, no repository path goes into a command.
  if (!archiving.repo_path.empty() || archiving.spool_archive_id.empty()) {
    RETURN_IF_ERROR(CheckPlainPath("repository path", archiving.repo_path));
  }
  return CheckPlainPath("dbaas binary", archiving.dbaas_binary);
}

std::string PgConnectionInfo::Uri(bool with_password) const {
  ConnectionInfo c{"postgresql", host, port, "", user, password, database};
  return c.Uri(with_password);
}

std::string PgConnectionInfo::SocketConninfo() const {
  return fmt::format("host={} port={} user={} password={} dbname={} connect_timeout=5", socket_dir,
                     port, user, password, database);
}

Result<std::string> FindPgBinDir() {
  ProcessOptions o;
  o.argv = {"pg_config", "--bindir"};
  auto out = RunChecked(o, std::chrono::seconds(10));
  if (out.ok()) {
    std::string dir = out.value();
    while (!dir.empty() && (dir.back() == '\n' || dir.back() == ' ')) dir.pop_back();
    // Debian's pg_config may name the client-only /usr/bin; we need the server binaries.
    if (PathExists(JoinPath(dir, "postgres")) && PathExists(JoinPath(dir, "initdb"))) return dir;
  }
  const std::string kDebian = "/usr/lib/postgresql/15/bin";
  if (PathExists(JoinPath(kDebian, "postgres"))) return kDebian;
  return Status::NotFound("PostgreSQL 15 server binaries not found",
                          "apt-get install postgresql-15");
}

std::string PgInstance::data_dir() const { return JoinPath(dir_, "data"); }

PgConnectionInfo PgInstance::connection() const {
  PgConnectionInfo c;
  c.host = placement().address;
  c.port = port_;
  c.socket_dir = JoinPath(dir_, "run");
  c.password = password_;
  return c;
}

ConnectionInfo PgInstance::endpoint() const {
  PgConnectionInfo c = connection();
  return ConnectionInfo{
      "postgresql", c.host,     c.port,    fmt::format("{}/.s.PGSQL.{}", c.socket_dir, c.port),
      c.user,       c.password, c.database};
}

Result<PgInstance> PgInstance::Make(const PgInstanceSpec& spec, const std::string& password,
                                    const std::map<std::string, std::string>& recovery,
                                    const std::function<Status(PgInstance&)>& fill) {
  RETURN_IF_ERROR(ValidateName("instance name", spec.name));
  RETURN_IF_ERROR(ValidatePgSettings(spec.config));
  if (spec.archiving.on()) {
    RETURN_IF_ERROR(ValidateArchivingPaths(spec.archiving));
    RETURN_IF_ERROR(CheckPlainPath("data root", spec.data_root));
  }
  PgInstance inst;
  inst.name_ = spec.name;
  inst.dir_ = JoinPath(spec.data_root, spec.name);
  if (spec.bin_dir.empty()) {
    ASSIGN_OR_RETURN(inst.bin_dir_, FindPgBinDir());
  } else {
    inst.bin_dir_ = spec.bin_dir;
  }
  if (spec.port != 0) {
    inst.port_ = spec.port;
  } else {
    ASSIGN_OR_RETURN(inst.port_, (spec.runtime ? *spec.runtime : runtime::Local()).AllocatePort());
  }
  inst.config_ = spec.config;
  inst.password_ = password;
  inst.superuser_access_ = spec.superuser_access;
  inst.recovery_ = recovery;
  inst.archiving_ = spec.archiving;
  inst.standby_ = spec.standby;
  if (spec.archiving.on()) {
    // Into a spool only, the archive is the daemon's to make (and remove).
    inst.joined_archive_ =
        !spec.archiving.join_archive_id.empty() || !spec.archiving.spool_archive_id.empty();
    inst.archive_id_ = !spec.archiving.spool_archive_id.empty() ? spec.archiving.spool_archive_id
                       : inst.joined_archive_                   ? spec.archiving.join_archive_id
                                                                : spec.name + "." + RandomHex(4);
    RETURN_IF_ERROR(storage::ValidateArchiveId(inst.archive_id_));
  }
  // On another host only where its peers can reach it: a standby of a primary on the
  // daemon's loopback stays there too.
  const bool any_host = !spec.standby || spec.standby->primary_host != "127.0.0.1";
  RETURN_IF_ERROR(inst.Provision(spec.runtime, any_host));
  // From here on a failure removes what was made: no half instance stays behind.
  auto made = [&]() -> Status {
    RETURN_IF_ERROR(WriteFileAtomic(JoinPath(inst.dir_, "password"), inst.password_ + "\n", 0600));
    std::string run = JoinPath(inst.dir_, "run");
    if (::mkdir(run.c_str(), 0700) != 0) return ErrnoStatus("mkdir", run, errno);
    RETURN_IF_ERROR(inst.GiveToServer(run));
    if (!inst.archive_id_.empty()) {
      if (!inst.joined_archive_) {
        RETURN_IF_ERROR(storage::WalArchive::Create(inst.archiving_.repo_path, inst.archive_id_));
      }
      RETURN_IF_ERROR(inst.MakeSpool());
    }
    RETURN_IF_ERROR(fill(inst));
    RETURN_IF_ERROR(inst.WriteConfig());
    return inst.WriteMeta();
  }();
  if (!made.ok()) {
    inst.Unprovision();
    if (!inst.archive_id_.empty() && !inst.joined_archive_) {
      WarnIfError(storage::WalArchive::Remove(inst.archiving_.repo_path, inst.archive_id_),
                  "remove the archive of the instance that could not be made");
    }
    return made.WithContext(fmt::format("create instance '{}'", spec.name));
  }
  return inst;
}

Result<PgInstance> PgInstance::Create(const PgInstanceSpec& spec) {
  return Make(spec, RandomHex(24), {}, [](PgInstance& inst) -> Status {
    // initdb reads the password from a file the server's user can read; removed after.
    std::string pwfile = JoinPath(JoinPath(inst.dir_, "run"), "initdb-password");
    RETURN_IF_ERROR(WriteFileAtomic(pwfile, inst.password_ + "\n", 0600));
    RETURN_IF_ERROR(inst.GiveToServer(pwfile));
    std::string data = inst.data_dir();
    if (::mkdir(data.c_str(), 0700) != 0) return ErrnoStatus("mkdir", data, errno);
    RETURN_IF_ERROR(inst.GiveToServer(data));
    ProcessOptions initdb;
    initdb.argv = {JoinPath(inst.bin_dir_, "initdb"),
                   "-D",
                   data,
                   "--data-checksums",
                   "-U",
                   "postgres",
                   "--pwfile",
                   pwfile,
                   "--auth-local=scram-sha-256",
                   "--auth-host=scram-sha-256",
                   "-E",
                   "UTF8",
                   "--locale=C.UTF-8"};
    initdb.cwd = inst.dir_;
    Status st = CheckExit(inst.RunTool(initdb, std::chrono::minutes(5)), initdb.argv[0]).status();
    ::unlink(pwfile.c_str());
    RETURN_IF_ERROR(st.WithContext("initdb"));
    return inst.MakeTenantLogin();
  });
}

Status PgInstance::MakeTenantLogin() {
  std::string password = RandomHex(24);
  // The database's owner may create schemas, tables and trusted extensions in it, and
  // checkpoint its own server; nothing beyond: no superuser, no role of the server's
  // programs or files.
  std::string sql = fmt::format(
      "CREATE ROLE app LOGIN PASSWORD '{}'\n"  // hex: nothing to quote
      "CREATE DATABASE app OWNER app\n"
      "GRANT pg_checkpoint TO app\n"
      "REVOKE CONNECT ON DATABASE postgres FROM PUBLIC\n",
      password);
  std::string sql_file = JoinPath(dir_, "tenant-login.sql");  // ours alone; we open it
  RETURN_IF_ERROR(WriteFileAtomic(sql_file, sql, 0600));
  ProcessOptions single;
  // Single-user mode: one statement per line, no listener; statements that fail are not
  // logged (the password is in one).
  single.argv = {JoinPath(bin_dir_, "postgres"),  "--single", "-D", data_dir(), "-c",
                 "log_min_error_statement=panic", "postgres"};
  single.cwd = dir_;
  single.input_path = sql_file;
  auto ran = RunTool(single, std::chrono::minutes(2));
  ::unlink(sql_file.c_str());
  if (!ran.ok()) return ran.status().WithContext("make the tenant login");
  if (ran->exit_code != 0 || ran->output.find("ERROR:") != std::string::npos) {
    std::string out = ran->output.substr(0, 2000);
    if (auto at = out.find(password); at != std::string::npos)
      out.replace(at, password.size(), "***");
    return Status::IoError(
        fmt::format("making the tenant login failed (exit {}): {}", ran->exit_code, out));
  }
  return SaveTenantPassword(password);
}

Status PgInstance::RenewTenantLogin(PgConnection& conn) {
  ASSIGN_OR_RETURN(std::string roles,
                   conn.QueryValue("select count(*) from pg_roles where rolname = 'app'"));
  if (roles != "1") return Status::Ok();  // a copy of an instance without a tenant login
  std::string password = RandomHex(24);
  // Hex: nothing in it needs quoting in SQL.
  RETURN_IF_ERROR(conn.Query("alter role app password '" + password + "'").status());
  return SaveTenantPassword(password);
}

Result<PgInstance> PgInstance::CreateFrom(const PgInstanceSpec& spec, const std::string& password,
                                          const FillDataFn& fill,
                                          const std::map<std::string, std::string>& recovery,
                                          const CheckDataFn& check) {
  return Make(spec, password, recovery, [&fill, &check](PgInstance& inst) -> Status {
    std::string data = inst.data_dir();
    RETURN_IF_ERROR(fill(data));
    if (::chmod(data.c_str(), 0700) != 0) return ErrnoStatus("chmod", data, errno);
    RETURN_IF_ERROR(inst.GiveToServer(data));
    return check ? check(data, inst) : Status::Ok();
  });
}

Status PgInstance::WriteMeta() const {
  json meta = {{"name", name_},
               {"type", "postgresql"},
               {"port", port_},
               {"bin_dir", bin_dir_},
               {"config", config_}};
  if (server_user()) meta["os_user"] = server_user()->name;
  meta["superuser_access"] = superuser_access_;
  if (!archive_id_.empty()) {
    meta["wal_archive"] = {
        {"repo", archiving_.repo_path}, {"id", archive_id_}, {"dbaas", archiving_.dbaas_binary}};
  }
  if (standby_) {
    meta["standby"] = {{"primary_port", standby_->primary_port},
                       {"primary_host", standby_->primary_host},
                       {"slot", standby_->slot},
                       {"needs_rejoin", needs_rejoin_}};
  }
  if (!sync_standbys_.empty()) meta["synchronous_standbys"] = sync_standbys_;
  return WriteFileAtomic(JoinPath(dir_, "instance.json"), meta.dump(2) + "\n", 0600);
}

Status PgInstance::WriteConfig() const {
  std::map<std::string, std::string> settings = DefaultConfig();
  for (const auto& [k, v] : config_) settings[k] = v;
  std::string conf = "# Written by dbaas; edit instance settings through dbaas.\n";
  conf += fmt::format("listen_addresses = {}\n", QuoteConfValue(placement().address));
  if (!placement().clients.empty()) {
    // On a host of its own the other members, the daemon and clients connect from other
    // addresses than 127.0.0.1: initdb's pg_hba.conf would refuse them.
    std::string hba = JoinPath(dir_, "pg_hba.conf");
    RETURN_IF_ERROR(WriteFileAtomic(hba, HostHba(placement().clients), 0644));
    conf += fmt::format("hba_file = {}\n", QuoteConfValue(hba));
  }
  conf += fmt::format("port = {}\n", port_);
  conf += fmt::format("unix_socket_directories = {}\n", QuoteConfValue(JoinPath(dir_, "run")));
  conf += "password_encryption = 'scram-sha-256'\n";
  for (const auto& [k, v] : settings) conf += fmt::format("{} = {}\n", k, QuoteConfValue(v));
  if (!archive_id_.empty()) {
    // PostgreSQL runs it through the shell: every part is a checked plain path or name.
    std::string command = fmt::format("{} wal-push --spool {} --status-file {} %p %f",
                                      archiving_.dbaas_binary, SpoolDir(), WalPushStatusPath());
    conf += "archive_mode = 'on'\n";
    conf += fmt::format("archive_command = {}\n", QuoteConfValue(command));
  }
  for (const auto& [k, v] : recovery_) conf += fmt::format("{} = {}\n", k, QuoteConfValue(v));
  conf += ReplicationConfig();
  std::string data = data_dir();
  RETURN_IF_ERROR(SyncStandbySignal());
  std::string dbaas_conf = JoinPath(data, "dbaas.conf");
  RETURN_IF_ERROR(WriteFileAtomic(dbaas_conf, conf, 0600));
  RETURN_IF_ERROR(GiveToServer(dbaas_conf));
  std::string main_conf = JoinPath(data, "postgresql.conf");
  auto read = ReadFileToString(main_conf);
  if (!read.ok() && read.status().code() != StatusCode::kInvalidArgument) return read.status();
  std::string text = read.value_or("");
  if (!read.ok()) {
    // A link or FIFO the server's user planted (base/files.h): replaced, never followed.
    spdlog::warn("instance {}: {}; writing a new postgresql.conf", name_, read.status().ToString());
  }
  if (!read.ok() || text.find("\ninclude = 'dbaas.conf'") == std::string::npos) {
    text += "\ninclude = 'dbaas.conf'\n";
    RETURN_IF_ERROR(WriteFileAtomic(main_conf, text, 0600));
    RETURN_IF_ERROR(GiveToServer(main_conf));
  }
  return Status::Ok();
}

Result<PgInstance> PgInstance::Open(const std::string& data_root, const std::string& name,
                                    runtime::Runtime* rt) {
  RETURN_IF_ERROR(ValidateName("instance name", name));
  PgInstance inst;
  inst.name_ = name;
  inst.dir_ = JoinPath(data_root, name);
  auto text = ReadFileToString(JoinPath(inst.dir_, "instance.json"));
  if (!text.ok()) {
    if (text.status().code() == StatusCode::kNotFound) {
      return Status::NotFound(fmt::format("instance '{}' not found", name));
    }
    return text.status();
  }
  json meta = json::parse(text.value(), nullptr, false);
  std::string os_user;
  try {
    inst.port_ = meta.at("port").get<uint16_t>();
    inst.bin_dir_ = meta.at("bin_dir").get<std::string>();
    inst.config_ = meta.at("config").get<std::map<std::string, std::string>>();
    if (meta.contains("wal_archive")) {
      const json& a = meta.at("wal_archive");
      inst.archiving_.repo_path = a.at("repo").get<std::string>();
      inst.archiving_.dbaas_binary = a.at("dbaas").get<std::string>();
      inst.archive_id_ = a.at("id").get<std::string>();
      if (inst.archiving_.repo_path.empty()) inst.archiving_.spool_archive_id = inst.archive_id_;
    }
    if (meta.contains("standby")) {
      const json& sb = meta.at("standby");
      inst.standby_ =
          StandbySpec{sb.at("primary_port").get<uint16_t>(), sb.at("slot").get<std::string>(),
                      sb.value("primary_host", std::string("127.0.0.1"))};
      inst.needs_rejoin_ = sb.value("needs_rejoin", false);
    }
    inst.sync_standbys_ = meta.value("synchronous_standbys", std::vector<std::string>{});
    os_user = meta.value("os_user", "");
    inst.superuser_access_ = meta.value("superuser_access", false);
  } catch (const json::exception& e) {
    return Status::Corruption(fmt::format("instance '{}': instance.json: {}", name, e.what()));
  }
  ASSIGN_OR_RETURN(std::string password, ReadFileToString(JoinPath(inst.dir_, "password")));
  while (!password.empty() && password.back() == '\n') password.pop_back();
  inst.password_ = password;
  RETURN_IF_ERROR(inst.LoadTenantPassword());
  std::vector<std::string> owned = {inst.data_dir(), JoinPath(inst.dir_, "run")};
  if (!inst.archive_id_.empty()) owned.push_back(inst.SpoolDir());
  ASSIGN_OR_RETURN(bool moved, inst.Locate(rt, os_user, "postgres", owned));
  if (moved) RETURN_IF_ERROR(inst.WriteMeta());
  if (!inst.placement().clients.empty()) {
    // Reached at the address its placement gives, which can change (a pod rescheduled gets
    // another IP): the server listens where it is now.
    RETURN_IF_ERROR(inst.WriteConfig());
  }
  if (!inst.archive_id_.empty() && !PathExists(inst.SpoolDir())) {
    // Made before spools: its server's user wrote the archive itself (dbaasd's start has
    // made the archive root's: Repository::RestrictAccess). It archives into a spool from
    // its next start.
    RETURN_IF_ERROR(inst.MakeSpool());
    RETURN_IF_ERROR(inst.WriteConfig());
    spdlog::info("instance {}: archives its WAL through the spool {}", name, inst.SpoolDir());
  }
  return inst;
}

PgInstance::PgInstance(PgInstance&&) noexcept = default;
PgInstance& PgInstance::operator=(PgInstance&&) noexcept = default;
PgInstance::~PgInstance() = default;

std::string PgInstance::WalPushStatusPath() const {
  return JoinPath(JoinPath(dir_, "run"), "wal-push.status");
}

std::string PgInstance::SpoolDir() const { return JoinPath(dir_, "wal-spool." + archive_id_); }

Status PgInstance::MakeSpool() const {
  std::string spool = SpoolDir();
  if (Status made = MakeDir(spool, 0700); !made.ok() && made.code() != StatusCode::kAlreadyExists) {
    return made;
  }
  return GiveToServer(spool);
}

std::optional<LogSpool> PgInstance::log_spool() const {
  if (archive_id_.empty()) return std::nullopt;
  LogSpool spool;
  spool.instance = name_;
  spool.dir = SpoolDir();
  spool.repo_path = archiving_.repo_path;
  spool.archive_id = archive_id_;
  spool.status_path = SpoolDir() + ".status";
  spool.push_status_path = WalPushStatusPath();
  spool.summarize = SummarizeBeforeStoredSegment;
  return spool;
}

Status PgInstance::BeforeRemoval() {
  auto spool = log_spool();
  // A spool drained by the daemon through the pod's agent: the daemon drains it first.
  if (!spool || spool->repo_path.empty()) return Status::Ok();
  // What the server archived as it stopped is in the spool only: into the repository
  // before the directory goes (a restore to latest after the delete loses nothing).
  auto drained = DrainLogSpool(*spool);
  if (drained.ok() || drained.status().code() == StatusCode::kNotFound) return Status::Ok();
  return Status(drained.status().code(),
                fmt::format("instance '{}' keeps WAL that is not in the repository yet: {}", name_,
                            drained.status().message()),
                "make the repository writable (free space) and delete it again");
}

std::string PgInstance::ReplicationConfig() const {
  std::string conf;
  if (standby_) {
    // The superuser's password is the same on every member: they are copies of one
    // database. application_name names the member in the primary's pg_stat_replication
    // and synchronous_standby_names.
    std::string conninfo = fmt::format(
        "host={} port={} user=postgres password={} application_name={} connect_timeout=2",
        PgConninfoQuote(standby_->primary_host), standby_->primary_port, PgConninfoQuote(password_),
        PgConninfoQuote(name_));
    conf += fmt::format("primary_conninfo = {}\n", QuoteConfValue(conninfo));
    conf += fmt::format("primary_slot_name = {}\n", QuoteConfValue(standby_->slot));
    conf += "recovery_target_timeline = 'latest'\n";
    conf += "hot_standby = 'on'\n";
  }
  // A standby ignores it; written there too so that it holds from a promotion's first
  // commit on.
  if (!sync_standbys_.empty()) {
    std::string names;
    for (const auto& m : sync_standbys_) names += (names.empty() ? "\"" : ", \"") + m + "\"";
    conf += fmt::format("synchronous_standby_names = {}\n",
                        QuoteConfValue(fmt::format("ANY 1 ({})", names)));
  }
  return conf;
}

Status PgInstance::SyncStandbySignal() const {
  std::string signal = JoinPath(data_dir(), "standby.signal");
  if (!standby_) {
    if (::unlink(signal.c_str()) != 0 && errno != ENOENT) {
      return ErrnoStatus("unlink", signal, errno);
    }
    return Status::Ok();
  }
  RETURN_IF_ERROR(WriteFileAtomic(signal, "", 0600));
  return GiveToServer(signal);
}

Status PgInstance::SetStandby(std::optional<StandbySpec> standby) {
  standby_ = std::move(standby);
  if (!standby_) needs_rejoin_ = false;
  RETURN_IF_ERROR(WriteMeta());
  return WriteConfig();
}

Status PgInstance::Fence(const StandbySpec& standby) {
  needs_rejoin_ = true;
  return SetStandby(standby);
}

Status PgInstance::Rejoined() {
  needs_rejoin_ = false;
  RETURN_IF_ERROR(WriteMeta());
  return WriteConfig();
}

Status PgInstance::SetSynchronousStandbys(std::vector<std::string> members) {
  for (const auto& m : members) RETURN_IF_ERROR(ValidateName("member name", m));
  sync_standbys_ = std::move(members);
  RETURN_IF_ERROR(WriteMeta());
  return WriteConfig();
}

Result<PgConnection> ConnectOwn(const PgInstance& instance) {
  auto conn = PgConnection::ConnectOwn(instance.connection().SocketConninfo());
  if (!conn.ok()) {
    return Status::FailedPrecondition(fmt::format("instance '{}' is not accepting connections: {}",
                                                  instance.name(), conn.status().message()),
                                      "start it first");
  }
  return conn;
}

Status PgInstance::FinishRecovery() {
  if (recovery_.empty()) return Status::Ok();
  recovery_.clear();
  return WriteConfig();
}

runtime::LeftoverServer PgInstance::Leftover() const {
  // postmaster.pid names it; its command line or the pid file names this data directory.
  return {JoinPath(data_dir(), "postmaster.pid"), "postgres", data_dir(), SIGINT, SIGQUIT};
}

runtime::ServerLaunch PgInstance::Launch() const {
  runtime::ServerLaunch launch;
  launch.options.argv = {JoinPath(bin_dir_, "postgres"), "-D", data_dir()};
  launch.options.cwd = dir_;
  launch.options.output_path = JoinPath(dir_, "postgres.log");
  launch.instance = name_;
  launch.engine = "PostgreSQL";
  // Ready = accepts a libpq connection (PQping does not need the password).
  // On the private socket (nobody else can answer there, unlike a port on 127.0.0.1 a
  // tenant could take while the server restarts); on a test host also at its address,
  // where the other members and clients connect: a member cut off the network does not
  // answer, though its process runs.
  std::vector<std::string> probes = {
      fmt::format("host={} port={} dbname=postgres connect_timeout=2",
                  PgConninfoQuote(JoinPath(dir_, "run")), port_)};
  if (!placement().clients.empty()) {
    probes.push_back(fmt::format("host={} port={} dbname=postgres connect_timeout=2",
                                 PgConninfoQuote(placement().address), port_));
  }
  launch.answers = [probes] {
    for (const std::string& conninfo : probes) {
      if (PQping(conninfo.c_str()) != PQPING_OK) return false;
    }
    return true;
  };
  launch.refused_config = [](const std::string& log) {
    return log.find("contains errors") != std::string::npos;
  };
  launch.stop_signal = SIGINT;   // fast shutdown: rolls back, checkpoints
  launch.hard_signal = SIGQUIT;  // immediate: recovery on the next start
  return launch;
}

}  // namespace dbaas::engines
