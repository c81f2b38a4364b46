#include "api/server.h"

#include <sys/stat.h>

#include <chrono>

#include <fmt/format.h>
#include <spdlog/spdlog.h>

#include "api/dashboard_routes.h"

#include "api/json_views.h"
#include "api/responses.h"
#include "api/routes.h"
#include "base/files.h"
#include "base/hex.h"
#include "http/bearer.h"
#include "http/server.h"
#include "http/tls.h"

namespace dbaas::api {
namespace {

using http::Request;
using http::Response;
using nlohmann::json;

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
// HTTP server's (http/server.h).
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
  // to make room (http/connections.h).
  s.set_pre_routing_handler([token](Request& req, Response& res) {
    if (token.empty()) {
      req.authenticated = true;
      return HandlerResponse::kUnhandled;
    }
    if (http::BearerTokenMatches(req.get_header_value("Authorization"), token)) {
      req.authenticated = true;
      return HandlerResponse::kUnhandled;
    }
    if (req.path == "/healthz") return HandlerResponse::kUnhandled;
    // The dashboard's pages and scripts: public, like any login page; its API calls carry
    // the token.
    if (IsDashboardPath(req.method, req.path)) return HandlerResponse::kUnhandled;
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

  AddInstanceRoutes(s, service_);
  AddBackupRoutes(s, service_);
  AddRecoveryRoutes(s, service_);
  AddBranchRoutes(s, service_);
  AddOperationRoutes(s, service_);
  AddRepositoryRoutes(s, service_);
  if (!options_.ui_dir.empty()) AddDashboardRoutes(s, options_.ui_dir);
}

}  // namespace dbaas::api
