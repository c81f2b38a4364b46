// The API's routes of recovery: restore (from a backup or to a target), the recovery window,
// restore points (docs/api/openapi.yaml).
#include <fmt/format.h>

#include "api/json_views.h"
#include "api/request_parsing.h"
#include "api/responses.h"
#include "api/routes.h"

namespace dbaas::api {

using http::Request;
using http::Response;
using nlohmann::json;

void AddRecoveryRoutes(http::HttpServer& s, control::Service& service) {
  s.Post("/instances/:name/restore", [&service](const Request& req, Response& res) {
    if (!CheckAsync(req, res)) return;
    auto body = ParseBody(req, {"backupName", "newInstanceName", "size", "targetTime", "targetLsn",
                                "targetName", "targetGtid", "target", "repository"});
    if (!body.ok()) return SendError(res, body.status());
    control::RestoreRequest r;
    r.source_instance = req.matches[1];
    auto backup = StringField(*body, "backupName");
    auto target = StringField(*body, "newInstanceName", true);
    auto size = StringField(*body, "size");
    auto repository = StringField(*body, "repository");
    for (const Status* st :
         {&backup.status(), &target.status(), &size.status(), &repository.status()}) {
      if (!st->ok()) return SendError(res, *st);
    }
    auto recovery = ParseRecoveryTarget(*body);
    if (!recovery.ok()) return SendError(res, recovery.status());
    r.backup_name = backup.value();
    r.new_instance_name = target.value();
    r.size = size.value();
    r.repository = repository.value();
    r.target = recovery.value();
    FinishJob(service, req, res, service.Restore(r), [&](const catalog::JobRecord& job) {
      auto view = service.GetInstance(r.new_instance_name);
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

  s.Get("/instances/:name/recovery-window", [&service](const Request& req, Response& res) {
    auto w = service.GetRecoveryWindow(req.matches[1]);
    if (!w.ok()) return SendError(res, w.status());
    json window = {{"instance", w->instance},
                   {"walArchive", w->wal_archive},
                   {"earliestTime", catalog::FormatRfc3339Us(w->earliest_unix_us)},
                   {"latestTime", catalog::FormatRfc3339Us(w->latest_unix_us)},
                   {"earliestLsn", w->earliest_lsn},
                   {"latestLsn", w->latest_lsn},
                   {"lastArchivedSegment", w->last_segment},
                   {"backups", w->backups}};
    if (w->engine != "postgresql") {
      // MariaDB's log is binlogs with GTIDs: positions are binlog.NNNNNN:offset, no LSNs.
      window["earliestLsn"] = nullptr;
      window["latestLsn"] = nullptr;
      window["lastArchivedSegment"] = nullptr;
      window["earliestPosition"] = w->earliest_lsn;
      window["latestPosition"] = w->latest_lsn;
      window["earliestGtid"] = w->earliest_gtid;
      window["latestGtid"] = w->latest_gtid;
      window["lastArchivedBinlog"] = w->last_segment;
    }
    Send(res, 200, {{"success", true}, {"recoveryWindow", std::move(window)}});
  });

  s.Post("/instances/:name/restore-points", [&service](const Request& req, Response& res) {
    auto body = ParseBody(req, {"name"});
    if (!body.ok()) return SendError(res, body.status());
    auto name = StringField(*body, "name", true);
    if (!name.ok()) return SendError(res, name.status());
    auto point = service.CreateRestorePoint(req.matches[1], name.value());
    if (!point.ok()) return SendError(res, point.status());
    Send(res, 201,
         {{"success", true},
          {"message", "Restore point created"},
          {"restorePoint", RestorePointJson(point.value())}});
  });

  s.Get("/instances/:name/restore-points", [&service](const Request& req, Response& res) {
    SendList(res, service.ListRestorePoints(req.matches[1]), "restorePoints", RestorePointJson);
  });
}

}  // namespace dbaas::api
