// The API's routes of branches: make one, list them, reset one (docs/api/openapi.yaml).
#include "api/json_views.h"
#include "api/request_parsing.h"
#include "api/responses.h"
#include "api/routes.h"

namespace dbaas::api {

using http::Request;
using http::Response;
using nlohmann::json;

namespace {

// The branch as the job made it: the instance, how, from what, what it does not share.
void SendBranch(control::Service& service, Response& res, const catalog::JobRecord& job,
                const std::string& name, int status, const char* message) {
  auto view = service.GetInstance(name);
  if (!view.ok()) return SendError(res, view.status());
  Send(res, status,
       {{"success", true},
        {"message", message},
        {"jobId", job.id},
        {"instance", InstanceJson(view.value(), false)},
        {"method", job.result.value("method", json(nullptr))},
        {"branchedFrom", view->record.restored_from ? BranchedFromJson(*view->record.restored_from)
                                                    : json(nullptr)},
        {"exclusiveBytes", job.result.value("exclusiveBytes", json(nullptr))},
        {"seconds", job.result.value("seconds", json(nullptr))}});
}

}  // namespace

void AddBranchRoutes(http::HttpServer& s, control::Service& service) {
  s.Post("/instances/:name/branch", [&service](const Request& req, Response& res) {
    if (!CheckAsync(req, res)) return;
    auto body = ParseBody(req, {"newInstanceName", "backupName", "targetTime", "targetLsn",
                                "targetName", "targetGtid", "target", "config", "size"});
    if (!body.ok()) return SendError(res, body.status());
    control::BranchRequest r;
    r.source_instance = req.matches[1];
    auto name = StringField(*body, "newInstanceName", true);
    auto backup = StringField(*body, "backupName");
    auto size = StringField(*body, "size");
    auto config = ConfigField(*body);
    for (const Status* st : {&name.status(), &backup.status(), &size.status(), &config.status()}) {
      if (!st->ok()) return SendError(res, *st);
    }
    auto target = ParseRecoveryTarget(*body);
    if (!target.ok()) return SendError(res, target.status());
    r.new_instance_name = name.value();
    r.backup_name = backup.value();
    r.size = size.value();
    r.config = config.value();
    r.target = target.value();
    FinishJob(service, req, res, service.Branch(r), [&](const catalog::JobRecord& job) {
      SendBranch(service, res, job, r.new_instance_name, 201, "Branch created");
    });
  });

  s.Get("/instances/:name/branches", [&service](const Request& req, Response& res) {
    SendList(res, service.ListBranches(req.matches[1]), "branches",
             [](const control::InstanceView& v) { return InstanceJson(v, false); });
  });

  s.Post("/instances/:name/reset", [&service](const Request& req, Response& res) {
    if (!CheckAsync(req, res)) return;
    auto body = ParseBody(req, {});
    if (!body.ok()) return SendError(res, body.status());
    std::string name = req.matches[1];
    FinishJob(service, req, res, service.ResetBranch(name), [&](const catalog::JobRecord& job) {
      SendBranch(service, res, job, name, 200, "Branch reset to its parent's current state");
    });
  });
}

}  // namespace dbaas::api
