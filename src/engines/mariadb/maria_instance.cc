#include "engines/mariadb/maria_instance.h"

#include <signal.h>
#include <sys/stat.h>
#include <unistd.h>

#include <set>

#include <fmt/format.h>
#include <spdlog/spdlog.h>
#include <nlohmann/json.hpp>

#include "base/files.h"
#include "base/hex.h"
#include "base/log.h"
#include "base/names.h"
#include "engines/mariadb/maria_binlog.h"
#include "engines/mariadb/maria_settings.h"
#include "storage/wal_archive.h"

namespace dbaas::engines {
namespace {

using nlohmann::json;
using std::chrono::milliseconds;

const std::map<std::string, std::string>& DefaultConfig() {
  static const std::map<std::string, std::string> kDefaults = {
      {"max_connections", "200"},
      {"innodb_buffer_pool_size", "128M"},
  };
  return kDefaults;
}

// Option names are spelled with '-' or '_' alike; the option file uses '_'.
std::string CanonicalOption(const std::string& key) {
  std::string out = key;
  for (char& c : out) {
    if (c == '-') c = '_';
  }
  return out;
}

// A MySQL (not MariaDB) server program for type mysql: in `bin_dir` if given, else
// /usr/sbin/mysqld when that is not MariaDB's (Debian links it to mariadbd). Empty: none.
std::string FindMySqlServer(const std::string& bin_dir) {
  std::string candidate = JoinPath(bin_dir.empty() ? "/usr/sbin" : bin_dir, "mysqld");
  if (::access(candidate.c_str(), X_OK) != 0) return "";
  ProcessOptions version;
  version.argv = {candidate, "--version"};
  auto out = RunChecked(version, std::chrono::seconds(10));
  if (!out.ok() || out.value().find("MariaDB") != std::string::npos) return "";
  return candidate;
}

// The tenant's account, `app` over the socket and 127.0.0.1 (and from any address where
// the placement admits every client: a pod, whose NetworkPolicy decides who reaches it),
// with every privilege on its own database `app` and none beyond it (no SUPER, FILE or
// other global grant).
std::string TenantAccountSql(const std::string& password, const std::string& clients) {
  std::string sql = "CREATE DATABASE IF NOT EXISTS app;\n";
  for (const char* host : {"localhost", "127.0.0.1", "%"}) {
    if (std::string_view(host) == "%" && clients != "all") continue;
    sql += fmt::format(
        "CREATE USER 'app'@'{0}' IDENTIFIED BY {1};\n"
        "GRANT ALL PRIVILEGES ON `app`.* TO 'app'@'{0}';\n",
        host, MariaQuote(password));
  }
  return sql;
}

// The SQL that leaves root with our password, over the socket and 127.0.0.1 only, and the
// tenant's account.
std::string RootAccountSql(MariaFlavor flavor, const std::string& password,
                           const std::string& tenant_password, const std::string& clients) {
  std::string pw = MariaQuote(password);
  if (flavor == MariaFlavor::kMySQL) {
    return fmt::format(
               "ALTER USER 'root'@'localhost' IDENTIFIED BY {0};\n"
               "CREATE USER IF NOT EXISTS 'root'@'127.0.0.1' IDENTIFIED BY {0};\n"
               "GRANT ALL PRIVILEGES ON *.* TO 'root'@'127.0.0.1' WITH GRANT OPTION;\n",
               pw) +
           TenantAccountSql(tenant_password, clients);
  }
  return fmt::format(
             "FLUSH PRIVILEGES;\n"
             "DELETE FROM mysql.global_priv WHERE User = '' OR\n"
             "  (User = 'root' AND Host NOT IN ('localhost', '127.0.0.1', '::1'));\n"
             "FLUSH PRIVILEGES;\n"
             "CREATE USER IF NOT EXISTS 'root'@'127.0.0.1';\n"
             "ALTER USER 'root'@'localhost' IDENTIFIED BY {0};\n"
             "ALTER USER 'root'@'127.0.0.1' IDENTIFIED BY {0};\n"
             "GRANT ALL PRIVILEGES ON *.* TO 'root'@'127.0.0.1' WITH GRANT OPTION;\n"
             "DROP USER IF EXISTS 'root'@'::1';\n",
             pw) +
         TenantAccountSql(tenant_password, clients);
}

}  // namespace

std::string MariaInstance::data_dir() const { return JoinPath(dir_, "data"); }
std::string MariaInstance::socket_path() const {
  return JoinPath(JoinPath(dir_, "run"), "mariadb.sock");
}
std::string MariaInstance::option_file() const { return JoinPath(dir_, "my.cnf"); }
std::string MariaInstance::client_option_file() const { return JoinPath(dir_, "client.cnf"); }

MariaEndpoint MariaInstance::client() const {
  MariaEndpoint e;
  e.socket = socket_path();
  e.password = password_;
  return e;
}

ConnectionInfo MariaInstance::endpoint() const {
  return ConnectionInfo{type_, placement().address, port_, socket_path(), "root", password_, ""};
}

std::string MariaInstance::BinlogDir() const { return JoinPath(dir_, "binlog"); }

std::optional<BinlogSpool> MariaInstance::binlog_spool() const {
  if (archive_id_.empty()) return std::nullopt;
  return BinlogSpool{name_, BinlogDir(), client()};
}

std::optional<LogSpool> MariaInstance::log_spool() const {
  auto binlogs = binlog_spool();
  if (!binlogs) return std::nullopt;
  LogSpool spool;
  spool.instance = name_;
  spool.dir = binlogs->dir;
  spool.repo_path = archiving_.repo_path;
  spool.archive_id = archive_id_;
  spool.status_path = JoinPath(dir_, "binlog-archiving.status");
  spool.drain = [binlogs = *binlogs](const storage::WalArchive& archive,
                                     std::chrono::seconds close_after) {
    return DrainBinlogs(binlogs, archive, close_after, BinlogDrain::kRunning);
  };
  return spool;
}

Status MariaInstance::BeforeRemoval() {
  auto binlogs = binlog_spool();
  // A pod's binlogs are drained by the daemon through its agent before the pod goes.
  if (!binlogs || !HasLocalArchive()) return Status::Ok();
  // The server is stopped: every binlog, the last one included, into the repository before
  // the directory goes (a restore to latest after the delete loses nothing).
  auto archive = storage::WalArchive::Open(archiving_.repo_path, archive_id_);
  if (!archive.ok() && archive.status().code() == StatusCode::kNotFound) {
    return Status::Ok();  // its archive is gone already: nothing could restore its binlog
  }
  auto drained =
      archive.ok() ? DrainBinlogs(*binlogs, *archive, std::chrono::seconds(0), BinlogDrain::kFinal)
                   : Result<storage::SpoolDrain>(archive.status());
  if (drained.ok()) return Status::Ok();
  return Status(drained.status().code(),
                fmt::format("instance '{}' keeps binlogs that are not in the repository yet: {}",
                            name_, drained.status().message()),
                "make the repository writable (free space) and delete it again");
}

std::string MariaInstance::note() const {
  if (type_ == "mysql" && flavor_ == MariaFlavor::kMariaDB) {
    return "served by MariaDB: no MySQL server is installed (MySQL clients and drivers work "
           "with it)";
  }
  return "";
}

Status MariaInstance::WriteOptionFiles(bool with_user_config) const {
  std::map<std::string, std::string> options = DefaultConfig();
  if (with_user_config) {
    for (const auto& [k, v] : config_) options[CanonicalOption(k)] = v;
  }
  std::string run = JoinPath(dir_, "run");
  std::string cnf = "# Written by dbaas; edit instance settings through dbaas.\n[mysqld]\n";
  cnf += fmt::format("datadir = {}\n", data_dir());
  cnf += fmt::format("socket = {}\n", socket_path());
  cnf += fmt::format("pid-file = {}\n", JoinPath(run, "mariadb.pid"));
  cnf += fmt::format("port = {}\n", port_);
  // 127.0.0.1, or the pod's address (runtime::Placement); root is only ever admitted over
  // the socket and 127.0.0.1.
  cnf += fmt::format("bind-address = {}\n", placement().address);
  cnf += "skip-name-resolve\n";
  if (!archive_id_.empty()) {
    // Point-in-time recovery's binary log (maria_log_archiving.h): whole rows, GTIDs,
    // durable at commit, checksummed; rotated at a size here and at a time by the daemon;
    // never expired by the server (the daemon purges what it archived).
    const std::string binlog = JoinPath(BinlogDir(), kBinlogBaseName);
    cnf += fmt::format("log_bin = {}\nlog_bin_index = {}.index\n", binlog, binlog);
    cnf += fmt::format("server_id = {}\n", server_id_);
    cnf += "binlog_format = ROW\nsync_binlog = 1\nbinlog_checksum = CRC32\n";
    cnf += "max_binlog_size = 64M\nbinlog_expire_logs_seconds = 0\n";
    // Members (maria_replication.h): what a standby applies goes into its own binlog too,
    // and the primary lists it by its name (SHOW REPLICA HOSTS).
    cnf += "log_slave_updates = ON\nrelay_log = relay-bin\n";
    // A standby applies in parallel what the primary committed as one group (optimistic
    // mode): one applier with two fsyncs a commit fell seconds behind four writers.
    cnf += "slave_parallel_threads = 4\nslave_parallel_mode = optimistic\n";
    cnf += fmt::format("report_host = {}\n", name_);
  }
  if (standby_) {
    cnf += "read_only = ON\n";
  } else if (flavor_ == MariaFlavor::kMariaDB) {
    // A copy of a standby's data (a backup from one, restored) holds its master.info: it
    // must not start replicating from that primary on its own.
    cnf += "skip_slave_start = ON\n";
  }
  for (const auto& [k, v] : options) cnf += fmt::format("{} = {}\n", k, v);
  // Ours, read by the instance's user through its group; nobody else reads it.
  const std::optional<UserIds>& user = server_user();
  RETURN_IF_ERROR(WriteFileAtomic(option_file(), cnf, user ? 0640 : 0600));
  if (user && ::chown(option_file().c_str(), 0, user->gid) != 0) {
    return ErrnoStatus("chown", option_file(), errno);
  }
  // The tools' options: mariadb, mariadb-check, mariadb-backup read this one file.
  return WriteFileAtomic(client_option_file(), ClientOptions(), 0600);
}

std::string MariaInstance::ClientOptions() const {
  return fmt::format(
      "!include {}\n[client]\nuser = root\npassword = {}\nsocket = {}\n"
      "[mariadb-backup]\nuser = root\npassword = {}\nsocket = {}\n",
      option_file(), password_, socket_path(), password_, socket_path());
}

Result<std::unique_ptr<MariaInstance>> MariaInstance::Make(
    const InstanceSpec& spec, const std::string& password,
    const std::function<Status(MariaInstance&)>& fill) {
  RETURN_IF_ERROR(ValidateName("instance name", spec.name));
  RETURN_IF_ERROR(ValidateMariaSettings(spec.config));
  if (spec.type != "mariadb" && spec.type != "mysql") {
    return Status::InvalidArgument(fmt::format("'{}' is not a MariaDB or MySQL type", spec.type));
  }
  std::unique_ptr<MariaInstance> inst(new MariaInstance());
  inst->name_ = spec.name;
  inst->dir_ = JoinPath(spec.data_root, spec.name);
  inst->type_ = spec.type;
  std::string mysql = spec.type == "mysql" ? FindMySqlServer(spec.bin_dir) : "";
  if (!mysql.empty()) {
    inst->flavor_ = MariaFlavor::kMySQL;
    inst->server_ = mysql;
  } else {
    inst->server_ = JoinPath(
        spec.type == "mariadb" && !spec.bin_dir.empty() ? spec.bin_dir : "/usr/sbin", "mariadbd");
    if (::access(inst->server_.c_str(), X_OK) != 0) {
      return Status::NotFound(fmt::format("MariaDB server '{}' not found", inst->server_),
                              "apt-get install mariadb-server");
    }
  }
  if (spec.port != 0) {
    inst->port_ = spec.port;
  } else {
    ASSIGN_OR_RETURN(inst->port_, (spec.runtime ? *spec.runtime : runtime::Local()).AllocatePort());
  }
  inst->config_ = spec.config;
  inst->password_ = password;
  inst->superuser_access_ = spec.superuser_access;
  // MySQL's binary log is another format (and GTIDs another scheme): not archived.
  if (spec.archiving.on() && inst->flavor_ == MariaFlavor::kMariaDB) {
    inst->archiving_ = spec.archiving;
    const std::string& owner =
        spec.archiving.archive_owner.empty() ? spec.name : spec.archiving.archive_owner;
    // A pod's server: for the archive the daemon made (its agent serves the binlogs).
    inst->archive_id_ = !spec.archiving.spool_archive_id.empty() ? spec.archiving.spool_archive_id
                                                                 : owner + "." + RandomHex(4);
    // Unique enough among one tenant's instances; 0 means "no binlog" to the server.
    uint32_t id = 0;
    while (id == 0) id = static_cast<uint32_t>(std::stoul(RandomHex(4), nullptr, 16));
    inst->server_id_ = id;
  }
  RETURN_IF_ERROR(inst->Provision(spec.runtime));
  // From here on a failure removes what was made: no half instance stays behind.
  auto made = [&]() -> Status {
    RETURN_IF_ERROR(
        WriteFileAtomic(JoinPath(inst->dir_, "password"), inst->password_ + "\n", 0600));
    std::string run = JoinPath(inst->dir_, "run");
    if (::mkdir(run.c_str(), 0700) != 0) return ErrnoStatus("mkdir", run, errno);
    RETURN_IF_ERROR(inst->GiveToServer(run));
    if (!inst->archive_id_.empty()) {
      RETURN_IF_ERROR(MakeDir(inst->BinlogDir(), 0700));
      RETURN_IF_ERROR(inst->GiveToServer(inst->BinlogDir()));
      if (inst->HasLocalArchive()) {
        RETURN_IF_ERROR(storage::WalArchive::Create(inst->archiving_.repo_path, inst->archive_id_));
      }
    }
    RETURN_IF_ERROR(inst->WriteOptionFiles(false));
    RETURN_IF_ERROR(fill(*inst));
    RETURN_IF_ERROR(inst->WriteOptionFiles(true));
    return inst->WriteMeta();
  }();
  if (!made.ok()) {
    inst->Unprovision();
    if (inst->HasLocalArchive()) {
      WarnIfError(storage::WalArchive::Remove(inst->archiving_.repo_path, inst->archive_id_),
                  "remove the archive of the instance that could not be made");
    }
    return made.WithContext(fmt::format("create instance '{}'", spec.name));
  }
  return inst;
}

Status MariaInstance::WriteMeta() const {
  json meta = {{"name", name_},
               {"type", type_},
               {"flavor", flavor_ == MariaFlavor::kMySQL ? "mysql" : "mariadb"},
               {"server", server_},
               {"port", port_},
               {"config", config_}};
  if (server_user()) meta["os_user"] = server_user()->name;
  meta["superuser_access"] = superuser_access_;
  if (!archive_id_.empty()) {
    meta["binlog_archive"] = {{"repo", archiving_.repo_path},
                              {"id", archive_id_},
                              {"dbaas", archiving_.dbaas_binary},
                              {"server_id", server_id_}};
  }
  if (standby_) {
    meta["standby"] = {{"primary_port", standby_->primary_port}, {"needs_rejoin", needs_rejoin_}};
  }
  return WriteFileAtomic(JoinPath(dir_, "instance.json"), meta.dump(2) + "\n", 0600);
}

Status MariaInstance::SetStandby(std::optional<StandbySpec> standby) {
  standby_ = std::move(standby);
  if (!standby_) needs_rejoin_ = false;
  RETURN_IF_ERROR(WriteMeta());
  RETURN_IF_ERROR(WriteOptionFiles(true));
  if (!running()) return Status::Ok();
  ASSIGN_OR_RETURN(MariaConnection conn, MariaConnection::Connect(client()));
  return conn.Query(fmt::format("SET GLOBAL read_only = {}", standby_ ? "ON" : "OFF"))
      .status()
      .WithContext(fmt::format("set read_only on '{}'", name_));
}

Status MariaInstance::Fence(const StandbySpec& standby) {
  needs_rejoin_ = true;
  return SetStandby(standby);
}

Status MariaInstance::AdoptTenantLogin(const MariaInstance& primary) {
  if (primary.tenant_password_.empty()) return Status::Ok();
  return SaveTenantPassword(primary.tenant_password_);
}

Status MariaInstance::Rejoined() {
  needs_rejoin_ = false;
  return WriteMeta();
}

Status MariaInstance::Initialize() {
  std::string data = data_dir();
  if (::mkdir(data.c_str(), 0700) != 0) return ErrnoStatus("mkdir", data, errno);
  RETURN_IF_ERROR(GiveToServer(data));
  // The root account's SQL holds the password: a 0600 file of the server's user, removed
  // right after.
  std::string init_sql = JoinPath(JoinPath(dir_, "run"), "init.sql");
  std::string tenant_password = RandomHex(24);
  RETURN_IF_ERROR(WriteFileAtomic(
      init_sql, RootAccountSql(flavor_, password_, tenant_password, placement().clients), 0600));
  RETURN_IF_ERROR(GiveToServer(init_sql));
  ProcessOptions init;
  if (flavor_ == MariaFlavor::kMySQL) {
    init.argv = {server_, "--defaults-file=" + option_file(), "--initialize-insecure",
                 "--init-file=" + init_sql};
  } else {
    init.argv = {"mariadb-install-db", "--defaults-file=" + option_file(),
                 "--auth-root-authentication-method=normal", "--skip-test-db",
                 "--extra-file=" + init_sql};
  }
  init.cwd = dir_;
  Status st = CheckExit(RunTool(init, std::chrono::minutes(5)), init.argv[0]).status();
  ::unlink(init_sql.c_str());
  RETURN_IF_ERROR(st.WithContext(flavor_ == MariaFlavor::kMySQL ? "mysqld --initialize"
                                                                : "mariadb-install-db"));
  return SaveTenantPassword(tenant_password);
}

Status MariaInstance::RenewTenantLogin() {
  ASSIGN_OR_RETURN(MariaConnection conn, MariaConnection::Connect(client()));
  // Every host the account has (a pod's copy has 'app'@'%' too); none in a copy of an
  // instance without a tenant login.
  ASSIGN_OR_RETURN(auto hosts,
                   conn.Query("SELECT host FROM mysql.user WHERE user = 'app' AND is_role = 'N'"));
  if (hosts.empty()) return Status::Ok();
  std::string password = RandomHex(24);
  for (const MariaRow& host : hosts) {
    if (host.empty() || host[0].empty()) continue;
    RETURN_IF_ERROR(conn.ExecuteSecret(fmt::format("ALTER USER 'app'@{} IDENTIFIED BY {}",
                                                   MariaQuote(host[0]), MariaQuote(password)),
                                       "renew the tenant's password"));
  }
  return SaveTenantPassword(password);
}

Result<std::unique_ptr<MariaInstance>> MariaInstance::Create(const InstanceSpec& spec) {
  return Make(spec, RandomHex(24), [](MariaInstance& inst) { return inst.Initialize(); });
}

Result<std::unique_ptr<MariaInstance>> MariaInstance::CreateFrom(const InstanceSpec& spec,
                                                                 const std::string& password,
                                                                 const FillDataFn& fill) {
  return Make(spec, password, [&fill](MariaInstance& inst) -> Status {
    std::string data = inst.data_dir();
    RETURN_IF_ERROR(fill(data));
    if (::chmod(data.c_str(), 0700) != 0) return ErrnoStatus("chmod", data, errno);
    return inst.GiveToServer(data);
  });
}

Result<std::unique_ptr<MariaInstance>> MariaInstance::Open(const std::string& data_root,
                                                           const std::string& name,
                                                           runtime::Runtime* rt) {
  RETURN_IF_ERROR(ValidateName("instance name", name));
  std::unique_ptr<MariaInstance> inst(new MariaInstance());
  inst->name_ = name;
  inst->dir_ = JoinPath(data_root, name);
  auto text = ReadFileToString(JoinPath(inst->dir_, "instance.json"));
  if (!text.ok()) {
    if (text.status().code() == StatusCode::kNotFound) {
      return Status::NotFound(fmt::format("instance '{}' not found", name));
    }
    return text.status();
  }
  json meta = json::parse(text.value(), nullptr, false);
  std::string os_user;
  try {
    inst->type_ = meta.at("type").get<std::string>();
    inst->flavor_ = meta.at("flavor").get<std::string>() == "mysql" ? MariaFlavor::kMySQL
                                                                    : MariaFlavor::kMariaDB;
    inst->server_ = meta.at("server").get<std::string>();
    inst->port_ = meta.at("port").get<uint16_t>();
    inst->config_ = meta.at("config").get<std::map<std::string, std::string>>();
    os_user = meta.value("os_user", "");
    inst->superuser_access_ = meta.value("superuser_access", false);
    if (meta.contains("binlog_archive")) {
      const json& a = meta.at("binlog_archive");
      inst->archiving_.repo_path = a.at("repo").get<std::string>();
      inst->archiving_.dbaas_binary = a.value("dbaas", "");
      inst->archive_id_ = a.at("id").get<std::string>();
      inst->server_id_ = a.at("server_id").get<uint32_t>();
    }
    if (meta.contains("standby")) {
      const json& sb = meta.at("standby");
      inst->standby_ = StandbySpec{sb.at("primary_port").get<uint16_t>(), ""};
      inst->needs_rejoin_ = sb.value("needs_rejoin", false);
    }
  } catch (const json::exception& e) {
    return Status::Corruption(fmt::format("instance '{}': instance.json: {}", name, e.what()));
  }
  ASSIGN_OR_RETURN(std::string password, ReadFileToString(JoinPath(inst->dir_, "password")));
  while (!password.empty() && password.back() == '\n') password.pop_back();
  inst->password_ = password;
  RETURN_IF_ERROR(inst->LoadTenantPassword());
  std::vector<std::string> owned = {inst->data_dir(), JoinPath(inst->dir_, "run")};
  if (!inst->archive_id_.empty()) owned.push_back(inst->BinlogDir());
  ASSIGN_OR_RETURN(bool moved, inst->Locate(rt, os_user, "mysql", owned));
  // Reached at the address its placement gives, which can change (a pod rescheduled gets
  // another IP): the server listens where it is now.
  if (moved || !inst->placement().clients.empty()) {
    RETURN_IF_ERROR(inst->WriteOptionFiles(true));
    RETURN_IF_ERROR(inst->WriteMeta());
  }
  return inst;
}

MariaInstance::~MariaInstance() = default;

runtime::LeftoverServer MariaInstance::Leftover() const {
  // run/mariadb.pid names it; its command line names this instance's option file.
  std::string program = server_.substr(server_.rfind('/') + 1);
  return {JoinPath(JoinPath(dir_, "run"), "mariadb.pid"), program, option_file(), SIGTERM, SIGKILL};
}

runtime::ServerLaunch MariaInstance::Launch() const {
  runtime::ServerLaunch launch;
  // --defaults-file first: the server then reads no other option file of the machine.
  launch.options.argv = {server_, "--defaults-file=" + option_file()};
  launch.options.cwd = dir_;
  launch.options.output_path = JoinPath(dir_, "mariadb.log");
  launch.instance = name_;
  launch.engine = flavor_ == MariaFlavor::kMySQL ? "MySQL" : "MariaDB";
  launch.answers = [endpoint = client()] { return MariaConnection::Answers(endpoint); };
  launch.refused_config = [](const std::string& log) {
    return log.find("unknown variable") != std::string::npos ||
           log.find("unknown option") != std::string::npos ||
           log.find("Incorrect argument") != std::string::npos ||
           log.find("Error while setting value") != std::string::npos;
  };
  launch.stop_signal = SIGTERM;  // normal shutdown: InnoDB flushes and checkpoints
  launch.hard_signal = SIGKILL;  // InnoDB recovers on the next start
  return launch;
}

}  // namespace dbaas::engines
