#include "api/responses.h"

#include <chrono>

#include <fmt/format.h>

#include "api/json_views.h"
#include "api/request_parsing.h"
#include "http/error_codes.h"

namespace dbaas::api {

using http::Request;
using http::Response;
using nlohmann::json;

std::string Dump(const json& body) {
  return body.dump(-1, ' ', false, json::error_handler_t::replace);
}

void Send(Response& res, int status, const json& body) {
  res.status = status;
  res.set_content(Dump(body), "application/json");
}

void SendError(Response& res, const Status& st) {
  Send(res, http::HttpStatusOf(st.code()),
       ErrorJson(std::string(http::WireCode(st.code())), st.message(), st.hint()));
}

bool CheckAsync(const Request& req, Response& res) {
  auto async = BoolParam(req, "async");
  if (!async.ok()) SendError(res, async.status());
  return async.ok();
}

void FinishJob(control::Service& service, const Request& req, Response& res,
               const Result<catalog::JobRecord>& job,
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
  constexpr auto kWaitForever = std::chrono::hours(24 * 365);
  auto done = service.WaitJob(job->id, kWaitForever);
  if (!done.ok()) return SendError(res, done.status());
  if (done->status != catalog::JobState::kSucceeded) {
    StatusCode code = done->error_code.value_or(StatusCode::kInternal);
    // A failed job's result may be null (nothing to say beyond its error).
    std::string hint = done->result.is_object() ? done->result.value("hint", "") : "";
    json body = ErrorJson(std::string(http::WireCode(code)), done->error_message, hint);
    body["jobId"] = done->id;
    return Send(res, http::HttpStatusOf(code), body);
  }
  on_success(done.value());
}

}  // namespace dbaas::api
