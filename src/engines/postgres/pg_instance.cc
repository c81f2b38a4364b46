#include "engines/postgres/pg_instance.h"

#include <arpa/inet.h>
#include <libpq-fe.h>
#include <netinet/in.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include <condition_variable>
#include <filesystem>
#include <mutex>
#include <thread>

#include <fmt/format.h>
#include <spdlog/spdlog.h>
#include <nlohmann/json.hpp>

#include "base/files.h"
#include "base/hex.h"
#include "base/names.h"

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
  };
  return kDefaults;
}

// Settings the instance owns: a user may not override where it listens or keeps files.
bool IsReservedSetting(const std::string& key) {
  static const char* kReserved[] = {"listen_addresses", "port",     "unix_socket_directories",
                                    "data_directory",   "hba_file", "ident_file",
                                    "config_file",      "include",  "include_dir",
                                    "include_if_exists"};
  for (const char* r : kReserved) {
    if (key == r) return true;
  }
  return false;
}

}  // namespace

Status ValidatePgConfig(const std::map<std::string, std::string>& config) {
  for (const auto& [key, value] : config) {
    bool key_ok = !key.empty() && key.size() < 64;
    for (char c : key)
      key_ok &= (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '_' || c == '.';
    if (!key_ok) {
      return Status::InvalidArgument(fmt::format("'{}' is not a PostgreSQL setting name", key));
    }
    if (IsReservedSetting(key)) {
      return Status::InvalidArgument(fmt::format("setting '{}' is managed by dbaas", key));
    }
    if (value.find_first_of("\n\r\0", 0, 3) != std::string::npos || value.size() > 1024) {
      return Status::InvalidArgument(fmt::format("value of setting '{}' is not allowed", key));
    }
  }
  return Status::Ok();
}

namespace {

std::string QuoteConfValue(const std::string& value) {
  std::string out = "'";
  for (char c : value) {
    if (c == '\'' || c == '\\') out += c;  // PostgreSQL doubles quotes and backslashes
    out += c;
  }
  return out + "'";
}

Status ChownTree(const std::string& path, const std::optional<UserIds>& user) {
  if (!user) return Status::Ok();
  std::error_code ec;
  auto chown_one = [&](const std::string& p) -> Status {
    if (::lchown(p.c_str(), user->uid, user->gid) != 0) return ErrnoStatus("chown", p, errno);
    return Status::Ok();
  };
  RETURN_IF_ERROR(chown_one(path));
  if (!std::filesystem::is_directory(path, ec)) return Status::Ok();
  for (auto it = std::filesystem::recursive_directory_iterator(path, ec);
       !ec && it != std::filesystem::recursive_directory_iterator(); it.increment(ec)) {
    RETURN_IF_ERROR(chown_one(it->path().string()));
  }
  if (ec) return ErrnoStatus("list", path, ec.value());
  return Status::Ok();
}

// The server's OS user: `postgres` when we are root (created if missing), else ourselves.
Result<std::optional<UserIds>> ServerUser() {
  if (::geteuid() != 0) return std::optional<UserIds>();
  auto user = LookupUser("postgres");
  if (!user.ok() && user.status().code() == StatusCode::kNotFound) {
    ProcessOptions add;
    add.argv = {"useradd", "--system",          "--no-create-home",
                "--shell", "/usr/sbin/nologin", "postgres"};
    RETURN_IF_ERROR(RunChecked(add, std::chrono::seconds(30)).status());
    user = LookupUser("postgres");
  }
  if (!user.ok()) return user.status();
  return std::optional<UserIds>(user.value());
}

}  // namespace

std::string PgConnectionInfo::Uri(bool with_password) const {
  std::string auth = user;
  if (with_password) {
    // The password is hex: nothing to percent-encode.
    auth += ":" + password;
  }
  return fmt::format("postgresql://{}@{}:{}/{}", auth, host, port, database);
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

Result<uint16_t> FindFreePort() {
  int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0) return ErrnoStatus("socket", "127.0.0.1", errno);
  UniqueFd guard(fd);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  addr.sin_port = 0;
  socklen_t len = sizeof(addr);
  if (::bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)) != 0 ||
      ::getsockname(fd, reinterpret_cast<sockaddr*>(&addr), &len) != 0) {
    return ErrnoStatus("bind", "127.0.0.1:0", errno);
  }
  return ntohs(addr.sin_port);
}

std::string PgInstance::data_dir() const { return JoinPath(dir_, "data"); }

PgConnectionInfo PgInstance::connection() const {
  PgConnectionInfo c;
  c.port = port_;
  c.socket_dir = JoinPath(dir_, "run");
  c.password = password_;
  return c;
}

