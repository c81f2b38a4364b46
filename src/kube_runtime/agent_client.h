// The daemon's side of the in-pod agent's HTTPS API (agent/pod_agent.h): requests with the
// instance's bearer token to the pod's address, the agent's certificate checked against the
// daemon's CA under the pod's DNS name (which the certificate names), so that nothing but
// that instance's agent is believed, whatever answers at the address.
#pragma once

#include <chrono>
#include <memory>
#include <string>

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

  // GET or POST `path`; the JSON answer of a 2xx. An error answer becomes a Status with the
  // agent's message and hint (kIoError when the agent cannot be reached).
  Result<nlohmann::json> Call(const AgentEndpoint& agent, const std::string& method,
                              const std::string& path, std::chrono::milliseconds timeout) const;

 private:
  std::string ca_pem_;
  std::unique_ptr<net::CurlHandlePool> handles_;
};

}  // namespace dbaas::kube_runtime
