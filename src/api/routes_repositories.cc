// The API's routes of remote repositories (docs/api/openapi.yaml): what is configured, what
// a bucket holds, importing its backups, taking its lease over. The disaster-recovery path
// of docs/OPERATIONS.md.
#include <fmt/format.h>

#include "api/json_views.h"
#include "api/request_parsing.h"
#include "api/responses.h"
#include "api/routes.h"

namespace dbaas::api {

using http::Request;
using http::Response;
using nlohmann::json;

namespace {

json RepositoryJson(const control::RepositoryView& r) {
  const auto& c = r.counters;
  return {
      {"name", r.spec.name},
      {"type", "s3"},
      {"endpoint", r.spec.location.endpoint},
      {"bucket", r.spec.location.bucket},
      {"region", r.spec.location.region},
      {"encrypted", r.spec.key.kind != storage::RemoteKeySpec::Kind::kNone},
      {"leased", r.leased},
      {"bytesSent", c.bytes_sent},
      {"failures", c.failures},
      {"lastSuccessAt", c.last_success_unix > 0
                            ? json(catalog::FormatRfc3339(std::chrono::system_clock::time_point(
                                  std::chrono::duration_cast<std::chrono::system_clock::duration>(
                                      std::chrono::duration<double>(c.last_success_unix)))))
                            : json(nullptr)},
      {"lastError", c.last_error.empty() ? json(nullptr) : json(c.last_error)}};
}

json BucketBackupJson(const control::BucketBackup& b) {
  return {{"snapshotId", b.snapshot_id},
          {"snapshotCreatedAt", catalog::FormatRfc3339(std::chrono::system_clock::time_point(
                                    std::chrono::duration_cast<std::chrono::system_clock::duration>(
                                        std::chrono::nanoseconds(b.snapshot_created_unix_ns))))},
          {"inCatalog", b.in_catalog},
          {"importable", b.unavailable.empty() && !b.in_catalog},
          {"unavailable", b.unavailable.empty() ? json(nullptr) : json(b.unavailable)},
          {"backup", b.backup ? BackupJson(*b.backup) : json(nullptr)}};
}

json LocalRepositoryJson(const control::RepositorySummary& r) {
  json history = json::array();
  for (const auto& h : r.history) {
    history.push_back(
        {{"at", h.at}, {"logicalBytes", h.logical_bytes}, {"storedBytes", h.stored_bytes}});
  }
  return {{"logicalBytes", r.logical_bytes},
          {"storedBytes", r.stored_bytes},
          {"savedBytes", r.logical_bytes > r.stored_bytes ? r.logical_bytes - r.stored_bytes : 0},
          {"dedupRatio", r.stored_bytes > 0 ? json(static_cast<double>(r.logical_bytes) /
                                                   static_cast<double>(r.stored_bytes))
                                            : json(nullptr)},
          {"history", std::move(history)}};
}

}  // namespace

void AddRepositoryRoutes(http::HttpServer& s, control::Service& service) {
  s.Get("/repository", [&service](const Request&, Response& res) {
    auto summary = service.LocalRepository();
    if (!summary.ok()) return SendError(res, summary.status());
    Send(res, 200, {{"success", true}, {"repository", LocalRepositoryJson(*summary)}});
  });

  s.Get("/repositories", [&service](const Request&, Response& res) {
    SendList(res, Result<std::vector<control::RepositoryView>>(service.ListRepositories()),
             "repositories", RepositoryJson);
  });

  s.Get("/repositories/:name/backups", [&service](const Request& req, Response& res) {
    auto listed = service.ListBucketBackups(req.matches[1]);
    if (!listed.ok()) return SendError(res, listed.status());
    json items = json::array();
    for (const auto& b : listed.value()) items.push_back(BucketBackupJson(b));
    Send(res, 200,
         {{"success", true},
          {"repository", req.matches[1]},
          {"count", items.size()},
          {"backups", std::move(items)}});
  });

  s.Post("/repositories/:name/import", [&service](const Request& req, Response& res) {
    auto body = ParseBody(req, {"instance", "backups"});
    if (!body.ok()) return SendError(res, body.status());
    auto instance = StringField(*body, "instance");
    if (!instance.ok()) return SendError(res, instance.status());
    auto names = StringListField(*body, "backups");
    if (!names.ok()) return SendError(res, names.status());
    auto report = service.ImportBackups(req.matches[1], instance.value(), names.value());
    if (!report.ok()) return SendError(res, report.status());
    json skipped = json::array();
    for (const auto& [name, why] : report->skipped)
      skipped.push_back({{"backupName", name}, {"reason", why}});
    Send(res, 200,
         {{"success", true},
          {"message", fmt::format("{} backups imported", report->imported.size())},
          {"repository", req.matches[1]},
          {"imported", report->imported},
          {"skipped", std::move(skipped)}});
  });

  s.Post("/repositories/:name/lease", [&service](const Request& req, Response& res) {
    auto body = ParseBody(req, {"takeOver"});
    if (!body.ok()) return SendError(res, body.status());
    auto take_over = BoolField(*body, "takeOver", false);
    if (!take_over.ok()) return SendError(res, take_over.status());
    if (!take_over.value()) {
      return SendError(res,
                       Status::InvalidArgument(
                           "taking a repository's lease needs \"takeOver\": true",
                           "stop the daemon that writes it first: it is refused from then on"));
    }
    Status taken = service.TakeOverRepository(req.matches[1]);
    if (!taken.ok()) return SendError(res, taken);
    Send(res, 200,
         {{"success", true},
          {"message", "Lease taken over"},
          {"repository", req.matches[1]},
          {"leased", true}});
  });
}

}  // namespace dbaas::api
