#include "daemon.h"

#include <arpa/inet.h>
#include <dirent.h>
#include <netinet/in.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include <chrono>
#include <thread>

#include <fmt/format.h>
#include <gtest/gtest.h>

#include "base/files.h"
#include "engines/postgres/pg_instance.h"
#include "runtime/runtime.h"
#include "test_util.h"

namespace dbaas::testing {

using nlohmann::json;
using std::chrono::milliseconds;

Daemon::~Daemon() {
  if (process_ && process_->running()) (void)Stop();
}

Status Daemon::Start(const std::vector<std::string>& env, const std::vector<std::string>& args) {
  if (port_ == 0) {
    ASSIGN_OR_RETURN(uint16_t port, runtime::Local().AllocatePort());
    port_ = port;
  }
  ProcessOptions o;
  o.argv = {
      DBAASD_BINARY, "--data-root", data_root_, "--listen", fmt::format("127.0.0.1:{}", port_),
      "--log-level", "info"};
  o.argv.insert(o.argv.end(), args.begin(), args.end());
  o.env = env;
  o.output_path = data_root_ + ".dbaasd.log";
  ASSIGN_OR_RETURN(Process p, Process::Start(o));
  process_.emplace(std::move(p));
  auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(120);
  while (std::chrono::steady_clock::now() < deadline) {
    auto c = Connection();
    c->set_connection_timeout(1, 0);
    if (auto res = c->Get("/healthz"); res && res->status == 200) {
      ASSIGN_OR_RETURN(token_, ReadFileToString(JoinPath(data_root_, "api-token")));
      while (!token_.empty() && token_.back() == '\n') token_.pop_back();
      return Status::Ok();
    }
    if (process_->Wait(milliseconds(100)).ok()) {
      process_.reset();
      auto log = ReadFileToString(o.output_path);
      return Status::IoError("dbaasd exited while starting: " + (log.ok() ? log.value() : ""));
    }
  }
  return Status::IoError("dbaasd did not answer /healthz within 120 s");
}

Result<int> Daemon::Stop() {
  if (!process_) return 0;
  ::kill(process_->pid(), SIGTERM);
  auto code = process_->Wait(std::chrono::seconds(120));
  process_.reset();
  return code;
}

void Daemon::Kill() {
  if (!process_) return;
  ::kill(process_->pid(), SIGKILL);
  (void)process_->Wait(std::chrono::seconds(30));
  process_.reset();
}

std::unique_ptr<httplib::Client> Daemon::Connection() const {
  if (ca_cert_.empty()) return std::make_unique<httplib::Client>("127.0.0.1", port_);
  auto c = std::make_unique<httplib::Client>(fmt::format("https://127.0.0.1:{}", port_));
  c->set_ca_cert_path(ca_cert_.c_str());
  return c;
}

std::unique_ptr<httplib::Client> Daemon::Client() const {
  auto c = Connection();
  c->set_read_timeout(600, 0);
  c->set_bearer_token_auth(token_.c_str());
  return c;
}

namespace {

HttpAnswer ToAnswer(const httplib::Result& res) {
  HttpAnswer a;
  if (!res) return a;
  a.status = res->status;
  a.raw = res->body;
  a.body = json::parse(res->body, nullptr, false);
  return a;
}

}  // namespace

HttpAnswer Daemon::Get(const std::string& path) { return ToAnswer(Client()->Get(path)); }
HttpAnswer Daemon::Post(const std::string& path, const std::string& body) {
  return ToAnswer(Client()->Post(path, body, "application/json"));
}
HttpAnswer Daemon::Delete(const std::string& path) { return ToAnswer(Client()->Delete(path)); }

HttpAnswer Daemon::Patch(const std::string& path, const nlohmann::json& body) {
  return ToAnswer(Client()->Patch(path, body.dump(), "application/json"));
}

json Daemon::WaitJob(const std::string& id) {
  auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(120);
  json job;
  while (std::chrono::steady_clock::now() < deadline) {
    job = Get("/jobs/" + id).body["job"];
    std::string s = job.value("status", "");
    if (s == "succeeded" || s == "failed" || s == "cancelled") return job;
    std::this_thread::sleep_for(milliseconds(50));
  }
  return job;
}

void Daemon::WaitJobRunning(const std::string& id) {
  auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(60);
  while (std::chrono::steady_clock::now() < deadline) {
    if (Get("/jobs/" + id).body["job"].value("status", "") == "running") return;
    std::this_thread::sleep_for(milliseconds(20));
  }
}

bool Daemon::WaitLogSays(const std::string& text) {
  auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(60);
  while (std::chrono::steady_clock::now() < deadline) {
    auto log = ReadFileToString(data_root_ + ".dbaasd.log");
    if (log.ok() && log->find(text) != std::string::npos) return true;
    std::this_thread::sleep_for(milliseconds(20));
  }
  return false;
}

std::map<pid_t, pid_t> PostmastersUnder(const std::string& data_root) {
  std::map<pid_t, pid_t> out;
  DIR* proc = ::opendir("/proc");
  if (!proc) return out;
  // Instances and their standbys (members/), scratch drills.
  std::string needle = data_root + "/";
  while (dirent* e = ::readdir(proc)) {
    pid_t pid = std::atoi(e->d_name);
    if (pid <= 0) continue;
    auto cmdline = ReadFileToString(fmt::format("/proc/{}/cmdline", pid));
    if (!cmdline.ok()) continue;
    std::string args = cmdline.value();
    std::replace(args.begin(), args.end(), '\0', ' ');
    if (args.find("postgres -D " + needle) == std::string::npos) continue;
    auto stat = ReadFileToString(fmt::format("/proc/{}/stat", pid));
    if (!stat.ok()) continue;
    auto paren = stat->rfind(')');
    if (paren == std::string::npos || (*stat)[paren + 2] == 'Z') continue;
    out[pid] = std::atoi(stat->c_str() + paren + 4);
  }
  ::closedir(proc);
  return out;
}

namespace {

// The login the API hands out for `instance`: the tenant's, or the superuser's (which needs
// an instance made with superuserAccess).
Result<json> LoginOf(Daemon& daemon, const std::string& instance, bool superuser,
                     const std::string& superuser_database) {
  HttpAnswer a = daemon.Get("/instances/" + instance + "?showSecrets=true");
  if (a.status != 200) return Status::NotFound("instance " + instance + ": " + a.raw);
  json c = a.body["instance"]["connection"];
  if (!c.is_object())
    return Status::FailedPrecondition("instance " + instance + " has no connection");
  if (superuser) {
    if (!c.contains("superuser")) {
      return Status::FailedPrecondition("instance " + instance + " has no superuser access");
    }
    c["user"] = c["superuser"]["user"];
    c["password"] = c["superuser"]["password"];
    c["database"] = superuser_database;
  }
  return c;
}

}  // namespace

Result<ProcessOptions> PgClient(Daemon& daemon, const std::string& instance,
                                const std::string& tool, std::vector<std::string> args,
                                bool superuser) {
  ASSIGN_OR_RETURN(json c, LoginOf(daemon, instance, superuser, "postgres"));
  std::string socket = c["socket"];
  std::string dir = socket.substr(0, socket.rfind('/'));
  ASSIGN_OR_RETURN(std::string bin, engines::FindPgBinDir());
  ProcessOptions o;
  o.argv = {
      JoinPath(bin, tool),         "-h", dir, "-p", std::to_string(c["port"].get<int>()), "-U",
      c["user"].get<std::string>()};
  // pg_amcheck's -d is a pattern of databases to check, given by the caller.
  if (tool != "pg_amcheck") {
    o.argv.push_back("-d");
    o.argv.push_back(c["database"].get<std::string>());
  }
  o.argv.insert(o.argv.end(), args.begin(), args.end());
  o.env = {"PGPASSWORD=" + c["password"].get<std::string>()};
  return o;
}

Result<std::string> Psql(Daemon& daemon, const std::string& instance, const std::string& sql,
                         bool superuser) {
  ASSIGN_OR_RETURN(ProcessOptions o,
                   PgClient(daemon, instance, "psql",
                            {"-X", "-A", "-t", "-v", "ON_ERROR_STOP=1", "-c", sql}, superuser));
  ASSIGN_OR_RETURN(std::string out, RunChecked(o, std::chrono::minutes(2)));
  while (!out.empty() && out.back() == '\n') out.pop_back();
  return out;
}

Result<std::string> MariaSql(Daemon& daemon, const std::string& instance, const std::string& sql,
                             bool superuser) {
  ASSIGN_OR_RETURN(json c, LoginOf(daemon, instance, superuser, ""));
  ProcessOptions o;
  o.argv = {"mariadb",
            "--no-defaults",
            "--protocol=tcp",
            "-h",
            c["host"].get<std::string>(),
            "-P",
            std::to_string(c["port"].get<int>()),
            "-u",
            c["user"].get<std::string>(),
            "-N",
            "-B",
            "-e",
            sql};
  o.env = {"MYSQL_PWD=" + c["password"].get<std::string>()};
  ASSIGN_OR_RETURN(std::string out, RunChecked(o, std::chrono::minutes(2)));
  while (!out.empty() && out.back() == '\n') out.pop_back();
  return out;
}

std::string WriteOffsiteConfig(const std::string& dir, const std::string& endpoint,
                               const json& settings) {
  const std::string credentials = JoinPath(dir, "s3.credentials"),
                    key = JoinPath(dir, "offsite.key");
  WriteFile(credentials, "[default]\naws_access_key_id = S3RVER\naws_secret_access_key = S3RVER\n");
  WriteFile(key, std::string(64, 'e'));
  ::chmod(credentials.c_str(), 0600);
  ::chmod(key.c_str(), 0600);
  json config = settings;
  config["repositories"] = {{{"name", "offsite"},
                             {"endpoint", endpoint},
                             {"bucket", "offsite"},
                             {"credentialsFile", credentials},
                             {"encryption", {{"keyFile", key}}}}};
  const std::string path = JoinPath(dir, "offsite.json");
  WriteFile(path, config.dump());
  return path;
}

void RemoveOffline(const std::string& repository, const std::string& snapshot) {
  for (const std::vector<std::string>& argv :
       {std::vector<std::string>{DBAAS_CLI_BINARY, "snapshot", "rm", "--repo", repository,
                                 snapshot},
        std::vector<std::string>{DBAAS_CLI_BINARY, "repo", "gc", repository}}) {
    ProcessOptions cli;
    cli.argv = argv;
    auto ran = RunProcess(cli, std::chrono::seconds(60));
    ASSERT_TRUE(ran.ok() && ran->exit_code == 0)
        << (ran.ok() ? ran->output : ran.status().ToString());
  }
}

int ConnectLoopback(int port, std::chrono::seconds timeout) {
  int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0) return -1;
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_port = htons(static_cast<uint16_t>(port));
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  timeval tv{static_cast<time_t>(timeout.count()), 0};
  ::setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
  ::setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof tv);
  if (::connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0) {
    ::close(fd);
    return -1;
  }
  return fd;
}

int RawRequest(int port, const std::string& bytes, bool close_sending) {
  int fd = ConnectLoopback(port);
  if (fd < 0) return -1;
  (void)!::send(fd, bytes.data(), bytes.size(), MSG_NOSIGNAL);
  if (close_sending) ::shutdown(fd, SHUT_WR);
  std::string answer;
  char buf[4096];
  ssize_t n;
  while ((n = ::recv(fd, buf, sizeof buf, 0)) > 0 && answer.size() < 65536) answer.append(buf, n);
  ::close(fd);
  if (!answer.starts_with("HTTP/1.")) return 0;
  return std::atoi(answer.c_str() + 9);
}

}  // namespace dbaas::testing
