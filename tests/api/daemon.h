// A real dbaasd for end-to-end tests: started as a child process on a fresh data root and
// a free loopback port, spoken to over HTTP with its bearer token.
#pragma once

#include <chrono>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include <httplib.h>
#include <nlohmann/json.hpp>

#include "base/process.h"
#include "base/status.h"

namespace dbaas::testing {

struct HttpAnswer {
  int status = 0;  // 0: no answer (connection failed)
  nlohmann::json body;
  std::string raw;
};

class Daemon {
 public:
  explicit Daemon(std::string data_root) : data_root_(std::move(data_root)) {}
  ~Daemon();  // SIGKILL if still running (the test failed); servers are stopped by Stop()

  // Speak HTTPS, trusting `ca_cert` (for a daemon started with --tls-cert/--tls-key).
  void UseTls(std::string ca_cert) { ca_cert_ = std::move(ca_cert); }
  // Starts dbaasd with extra environment entries ("NAME=value") and arguments, and waits
  // for /healthz.
  Status Start(const std::vector<std::string>& env = {}, const std::vector<std::string>& args = {});
  // SIGTERM and wait for a clean exit; returns its exit code.
  Result<int> Stop();
  // kill -9: no cleanup of any kind runs.
  void Kill();
  pid_t pid() const { return process_ ? process_->pid() : -1; }
  int port() const { return port_; }
  const std::string& token() const { return token_; }
  const std::string& data_root() const { return data_root_; }

  HttpAnswer Get(const std::string& path);
  HttpAnswer Post(const std::string& path, const std::string& body);
  HttpAnswer Post(const std::string& path, const nlohmann::json& body) {
    return Post(path, body.dump());
  }
  HttpAnswer Delete(const std::string& path);
  HttpAnswer Patch(const std::string& path, const nlohmann::json& body);
  // Polls GET /jobs/:id until it ends (or 120 s pass); returns the job.
  nlohmann::json WaitJob(const std::string& id);
  // Polls until the job is running.
  void WaitJobRunning(const std::string& id);
  // Polls the daemon's log (stdout and stderr) until it holds `text`, for up to 60 s;
  // false if it never did. For the kill points' "holding at ..." lines.
  bool WaitLogSays(const std::string& text);

 private:
  std::unique_ptr<httplib::Client> Client() const;
  // Plain HTTP, or HTTPS checked against ca_cert_ when it is set.
  std::unique_ptr<httplib::Client> Connection() const;
  std::string data_root_;
  std::string ca_cert_;
  int port_ = 0;
  std::string token_;
  std::optional<Process> process_;
};

// The postmasters running on instances under `data_root` ("postgres -D <data_root>/...")
// with their parent pids.
std::map<pid_t, pid_t> PostmastersUnder(const std::string& data_root);

// A PostgreSQL client tool (psql, pgbench, pg_amcheck, ...) of the server's version,
// connected to `instance` over its socket as the login the API shows (the tenant's, in its
// database), or as the superuser in `postgres`; `args` follow the connection's.
Result<ProcessOptions> PgClient(Daemon& daemon, const std::string& instance,
                                const std::string& tool, std::vector<std::string> args,
                                bool superuser = false);

// Runs SQL on an instance through psql over its socket, as the login the API shows (the
// tenant's, in its database), or as the superuser in `postgres` (an instance made with
// superuserAccess).
Result<std::string> Psql(Daemon& daemon, const std::string& instance, const std::string& sql,
                         bool superuser = false);

// Runs SQL on a MariaDB/MySQL instance with the mariadb client over TCP, with the host,
// port, user and password the API shows (or the superuser's); tab-separated rows.
Result<std::string> MariaSql(Daemon& daemon, const std::string& instance, const std::string& sql,
                             bool superuser = false);

// Writes, in `dir`, dbaasd's config naming one encrypted bucket `offsite` at `endpoint` (an
// S3TestServer's, with its credentials and a key file, both 0600), with `settings` beside it;
// returns the config's path.
std::string WriteOffsiteConfig(const std::string& dir, const std::string& endpoint,
                               const nlohmann::json& settings);

// Removes a snapshot from a repository while no daemon runs, and collects its data (with
// the dbaas CLI): a backup whose local copy was lost. Fails the test if either step fails.
void RemoveOffline(const std::string& repository, const std::string& snapshot);

// A TCP connection to 127.0.0.1:port with send and receive timeouts; -1 if it failed.
int ConnectLoopback(int port, std::chrono::seconds timeout = std::chrono::seconds(5));

// Sends raw bytes to 127.0.0.1:port and returns the status code of the answer, 0 if the
// connection closed without one, -1 if it could not connect. `close_sending` half-closes
// after the bytes, so a request that never ends cannot hang the caller.
int RawRequest(int port, const std::string& bytes, bool close_sending = true);

}  // namespace dbaas::testing
