#include "kube_runtime/agent_client.h"

#include <curl/curl.h>
#include <fcntl.h>
#include <unistd.h>

#include <fmt/format.h>

#include "base/files.h"
#include "net/curl_pool.h"

namespace dbaas::kube_runtime {
namespace {

constexpr size_t kMaxJsonAnswer = 1 << 20;

// Where an answer goes: its body, or (a 2xx with `fd` set) a file.
struct Sink {
  std::string body;
  size_t max_bytes = 0;
  int fd = -1;
  long status = 0;  // known once the headers are in
  CURL* handle = nullptr;
  size_t received = 0;
  bool write_failed = false;
};

size_t OnData(char* data, size_t size, size_t count, void* user) {
  auto* sink = static_cast<Sink*>(user);
  const size_t n = size * count;
  if (sink->status == 0) curl_easy_getinfo(sink->handle, CURLINFO_RESPONSE_CODE, &sink->status);
  const bool success = sink->status >= 200 && sink->status < 300;
  // An error's answer is a little JSON, whatever a download may take.
  const size_t limit = success ? sink->max_bytes : std::min(sink->max_bytes, kMaxJsonAnswer);
  if (sink->received + n > limit) return 0;  // too long to be ours
  sink->received += n;
  if (sink->fd >= 0) {
    if (success) {
      if (!WriteAll(sink->fd, std::string_view(data, n), "").ok()) {
        sink->write_failed = true;
        return 0;
      }
      return n;
    }
  }
  sink->body.append(data, n);
  return n;
}

}  // namespace

AgentClient::AgentClient(std::string ca_pem)
    : ca_pem_(std::move(ca_pem)), handles_(std::make_unique<net::CurlHandlePool>()) {
  net::InitCurlOnce();
}

AgentClient::~AgentClient() = default;

Result<AgentClient::Answer> AgentClient::Perform(const AgentEndpoint& agent,
                                                 const std::string& method, const std::string& path,
                                                 const Body& body, size_t max_bytes, int fd,
                                                 std::chrono::milliseconds timeout,
                                                 bool gone_is_answer) const {
  const std::string what =
      fmt::format("{} {} of the agent at {} ({})", method, path, agent.address, agent.dns_name);
  CURL* handle = handles_->Take();
  if (handle == nullptr) return Status::Internal("curl_easy_init failed");
  const std::string url = fmt::format("https://{}:{}{}", agent.dns_name, agent.port, path);
  // Connect to the pod's address, check the certificate against its DNS name. An IPv6
  // address is bracketed there.
  const std::string address =
      agent.address.find(':') != std::string::npos ? "[" + agent.address + "]" : agent.address;
  curl_slist* connect_to = curl_slist_append(
      nullptr, fmt::format("{}:{}:{}:{}", agent.dns_name, agent.port, address, agent.port).c_str());
  curl_slist* headers = curl_slist_append(nullptr, "Accept: application/json");
  headers = curl_slist_append(headers, ("Authorization: Bearer " + agent.token).c_str());
  if (body.content_type != nullptr) {
    headers =
        curl_slist_append(headers, fmt::format("Content-Type: {}", body.content_type).c_str());
  }
  Sink sink;
  sink.max_bytes = max_bytes;
  sink.fd = fd;
  sink.handle = handle;
  // curl reads the blob only (CURL_BLOB_NOCOPY); its field is not const.
  curl_blob ca{const_cast<char*>(ca_pem_.data()), ca_pem_.size(), CURL_BLOB_NOCOPY};
  curl_easy_setopt(handle, CURLOPT_URL, url.c_str());
  curl_easy_setopt(handle, CURLOPT_PROTOCOLS_STR, "https");
  curl_easy_setopt(handle, CURLOPT_CONNECT_TO, connect_to);
  // The daemon's CA alone: no CA file or directory of the system's vouches for an agent.
  curl_easy_setopt(handle, CURLOPT_CAINFO, nullptr);
  curl_easy_setopt(handle, CURLOPT_CAPATH, nullptr);
  curl_easy_setopt(handle, CURLOPT_CAINFO_BLOB, &ca);
  curl_easy_setopt(handle, CURLOPT_NOSIGNAL, 1L);
  curl_easy_setopt(handle, CURLOPT_HTTPHEADER, headers);
  curl_easy_setopt(handle, CURLOPT_CONNECTTIMEOUT_MS,
                   static_cast<long>(std::min<int64_t>(timeout.count(), 5000)));
  curl_easy_setopt(handle, CURLOPT_TIMEOUT_MS, static_cast<long>(timeout.count()));
  curl_easy_setopt(handle, CURLOPT_WRITEFUNCTION, OnData);
  curl_easy_setopt(handle, CURLOPT_WRITEDATA, &sink);
  if (method == "POST" || method == "PUT") {
    curl_easy_setopt(handle, CURLOPT_POSTFIELDS, body.bytes.data());
    curl_easy_setopt(handle, CURLOPT_POSTFIELDSIZE_LARGE,
                     static_cast<curl_off_t>(body.bytes.size()));
  } else {
    curl_easy_setopt(handle, CURLOPT_HTTPGET, 1L);
  }
  if (method != "GET" && method != "POST") {
    curl_easy_setopt(handle, CURLOPT_CUSTOMREQUEST, method.c_str());
  }
  char error[CURL_ERROR_SIZE] = {0};
  curl_easy_setopt(handle, CURLOPT_ERRORBUFFER, error);
  CURLcode code = curl_easy_perform(handle);
  long status = 0;
  curl_easy_getinfo(handle, CURLINFO_RESPONSE_CODE, &status);
  // A handle goes back to the pool as it was set up: without a method of its own.
  curl_easy_setopt(handle, CURLOPT_CUSTOMREQUEST, nullptr);
  curl_slist_free_all(headers);
  curl_slist_free_all(connect_to);
  handles_->Give(handle, code == CURLE_OK);
  if (code != CURLE_OK) {
    return Status::IoError(
        fmt::format(
            "{}: {}", what,
            code == CURLE_WRITE_ERROR
                ? (sink.write_failed ? std::string("the file it goes to cannot be written")
                                     : fmt::format("its answer is longer than {} bytes", max_bytes))
                : (error[0] != '\0' ? error : curl_easy_strerror(code))),
        code == CURLE_PEER_FAILED_VERIFICATION
            ? "the pod's certificate is not the one dbaasd issued for it: something else "
              "answers at its address"
            : "the pod may be starting or gone: see kubectl -n <namespace> describe pod");
  }
  if ((status >= 200 && status < 300) || (status == 410 && gone_is_answer)) {
    return Answer{status, std::move(sink.body)};
  }
  nlohmann::json answer = nlohmann::json::parse(sink.body, nullptr, false);
  std::string message = fmt::format("HTTP {}", status);
  std::string hint;
  if (answer.is_object() && answer.contains("error") && answer["error"].is_object()) {
    const auto& e = answer["error"];
    if (e.contains("message") && e["message"].is_string()) message = e["message"];
    if (e.contains("hint") && e["hint"].is_string()) hint = e["hint"];
  }
  const StatusCode kind = status == 404   ? StatusCode::kNotFound
                          : status == 409 ? StatusCode::kFailedPrecondition
                                          : StatusCode::kIoError;
  return Status(kind, fmt::format("{}: {}", what, message), hint);
}

Result<nlohmann::json> AgentClient::Call(const AgentEndpoint& agent, const std::string& method,
                                         const std::string& path, std::chrono::milliseconds timeout,
                                         const nlohmann::json& body) const {
  const std::string text = body.is_null() ? std::string() : body.dump();
  Body sent;
  if (!body.is_null()) sent = {text, "application/json"};
  ASSIGN_OR_RETURN(Answer answer, Perform(agent, method, path, sent, kMaxJsonAnswer, -1, timeout));
  if (answer.status == 204) return nlohmann::json();
  nlohmann::json parsed = nlohmann::json::parse(answer.body, nullptr, false);
  if (parsed.is_discarded()) {
    return Status::IoError(fmt::format("{} {} of the agent at {}: HTTP {} without JSON", method,
                                       path, agent.address, answer.status));
  }
  return parsed;
}

Status AgentClient::Upload(const AgentEndpoint& agent, const std::string& path,
                           const std::string& file, size_t max_bytes,
                           std::chrono::milliseconds timeout) const {
  ASSIGN_OR_RETURN(std::string bytes, ReadFileToString(file, max_bytes));
  return Put(agent, path, bytes, timeout);
}

Status AgentClient::Put(const AgentEndpoint& agent, const std::string& path, std::string_view bytes,
                        std::chrono::milliseconds timeout) const {
  return Perform(agent, "PUT", path, {bytes, "application/octet-stream"}, kMaxJsonAnswer, -1,
                 timeout)
      .status();
}

Result<bool> AgentClient::Fetch(const AgentEndpoint& agent, const std::string& path,
                                size_t max_bytes, std::string& out,
                                std::chrono::milliseconds timeout) const {
  ASSIGN_OR_RETURN(Answer answer, Perform(agent, "GET", path, {}, max_bytes, -1, timeout,
                                          /*gone_is_answer=*/true));
  if (answer.status == 410) return false;
  out = std::move(answer.body);
  return true;
}

Status AgentClient::Download(const AgentEndpoint& agent, const std::string& path,
                             const std::string& file, size_t max_bytes,
                             std::chrono::milliseconds timeout) const {
  const int fd = ::open(file.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC | O_NOFOLLOW, 0600);
  if (fd < 0) return ErrnoStatus("create", file, errno);
  auto answer = Perform(agent, "GET", path, {}, max_bytes, fd, timeout);
  Status closed = ::close(fd) == 0 ? Status::Ok() : ErrnoStatus("close", file, errno);
  if (answer.ok() && closed.ok()) return Status::Ok();
  ::unlink(file.c_str());
  return answer.ok() ? closed : answer.status();
}

}  // namespace dbaas::kube_runtime
