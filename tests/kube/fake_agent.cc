#include "kube/fake_agent.h"

#include <chrono>

#include "base/files.h"
#include "kube_runtime/agent_authority.h"

namespace dbaas::testing {

namespace {
constexpr char kName[] = "agent.test";
}  // namespace

FakeAgent::FakeAgent(const std::filesystem::path& dir) {
  if (Status made = MakeDirs(dir / "ca", 0700); !made.ok()) {
    error_ = made.ToString();
    return;
  }
  auto authority = kube_runtime::AgentAuthority::LoadOrCreate(dir / "ca");
  if (!authority.ok()) {
    error_ = authority.status().ToString();
    return;
  }
  auto issued = authority->Issue({kName});
  if (!issued.ok()) {
    error_ = issued.status().ToString();
    return;
  }
  const std::string cert = dir / "agent.crt";
  const std::string key = dir / "agent.key";
  for (const auto& [path, pem] : {std::pair{cert, issued->cert_pem}, {key, issued->key_pem}}) {
    if (Status written = WriteFileAtomic(path, pem, 0600); !written.ok()) {
      error_ = written.ToString();
      return;
    }
  }
  client_ = std::make_unique<kube_runtime::AgentClient>(authority->ca_pem());
  server_ = std::make_unique<httplib::SSLServer>(cert.c_str(), key.c_str());
  server_->set_keep_alive_timeout(1);
}

FakeAgent::~FakeAgent() { Stop(); }

void FakeAgent::Stop() {
  if (server_) server_->stop();
  if (thread_.joinable()) thread_.join();
}

bool FakeAgent::Start() {
  if (!error_.empty()) return false;
  const int port = server_->bind_to_any_port("127.0.0.1");
  if (port <= 0) {
    error_ = "the fake agent could not bind a loopback port";
    return false;
  }
  thread_ = std::thread([this] { server_->listen_after_bind(); });
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(10);
  while (!server_->is_running()) {
    if (std::chrono::steady_clock::now() >= deadline) {
      error_ = "the fake agent did not start listening within 10 s";
      return false;
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(1));
  }
  endpoint_ = {kName, "127.0.0.1", port, "token"};
  return true;
}

}  // namespace dbaas::testing
