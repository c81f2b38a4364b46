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
    auto body = ParseBody(
        req, {"name", "type", "size", "config", "superuserAccess", "replicas", "synchronous"});
    if (!body.ok()) return SendError(res, body.status());
    control::CreateInstanceRequest r;
    auto name = StringField(*body, "name", true);
    auto type = StringField(*body, "type", true);
    auto size = StringField(*body, "size");
    auto config = ConfigField(*body);
    auto superuser = BoolField(*body, "superuserAccess", false);
    auto replicas = IntField(*body, "replicas");
    auto synchronous = BoolField(*body, "synchronous", false);
    for (const Status* st : {&name.status(), &type.status(), &size.status(), &config.status(),
                             &superuser.status(), &replicas.status(), &synchronous.status()}) {
      if (!st->ok()) return SendError(res, *st);
    }
    r.replicas = replicas.value().value_or(0);
    r.synchronous = synchronous.value();
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

  // One route for what can change on a running instance: its size (at once) and its
  // standbys (a job).
  s.Patch("/instances/:name", [&service](const Request& req, Response& res) {
    auto body = ParseBody(req, {"size", "replicas", "synchronous"});
    if (!body.ok()) return SendError(res, body.status());
    auto size = StringField(*body, "size");
    auto replicas = IntField(*body, "replicas");
    auto synchronous = OptionalBoolField(*body, "synchronous");
    for (const Status* st : {&size.status(), &replicas.status(), &synchronous.status()}) {
      if (!st->ok()) return SendError(res, *st);
    }
    const std::string name = req.matches[1];
    const bool reshape = replicas.value() || synchronous.value();
    if (!body->contains("size") && !reshape) {
      return SendError(
          res, Status::InvalidArgument("nothing to change", "give size, replicas or synchronous"));
    }
    if (reshape && !CheckAsync(req, res)) return;
    if (body->contains("size")) {
      auto view = service.ResizeInstance(name, size.value());
      if (!view.ok()) return SendError(res, view.status());
      if (!reshape) {
        return Send(res, 200,
                    {{"success", true},
                     {"message", "Instance resized"},
                     {"instance", InstanceJson(view.value(), false)}});
      }
    }
    FinishJob(service, req, res,
              service.SetReplication(name, replicas.value(), synchronous.value()),
              [&](const catalog::JobRecord& job) {
                auto view = service.GetInstance(name);
                if (!view.ok()) return SendError(res, view.status());
                Send(res, 200,
                     {{"success", true},
                      {"message", "Instance members changed"},
                      {"jobId", job.id},
                      {"added", job.result.value("added", nlohmann::json::array())},
                      {"instance", InstanceJson(view.value(), false)}});
              });
  });

  s.Post("/instances/:name/switchover", [&service](const Request& req, Response& res) {
    if (!CheckAsync(req, res)) return;
    auto body = ParseBody(req, {"to"});
    if (!body.ok()) return SendError(res, body.status());
    auto to = StringField(*body, "to");
    if (!to.ok()) return SendError(res, to.status());
    const std::string name = req.matches[1];
    FinishJob(service, req, res, service.Switchover(name, to.value()),
              [&](const catalog::JobRecord& job) {
                auto view = service.GetInstance(name);
                if (!view.ok()) return SendError(res, view.status());
                Send(res, 200,
                     {{"success", true},
                      {"message", "Switchover complete"},
                      {"jobId", job.id},
                      {"primary", job.result.value("primary", "")},
                      {"seconds", job.result.value("seconds", 0.0)},
                      {"instance", InstanceJson(view.value(), false)}});
              });
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
