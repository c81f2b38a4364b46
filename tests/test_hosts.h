// Hosts of this machine for the tests that cut a server off the network (the failover
// torture): network namespaces, each joined by a veth pair to a bridge of their own, on the
// subnet 10.214.N.0/24 (the bridge, our side, is .1; host i is .(2 + i)). N is the first
// free bridge name dbaasbrN, so tests running at once get subnets of their own. Made with
// `ip` (iproute2) as root; dbaasd is given them with --test-hosts (Flag()) and places its
// PostgreSQL servers on them (runtime/local_runtime.h).
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "base/status.h"

namespace dbaas::testing {

class TestHosts {
 public:
  // `count` hosts, reachable from here and from each other. Fails (with why) where network
  // namespaces cannot be made (not root, no veth or bridge in the kernel).
  static Result<std::unique_ptr<TestHosts>> Make(int count);
  ~TestHosts();  // removes the namespaces, their links and the bridge
  TestHosts(const TestHosts&) = delete;
  TestHosts& operator=(const TestHosts&) = delete;

  int size() const { return static_cast<int>(names_.size()); }
  const std::string& name(int i) const { return names_[i]; }
  const std::string& address(int i) const { return addresses_[i]; }
  // The host listening on `address`; -1 for none of ours.
  int IndexOf(const std::string& address) const;
  // "name=address,...": dbaasd's --test-hosts.
  std::string Flag() const;
  // Host i's link taken down: nothing reaches it and it reaches nothing (its processes run
  // on). Reconnect brings the link back.
  Status Cut(int i);
  Status Reconnect(int i);
  // A socket listening on host i's address and `port`, inside its namespace: a server
  // killed there cannot start again in place. The caller closes it.
  Result<int> Listen(int i, uint16_t port);

 private:
  TestHosts() = default;
  std::string LinkOf(int i) const;  // our end of host i's veth pair
  int subnet_ = 0;
  std::string bridge_;
  std::vector<std::string> names_;
  std::vector<std::string> addresses_;
};

}  // namespace dbaas::testing
