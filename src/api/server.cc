#include "api/server.h"

#include <sys/stat.h>

#include <charconv>
#include <chrono>

#include <fmt/format.h>
#include <openssl/crypto.h>
#include <spdlog/spdlog.h>

#include "api/error_codes.h"
#include "api/http_server.h"
#include "api/http_tls.h"
#include "api/json_views.h"
#include "base/files.h"
#include "base/hex.h"
#include "control/cron.h"

namespace dbaas::api {
namespace {

using http::Request;
using http::Response;
using nlohmann::json;

constexpr auto kWaitForever = std::chrono::hours(24 * 365);

// Bytes that are not UTF-8 (they can come from the request) are replaced, never thrown on.
std::string Dump(const json& body) {
  return body.dump(-1, ' ', false, json::error_handler_t::replace);
}

void Send(Response& res, int status, const json& body) {
  res.status = status;
  res.set_content(Dump(body), "application/json");
}

void SendError(Response& res, const Status& st) {
  Send(res, HttpStatusOf(st.code()),
       ErrorJson(std::string(WireCode(st.code())), st.message(), st.hint()));
}

// Answers a list as {success, count, <key>: [...]}, each item through `to_json`; or the
// error that kept the list from being read.
template <typename T, typename ToJson>
void SendList(Response& res, const Result<std::vector<T>>& list, const char* key, ToJson to_json) {
  if (!list.ok()) return SendError(res, list.status());
  json items = json::array();
  for (const T& item : list.value()) items.push_back(to_json(item));
  Send(res, 200, {{"success", true}, {"count", items.size()}, {key, std::move(items)}});
}

// A request body as a JSON object with only the `allowed` keys. An empty body is {}.
Result<json> ParseBody(const Request& req, std::initializer_list<std::string_view> allowed) {
  if (req.body.empty()) return json::object();
  json body = json::parse(req.body, nullptr, false);
  if (body.is_discarded()) return Status::InvalidArgument("the request body is not valid JSON");
  if (!body.is_object()) return Status::InvalidArgument("the request body must be a JSON object");
  for (auto it = body.begin(); it != body.end(); ++it) {
    if (std::find(allowed.begin(), allowed.end(), it.key()) == allowed.end()) {
      std::string names;
      for (auto a : allowed) names += (names.empty() ? "" : ", ") + std::string(a);
      return Status::InvalidArgument(fmt::format("unknown field '{}'", it.key()),
                                     fmt::format("this request takes: {}", names));
    }
  }
  return body;
}

// An optional string field; null counts as absent.
Result<std::string> StringField(const json& body, const char* key, bool required = false) {
  if (!body.contains(key) || body[key].is_null()) {
    if (required) return Status::InvalidArgument(fmt::format("{} is required", key));
    return std::string();
  }
  if (!body[key].is_string())
    return Status::InvalidArgument(fmt::format("{} must be a string", key));
  return body[key].get<std::string>();
}

// At most one of targetTime (RFC 3339), targetLsn, targetName, target ("latest").
Result<engines::RecoveryTarget> ParseRecoveryTarget(const json& body) {
  using Kind = engines::RecoveryTarget::Kind;
  engines::RecoveryTarget t;
  int given = 0;
  for (const char* key : {"targetTime", "targetLsn", "targetName", "target"}) {
    ASSIGN_OR_RETURN(std::string value, StringField(body, key));
    if (value.empty()) continue;
    ++given;
    if (std::string_view(key) == "targetTime") {
      t.kind = Kind::kTime;
      ASSIGN_OR_RETURN(t.time_unix_us, catalog::ParseRfc3339(value));
    } else if (std::string_view(key) == "targetLsn") {
      t.kind = Kind::kLsn;
      t.lsn = value;
    } else if (std::string_view(key) == "targetName") {
      t.kind = Kind::kName;
      t.name = value;
    } else if (value == "latest") {
      t.kind = Kind::kLatest;
    } else {
      return Status::InvalidArgument(fmt::format("target '{}' is not known", value),
                                     "target is \"latest\"; or give targetTime, targetLsn or "
                                     "targetName");
    }
  }
  if (given > 1) {
    return Status::InvalidArgument("give one of targetTime, targetLsn, targetName and target");
  }
  return t;
}

json RestorePointJson(const catalog::RestorePointRecord& p) {
  return {{"name", p.name},
          {"instance", p.instance},
          {"lsn", p.lsn},
          {"walArchive", p.wal_archive},
          {"createdAt", p.created_at}};
}

json ScheduleJson(const catalog::ScheduleRecord& s) {
  json next = nullptr;
  if (auto cron = control::CronSchedule::Parse(s.cron, s.time_zone); cron.ok()) {
    if (auto at = cron->NextAfter(catalog::TimePointOf(s.last_slot_at))) {
      next = catalog::FormatRfc3339(*at);
    }
  }
  auto text_or_null = [](const std::string& t) { return t.empty() ? json(nullptr) : json(t); };
  return {{"id", s.id},
          {"instanceName", s.instance},
          {"cron", s.cron},
          {"timeZone", s.time_zone},
          {"retentionDays", s.retention_days ? json(*s.retention_days) : json(nullptr)},
          {"keepDaily", s.keep_daily},
          {"keepWeekly", s.keep_weekly},
          {"keepMonthly", s.keep_monthly},
          {"verify", s.verify},
          {"createdAt", s.created_at},
          {"nextRunAt", next},
          {"lastRunAt", text_or_null(s.last_run_at)},
          {"lastStatus", text_or_null(s.last_status)},
          {"lastMessage", text_or_null(s.last_message)}};
}

Result<bool> BoolField(const json& body, const char* key, bool absent) {
  if (!body.contains(key) || body[key].is_null()) return absent;
  if (!body[key].is_boolean())
    return Status::InvalidArgument(fmt::format("{} must be true or false", key));
  return body[key].get<bool>();
}

// An integer, or a string of one: the original design's documented requests send
// "retentionDays": "7", and a client written from them must work unchanged.
Result<std::optional<int>> IntField(const json& body, const char* key) {
  if (!body.contains(key) || body[key].is_null()) return std::optional<int>();
  const json& v = body[key];
  int64_t n = 0;
  if (v.is_number_integer()) {
    n = v.get<int64_t>();
  } else if (v.is_string()) {
    const std::string& text = v.get_ref<const std::string&>();
    auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), n);
    if (text.empty() || ec != std::errc() || end != text.data() + text.size()) {
      return Status::InvalidArgument(
          fmt::format("{} must be an integer (a number, or a string of digits), not \"{}\"", key,
                      text.substr(0, 40)));
    }
  } else {
    return Status::InvalidArgument(fmt::format("{} must be an integer", key));
  }
  if (n < INT32_MIN || n > INT32_MAX) {
    return Status::InvalidArgument(fmt::format("{} is out of range", key));
  }
  return std::optional<int>(static_cast<int>(n));
}

