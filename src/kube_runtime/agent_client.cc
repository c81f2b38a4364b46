#include "kube_runtime/agent_client.h"

#include <curl/curl.h>

#include <fmt/format.h>

#include "net/curl_pool.h"

namespace dbaas::kube_runtime {
namespace {

constexpr size_t kMaxAnswer = 1 << 20;

size_t OnData(char* data, size_t size, size_t count, void* user) {
  auto* body = static_cast<std::string*>(user);
  if (body->size() + size * count > kMaxAnswer) return 0;  // cut off: too long to be ours
  body->append(data, size * count);
  return size * count;
}

}  // namespace

AgentClient::AgentClient(std::string ca_pem)
    : ca_pem_(std::move(ca_pem)), handles_(std::make_unique<net::CurlHandlePool>()) {
  net::InitCurlOnce();
}

AgentClient::~AgentClient() = default;

Result<nlohmann::json> AgentClient::Call(const AgentEndpoint& agent, const std::string& method,
                                         const std::string& path,
                                         std::chrono::milliseconds timeout) const {
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
  std::string body;
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
  curl_easy_setopt(handle, CURLOPT_WRITEDATA, &body);
  if (method == "POST") {
    curl_easy_setopt(handle, CURLOPT_POSTFIELDS, "");
    curl_easy_setopt(handle, CURLOPT_POSTFIELDSIZE_LARGE, static_cast<curl_off_t>(0));
  } else {
    curl_easy_setopt(handle, CURLOPT_HTTPGET, 1L);
  }
  char error[CURL_ERROR_SIZE] = {0};
  curl_easy_setopt(handle, CURLOPT_ERRORBUFFER, error);
  CURLcode code = curl_easy_perform(handle);
  long status = 0;
  curl_easy_getinfo(handle, CURLINFO_RESPONSE_CODE, &status);
  curl_slist_free_all(headers);
  curl_slist_free_all(connect_to);
  handles_->Give(handle, code == CURLE_OK);
  if (code != CURLE_OK) {
    return Status::IoError(
        fmt::format("{}: {}", what, error[0] != '\0' ? error : curl_easy_strerror(code)),
        code == CURLE_PEER_FAILED_VERIFICATION
            ? "the pod's certificate is not the one dbaasd issued for it: something else "
              "answers at its address"
            : "the pod may be starting or gone: see kubectl -n <namespace> describe pod");
  }
  nlohmann::json answer = nlohmann::json::parse(body, nullptr, false);
  if (status >= 200 && status < 300 && !answer.is_discarded()) return answer;
  std::string message = fmt::format("HTTP {}", status);
  std::string hint;
  if (answer.is_object() && answer.contains("error") && answer["error"].is_object()) {
    const auto& e = answer["error"];
    if (e.contains("message") && e["message"].is_string()) message = e["message"];
    if (e.contains("hint") && e["hint"].is_string()) hint = e["hint"];
  }
  return Status::IoError(fmt::format("{}: {}", what, message), hint);
}

}  // namespace dbaas::kube_runtime
