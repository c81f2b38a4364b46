// The runtime of this machine: an instance's volume is a directory (0711, the daemon's;
// what the server writes inside it is its identity's), its identity an OS user of its own
// made with it and removed with it (runtime/instance_users.h), its server a supervised
// child process of the daemon (runtime/supervised_server.h), its tools child processes run
// as its user. Sizes are recorded, not enforced (no quota on a plain directory).
//
// Test hosts: the failover tests must cut a live primary off the network, which members all
// on 127.0.0.1 cannot show. Given test hosts (network namespaces of this machine, made by
// the tests with `ip netns add` and joined by a bridge), each server that can run on
// another host (ProvisionRequest::any_host) is placed on the one with the fewest of ours,
// runs in its namespace and listens on its address; the daemon and the tools stay in ours
// and reach it through the bridge. Its volume records the host (kHostRecord).
#pragma once

#include <map>
#include <mutex>
#include <optional>
#include <string>
#include <vector>

#include "runtime/runtime.h"

namespace dbaas::runtime {

struct TestHost {
  std::string name;     // its network namespace: /run/netns/<name>
  std::string address;  // an IPv4 address of that namespace
};

// "NAME=ADDRESS[,NAME=ADDRESS...]", each namespace existing: what --test-hosts takes.
Result<std::vector<TestHost>> ParseTestHosts(const std::string& list);

// The file of a placement's volume that names its test host (none: loopback).
inline constexpr char kHostRecord[] = "host";

// The runtime inside a pod (the in-pod agent, agent/pod_agent.h): the pod is the host,
// its servers listen on the pod's address and admit any address (the instance's
// NetworkPolicy decides who reaches them), and run as the pod's user.
struct PodNetwork {
  std::string address;  // the pod's IP (the downward API's status.podIP)
};

class LocalRuntime final : public Runtime {
 public:
  LocalRuntime() = default;
  explicit LocalRuntime(std::vector<TestHost> hosts) : hosts_(std::move(hosts)) {}
  explicit LocalRuntime(PodNetwork pod) : pod_(std::move(pod)) {}
  const char* kind() const override { return "local"; }
  Result<Placement> Provision(const ProvisionRequest& request) override;
  Result<Placement> Locate(const std::string& instance, const std::string& dir,
                           const std::string& identity,
                           const std::string& shared_identity) override;
  Result<Placement> GiveOwnIdentity(const Placement& placement,
                                    const std::vector<std::string>& owned) override;
  Status Remove(const Placement& placement) override;
  Status RemoveRemains(const std::string& dir) override;
  Result<std::unique_ptr<Server>> Start(const Placement& placement, ServerLaunch launch,
                                        std::chrono::milliseconds timeout) override;
  Status StopLeftover(const Placement& placement, const LeftoverServer& leftover) override;
  Result<RunResult> RunTool(const Placement& placement, ProcessOptions options,
                            std::chrono::milliseconds timeout) override;
  Status GiveToInstance(const Placement& placement, const std::string& path) override;
  Status SnapshotVolume(const Placement& placement, const std::string& path,
                        const std::string& destination) override;
  Status CloneVolume(const std::string& source, const Placement& placement,
                     const std::string& path) override;
  Result<VolumeStats> VolumeUsage(const Placement& placement) override;
  Result<uint16_t> AllocatePort() override;

 private:
  // The test host with the fewest placements, now counting `dir` on it; nullptr without
  // test hosts.
  const TestHost* PlaceOnLeastUsedHost(const std::string& dir);
  // `placement` put on the host its volume records (none: loopback).
  Status PlaceOnRecordedHost(Placement& placement);
  // In a pod: every placement is on the pod's network.
  void PlaceInPod(Placement& placement) const;

  std::vector<TestHost> hosts_;    // fixed at construction
  std::optional<PodNetwork> pod_;  // fixed at construction
  std::mutex mu_;
  std::map<std::string, std::string> host_of_;  // volume -> test host; guarded by mu_
};

}  // namespace dbaas::runtime
