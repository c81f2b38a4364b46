// The API's routes of operations: health, metrics, schedules, jobs (docs/api/openapi.yaml).
#include <fmt/format.h>

#include "api/json_views.h"
#include "api/request_parsing.h"
#include "api/responses.h"
#include "api/routes.h"

namespace dbaas::api {

using http::Request;
using http::Response;
using nlohmann::json;

void AddOperationRoutes(http::HttpServer& s, control::Service& service) {
  s.Get("/healthz", [&service](const Request&, Response& res) {
    Send(res, 200,
         {{"success", true}, {"status", "ok"}, {"jobsInFlight", service.jobs_in_flight()}});
  });

  s.Get("/metrics", [&service](const Request&, Response& res) {
    res.status = 200;
    res.set_content(service.RenderMetrics(), "text/plain; version=0.0.4; charset=utf-8");
  });

  s.Post("/instances/:name/schedules", [&service](const Request& req, Response& res) {
    auto body = ParseBody(req, {"cron", "timeZone", "retentionDays", "keepDaily", "keepWeekly",
                                "keepMonthly", "verify", "repositories", "repository"});
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
    auto repositories = StringListField(*body, "repositories");
    if (!repositories.ok()) return SendError(res, repositories.status());
    r.repositories = repositories.value();
    auto repository = StringField(*body, "repository");
    if (!repository.ok()) return SendError(res, repository.status());
    auto into = engines::ParseBackupStore(repository.value());
    if (!into.ok()) return SendError(res, into.status());
    r.into = into.value();
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
    auto made = service.CreateSchedule(r);
    if (!made.ok()) return SendError(res, made.status());
    Send(res, 201,
         {{"success", true},
          {"message", "Schedule created"},
          {"schedule", ScheduleJson(made.value())}});
  });

  s.Get("/instances/:name/schedules", [&service](const Request& req, Response& res) {
    SendList(res, service.ListSchedules(req.matches[1]), "schedules", ScheduleJson);
  });

  s.Delete("/instances/:name/schedules/:id", [&service](const Request& req, Response& res) {
    Status st = service.DeleteSchedule(req.matches[1], req.matches[2]);
    if (!st.ok()) return SendError(res, st);
    Send(res, 200, {{"success", true}, {"message", "Schedule deleted"}});
  });

  s.Get("/jobs", [&service](const Request&, Response& res) {
    SendList(res, service.ListJobs(), "jobs", JobJson);
  });

  // The dashboard's alerts: poll with since = the newest id seen.
  s.Get("/alerts", [&service](const Request& req, Response& res) {
    auto since = IntParam(req, "since", 0);
    if (!since.ok()) return SendError(res, since.status());
    auto limit = IntParam(req, "limit", 100);
    if (!limit.ok()) return SendError(res, limit.status());
    SendList(res, service.ListAlerts(*since, *limit), "alerts", EventJson);
  });

  s.Get("/jobs/:id", [&service](const Request& req, Response& res) {
    auto job = service.GetJob(req.matches[1]);
    if (!job.ok()) return SendError(res, job.status());
    Send(res, 200, {{"success", true}, {"job", JobJson(job.value())}});
  });
}

}  // namespace dbaas::api