// config: an object of settings whose values are strings, numbers or booleans.
Result<std::map<std::string, std::string>> ConfigField(const json& body) {
  std::map<std::string, std::string> out;
  if (!body.contains("config") || body["config"].is_null()) return out;
  const json& config = body["config"];
  if (!config.is_object()) return Status::InvalidArgument("config must be an object");
  for (auto it = config.begin(); it != config.end(); ++it) {
    const json& v = it.value();
    if (v.is_string()) {
      out[it.key()] = v.get<std::string>();
    } else if (v.is_boolean()) {
      out[it.key()] = v.get<bool>() ? "on" : "off";
    } else if (v.is_number()) {
      out[it.key()] = v.dump();
    } else {
      return Status::InvalidArgument(
          fmt::format("config '{}' must be a string, a number or a boolean", it.key()));
    }
  }
  return out;
}

Result<bool> BoolParam(const Request& req, const char* key) {
  if (!req.has_param(key)) return false;
  std::string v = req.get_param_value(key);
  if (v == "true" || v == "1" || v.empty()) return true;
  if (v == "false" || v == "0") return false;
  return Status::InvalidArgument(fmt::format("query parameter {} must be true or false", key));
}

bool TokenMatches(const std::string& header, const std::string& token) {
  static constexpr std::string_view kBearer = "Bearer ";
  if (header.size() != kBearer.size() + token.size() || !header.starts_with(kBearer)) return false;
  return CRYPTO_memcmp(header.data() + kBearer.size(), token.data(), token.size()) == 0;
}

}  // namespace

