// A database server as a supervised child process of the daemon, whatever the engine:
// started, ready when the engine's probe says so, restarted with back-off when it dies,
// stopped politely and then firmly. LocalRuntime's Server.
#pragma once

#include <chrono>
#include <csignal>
#include <functional>
#include <memory>
#include <optional>
#include <string>

#include "base/process.h"
#include "base/status.h"
#include "runtime/runtime.h"

namespace dbaas::runtime {

class SupervisedServer final : public Server {
 public:
  // Starts the server, waits until it answers (or fails with the end of its log), and
  // supervises it from then on: if it dies it is started again after 1 s, then 2, 4, ...
  // up to 30 s between tries (reset after a minute of running).
  static Result<std::unique_ptr<SupervisedServer>> Start(ServerLaunch launch,
                                                         std::chrono::milliseconds timeout);
  ~SupervisedServer() override;  // Stop() with a short timeout
  SupervisedServer(const SupervisedServer&) = delete;
  SupervisedServer& operator=(const SupervisedServer&) = delete;

  // Ends supervision; stop_signal, then hard_signal after `timeout`, then SIGKILL.
  Status Stop(std::chrono::milliseconds timeout) override;
  ServerHealth Observe() const override;

  struct State;

 private:
  explicit SupervisedServer(std::unique_ptr<State> state);
  std::unique_ptr<State> state_;
};

// A process that exists and is not a zombie.
bool ProcessAlive(pid_t pid);

// A server an earlier daemon left running (servers run in their own process groups and
// outlive a killed daemon) is shut down, so that the one we start is ours to supervise.
// `pid_file` names it; it is ours only if its command line names `program` and it or the
// pid file mentions `marker` (the data directory or configuration file) and it runs as
// `owner` (none: as we do), else the pid file is stale (the pid is someone else's now) or
// planted by the server's user (which can write it) and is left alone.
Status StopLeftoverServer(const std::string& pid_file, const std::string& program,
                          const std::string& marker, const std::string& instance,
                          const std::optional<UserIds>& owner, int stop_signal, int hard_signal);

}  // namespace dbaas::runtime
