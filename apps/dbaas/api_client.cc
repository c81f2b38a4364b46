#include "api_client.h"

#include <chrono>
#include <cstdlib>
#include <thread>

#include <fmt/format.h>
#include <httplib.h>

#include "base/files.h"
#include "progress_bar.h"
#include "storage/progress.h"

namespace dbaas::cli {
namespace {

using nlohmann::json;

StatusCode CodeFromApi(const std::string& code) {
  if (code == "invalid_argument" || code == "bad_request" || code == "payload_too_large") {
    return StatusCode::kInvalidArgument;
  }
  if (code == "not_found") return StatusCode::kNotFound;
  if (code == "already_exists") return StatusCode::kAlreadyExists;
  if (code == "failed_precondition") return StatusCode::kFailedPrecondition;
  if (code == "busy") return StatusCode::kBusy;
  if (code == "corruption") return StatusCode::kCorruption;
  if (code == "internal") return StatusCode::kInternal;
  return StatusCode::kIoError;
}

const char* Env(const char* name) {
  const char* v = std::getenv(name);
  return v && *v ? v : nullptr;
}

}  // namespace

std::string PathSegment(const std::string& s) {
  std::string out;
  for (unsigned char c : s) {
    if (std::isalnum(c) || c == '-' || c == '_' || c == '.') {
      out += static_cast<char>(c);
    } else {
      out += fmt::format("%{:02X}", c);
    }
  }
  return out;
}

ApiClient::ApiClient(std::string base, std::string token, const std::string& ca_cert)
    : base_(std::move(base)),
      token_(std::move(token)),
      http_(std::make_unique<httplib::Client>(base_)) {
  if (!ca_cert.empty()) http_->set_ca_cert_path(ca_cert.c_str());
  http_->set_connection_timeout(5, 0);
  http_->set_read_timeout(3600, 0);  // a synchronous request answers when its work is done
  if (!token_.empty()) http_->set_bearer_token_auth(token_.c_str());
}

ApiClient::~ApiClient() = default;

Result<std::unique_ptr<ApiClient>> ApiClient::Connect(const ServerOptions& o) {
  std::string server = o.server;
  if (server.empty()) server = Env("DBAAS_SERVER") ? Env("DBAAS_SERVER") : "http://127.0.0.1:3000";
  if (!server.starts_with("http://") && !server.starts_with("https://")) {
    return Status::InvalidArgument(
        fmt::format("--server '{}' is not an http:// or https:// URL", server));
  }
  bool https = server.starts_with("https://");
  if (!o.ca_cert.empty() && !https) {
    return Status::InvalidArgument(
        fmt::format("--cacert is for an https:// server, and the server is '{}'", server));
  }
  std::string ca_cert = o.ca_cert;
  if (ca_cert.empty() && https && Env("DBAAS_CACERT")) ca_cert = Env("DBAAS_CACERT");
  if (!ca_cert.empty()) {
    if (auto text = ReadFileFollowingLinks(ca_cert); !text.ok()) {
      return text.status().WithContext("CA certificate (--cacert)");
    }
  }
  std::string token = o.token;
  if (token.empty() && Env("DBAAS_TOKEN")) token = Env("DBAAS_TOKEN");
  if (token.empty()) {
    std::string file = o.token_file;
    std::string root = o.data_root;
    if (root.empty() && Env("DBAAS_DATA_ROOT")) root = Env("DBAAS_DATA_ROOT");
    if (file.empty() && !root.empty()) file = JoinPath(root, "api-token");
    if (!file.empty()) {
      auto text = ReadFileFollowingLinks(file);
      if (!text.ok()) {
        return Status(text.status().code(), "read token: " + text.status().message(),
                      "pass --token-file, --data-root or set DBAAS_TOKEN");
      }
      token = text.value();
      while (!token.empty() && (token.back() == '\n' || token.back() == ' ')) token.pop_back();
    }
  }
  return std::unique_ptr<ApiClient>(new ApiClient(server, token, ca_cert));
}

Result<json> ApiClient::Handle(const std::string& what, int status, const std::string& body) {
  json j = json::parse(body, nullptr, false);
  if (status >= 200 && status < 300) {
    if (j.is_discarded()) return Status::IoError(fmt::format("{}: the answer is not JSON", what));
    return j;
  }
  if (j.is_object() && j.contains("error") && j["error"].is_object()) {
    const json& e = j["error"];
    return Status(CodeFromApi(e.value("code", "")), e.value("message", "unknown error"),
                  e.value("hint", ""));
  }
  return Status::IoError(fmt::format("{}: HTTP {}", what, status));
}

Status ApiClient::Unreachable(int error) const {
  auto e = static_cast<httplib::Error>(error);
  std::string why = httplib::to_string(e);
  if (e == httplib::Error::SSLServerVerification) {
    return Status::IoError(
        fmt::format("cannot reach dbaasd at {}: its TLS certificate is not trusted", base_),
        "pass the CA that signed it with --cacert (or $DBAAS_CACERT)");
  }
  if (e == httplib::Error::SSLConnection) {
    return Status::IoError(fmt::format("cannot reach dbaasd at {}: {}", base_, why),
                           "does dbaasd serve https (--tls-cert)? else use an http:// URL");
  }
  return Status::IoError(fmt::format("cannot reach dbaasd at {}: {}", base_, why),
                         "is dbaasd running? give its address with --server");
}

#define DBAAS_HTTP_CALL(what, call)                              \
  do {                                                           \
    auto res = (call);                                           \
    if (!res) return Unreachable(static_cast<int>(res.error())); \
    return Handle(what, res->status, res->body);                 \
  } while (0)

Result<json> ApiClient::Get(const std::string& path) {
  DBAAS_HTTP_CALL("GET " + path, http_->Get(path));
}

Result<json> ApiClient::Post(const std::string& path, const json& body) {
  DBAAS_HTTP_CALL("POST " + path, http_->Post(path, body.dump(), "application/json"));
}

Result<json> ApiClient::Delete(const std::string& path) {
  DBAAS_HTTP_CALL("DELETE " + path, http_->Delete(path));
}

Result<json> ApiClient::Patch(const std::string& path, const json& body) {
  DBAAS_HTTP_CALL("PATCH " + path, http_->Patch(path, body.dump(), "application/json"));
}

#undef DBAAS_HTTP_CALL

Result<json> ApiClient::WaitForJob(const std::string& id, const std::string& label,
                                   bool show_progress) {
  storage::Progress progress;
  progress.total_bytes = 1000;
  ProgressBar bar(label, progress, show_progress);
  while (true) {
    ASSIGN_OR_RETURN(json answer, Get("/jobs/" + PathSegment(id)));
    json job = answer.value("job", json::object());
    progress.done_bytes = static_cast<uint64_t>(job.value("progress", 0.0) * 1000);
    std::string status = job.value("status", "");
    if (status == "succeeded") return job;
    if (status == "failed" || status == "cancelled") {
      json e = job.value("error", json::object());
      return Status(CodeFromApi(e.value("code", "")),
                    fmt::format("job {} {}: {}", id, status, e.value("message", "")),
                    e.value("hint", ""));
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(200));
  }
}

}  // namespace dbaas::cli
