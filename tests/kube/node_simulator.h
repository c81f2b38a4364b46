// A NODE SIMULATOR for the Kubernetes runtime's tests: no kubelet, container runtime or
// image can run on these machines (../shared/K8S.md), so this plays them on loopback,
// against any API server (the fake in CI, a real kube-apiserver by hand):
//
//   - the StatefulSet controller (optional: a real control plane has its own): for each
//     StatefulSet of dbaas's with replicas, its claim data-<set>-0 and its pod <set>-0,
//     made from the set's templates as the controller makes them;
//   - the kubelet: each pod of dbaas's is run as its container says (command, args, env,
//     mounts), the image being this build's dbaas binary. Each pod gets a network of its
//     own (a test host: a network namespace on a bridge, tests/test_hosts.h), its claim a
//     directory, its Secret and ConfigMap files as the kubelet writes them (0400 and 0444,
//     the pod's user's), its emptyDirs directories. It runs as an unprivileged user
//     (`nobody`, standing for the pod's runAsUser, which has no account here). The pod's
//     status says Running with its IP, and Ready once its readiness probe (the TCP port it
//     names) connects. A container that exits is started again (restartPolicy Always); a
//     pod deleted, or gone with its namespace, is stopped with SIGTERM as the kubelet stops
//     it, and its claim's directory removed once the claim is gone.
//
// A pod beyond the pods it runs at once stays Pending with the scheduler's Unschedulable
// condition (its "Too many pods" message) until one goes.
//
// What it does not play: scheduling beyond that, images, resource limits, Pod Security
// admission (the real API server enforces that), DNS and Services (clients reach pods at
// their IPs).
#pragma once

#include <memory>
#include <string>

#include "base/status.h"
#include "kube/cluster_access.h"

namespace dbaas::testing {

struct NodeSimulatorOptions {
  kube::ClusterAccess access;  // an account allowed everything (the admin's)
  std::string dir;             // volumes, mounted files and logs go here
  std::string dbaas_binary;    // what the image's /usr/local/bin/dbaas is
  int pods = 2;                // pods at once (one test host each)
  bool play_statefulset_controller = true;
};

class NodeSimulator {
 public:
  // Makes the test hosts and starts acting; fails (with why) where network namespaces
  // cannot be made.
  static Result<std::unique_ptr<NodeSimulator>> Start(NodeSimulatorOptions options);
  ~NodeSimulator();  // stops every pod (SIGTERM), then the hosts
  NodeSimulator(const NodeSimulator&) = delete;
  NodeSimulator& operator=(const NodeSimulator&) = delete;

  // The pid of pod `ns/name`'s container, -1 when it does not run here.
  int PodPid(const std::string& ns, const std::string& name) const;
  // The directory standing for claim `ns/name`.
  std::string ClaimDir(const std::string& ns, const std::string& name) const;
  // Everything the simulator did, a line each (for a failing test's message).
  std::string Log() const;

 private:
  struct Impl;
  explicit NodeSimulator(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

}  // namespace dbaas::testing
