// What every instance shares, whatever its engine: it is placed by a runtime (a volume and
// an identity, runtime/runtime.h), which runs its server and its tools. An engine says how
// to launch its server and how to find one an earlier daemon left running; this class
// starts, stops and deletes through the runtime.
#pragma once

#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "base/process.h"
#include "engines/instance.h"
#include "runtime/runtime.h"

namespace dbaas::engines {

// Runs a tool somewhere: an instance's RunTool, or RunProcess (as ourselves).
using ToolRunner =
    std::function<Result<RunResult>(ProcessOptions options, std::chrono::milliseconds timeout)>;

class SupervisedInstance : public Instance {
 public:
  ~SupervisedInstance() override;  // a server still running is stopped
  SupervisedInstance(SupervisedInstance&&) noexcept = default;
  SupervisedInstance& operator=(SupervisedInstance&&) noexcept = default;

  // Stops a server an earlier daemon left on this instance first: the one started is ours.
  Status Start(std::chrono::milliseconds timeout = std::chrono::seconds(60)) final;
  Status Stop(std::chrono::milliseconds timeout = std::chrono::seconds(30)) final;
  Status Delete() final;
  Status StopLeftBehind() final { return StopServerLeftBehind(); }
  bool running() const final;
  bool answers() const final;
  int restarts() const final;
  pid_t server_pid() const;  // -1 while not running (or not a local process)
  // The instance's identity, which its server and its tools run as (none: ourselves).
  const std::optional<UserIds>& server_user() const { return placement_.identity; }
  runtime::Runtime& runtime() const { return *runtime_; }
  const runtime::Placement& placement() const { return placement_; }
  // Makes `path` (in the instance's directory, and everything below it) the server's.
  Status GiveToServer(const std::string& path) const;
  // Runs one of the engine's tools (argv, no shell) as the server's user.
  Result<RunResult> RunTool(ProcessOptions options, std::chrono::milliseconds timeout) const;
  ToolRunner tool_runner() const;
  VolumeProbe volume_probe() const override;
  // The tenant's login `app` (app-password in the instance's directory), the endpoint's
  // host, port and socket; the superuser's for an instance made before tenant logins.
  ConnectionInfo login() const final;
  bool superuser_access() const final { return superuser_access_ || tenant_password_.empty(); }

 protected:
  SupervisedInstance() = default;
  // Places a new instance on `rt` (its volume: dir()): kAlreadyExists when it exists.
  // `any_host`: its server may run on another host than the daemon's (ProvisionRequest).
  Status Provision(runtime::Runtime* rt, bool any_host = false);
  // Removes what Provision made, for an instance that could not be made.
  void Unprovision();
  // Finds the placement of an instance being opened: `os_user` as instance.json names it.
  // An instance without one was made by a dbaasd whose servers all ran as the engine's
  // `shared_user` (postgres, mysql): a server it left running is stopped, the instance
  // gets its own user, and `owned` (the server's directories) is given to it; true then,
  // and the engine records the user in instance.json.
  Result<bool> Locate(runtime::Runtime* rt, const std::string& os_user,
                      const std::string& shared_user, const std::vector<std::string>& owned);
  // Writes app-password (0600, ours) and keeps it.
  Status SaveTenantPassword(const std::string& password);
  // Reads app-password, if the instance has one.
  Status LoadTenantPassword();
  std::string tenant_password_;  // empty: no tenant login (an older instance)
  bool superuser_access_ = false;
  // The server's command, user, log, readiness probe and signals.
  virtual runtime::ServerLaunch Launch() const = 0;
  // Where a server an earlier daemon left running would be found.
  virtual runtime::LeftoverServer Leftover() const = 0;
  // Stops a server of this instance that an earlier daemon left running, if any.
  Status StopServerLeftBehind() const;
  // Delete calls it once the server is stopped, before the directory goes: what must
  // outlive the instance is saved here (PostgreSQL: the WAL its server archived last). An
  // error keeps the instance (stopped): nothing is removed that could not be saved.
  virtual Status BeforeRemoval() { return Status::Ok(); }

 private:
  runtime::Runtime* runtime_ = nullptr;
  runtime::Placement placement_;
  std::unique_ptr<runtime::Server> server_;
};

}  // namespace dbaas::engines