Result<std::string> LoadOrCreateToken(const std::string& data_root) {
  std::string path = JoinPath(data_root, "api-token");
  auto existing = ReadFileToString(path);
  if (existing.ok()) {
    std::string token = existing.value();
    while (!token.empty() && (token.back() == '\n' || token.back() == ' ')) token.pop_back();
    if (token.size() < 32) {
      return Status::FailedPrecondition(fmt::format("token file '{}' is too short", path),
                                        "delete it; a new token is made at the next start");
    }
    return token;
  }
  if (existing.status().code() != StatusCode::kNotFound) return existing.status();
  std::string token = RandomHex(32);
  RETURN_IF_ERROR(WriteFileAtomic(path, token + "\n", 0600));
  return token;
}

Status CheckTls(const ApiOptions& o) {
  if (o.http.tls_cert_file.empty() && o.http.tls_key_file.empty()) return Status::Ok();
  if (o.http.tls_cert_file.empty() || o.http.tls_key_file.empty()) {
    return Status::InvalidArgument("TLS needs both a certificate and a private key",
                                   "give --tls-cert and --tls-key together");
  }
  for (const std::string* f : {&o.http.tls_cert_file, &o.http.tls_key_file}) {
    auto text = ReadFileFollowingLinks(*f, 1 << 20);
    if (!text.ok()) return text.status().WithContext("TLS file");
  }
  // OpenSSL loads both and checks that the key is the certificate's.
  return http::MakeTlsContext(o.http.tls_cert_file, o.http.tls_key_file).status();
}

// Limits, deadlines, keep-alive (5 s idle), TCP_NODELAY and the listen backlog are the
// HTTP server's (http_server.h).
ApiServer::ApiServer(control::Service& service, ApiOptions options)
    : service_(service),
      options_(std::move(options)),
      http_(std::make_unique<http::HttpServer>(options_.http)) {
  Routes();
}

ApiServer::~ApiServer() { Stop(); }

Status ApiServer::Bind() {
  RETURN_IF_ERROR(http_->Bind());
  port_ = http_->port();
  return Status::Ok();
}

void ApiServer::Run() { http_->Run(); }

void ApiServer::Stop() {
  if (http_) http_->Stop();
}

