// The API's routes of backups: take, list, show, delete, pin, drill, copy (docs/api/openapi.yaml).
#include <fmt/format.h>

#include "api/json_views.h"
#include "api/request_parsing.h"
#include "api/responses.h"
#include "api/routes.h"

namespace dbaas::api {

using http::Request;
using http::Response;
using nlohmann::json;

void AddBackupRoutes(http::HttpServer& s, control::Service& service) {
  s.Post("/instances/:name/backup", [&service](const Request& req, Response& res) {
    if (!CheckAsync(req, res)) return;
    auto body =
        ParseBody(req, {"backupName", "retentionDays", "repositories", "repository", "from"});
    if (!body.ok()) return SendError(res, body.status());
    control::BackupRequest r;
    r.instance = req.matches[1];
    auto name = StringField(*body, "backupName");
    if (!name.ok()) return SendError(res, name.status());
    auto days = IntField(*body, "retentionDays");
    if (!days.ok()) return SendError(res, days.status());
    auto repositories = StringListField(*body, "repositories");
    if (!repositories.ok()) return SendError(res, repositories.status());
    r.backup_name = name.value();
    r.retention_days = days.value();
    r.repositories = repositories.value();
    auto repository = StringField(*body, "repository");
    if (!repository.ok()) return SendError(res, repository.status());
    auto into = engines::ParseBackupStore(repository.value());
    if (!into.ok()) return SendError(res, into.status());
    r.into = into.value();
    auto from = StringField(*body, "from");
    if (!from.ok()) return SendError(res, from.status());
    r.from = from.value();
    FinishJob(service, req, res, service.CreateBackup(r), [&](const catalog::JobRecord& job) {
      auto backup = service.GetBackup(r.instance, job.result.value("backupName", ""));
      if (!backup.ok()) return SendError(res, backup.status());
      Send(res, 201,
           {{"success", true},
            {"message", "Backup created successfully"},
            {"jobId", job.id},
            {"backup", BackupJson(backup.value())}});
    });
  });

  s.Get("/instances/:name/backups", [&service](const Request& req, Response& res) {
    SendList(res, service.ListBackups(req.matches[1]), "backups", BackupJson);
  });

  s.Get("/instances/:name/backups/:backup", [&service](const Request& req, Response& res) {
    auto backup = service.GetBackup(req.matches[1], req.matches[2]);
    if (!backup.ok()) return SendError(res, backup.status());
    Send(res, 200, {{"success", true}, {"backup", BackupJson(backup.value())}});
  });

  s.Delete("/instances/:name/backups/:backup", [&service](const Request& req, Response& res) {
    Status st = service.DeleteBackup(req.matches[1], req.matches[2]);
    if (!st.ok()) return SendError(res, st);
    Send(res, 200, {{"success", true}, {"message", "Backup deleted successfully"}});
  });

  s.Patch("/instances/:name/backups/:backup", [&service](const Request& req, Response& res) {
    auto body = ParseBody(req, {"pinned"});
    if (!body.ok()) return SendError(res, body.status());
    if (!body->contains("pinned") || (*body)["pinned"].is_null()) {
      return SendError(res, Status::InvalidArgument("pinned is required"));
    }
    auto pinned = BoolField(*body, "pinned", false);
    if (!pinned.ok()) return SendError(res, pinned.status());
    auto backup = service.SetBackupPinned(req.matches[1], req.matches[2], pinned.value());
    if (!backup.ok()) return SendError(res, backup.status());
    Send(res, 200, {{"success", true}, {"backup", BackupJson(backup.value())}});
  });

  s.Post("/instances/:name/backups/:backup/copy", [&service](const Request& req, Response& res) {
    if (!CheckAsync(req, res)) return;
    auto body = ParseBody(req, {"to"});
    if (!body.ok()) return SendError(res, body.status());
    auto to = StringField(*body, "to", true);
    if (!to.ok()) return SendError(res, to.status());
    std::string instance = req.matches[1], name = req.matches[2];
    FinishJob(service, req, res, service.CopyBackup(instance, name, to.value()),
              [&](const catalog::JobRecord& job) {
                auto backup = service.GetBackup(instance, name);
                if (!backup.ok()) return SendError(res, backup.status());
                Send(res, 200,
                     {{"success", true},
                      {"message", "Backup copied"},
                      {"jobId", job.id},
                      {"copy", job.result.value("copy", json(nullptr))},
                      {"backup", BackupJson(backup.value())}});
              });
  });

  s.Post("/instances/:name/backups/:backup/verify", [&service](const Request& req, Response& res) {
    if (!CheckAsync(req, res)) return;
    auto body = ParseBody(req, {});
    if (!body.ok()) return SendError(res, body.status());
    std::string instance = req.matches[1], name = req.matches[2];
    FinishJob(service, req, res, service.VerifyBackup(instance, name),
              [&](const catalog::JobRecord& job) {
                auto backup = service.GetBackup(instance, name);
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
}

}  // namespace dbaas::api
