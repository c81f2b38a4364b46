#include "agent/pod_agent.h"
#include "agent/agent_replies.h"

#include <unistd.h>

#include <cerrno>

#include <fmt/format.h>
#include <spdlog/spdlog.h>

#include <nlohmann/json.hpp>

#include "base/files.h"
#include "base/hex.h"
#include "base/log.h"
#include "base/names.h"
#include "engines/backup_facts.h"
#include "engines/log_spool.h"
#include "http/bearer.h"
#include "http/error_codes.h"
#include "kube/instance_objects.h"
#include "storage/wal_archive.h"

namespace dbaas::agent {
namespace {

using nlohmann::json;

constexpr size_t kMinTokenLength = 32;

// A file of the Secret's mount. The kubelet makes each a link into a hidden directory it
// swaps on an update, so links are followed here: the mount is read-only and the kubelet's,
// not a path the tenant writes.
Result<std::string> ReadSecret(const std::string& dir, const char* file) {
  auto text = ReadFileToString(JoinPath(dir, file), 1 << 20);
  if (!text.ok()) {
    return Status(text.status().code(),
                  fmt::format("cannot read the agent's secret '{}' in '{}': {}", file, dir,
                              text.status().message()),
                  "the instance's Secret must hold agent-token, agent.crt and agent.key, mounted "
                  "at --secrets");
  }
  std::string value = std::move(text).value();
  while (!value.empty() && (value.back() == '\n' || value.back() == '\r')) value.pop_back();
  return value;
}

// The ConfigMap's settings.json: a JSON object of strings (the instance's settings by the
// engine's own names).
Result<std::map<std::string, std::string>> ReadSettings(const std::string& path) {
  std::map<std::string, std::string> settings;
  if (path.empty()) return settings;
  ASSIGN_OR_RETURN(std::string text, ReadFileToString(path, 1 << 20));
  json parsed = json::parse(text, nullptr, false);
  if (!parsed.is_object()) {
    return Status::InvalidArgument(fmt::format("settings '{}' are not a JSON object", path),
                                   "the instance's ConfigMap holds settings.json: {\"name\": "
                                   "\"value\", ...}");
  }
  for (const auto& [key, value] : parsed.items()) {
    if (!value.is_string()) {
      return Status::InvalidArgument(fmt::format("setting '{}' in '{}' is not a string", key, path),
                                     "write every value as a string, as the API takes them");
    }
    settings[key] = value.get<std::string>();
  }
  return settings;
}

json LoginJson(const engines::ConnectionInfo& c) {
  return {{"host", c.host},         {"port", c.port},         {"user", c.user},
          {"password", c.password}, {"database", c.database}, {"uri", c.Uri(true)}};
}

}  // namespace

Result<std::unique_ptr<PodAgent>> PodAgent::Open(const AgentOptions& options) {
  RETURN_IF_ERROR(ValidateName("instance name", options.name));
  if (options.engine != "postgresql" && options.engine != "mariadb") {
    return Status::InvalidArgument(
        fmt::format("the agent runs PostgreSQL and MariaDB instances, not '{}'", options.engine),
        "type mysql is served by MariaDB on the local runtime only (docs/KUBERNETES.md)");
  }
  if (options.data.empty() || options.data[0] != '/') {
    return Status::InvalidArgument(
        fmt::format("--data '{}' is not an absolute path", options.data),
        "give the directory on the instance's volume, e.g. /var/lib/dbaas/data");
  }
  if (options.address.empty()) {
    return Status::InvalidArgument("the pod's address is not known",
                                   "pass --address, or set POD_IP (the downward API's "
                                   "status.podIP) in the container's environment");
  }
  std::unique_ptr<PodAgent> agent(new PodAgent());
  agent->options_ = options;
  ASSIGN_OR_RETURN(agent->token_, ReadSecret(options.secrets_dir, kube::kAgentTokenFile));
  if (agent->token_.size() < kMinTokenLength) {
    return Status::InvalidArgument(
        fmt::format("the agent's token in '{}' has {} characters; it needs at least {}",
                    JoinPath(options.secrets_dir, kube::kAgentTokenFile), agent->token_.size(),
                    kMinTokenLength),
        "the daemon writes a random token of 64 hex digits into the instance's Secret");
  }
  ASSIGN_OR_RETURN(auto settings, ReadSettings(options.settings_file));
  agent->runtime_ =
      std::make_unique<runtime::LocalRuntime>(runtime::PodNetwork{.address = options.address});
  agent->engines_ = engines::PackagedEngines(*agent->runtime_);
  ASSIGN_OR_RETURN(const engines::Engine* engine, agent->engines_->For(options.engine));
  agent->engine_ = engine;
  RETURN_IF_ERROR(engine->ValidateConfig(settings));
  engines::InstanceSpec spec;
  spec.name = options.name;
  spec.data_root = options.data;
  spec.type = options.engine;
  spec.port = options.database_port != 0
                  ? options.database_port
                  : static_cast<uint16_t>(kube::DatabasePort(options.engine));
  spec.config = settings;
  spec.bin_dir = options.bin_dir;
  spec.runtime = agent->runtime_.get();
  // The server archives its log for the archive in the daemon's repository the Secret
  // names, which the daemon drains through this agent (/v1/wal): PostgreSQL its WAL into a
  // spool on the volume, MariaDB its binlog, kept until the daemon has stored it.
  if (PathExists(JoinPath(options.secrets_dir, kube::kAgentWalArchiveFile))) {
    ASSIGN_OR_RETURN(spec.archiving.spool_archive_id,
                     ReadSecret(options.secrets_dir, kube::kAgentWalArchiveFile));
    RETURN_IF_ERROR(storage::ValidateArchiveId(spec.archiving.spool_archive_id));
    if (options.engine == "postgresql" && options.dbaas_binary.empty()) {
      return Status::InvalidArgument(
          "the agent's own path is not known: the server could not "
          "archive its WAL through it");
    }
    spec.archiving.dbaas_binary = options.dbaas_binary;
  }

  const std::string dir = JoinPath(options.data, options.name);
  if (!options.restore_from.empty()) {
    RETURN_IF_ERROR(ValidateName("--restore-from", options.restore_from));
    if (!PathExists(JoinPath(options.data, kRestoredMarker))) {
      // A claim made from a VolumeSnapshot holds the copy; an empty one gets it from the
      // daemon (PUT /v1/restore/copy: a backup in its repository).
      const bool holds_copy = PathExists(JoinPath(options.data, options.restore_from)) ||
                              PathExists(JoinPath(options.data, kVolumeCopy));
      agent->restore_spec_ = spec;
      RETURN_IF_ERROR(agent->MakeServer());
      spdlog::info("instance {}: waiting for the daemon to restore it from instance {}'s copy{}",
                   options.name, options.restore_from,
                   holds_copy ? "" : " (the volume is empty: the daemon sends the copy)");
      return agent;
    }
  }
  RETURN_IF_ERROR(agent->MakeServer());
  if (PathExists(dir) && !PathExists(JoinPath(dir, "instance.json"))) {
    // Its making was cut off (the pod killed during initdb): nothing in it is anyone's yet.
    spdlog::warn("instance {}: its making was cut off; removing what was made and starting over",
                 options.name);
    RETURN_IF_ERROR(agent->engines_->RemoveRemains(options.data, options.name));
  }
  if (PathExists(dir)) {
    ASSIGN_OR_RETURN(agent->instance_, agent->engines_->Open(options.data, options.name));
    spdlog::info("instance {}: opened in {}", options.name, dir);
    // A copy a killed pod left (nothing of the last container runs in this one).
    RETURN_IF_ERROR(engine->RemoveCopyLeftovers(*agent->instance_));
  } else {
    ASSIGN_OR_RETURN(agent->instance_, engine->Create(spec));
    spdlog::info("instance {}: made in {}", options.name, dir);
  }
  if (PathExists(JoinPath(options.data, kStoppedMarker))) {
    spdlog::info("instance {}: stopped by the daemon; the server stays down until it starts it",
                 options.name);
    return agent;
  }
  RETURN_IF_ERROR(agent->instance_->Start());
  spdlog::info("instance {}: server started, listening on {}:{}", options.name, options.address,
               agent->instance_->endpoint().port);
  return agent;
}

bool PodAgent::Made(http::Response& res) const {
  if (instance_) return true;
  SendJson(res, 409,
           ErrorBody("restoring", Status::FailedPrecondition(
                                      fmt::format("instance {} waits for its restore from "
                                                  "instance {}'s volume copy",
                                                  options_.name, options_.restore_from),
                                      "POST /v1/restore first")));
  return false;
}

PodAgent::~PodAgent() {
  StopBackups();
  std::lock_guard lock(mu_);
  if (instance_) WarnIfError(instance_->Stop(), "stop the server");
}

json PodAgent::VolumeJson() const {
  // Walking the instance's files costs in proportion to them: at most every 30 s.
  const auto now = std::chrono::steady_clock::now();
  if (volume_measured_ == std::chrono::steady_clock::time_point() ||
      now - volume_measured_ > std::chrono::seconds(30)) {
    volume_measured_ = now;
    volume_ = nullptr;
    if (auto probe = instance_->volume_probe()) {
      if (auto stats = probe(); stats.ok()) {
        volume_ = {{"usedBytes", stats->used_bytes}, {"exclusiveBytes", stats->exclusive_bytes}};
      }
    }
  }
  return volume_;
}

json PodAgent::InstanceJson() const {
  if (!instance_) {
    return {{"name", options_.name}, {"type", options_.engine}, {"restoring", true},
            {"running", false},      {"answers", false},        {"restarts", 0}};
  }
  json j = {{"name", instance_->name()},
            {"type", options_.engine},
            {"running", instance_->running()},
            {"answers", instance_->answers()},
            {"restarts", instance_->restarts()},
            {"standby", instance_->standby()},
            {"login", LoginJson(instance_->login())},
            {"superuser", LoginJson(instance_->endpoint())},
            {"volume", VolumeJson()}};
  // The server's archive_command failing (its status file, which the server's user writes).
  if (auto spool = instance_->log_spool()) j["archiveFailure"] = engines::PushNote(*spool);
  return j;
}

void PodAgent::AddRoutes(http::HttpServer& server) {
  server.Get("/healthz", [](const http::Request&, http::Response& res) {
    SendJson(res, 200, {{"status", "ok"}});
  });
  server.Get("/readyz", [this](const http::Request&, http::Response& res) {
    std::lock_guard lock(mu_);
    const bool answers = instance_ && instance_->answers();
    SendJson(res, answers ? 200 : 503, {{"ready", answers}});
  });
  server.Get("/v1/instance", [this](const http::Request&, http::Response& res) {
    std::lock_guard lock(mu_);
    SendJson(res, 200, InstanceJson());
  });
  // Start and stop: the instance's own, answered with its state, or the reason it failed.
  // A stop lasts until the start, across restarts of the pod (kStoppedMarker): the marker
  // goes before a start (a pod restarted after a start that failed tries again) and comes
  // before a stop (a pod restarted while the server stops keeps it down; a marker that cannot
  // be written fails the stop with the server still up).
  auto act = [this](const char* failed,
                    Status (engines::Instance::*step)(std::chrono::milliseconds),
                    std::chrono::milliseconds timeout) {
    return [this, failed, step, timeout](const http::Request&, http::Response& res) {
      std::lock_guard lock(mu_);
      if (!Made(res)) return;
      const std::string marker = JoinPath(options_.data, kStoppedMarker);
      const bool starting = step == &engines::Instance::Start;
      Status done = Status::Ok();
      if (starting && ::unlink(marker.c_str()) != 0 && errno != ENOENT) {
        done = ErrnoStatus("unlink", marker, errno);
      }
      if (!starting) done = WriteFileAtomic(marker, "", 0600);
      if (done.ok()) done = (instance_.get()->*step)(timeout);
      if (!done.ok()) {
        SendJson(res, http::HttpStatusOf(done.code()), ErrorBody(failed, done));
        return;
      }
      SendJson(res, 200, InstanceJson());
    };
  };
  server.Post("/v1/start",
              act("start_failed", &engines::Instance::Start, std::chrono::seconds(60)));
  // Stopping the server abandons a volume backup held, and none begins until it is down.
  auto stop = act("stop_failed", &engines::Instance::Stop, std::chrono::seconds(30));
  server.Post("/v1/stop", [this, stop](const http::Request& req, http::Response& res) {
    std::lock_guard lock(backup_mu_);
    DropBackup("the server is being stopped");
    stop(req, res);
  });
  AddBackupRoutes(server);
  AddCopyRoutes(server);
  AddWalRoutes(server);
  AddRestoreRoutes(server);
}

namespace {

constexpr int kDefaultLeaseSeconds = 120;
constexpr int kMaxLeaseSeconds = 3600;
constexpr size_t kMaxLabelLength = 200;

// POST /v1/backups's (and a renewal's) body: {label?, leaseSeconds?, copy?}; copy: the files
// are to be read through GET /v1/backups/:id/range (Engine::BeginCopyBackup).
struct BackupRequest {
  std::string label;
  int lease_seconds = kDefaultLeaseSeconds;
  bool copy = false;
};

// The reason when the body is wrong.
Status ParseBackupRequest(const std::string& body, BackupRequest& request) {
  if (body.empty()) return Status::Ok();
  json parsed = json::parse(body, nullptr, false);
  if (!parsed.is_object()) return Status::InvalidArgument("the body is not a JSON object");
  if (parsed.contains("label")) {
    const json& l = parsed["label"];
    if (!l.is_string() || l.get<std::string>().empty() ||
        l.get<std::string>().size() > kMaxLabelLength) {
      return Status::InvalidArgument(
          fmt::format("label must be a string of 1 to {} characters", kMaxLabelLength));
    }
    request.label = l.get<std::string>();
    for (char c : request.label) {
      if (c < 0x20 || c > 0x7e) {
        return Status::InvalidArgument("label must be printable ASCII",
                                       "it is written into backup_label, a line of text");
      }
    }
  }
  if (parsed.contains("leaseSeconds")) {
    const json& l = parsed["leaseSeconds"];
    if (!l.is_number_integer() || l.get<int64_t>() < 1 || l.get<int64_t>() > kMaxLeaseSeconds) {
      return Status::InvalidArgument(
          fmt::format("leaseSeconds must be an integer from 1 to {}", kMaxLeaseSeconds));
    }
    request.lease_seconds = l.get<int>();
  }
  if (parsed.contains("copy")) {
    if (!parsed["copy"].is_boolean()) return Status::InvalidArgument("copy must be true or false");
    request.copy = parsed["copy"].get<bool>();
  }
  return Status::Ok();
}

json FactsJson(const engines::BackupFacts& facts) {
  json j = json::object();
  for (const auto& [key, value] : engines::ToAnnotations(facts)) j[key] = value;
  return j;
}

}  // namespace

void PodAgent::DropBackup(const std::string& why) {
  if (!backup_) return;
  if (backup_end_) {
    spdlog::info("instance {}: volume backup {} released: {}", options_.name, backup_id_, why);
  } else {
    spdlog::warn("instance {}: volume backup {} abandoned: {}", options_.name, backup_id_, why);
  }
  backup_.reset();  // leaves backup mode, releases the log
  backup_end_.reset();
  backup_id_.clear();
  leases_changed_.notify_all();
}

void PodAgent::StopBackups() {
  {
    std::lock_guard lock(backup_mu_);
    stopping_ = true;
    leases_changed_.notify_all();
  }
  if (lease_watcher_.joinable()) lease_watcher_.join();
  std::lock_guard lock(backup_mu_);
  DropBackup("the agent is stopping");
}

void PodAgent::WatchLeases() {
  std::unique_lock lock(backup_mu_);
  while (!stopping_) {
    if (backup_ && std::chrono::steady_clock::now() >= backup_deadline_) {
      DropBackup("its lease ran out before the daemon ended it");
      continue;
    }
    if (backup_) {
      leases_changed_.wait_until(lock, backup_deadline_);
    } else {
      leases_changed_.wait(lock);
    }
  }
}

bool PodAgent::HeldBackup(const http::Request& req, http::Response& res) const {
  if (backup_ && req.matches[1] == backup_id_) return true;
  SendJson(
      res, 404,
      ErrorBody("no_such_backup",
                Status::NotFound(fmt::format("no volume backup {} is held", req.matches[1]),
                                 "it ended, was abandoned, or its lease ran out: begin another")));
  return false;
}

void PodAgent::AddBackupRoutes(http::HttpServer& server) {
  server.Post("/v1/backups", [this](const http::Request& req, http::Response& res) {
    BackupRequest request;
    request.label = "dbaas volume backup of " + options_.name;
    if (Status st = ParseBackupRequest(req.body, request); !st.ok()) {
      SendJson(res, 400, ErrorBody("bad_request", st));
      return;
    }
    std::unique_lock lock(backup_mu_);
    if (backup_ || copying_) {
      json body = ErrorBody("backup_in_progress",
                            Status::FailedPrecondition(
                                backup_ ? fmt::format("volume backup {} is in progress", backup_id_)
                                        : std::string("a backup's copy is being made"),
                                "end or abandon it first, or wait for its lease to run out"));
      // A daemon whose begin timed out can end or abandon it.
      if (backup_) body["id"] = backup_id_;
      SendJson(res, 409, body);
      return;
    }
    engines::Instance* instance = nullptr;
    {
      std::lock_guard made(mu_);  // set once, by Open or the restore
      if (!Made(res)) return;
      instance = instance_.get();
    }
    // A copy (MariaDB: mariadb-backup's, made here) may take long: made without the lock,
    // so that nothing waits for it (another begin is refused meanwhile; a stop of the
    // server fails it).
    Result<std::unique_ptr<engines::VolumeBackup>> begun = Status::Internal("not begun");
    if (request.copy) {
      copying_ = true;
      lock.unlock();
      begun = engine_->BeginCopyBackup(*instance, request.label);
      lock.lock();
      copying_ = false;
      if (begun.ok() && stopping_) {
        begun = Status::Busy("the agent is stopping", "back up once the pod runs again");
      }
    } else {
      begun = engine_->BeginVolumeBackup(*instance, request.label);
    }
    if (!begun.ok()) {
      const StatusCode code = begun.status().code();
      const char* error = code != StatusCode::kFailedPrecondition ? "backup_failed"
                          : request.copy                          ? "backup_refused"
                                                                  : "not_running";
      SendJson(res, http::HttpStatusOf(code), ErrorBody(error, begun.status()));
      return;
    }
    backup_ = std::move(begun.value());
    backup_id_ = RandomHex(8);
    backup_deadline_ =
        std::chrono::steady_clock::now() + std::chrono::seconds(request.lease_seconds);
    leases_changed_.notify_all();
    spdlog::info("instance {}: {} backup {} begun at {} (lease {} s)", options_.name,
                 request.copy ? "copy" : "volume", backup_id_, backup_->begun().start_lsn,
                 request.lease_seconds);
    SendJson(res, 201,
             {{"id", backup_id_},
              {"leaseSeconds", request.lease_seconds},
              {"begun", FactsJson(backup_->begun())}});
  });
  // Idempotent: a daemon whose answer was lost asks again and gets the same end.
  server.Post("/v1/backups/:id/end", [this](const http::Request& req, http::Response& res) {
    std::lock_guard lock(backup_mu_);
    if (!HeldBackup(req, res)) return;
    if (!backup_end_) {
      auto ended = backup_->End();
      if (!ended.ok()) {
        SendJson(res, http::HttpStatusOf(ended.status().code()),
                 ErrorBody("backup_failed", ended.status()));
        DropBackup("ending it failed: " + ended.status().message());
        return;
      }
      spdlog::info("instance {}: volume backup {} ended at {}; its log held until released",
                   options_.name, backup_id_, ended->facts.stop_lsn);
      backup_end_ = std::move(ended.value());
    }
    json log_files = json::array();
    for (const auto& entry : backup_end_->log_files) log_files.push_back(entry.first);
    SendJson(res, 200,
             {{"id", backup_id_},
              {"facts", FactsJson(backup_end_->facts)},
              {"files", backup_end_->files},
              {"logFiles", std::move(log_files)}});
  });
  // One of the log files an ended backup names (?path=, as `end` listed it), as bytes. The
  // lock is held while it is read: a release waits for the read (a segment, 16 MiB).
  server.Get("/v1/backups/:id/file", [this](const http::Request& req, http::Response& res) {
    std::lock_guard lock(backup_mu_);
    if (!HeldBackup(req, res)) return;
    const std::string path = req.get_param_value("path");
    std::string source;
    if (backup_end_) {
      if (auto it = backup_end_->log_files.find(path); it != backup_end_->log_files.end()) {
        source = it->second;
      }
    }
    if (source.empty()) {
      SendJson(
          res, 404,
          ErrorBody("no_such_file",
                    Status::NotFound(
                        fmt::format("volume backup {} names no log file '{}'", backup_id_, path),
                        "end the backup first; ask only for the logFiles its end listed")));
      return;
    }
    auto content = ReadFileToString(source, engines::kMaxVolumeLogFileBytes);
    if (!content.ok()) {
      SendJson(res, 500, ErrorBody("backup_failed", content.status()));
      return;
    }
    res.status = 200;
    res.set_content(std::move(content).value(), "application/octet-stream");
  });
  server.Post("/v1/backups/:id/renew", [this](const http::Request& req, http::Response& res) {
    BackupRequest request;
    if (Status st = ParseBackupRequest(req.body, request); !st.ok()) {
      SendJson(res, 400, ErrorBody("bad_request", st));
      return;
    }
    std::lock_guard lock(backup_mu_);
    if (!HeldBackup(req, res)) return;
    backup_deadline_ =
        std::chrono::steady_clock::now() + std::chrono::seconds(request.lease_seconds);
    leases_changed_.notify_all();
    SendJson(res, 200, {{"id", backup_id_}, {"leaseSeconds", request.lease_seconds}});
  });
  server.Delete("/v1/backups/:id", [this](const http::Request& req, http::Response& res) {
    std::lock_guard lock(backup_mu_);
    if (!HeldBackup(req, res)) return;
    DropBackup(backup_end_ ? "the daemon has its log" : "the daemon abandoned it");
    res.status = 204;
  });
}

Status PodAgent::MakeServer() {
  ASSIGN_OR_RETURN(auto listen, http::ParseListen(options_.listen, "--listen"));
  http::HttpOptions http_options;
  http_options.host = listen.first.empty() ? "0.0.0.0" : listen.first;
  http_options.port = listen.second;
  http_options.tls_cert_file = JoinPath(options_.secrets_dir, kube::kAgentCertFile);
  http_options.tls_key_file = JoinPath(options_.secrets_dir, kube::kAgentKeyFile);
  http_options.threads = 8;  // one daemon, a probe or two
  // A restore's log files come as bodies (WAL segments, 16 MiB by default); nothing else
  // is larger than a little JSON.
  http_options.max_body = restore_spec_ ? engines::kMaxRestorableLogFileBytes : 64 << 10;
  server_ = std::make_unique<http::HttpServer>(http_options);
  const std::string token = token_;
  using HandlerResponse = http::HttpServer::HandlerResponse;
  server_->set_pre_routing_handler([token](http::Request& req, http::Response& res) {
    if (req.path == "/healthz" || req.path == "/readyz") return HandlerResponse::kUnhandled;
    if (http::BearerTokenMatches(req.get_header_value("Authorization"), token)) {
      req.authenticated = true;
      return HandlerResponse::kUnhandled;
    }
    SendJson(res, 401,
             ErrorBody("unauthorized",
                       Status::InvalidArgument("missing or wrong bearer token",
                                               "send the instance's agent-token from its Secret")));
    return HandlerResponse::kHandled;
  });
  server_->set_error_handler([](const http::Request&, http::Response& res) {
    if (!res.body.empty()) return;
    SendJson(res, res.status,
             ErrorBody(res.status == 404 ? "not_found" : "bad_request",
                       Status::InvalidArgument(std::string(http::ReasonPhrase(res.status)))));
  });
  AddRoutes(*server_);
  return Status::Ok();
}

Status PodAgent::Serve() {
  RETURN_IF_ERROR(server_->Bind());
  spdlog::info("agent for instance {}: HTTPS on port {}", options_.name, server_->port());
  if (!options_.port_file.empty()) {
    RETURN_IF_ERROR(
        WriteFileAtomic(options_.port_file, std::to_string(server_->port()) + "\n", 0644));
  }
  lease_watcher_ = std::thread([this] { WatchLeases(); });
  server_->Run();
  StopBackups();
  std::lock_guard lock(mu_);
  if (!instance_) return Status::Ok();  // still waiting for its restore
  Status stopped = instance_->Stop();
  instance_.reset();
  return stopped;
}

void PodAgent::Stop() { server_->Stop(); }

}  // namespace dbaas::agent
