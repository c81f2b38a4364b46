// Where a database server runs. Engines say *what* to run (a server's command, its
// readiness probe, the tools that make a backup consistent); a runtime says *where*: on
// this machine as supervised child processes, each instance under an OS user of its own
// (LocalRuntime), or, next, as a pod on a Kubernetes cluster, each instance in a namespace
// of its own (docs/ARCHITECTURE.md). Control and api never see which.
//
// An instance's *placement* is what the runtime made for it: a volume (its data, of a
// size) and an identity (who its server and its tools run as). Everything an engine does
// to an instance's files or processes goes through the placement, so the same engine code
// runs wherever the placement is.
#pragma once

#include <chrono>
#include <csignal>
#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "base/process.h"
#include "base/status.h"

namespace dbaas::runtime {

struct Placement {
  std::string instance;  // its name (DNS-1123 label)
  std::string dir;       // its volume, where its files are
  // Who its server and tools run as: on the local runtime an OS user of its own, none when
  // the daemon is not root (everything runs as the daemon).
  std::optional<UserIds> identity;
  // Placed by a daemon from before instances had identities of their own: it still runs as
  // the engine's shared user (GiveOwnIdentity moves it).
  bool shared_identity = false;
  // The host it runs on (empty: the daemon's own) and the address its server listens on
  // there, which clients, the daemon and the other members reach it at.
  std::string host;
  std::string address = "127.0.0.1";
  // Whom its server admits besides this host's loopback, as pg_hba.conf's address field
  // says it: "" nobody (a server on the daemon's loopback), "samenet" the networks it is
  // on (a test host: its peers, the daemon, clients), "all" any address (a pod, whose
  // NetworkPolicy decides who reaches it). Passwords are asked everywhere.
  std::string clients;
};

struct ProvisionRequest {
  std::string instance;
  std::string dir;
  uint64_t size_bytes = 0;  // 0: no set size (the local runtime enforces none yet)
  // Its server can run on another host than the daemon's: it is reached at an address,
  // not only on 127.0.0.1 (PostgreSQL's standbys on test hosts; MariaDB's members stay on
  // the daemon's loopback: its replication account is bound to 127.0.0.1). A pod's server is
  // reached at the pod's address whatever this says (LocalRuntime's pod mode).
  bool any_host = false;
};

// How to run a server: the engine's part.
struct ServerLaunch {
  ProcessOptions options;  // the server's argv, cwd and output_path (its log); user: set
                           // by the runtime from the placement
  std::string instance;    // instance name, for logs and errors
  std::string engine;      // "PostgreSQL", "MariaDB", ... for messages
  // True once the server accepts connections. Called often while starting: cheap, with
  // a short timeout of its own.
  std::function<bool()> answers;
  // True when the end of the log shows the server refused its configuration: the start
  // then fails with kInvalidArgument (bad input) rather than kIoError.
  std::function<bool(const std::string& log_tail)> refused_config;
  int stop_signal = SIGINT;   // polite shutdown
  int hard_signal = SIGQUIT;  // after the stop timeout
};

// A server an earlier daemon may have left running: its pid file names it, and it is ours
// only if its command line names `program` and it or the pid file mentions `marker` (see
// StopLeftoverServer).
struct LeftoverServer {
  std::string pid_file;
  std::string program;
  std::string marker;
  int stop_signal = SIGINT;
  int hard_signal = SIGQUIT;
};

// What Observe sees of a server.
struct ServerHealth {
  bool running = false;
  int restarts = 0;  // since it was started
  pid_t pid = -1;    // the local runtime's process; -1 elsewhere or while down
};

// A started server, supervised by its runtime until Stop (or destruction, which stops it).
class Server {
 public:
  virtual ~Server() = default;
  // Ends supervision and shuts the server down: stop_signal, then hard_signal after
  // `timeout`, then for good.
  virtual Status Stop(std::chrono::milliseconds timeout) = 0;
  virtual ServerHealth Observe() const = 0;
};

struct VolumeStats {
  uint64_t used_bytes = 0;  // allocated to the instance's files
  // Of those, the bytes no other file shares: a branch cloned with reflinks shares its
  // parent's blocks until either writes them, and an instance its blocks with the thin
  // (reflink) snapshots of its backups. What removing the instance alone would free.
  uint64_t exclusive_bytes = 0;
  uint64_t capacity_bytes = 0;  // its volume's size; 0: no set size
};

class Runtime {
 public:
  virtual ~Runtime() = default;
  virtual const char* kind() const = 0;  // "local"

  // Makes an instance's volume and identity; kAlreadyExists naming the instance when its
  // volume exists. The identity is recorded in the volume before it is made, so that
  // RemoveRemains finds it whatever point a daemon was killed at.
  virtual Result<Placement> Provision(const ProvisionRequest& request) = 0;
  // The placement of an instance made earlier, by the identity it recorded (`identity`
  // empty: made before identities; then it runs as `shared_identity`, the engine's
  // packaged user, and the placement says so).
  virtual Result<Placement> Locate(const std::string& instance, const std::string& dir,
                                   const std::string& identity,
                                   const std::string& shared_identity) = 0;
  // Gives a placement on the shared identity one of its own, and `owned` (paths in its
  // volume the server writes) to it. Its server must be stopped.
  virtual Result<Placement> GiveOwnIdentity(const Placement& placement,
                                            const std::vector<std::string>& owned) = 0;
  // Removes the volume and the identity. Its server must be stopped.
  virtual Status Remove(const Placement& placement) = 0;
  // Removes what is left of an instance whose provisioning or removal was cut off: the
  // identity its volume records, then the volume. Nothing there is fine.
  virtual Status RemoveRemains(const std::string& dir) = 0;

  // Starts the server as the placement's identity, waits until it answers (or fails with
  // the end of its log), and supervises it.
  virtual Result<std::unique_ptr<Server>> Start(const Placement& placement, ServerLaunch launch,
                                                std::chrono::milliseconds timeout) = 0;
  // Stops a server of this placement that an earlier daemon left running, if any.
  virtual Status StopLeftover(const Placement& placement, const LeftoverServer& leftover) = 0;
  // Runs a tool (argv, no shell) as the placement's identity beside its volume; the
  // options' user is the runtime's to set.
  virtual Result<RunResult> RunTool(const Placement& placement, ProcessOptions options,
                                    std::chrono::milliseconds timeout) = 0;
  // Makes `path` (in the placement's volume, and everything below it) the identity's.
  virtual Status GiveToInstance(const Placement& placement, const std::string& path) = 0;

  // A copy of `path` (in the placement's volume) at `destination`, made as fast as the
  // storage allows (the local runtime: reflink clones where the filesystem has them,
  // else copies). `destination` must not exist; on failure it does not.
  virtual Status SnapshotVolume(const Placement& placement, const std::string& path,
                                const std::string& destination) = 0;
  // The reverse: `source` (a snapshot) becomes `path` in the placement's volume, the
  // identity's. `path` must not exist; on failure it does not.
  virtual Status CloneVolume(const std::string& source, const Placement& placement,
                             const std::string& path) = 0;
  virtual Result<VolumeStats> VolumeUsage(const Placement& placement) = 0;
  // A port a new server can listen on.
  virtual Result<uint16_t> AllocatePort() = 0;
};

// This machine's runtime (runtime/local_runtime.h), the default.
Runtime& Local();

}  // namespace dbaas::runtime