void ApiServer::Routes() {
  http::HttpServer& s = *http_;
  const std::string token = options_.token;
  using HandlerResponse = http::HttpServer::HandlerResponse;

  // Before the body is read: an unauthenticated client never gets a body read or a
  // handler run, and an authenticated request keeps its connection when others are closed
  // to make room (http_connections.h).
  s.set_pre_routing_handler([token](Request& req, Response& res) {
    if (token.empty()) {
      req.authenticated = true;
      return HandlerResponse::kUnhandled;
    }
    if (TokenMatches(req.get_header_value("Authorization"), token)) {
      req.authenticated = true;
      return HandlerResponse::kUnhandled;
    }
    if (req.path == "/healthz") return HandlerResponse::kUnhandled;
    Send(res, 401,
         ErrorJson("unauthorized", "missing or wrong bearer token",
                   "send 'Authorization: Bearer <token>'; the token is in <data-root>/api-token"));
    return HandlerResponse::kHandled;
  });
  // Whatever the HTTP server answers by itself (unknown route, 413, 431, bad request line)
  // still gets the API's error shape.
  const size_t max_body = options_.http.max_body;
  s.set_error_handler([max_body](const Request& req, Response& res) {
    if (!res.body.empty()) return;
    std::string code = res.status == 404   ? "not_found"
                       : res.status == 413 ? "payload_too_large"
                       : res.status == 431 ? "header_too_large"
                       : res.status < 500  ? "bad_request"
                                           : "internal";
    std::string message = res.status == 404   ? fmt::format("no route {} {}", req.method, req.path)
                          : res.status == 413 ? "the request body is too large"
                          : res.status == 431
                              ? "the request's header fields are too many or too large"
                              : fmt::format("the request was refused (HTTP {})", res.status);
    std::string hint = res.status == 413 ? fmt::format("at most {} bytes", max_body)
                       : res.status == 431
                           ? fmt::format("at most {} fields and {} bytes with the request line",
                                         http::HttpOptions().max_header_fields,
                                         http::HttpOptions().max_header_bytes)
                           : "";
    res.set_content(Dump(ErrorJson(code, message, hint)), "application/json");
  });
  s.set_exception_handler([](const Request& req, Response& res, std::exception_ptr ep) {
    std::string what = "unknown";
    try {
      std::rethrow_exception(ep);
    } catch (const std::exception& e) {
      what = e.what();
    } catch (...) {
    }
    spdlog::error("event=handler_exception method={} path={} error=\"{}\"", req.method, req.path,
                  what);
    Send(res, 500, ErrorJson("internal", "internal error: " + what));
  });
  s.set_logger([](const Request& req, const Response& res) {
    if (req.method == "GET") {
      spdlog::debug("event=http method={} path={} status={}", req.method, req.path, res.status);
    } else {
      spdlog::info("event=http method={} path={} status={}", req.method, req.path, res.status);
    }
  });

  // Answers a job-backed request: at once (202) with ?async=true, else when it has ended.
  auto finish = [this](const Request& req, Response& res, const Result<catalog::JobRecord>& job,
                       const std::function<void(const catalog::JobRecord&)>& on_success) {
    if (!job.ok()) return SendError(res, job.status());
    auto async = BoolParam(req, "async");
    if (async.ok() && async.value()) {
      res.set_header("Location", "/jobs/" + job->id);
      return Send(res, 202,
                  {{"success", true},
                   {"message", fmt::format("{} started", job->kind)},
                   {"jobId", job->id},
                   {"job", JobJson(job.value())}});
    }
    auto done = service_.WaitJob(job->id, kWaitForever);
    if (!done.ok()) return SendError(res, done.status());
    if (done->status != catalog::JobState::kSucceeded) {
      StatusCode code = done->error_code.value_or(StatusCode::kInternal);
      json body = ErrorJson(std::string(WireCode(code)), done->error_message,
                            done->result.value("hint", ""));
      body["jobId"] = done->id;
      return Send(res, HttpStatusOf(code), body);
    }
    on_success(done.value());
  };
  // async must parse before anything starts.
  auto check_async = [](const Request& req, Response& res) {
    auto async = BoolParam(req, "async");
    if (!async.ok()) SendError(res, async.status());
    return async.ok();
  };

  s.Get("/healthz", [this](const Request&, Response& res) {
    Send(res, 200,
         {{"success", true}, {"status", "ok"}, {"jobsInFlight", service_.jobs_in_flight()}});
  });

  s.Get("/instances", [this](const Request& req, Response& res) {
    auto secrets = BoolParam(req, "showSecrets");
    if (!secrets.ok()) return SendError(res, secrets.status());
    SendList(res, service_.ListInstances(), "instances",
             [&](const control::InstanceView& v) { return InstanceJson(v, secrets.value()); });
  });

  s.Post("/instances", [this, finish, check_async](const Request& req, Response& res) {
    if (!check_async(req, res)) return;
    auto body = ParseBody(req, {"name", "type", "size", "config", "superuserAccess"});
    if (!body.ok()) return SendError(res, body.status());
    control::CreateInstanceRequest r;
    auto name = StringField(*body, "name", true);
    auto type = StringField(*body, "type", true);
    auto size = StringField(*body, "size");
    auto config = ConfigField(*body);
    auto superuser = BoolField(*body, "superuserAccess", false);
    for (const Status* st :
         {&name.status(), &type.status(), &size.status(), &config.status(), &superuser.status()}) {
      if (!st->ok()) return SendError(res, *st);
    }
    r.name = name.value();
    r.type = type.value();
    r.size = size.value();
    r.config = config.value();
    r.superuser_access = superuser.value();
    finish(req, res, service_.CreateInstance(r), [&](const catalog::JobRecord& job) {
      auto view = service_.GetInstance(r.name);
      if (!view.ok()) return SendError(res, view.status());
      Send(res, 201,
           {{"success", true},
            {"message", "Instance created successfully"},
            {"jobId", job.id},
            {"instance", InstanceJson(view.value(), false)}});
    });
  });

  s.Get("/instances/:name", [this](const Request& req, Response& res) {
    auto secrets = BoolParam(req, "showSecrets");
    if (!secrets.ok()) return SendError(res, secrets.status());
    auto view = service_.GetInstance(req.matches[1]);
    if (!view.ok()) return SendError(res, view.status());
    Send(res, 200, {{"success", true}, {"instance", InstanceJson(view.value(), secrets.value())}});
  });

  s.Delete("/instances/:name", [this, finish, check_async](const Request& req, Response& res) {
    if (!check_async(req, res)) return;
    auto with_backups = BoolParam(req, "deleteBackups");
    if (!with_backups.ok()) return SendError(res, with_backups.status());
    std::string name = req.matches[1];
    finish(req, res, service_.DeleteInstance(name, with_backups.value()),
           [&](const catalog::JobRecord& job) {
             Send(res, 200,
                  {{"success", true},
                   {"message", "Instance deleted successfully"},
                   {"jobId", job.id},
                   {"backupsDeleted", job.result.value("backupsDeleted", 0)}});
           });
  });

  s.Post("/instances/:name/backup", [this, finish, check_async](const Request& req, Response& res) {
    if (!check_async(req, res)) return;
    auto body = ParseBody(req, {"backupName", "retentionDays"});
    if (!body.ok()) return SendError(res, body.status());
    control::BackupRequest r;
    r.instance = req.matches[1];
    auto name = StringField(*body, "backupName");
    if (!name.ok()) return SendError(res, name.status());
    auto days = IntField(*body, "retentionDays");
    if (!days.ok()) return SendError(res, days.status());
    r.backup_name = name.value();
    r.retention_days = days.value();
    finish(req, res, service_.CreateBackup(r), [&](const catalog::JobRecord& job) {
      auto backup = service_.GetBackup(r.instance, job.result.value("backupName", ""));
      if (!backup.ok()) return SendError(res, backup.status());
      Send(res, 201,
           {{"success", true},
            {"message", "Backup created successfully"},
            {"jobId", job.id},
            {"backup", BackupJson(backup.value())}});
    });
  });

  s.Get("/instances/:name/backups", [this](const Request& req, Response& res) {
    SendList(res, service_.ListBackups(req.matches[1]), "backups", BackupJson);
  });

  s.Get("/instances/:name/backups/:backup", [this](const Request& req, Response& res) {
    auto backup = service_.GetBackup(req.matches[1], req.matches[2]);
    if (!backup.ok()) return SendError(res, backup.status());
    Send(res, 200, {{"success", true}, {"backup", BackupJson(backup.value())}});
  });

  s.Delete("/instances/:name/backups/:backup", [this](const Request& req, Response& res) {
    Status st = service_.DeleteBackup(req.matches[1], req.matches[2]);
    if (!st.ok()) return SendError(res, st);
    Send(res, 200, {{"success", true}, {"message", "Backup deleted successfully"}});
  });

  s.Post("/instances/:name/restore",
         [this, finish, check_async](const Request& req, Response& res) {
           if (!check_async(req, res)) return;
           auto body = ParseBody(req, {"backupName", "newInstanceName", "size", "targetTime",
                                       "targetLsn", "targetName", "target"});
           if (!body.ok()) return SendError(res, body.status());
           control::RestoreRequest r;
           r.source_instance = req.matches[1];
           auto backup = StringField(*body, "backupName");
           auto target = StringField(*body, "newInstanceName", true);
           auto size = StringField(*body, "size");
           for (const Status* st : {&backup.status(), &target.status(), &size.status()}) {
             if (!st->ok()) return SendError(res, *st);
           }
           auto recovery = ParseRecoveryTarget(*body);
           if (!recovery.ok()) return SendError(res, recovery.status());
           r.backup_name = backup.value();
           r.new_instance_name = target.value();
           r.size = size.value();
           r.target = recovery.value();
           finish(req, res, service_.Restore(r), [&](const catalog::JobRecord& job) {
             auto view = service_.GetInstance(r.new_instance_name);
             if (!view.ok()) return SendError(res, view.status());
             json instance = InstanceJson(view.value(), false);
             if (job.request.contains("target")) {
               instance["restoredFrom"]["backupName"] = job.request.value("backupName", "");
               instance["restoredFrom"]["target"] = job.request["target"];
             }
             Send(res, 201,
                  {{"success", true},
                   {"message", "Instance restored from backup successfully"},
                   {"jobId", job.id},
                   {"instance", std::move(instance)}});
           });
         });

  s.Get("/instances/:name/recovery-window", [this](const Request& req, Response& res) {
    auto w = service_.GetRecoveryWindow(req.matches[1]);
    if (!w.ok()) return SendError(res, w.status());
    Send(res, 200,
         {{"success", true},
          {"recoveryWindow",
           {{"instance", w->instance},
            {"walArchive", w->wal_archive},
            {"earliestTime", catalog::FormatRfc3339Us(w->earliest_unix_us)},
            {"latestTime", catalog::FormatRfc3339Us(w->latest_unix_us)},
            {"earliestLsn", w->earliest_lsn},
            {"latestLsn", w->latest_lsn},
            {"lastArchivedSegment", w->last_segment},
            {"backups", w->backups}}}});
  });

  s.Post("/instances/:name/restore-points", [this](const Request& req, Response& res) {
    auto body = ParseBody(req, {"name"});
    if (!body.ok()) return SendError(res, body.status());
    auto name = StringField(*body, "name", true);
    if (!name.ok()) return SendError(res, name.status());
    auto point = service_.CreateRestorePoint(req.matches[1], name.value());
    if (!point.ok()) return SendError(res, point.status());
    Send(res, 201,
         {{"success", true},
          {"message", "Restore point created"},
          {"restorePoint", RestorePointJson(point.value())}});
  });

  s.Get("/instances/:name/restore-points", [this](const Request& req, Response& res) {
    SendList(res, service_.ListRestorePoints(req.matches[1]), "restorePoints", RestorePointJson);
  });

  s.Get("/metrics", [this](const Request&, Response& res) {
    res.status = 200;
    res.set_content(service_.RenderMetrics(), "text/plain; version=0.0.4; charset=utf-8");
  });

  s.Post("/instances/:name/schedules", [this](const Request& req, Response& res) {
    auto body = ParseBody(req, {"cron", "timeZone", "retentionDays", "keepDaily", "keepWeekly",
                                "keepMonthly", "verify"});
    if (!body.ok()) return SendError(res, body.status());
    control::ScheduleRequest r;
    r.instance = req.matches[1];
    auto cron = StringField(*body, "cron", true);
    auto tz = StringField(*body, "timeZone");
    auto verify = BoolField(*body, "verify", false);
    for (const Status* st : {&cron.status(), &tz.status(), &verify.status()}) {
      if (!st->ok()) return SendError(res, *st);
    }
    r.cron = cron.value();
    r.time_zone = tz.value();
    r.verify = verify.value();
    auto days = IntField(*body, "retentionDays");
    if (!days.ok()) return SendError(res, days.status());
    r.retention_days = days.value();
    for (auto [key, field] :
         {std::pair{"keepDaily", &r.keep_daily}, std::pair{"keepWeekly", &r.keep_weekly},
          std::pair{"keepMonthly", &r.keep_monthly}}) {
      auto n = IntField(*body, key);
      if (!n.ok()) return SendError(res, n.status());
      *field = n->value_or(0);
    }
    auto made = service_.CreateSchedule(r);
    if (!made.ok()) return SendError(res, made.status());
    Send(res, 201,
         {{"success", true},
          {"message", "Schedule created"},
          {"schedule", ScheduleJson(made.value())}});
  });

  s.Get("/instances/:name/schedules", [this](const Request& req, Response& res) {
    SendList(res, service_.ListSchedules(req.matches[1]), "schedules", ScheduleJson);
  });

  s.Delete("/instances/:name/schedules/:id", [this](const Request& req, Response& res) {
    Status st = service_.DeleteSchedule(req.matches[1], req.matches[2]);
    if (!st.ok()) return SendError(res, st);
    Send(res, 200, {{"success", true}, {"message", "Schedule deleted"}});
  });

  s.Patch("/instances/:name/backups/:backup", [this](const Request& req, Response& res) {
    auto body = ParseBody(req, {"pinned"});
    if (!body.ok()) return SendError(res, body.status());
    if (!body->contains("pinned") || (*body)["pinned"].is_null()) {
      return SendError(res, Status::InvalidArgument("pinned is required"));
    }
    auto pinned = BoolField(*body, "pinned", false);
    if (!pinned.ok()) return SendError(res, pinned.status());
    auto backup = service_.SetBackupPinned(req.matches[1], req.matches[2], pinned.value());
    if (!backup.ok()) return SendError(res, backup.status());
    Send(res, 200, {{"success", true}, {"backup", BackupJson(backup.value())}});
  });

  s.Post("/instances/:name/backups/:backup/verify", [this, finish, check_async](const Request& req,
                                                                                Response& res) {
    if (!check_async(req, res)) return;
    auto body = ParseBody(req, {});
    if (!body.ok()) return SendError(res, body.status());
    std::string instance = req.matches[1], name = req.matches[2];
    finish(req, res, service_.VerifyBackup(instance, name), [&](const catalog::JobRecord& job) {
      auto backup = service_.GetBackup(instance, name);
      if (!backup.ok()) return SendError(res, backup.status());
      bool passed = job.result.value("passed", false);
      Send(res, 200,
           {{"success", true},
            {"message", passed ? "Restore drill passed" : "Restore drill failed"},
            {"jobId", job.id},
            {"passed", passed},
            {"drill", job.result.value("drill", json(nullptr))},
            {"backup", BackupJson(backup.value())}});
    });
  });

  s.Get("/jobs", [this](const Request&, Response& res) {
    SendList(res, service_.ListJobs(), "jobs", JobJson);
  });

  s.Get("/jobs/:id", [this](const Request& req, Response& res) {
    auto job = service_.GetJob(req.matches[1]);
    if (!job.ok()) return SendError(res, job.status());
    Send(res, 200, {{"success", true}, {"job", JobJson(job.value())}});
  });
}

}  // namespace dbaas::api
