// The runtime of this machine: an instance's volume is a directory (0711, the daemon's;
// what the server writes inside it is its identity's), its identity an OS user of its own
// made with it and removed with it (runtime/instance_users.h), its server a supervised
// child process of the daemon (runtime/supervised_server.h), its tools child processes run
// as its user. Sizes are recorded, not enforced (no quota on a plain directory).
#pragma once

#include "runtime/runtime.h"

namespace dbaas::runtime {

class LocalRuntime final : public Runtime {
 public:
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
};

}  // namespace dbaas::runtime
