// Writing answers: JSON bodies, the API's error shape for a Status, lists, and the answer
// of a request that runs as a job.
#pragma once

#include <functional>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "base/status.h"
#include "catalog/catalog.h"
#include "control/service.h"
#include "http/message.h"

namespace dbaas::api {

// Bytes that are not UTF-8 (they can come from the request) are replaced, never thrown on.
std::string Dump(const nlohmann::json& body);

void Send(http::Response& res, int status, const nlohmann::json& body);

// The error shape (json_views.h ErrorJson) with the HTTP status of the code (http/error_codes.h).
void SendError(http::Response& res, const Status& st);

// Answers a list as {success, count, <key>: [...]}, each item through `to_json`; or the
// error that kept the list from being read.
template <typename T, typename ToJson>
void SendList(http::Response& res, const Result<std::vector<T>>& list, const char* key,
              ToJson to_json) {
  if (!list.ok()) return SendError(res, list.status());
  nlohmann::json items = nlohmann::json::array();
  for (const T& item : list.value()) items.push_back(to_json(item));
  Send(res, 200, {{"success", true}, {"count", items.size()}, {key, std::move(items)}});
}

// Whether ?async= parses; if not, the error is answered and false returned (before any
// work starts).
bool CheckAsync(const http::Request& req, http::Response& res);

// Answers a job-backed request: at once (202, the job) with ?async=true, else when the job
// has ended: `on_success` with the finished job, or the job's error.
void FinishJob(control::Service& service, const http::Request& req, http::Response& res,
               const Result<catalog::JobRecord>& job,
               const std::function<void(const catalog::JobRecord&)>& on_success);

}  // namespace dbaas::api
