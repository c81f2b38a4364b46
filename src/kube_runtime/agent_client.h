// The daemon's side of the in-pod agent's HTTPS API (agent/pod_agent.h): requests with the
// instance's bearer token to the pod's address, the agent's certificate checked against the
// daemon's CA under the pod's DNS name (which the certificate names), so that nothing but
// that instance's agent is believed, whatever answers at the address.
#pragma once

#include <chrono>
#include <memory>
#include <string>
#include <string_view>

#include <nlohmann/json.hpp>

#include "base/status.h"

namespace dbaas::net {
class CurlHandlePool;
}

namespace dbaas::kube_runtime {

struct AgentEndpoint {
  std::string dns_name;  // the pod's, as its certificate names it
  std::string address;   // the pod's IP, connected to
  int port = 8443;
  std::string token;
};

class AgentClient {
 public:
  explicit AgentClient(std::string ca_pem);
  ~AgentClient();
  AgentClient(const AgentClient&) = delete;
  AgentClient& operator=(const AgentClient&) = delete;

  // GET, POST or DELETE `path` (POST with `body` as JSON, or none); the JSON answer of a
  // 2xx (null for a 204). An error answer becomes a Status with the agent's message and
  // hint (kIoError when the agent cannot be reached; kNotFound on a 404, kFailedPrecondition
  // on a 409, so a caller can tell "gone" and "busy" from a failure).
  Result<nlohmann::json> Call(const AgentEndpoint& agent, const std::string& method,
                              const std::string& path, std::chrono::milliseconds timeout,
                              const nlohmann::json& body = nullptr) const;
  // PUT the bytes of `file` (a WAL segment, at most `max_bytes`) to `path`.
  Status Upload(const AgentEndpoint& agent, const std::string& path, const std::string& file,
                size_t max_bytes, std::chrono::milliseconds timeout) const;
  // PUT `bytes` to `path`.
  Status Put(const AgentEndpoint& agent, const std::string& path, std::string_view bytes,
             std::chrono::milliseconds timeout) const;
  // GET `path` (bytes, at most `max_bytes`) into `out`; false when the agent answers 410
  // Gone (a file listed before was deleted since), where a 404 says the request's object
  // (the backup) is not held.
  Result<bool> Fetch(const AgentEndpoint& agent, const std::string& path, size_t max_bytes,
                     std::string& out, std::chrono::milliseconds timeout) const;
  // GET `path` (a WAL segment) into a new file `file` (0600), at most `max_bytes`; no file
  // is left on failure.
  Status Download(const AgentEndpoint& agent, const std::string& path, const std::string& file,
                  size_t max_bytes, std::chrono::milliseconds timeout) const;

 private:
  struct Answer {
    long status = 0;
    std::string body;
  };
  // What a request sends: nothing, or `bytes` of `content_type`.
  struct Body {
    std::string_view bytes;
    const char* content_type = nullptr;
  };
  // A 2xx answer's body goes to `fd` when it is not -1 (then Answer::body stays empty). A
  // 410 is an answer, not an error, when `gone_is_answer`.
  Result<Answer> Perform(const AgentEndpoint& agent, const std::string& method,
                         const std::string& path, const Body& body, size_t max_bytes, int fd,
                         std::chrono::milliseconds timeout, bool gone_is_answer = false) const;

  std::string ca_pem_;
  std::unique_ptr<net::CurlHandlePool> handles_;
};

}  // namespace dbaas::kube_runtime