Result<PgInstance> PgInstance::Make(const PgInstanceSpec& spec, const std::string& password,
                                    const std::function<Status(PgInstance&)>& fill) {
  RETURN_IF_ERROR(ValidateName("instance name", spec.name));
  RETURN_IF_ERROR(ValidatePgConfig(spec.config));
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
    ASSIGN_OR_RETURN(inst.port_, FindFreePort());
  }
  inst.config_ = spec.config;
  inst.password_ = password;
  ASSIGN_OR_RETURN(inst.server_user_, ServerUser());
  RETURN_IF_ERROR(MakeDirs(spec.data_root));
  if (::mkdir(inst.dir_.c_str(), 0711) != 0) {
    if (errno == EEXIST) {
      return Status::AlreadyExists(fmt::format("instance '{}' already exists", spec.name),
                                   "choose another name, or delete that instance first");
    }
    return ErrnoStatus("mkdir", inst.dir_, errno);
  }
  // From here on a failure removes what was made: no half instance stays behind.
  auto made = [&]() -> Status {
    RETURN_IF_ERROR(WriteFileAtomic(JoinPath(inst.dir_, "password"), inst.password_ + "\n", 0600));
    std::string run = JoinPath(inst.dir_, "run");
    if (::mkdir(run.c_str(), 0700) != 0) return ErrnoStatus("mkdir", run, errno);
    RETURN_IF_ERROR(ChownTree(run, inst.server_user_));
    RETURN_IF_ERROR(fill(inst));
    RETURN_IF_ERROR(inst.WriteConfig());
    json meta = {{"name", inst.name_},
                 {"type", "postgresql"},
                 {"port", inst.port_},
                 {"bin_dir", inst.bin_dir_},
                 {"config", inst.config_}};
    return WriteFileAtomic(JoinPath(inst.dir_, "instance.json"), meta.dump(2) + "\n", 0600);
  }();
  if (!made.ok()) {
    (void)RemoveTree(inst.dir_);
    return made.WithContext(fmt::format("create instance '{}'", spec.name));
  }
  return inst;
}

Result<PgInstance> PgInstance::Create(const PgInstanceSpec& spec) {
  return Make(spec, RandomHex(24), [](PgInstance& inst) -> Status {
    // initdb reads the password from a file the server's user can read; removed after.
    std::string pwfile = JoinPath(JoinPath(inst.dir_, "run"), "initdb-password");
    RETURN_IF_ERROR(WriteFileAtomic(pwfile, inst.password_ + "\n", 0600));
    RETURN_IF_ERROR(ChownTree(pwfile, inst.server_user_));
    std::string data = inst.data_dir();
    if (::mkdir(data.c_str(), 0700) != 0) return ErrnoStatus("mkdir", data, errno);
    RETURN_IF_ERROR(ChownTree(data, inst.server_user_));
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
    initdb.user = inst.server_user_;
    initdb.cwd = inst.dir_;
    Status st = RunChecked(initdb, std::chrono::minutes(5)).status();
    ::unlink(pwfile.c_str());
    return st.WithContext("initdb");
  });
}

Result<PgInstance> PgInstance::CreateFrom(const PgInstanceSpec& spec, const std::string& password,
                                          const FillDataFn& fill) {
  return Make(spec, password, [&fill](PgInstance& inst) -> Status {
    std::string data = inst.data_dir();
    RETURN_IF_ERROR(fill(data));
    if (::chmod(data.c_str(), 0700) != 0) return ErrnoStatus("chmod", data, errno);
    return ChownTree(data, inst.server_user_);
  });
}

Status PgInstance::WriteConfig() const {
  std::map<std::string, std::string> settings = DefaultConfig();
  for (const auto& [k, v] : config_) settings[k] = v;
  std::string conf = "# Written by dbaas; edit instance settings through dbaas.\n";
  conf += "listen_addresses = '127.0.0.1'\n";
  conf += fmt::format("port = {}\n", port_);
  conf += fmt::format("unix_socket_directories = {}\n", QuoteConfValue(JoinPath(dir_, "run")));
  conf += "password_encryption = 'scram-sha-256'\n";
  for (const auto& [k, v] : settings) conf += fmt::format("{} = {}\n", k, QuoteConfValue(v));
  std::string data = data_dir();
  std::string dbaas_conf = JoinPath(data, "dbaas.conf");
  RETURN_IF_ERROR(WriteFileAtomic(dbaas_conf, conf, 0600));
  RETURN_IF_ERROR(ChownTree(dbaas_conf, server_user_));
  std::string main_conf = JoinPath(data, "postgresql.conf");
  ASSIGN_OR_RETURN(std::string text, ReadFileToString(main_conf));
  if (text.find("\ninclude = 'dbaas.conf'") == std::string::npos) {
    text += "\ninclude = 'dbaas.conf'\n";
    RETURN_IF_ERROR(WriteFileAtomic(main_conf, text, 0600));
    RETURN_IF_ERROR(ChownTree(main_conf, server_user_));
  }
  return Status::Ok();
}

