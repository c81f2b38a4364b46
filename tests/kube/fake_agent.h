// A FAKE AGENT: an HTTPS server with a certificate from the daemon's CA (so the daemon's
// AgentClient believes it) whose routes a test writes to answer as a tenant's pod might —
// the real agent (tests/agent) never answers with junk, wrong sizes or lies on purpose.
#pragma once

#include <filesystem>
#include <memory>
#include <string>
#include <thread>

#include <httplib.h>

#include "kube_runtime/agent_client.h"

namespace dbaas::testing {

class FakeAgent {
 public:
  // Its CA and certificate under `dir`; nothing listens until Start.
  explicit FakeAgent(const std::filesystem::path& dir);
  ~FakeAgent();  // stops it
  // Stops answering (before what its routes use goes).
  void Stop();
  FakeAgent(const FakeAgent&) = delete;
  FakeAgent& operator=(const FakeAgent&) = delete;

  // "" once made (else what failed).
  const std::string& error() const { return error_; }
  // Where the routes go, before Start.
  httplib::SSLServer& server() { return *server_; }
  // Listens on a loopback port of its own; false if it cannot.
  bool Start();
  const kube_runtime::AgentClient& client() const { return *client_; }
  // The pod's agent as the daemon names it: the certificate's name at the loopback port.
  const kube_runtime::AgentEndpoint& endpoint() const { return endpoint_; }

 private:
  std::string error_;
  std::unique_ptr<kube_runtime::AgentClient> client_;
  std::unique_ptr<httplib::SSLServer> server_;
  std::thread thread_;
  kube_runtime::AgentEndpoint endpoint_;
};

}  // namespace dbaas::testing
