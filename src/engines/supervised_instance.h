// What every instance on the local runtime shares, whatever its engine: its server is a
// SupervisedServer child of this process. An engine says how to launch its server and how to
// stop one an earlier daemon left running; this class starts, stops and deletes.
#pragma once

#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "base/process.h"
#include "engines/instance.h"
#include "engines/supervised_server.h"

namespace dbaas::engines {

class SupervisedInstance : public Instance {
 public:
  ~SupervisedInstance() override;  // a server still running is stopped
  SupervisedInstance(SupervisedInstance&&) noexcept = default;
  SupervisedInstance& operator=(SupervisedInstance&&) noexcept = default;

  // Stops a server an earlier daemon left on this instance first: the one started is ours.
  Status Start(std::chrono::milliseconds timeout = std::chrono::seconds(60)) final;
  Status Stop(std::chrono::milliseconds timeout = std::chrono::seconds(30)) final;
  Status Delete() final;
  bool running() const final;
  int restarts() const final;
  pid_t server_pid() const;  // -1 while not running
  // The instance's own OS user, which its server and its tools run as (none: ourselves).
  const std::optional<UserIds>& server_user() const { return server_user_; }
  // The tenant's login `app` (app-password in the instance's directory), the endpoint's
  // host, port and socket; the superuser's for an instance made before tenant logins.
  ConnectionInfo login() const final;
  bool superuser_access() const final { return superuser_access_ || tenant_password_.empty(); }

 protected:
  SupervisedInstance() = default;
  // Sets server_user_ for an instance being opened: `os_user` as instance.json names it.
  // An instance without one was made by a dbaasd whose servers all ran as the engine's
  // `shared_user` (postgres, mysql): a server it left running is stopped, the instance
  // gets its own user, and `owned` (the server's directories) is given to it; true then,
  // and the engine records the user in instance.json.
  Result<bool> OpenServerUser(const std::string& os_user, const std::string& shared_user,
                              const std::vector<std::string>& owned);
  std::optional<UserIds> server_user_;
  // Writes app-password (0600, ours) and keeps it.
  Status SaveTenantPassword(const std::string& password);
  // Reads app-password, if the instance has one.
  Status LoadTenantPassword();
  std::string tenant_password_;  // empty: no tenant login (an older instance)
  bool superuser_access_ = false;
  // The server's command, user, log, readiness probe and signals.
  virtual ServerLaunch Launch() const = 0;
  // Stops a server of this instance that an earlier daemon left running, if any.
  virtual Status StopServerLeftBehind() const = 0;
  // Delete calls it once the server is stopped, before the directory goes: what must
  // outlive the instance is saved here (PostgreSQL: the WAL its server archived last). An
  // error keeps the instance (stopped): nothing is removed that could not be saved.
  virtual Status BeforeRemoval() { return Status::Ok(); }

 private:
  std::unique_ptr<SupervisedServer> server_;
};

}  // namespace dbaas::engines