Result<PgInstance> PgInstance::Open(const std::string& data_root, const std::string& name) {
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
  try {
    inst.port_ = meta.at("port").get<uint16_t>();
    inst.bin_dir_ = meta.at("bin_dir").get<std::string>();
    inst.config_ = meta.at("config").get<std::map<std::string, std::string>>();
  } catch (const json::exception& e) {
    return Status::Corruption(fmt::format("instance '{}': instance.json: {}", name, e.what()));
  }
  ASSIGN_OR_RETURN(std::string password, ReadFileToString(JoinPath(inst.dir_, "password")));
  while (!password.empty() && password.back() == '\n') password.pop_back();
  inst.password_ = password;
  ASSIGN_OR_RETURN(inst.server_user_, ServerUser());
  return inst;
}

// Shared by the instance and its supervisor thread; lives on the heap so that moving the
// PgInstance never moves what the thread uses.
struct PgInstance::ServerState {
  ProcessOptions options;  // how to start the server
  std::string conninfo;    // for PQping
  std::string name;
  mutable std::mutex mutex;
  std::condition_variable wake;
  std::optional<Process> process;  // guarded by mutex
  bool stopping = false;           // guarded by mutex
  int restarts = 0;                // guarded by mutex
  std::thread supervisor;
};

namespace {

std::string LogTail(const std::string& path) {
  auto log = ReadFileToString(path);
  if (!log.ok()) return "";
  return log->substr(log->size() > 1500 ? log->size() - 1500 : 0);
}

// Starts the server process and waits until it accepts connections.
Status Launch(PgInstance::ServerState& s, milliseconds timeout) {
  ASSIGN_OR_RETURN(Process p, Process::Start(s.options));
  pid_t pid = p.pid();
  {
    std::lock_guard lock(s.mutex);
    s.process.emplace(std::move(p));
  }
  auto deadline = std::chrono::steady_clock::now() + timeout;
  while (std::chrono::steady_clock::now() < deadline) {
    bool answers = PQping(s.conninfo.c_str()) == PQPING_OK;
    std::lock_guard lock(s.mutex);
    if (!s.process || s.process->pid() != pid) return Status::Internal("server replaced");
    // Ready only if the server answering is ours (not one left by an earlier daemon).
    auto exited = s.process->Wait(milliseconds(answers ? 0 : 50));
    if (!exited.ok() && answers) return Status::Ok();
    if (exited.ok()) {
      s.process.reset();
      std::string log = LogTail(s.options.output_path);
      // The server refusing a setting is bad input, not a failure of ours.
      StatusCode code = log.find("contains errors") != std::string::npos
                            ? StatusCode::kInvalidArgument
                            : StatusCode::kIoError;
      return Status(code,
                    fmt::format("PostgreSQL for '{}' exited with code {} while starting: {}",
                                s.name, exited.value(), log),
                    "see " + s.options.output_path);
    }
  }
  std::lock_guard lock(s.mutex);
  s.process.reset();  // kills it
  return Status::IoError(fmt::format("PostgreSQL for '{}' did not accept connections within "
                                     "{} ms",
                                     s.name, timeout.count()),
                         "see " + s.options.output_path);
}

// A process that exists and is not a zombie (an orphan's zombie may linger where pid 1
// does not reap).
bool ProcessAlive(pid_t pid) {
  auto stat = ReadFileToString(fmt::format("/proc/{}/stat", pid));
  if (!stat.ok()) return false;
  auto paren = stat->rfind(')');
  return paren != std::string::npos && paren + 2 < stat->size() && (*stat)[paren + 2] != 'Z';
}

// A server left running on this data directory by an earlier daemon that was killed (its
// servers run in their own process groups and outlive it) is shut down, so that the one we
// start is ours to supervise. postmaster.pid names the postmaster and its data directory.
Status StopLeftoverServer(const std::string& data_dir, const std::string& name) {
  auto pidfile = ReadFileToString(JoinPath(data_dir, "postmaster.pid"));
  if (!pidfile.ok()) return Status::Ok();
  auto nl = pidfile->find('\n');
  pid_t pid = std::atoi(pidfile->substr(0, nl).c_str());
  if (pid <= 0 || !ProcessAlive(pid)) return Status::Ok();
  auto cmdline = ReadFileToString(fmt::format("/proc/{}/cmdline", pid));
  if (!cmdline.ok() || cmdline->find("postgres") == std::string::npos ||
      pidfile->find(data_dir) == std::string::npos) {
    return Status::Ok();  // a stale file: the pid belongs to someone else now
  }
  spdlog::warn("instance {}: stopping PostgreSQL (pid {}) left running by an earlier dbaasd", name,
               pid);
  for (int sig : {SIGINT, SIGQUIT, SIGKILL}) {
    ::kill(pid, sig);
    for (int i = 0; i < 300 && ProcessAlive(pid); ++i) {
      std::this_thread::sleep_for(milliseconds(100));
    }
    if (!ProcessAlive(pid)) return Status::Ok();
  }
  return Status::IoError(fmt::format("PostgreSQL (pid {}) left by an earlier dbaasd on '{}' does "
                                     "not stop",
                                     pid, data_dir),
                         "stop it by hand");
}

void Supervise(PgInstance::ServerState& s) {
  using std::chrono::seconds;
  constexpr auto kMaxBackoff = seconds(30);
  auto backoff = seconds(1);
  auto healthy_since = std::chrono::steady_clock::now();
  std::unique_lock lock(s.mutex);
  while (true) {
    if (s.wake.wait_for(lock, milliseconds(200), [&] { return s.stopping; })) return;
    if (s.process && !s.process->Wait(milliseconds(0)).ok()) {  // still running
      if (std::chrono::steady_clock::now() - healthy_since > seconds(60)) backoff = seconds(1);
      continue;
    }
    s.process.reset();
    ++s.restarts;
    spdlog::warn("instance {}: PostgreSQL is not running; restarting in {} s (restart {})", s.name,
                 backoff.count(), s.restarts);
    if (s.wake.wait_for(lock, backoff, [&] { return s.stopping; })) return;
    backoff = std::min(backoff * 2, kMaxBackoff);
    lock.unlock();
    Status st = Launch(s, milliseconds(seconds(120)));
    if (!st.ok()) spdlog::error("instance {}: restart failed: {}", s.name, st.ToString());
    healthy_since = std::chrono::steady_clock::now();
    lock.lock();
  }
}

}  // namespace

