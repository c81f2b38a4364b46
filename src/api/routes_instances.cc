// The API's routes of instances: create, list, show, resize, delete (docs/api/openapi.yaml).
#include <fmt/format.h>

#include "api/json_views.h"
#include "api/request_parsing.h"
#include "api/responses.h"
#include "api/routes.h"

namespace dbaas::api {

using http::Request;
using http::Response;
using nlohmann::json;

void AddInstanceRoutes(http::HttpServer& s, control::Service& service) {
  s.Get("/instances", [&service](const Request& req, Response& res) {
    auto secrets = BoolParam(req, "showSecrets");
    if (!secrets.ok()) return SendError(res, secrets.status());
    SendList(res, service.ListInstances(), "instances",
             [&](const control::InstanceView& v) { return InstanceJson(v, secrets.value()); });
  });

  s.Post("/instances", [&service](const Request& req, Response& res) {
    if (!CheckAsync(req, res)) return;
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
    FinishJob(service, req, res, service.CreateInstance(r), [&](const catalog::JobRecord& job) {
      auto view = service.GetInstance(r.name);
      if (!view.ok()) return SendError(res, view.status());
      Send(res, 201,
           {{"success", true},
            {"message", "Instance created successfully"},
            {"jobId", job.id},
            {"instance", InstanceJson(view.value(), false)}});
    });
  });

  s.Get("/instances/:name", [&service](const Request& req, Response& res) {
    auto secrets = BoolParam(req, "showSecrets");
    if (!secrets.ok()) return SendError(res, secrets.status());
    auto view = service.GetInstance(req.matches[1]);
    if (!view.ok()) return SendError(res, view.status());
    Send(res, 200, {{"success", true}, {"instance", InstanceJson(view.value(), secrets.value())}});
  });

  s.Patch("/instances/:name", [&service](const Request& req, Response& res) {
    auto body = ParseBody(req, {"size"});
    if (!body.ok()) return SendError(res, body.status());
    auto size = StringField(*body, "size", true);
    if (!size.ok()) return SendError(res, size.status());
    auto view = service.ResizeInstance(req.matches[1], size.value());
    if (!view.ok()) return SendError(res, view.status());
    Send(res, 200,
         {{"success", true},
          {"message", "Instance resized"},
          {"instance", InstanceJson(view.value(), false)}});
  });

  s.Delete("/instances/:name", [&service](const Request& req, Response& res) {
    if (!CheckAsync(req, res)) return;
    auto with_backups = BoolParam(req, "deleteBackups");
    if (!with_backups.ok()) return SendError(res, with_backups.status());
    std::string name = req.matches[1];
    FinishJob(service, req, res, service.DeleteInstance(name, with_backups.value()),
              [&](const catalog::JobRecord& job) {
                Send(res, 200,
                     {{"success", true},
                      {"message", "Instance deleted successfully"},
                      {"jobId", job.id},
                      {"backupsDeleted", job.result.value("backupsDeleted", 0)}});
              });
  });
}

}  // namespace dbaas::api