PgInstance::PgInstance(PgInstance&&) noexcept = default;
PgInstance& PgInstance::operator=(PgInstance&&) noexcept = default;

PgInstance::~PgInstance() {
  if (server_) (void)Stop(std::chrono::seconds(10));
}

bool PgInstance::running() const {
  if (!server_) return false;
  std::lock_guard lock(server_->mutex);
  return server_->process && server_->process->running();
}

int PgInstance::restarts() const {
  if (!server_) return 0;
  std::lock_guard lock(server_->mutex);
  return server_->restarts;
}

pid_t PgInstance::server_pid() const {
  if (!server_) return -1;
  std::lock_guard lock(server_->mutex);
  return server_->process ? server_->process->pid() : -1;
}

Status PgInstance::Start(milliseconds timeout) {
  if (server_) return Status::Ok();  // started (and supervised) already
  RETURN_IF_ERROR(StopLeftoverServer(data_dir(), name_));
  auto state = std::make_unique<ServerState>();
  state->options.argv = {JoinPath(bin_dir_, "postgres"), "-D", data_dir()};
  state->options.user = server_user_;
  state->options.cwd = dir_;
  state->options.output_path = JoinPath(dir_, "postgres.log");
  // Ready = accepts a libpq connection (PQping does not need the password).
  state->conninfo = fmt::format("host={} port={} dbname=postgres connect_timeout=2",
                                JoinPath(dir_, "run"), port_);
  state->name = name_;
  RETURN_IF_ERROR(Launch(*state, timeout));
  ServerState* raw = state.get();
  state->supervisor = std::thread([raw] { Supervise(*raw); });
  server_ = std::move(state);
  return Status::Ok();
}

Status PgInstance::Stop(milliseconds timeout) {
  if (!server_) return Status::Ok();
  {
    std::lock_guard lock(server_->mutex);
    server_->stopping = true;
  }
  server_->wake.notify_all();
  if (server_->supervisor.joinable()) server_->supervisor.join();
  std::unique_ptr<ServerState> state = std::move(server_);
  if (!state->process || !state->process->running()) return Status::Ok();
  // SIGINT: fast shutdown (rolls back, checkpoints); SIGQUIT: immediate, recovery on start.
  RETURN_IF_ERROR(state->process->Signal(SIGINT));
  auto done = state->process->Wait(timeout);
  if (!done.ok()) {
    RETURN_IF_ERROR(state->process->Signal(SIGQUIT));
    done = state->process->Wait(milliseconds(10000));
  }
  return Status::Ok();  // destroying the state kills the group if anything is left
}

Status PgInstance::Delete() {
  RETURN_IF_ERROR(Stop());
  RETURN_IF_ERROR(StopLeftoverServer(data_dir(), name_));
  return RemoveTree(dir_);
}

}  // namespace dbaas::engines
