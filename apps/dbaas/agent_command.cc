// dbaas agent: the in-pod agent, the entrypoint of an instance's pod on the Kubernetes
// runtime (agent/pod_agent.h, docs/KUBERNETES.md). Runs until SIGTERM or SIGINT (the
// kubelet's stop), then shuts the server down cleanly.
#include <pthread.h>
#include <signal.h>

#include <cstdlib>
#include <memory>
#include <thread>

#include <spdlog/spdlog.h>

#include "agent/pod_agent.h"
#include "base/process.h"
#include "commands.h"

namespace dbaas::cli {
namespace {

int RunAgent(agent::AgentOptions options, OutputFormat format) {
  // Every thread made from here on inherits the mask: one thread waits for the signals.
  sigset_t signals = BlockStopSignals();
  spdlog::set_level(spdlog::level::info);
  options.dbaas_binary = SelfExecutable();
  auto opened = agent::PodAgent::Open(options);
  if (!opened.ok()) return ReportError(opened.status(), format);
  agent::PodAgent& pod_agent = **opened;
  std::thread waiter([&] {
    int sig = 0;
    sigwait(&signals, &sig);
    spdlog::info("agent: {}, stopping", sig == SIGTERM ? "SIGTERM" : "SIGINT");
    pod_agent.Stop();
  });
  Status served = pod_agent.Serve();
  pthread_kill(waiter.native_handle(), SIGTERM);  // in case Serve ended by itself
  waiter.join();
  if (!served.ok()) return ReportError(served, format);
  return 0;
}

}  // namespace

void AddAgentCommand(CLI::App& app, GlobalOptions& g) {
  auto* cmd = app.add_subcommand(
      "agent",
      "Run an instance in a pod's volume and answer dbaasd over HTTPS (the entrypoint of an "
      "instance's pod on the Kubernetes runtime; not for interactive use)");
  auto o = std::make_shared<agent::AgentOptions>();
  if (const char* pod_ip = std::getenv("POD_IP")) o->address = pod_ip;
  cmd->add_option("--engine", o->engine, "The instance's engine: postgresql or mariadb")
      ->required();
  cmd->add_option("--name", o->name, "The instance's name")->required();
  cmd->add_option("--data", o->data, "Directory on the volume the instance lives in")->required();
  cmd->add_option("--settings", o->settings_file,
                  "The instance's settings, a JSON object (the ConfigMap's settings.json)");
  cmd->add_option("--secrets", o->secrets_dir,
                  "Directory of the instance's Secret: agent-token, agent.crt, agent.key")
      ->required();
  cmd->add_option("--listen", o->listen, "[ADDRESS]:PORT of the agent's HTTPS")
      ->capture_default_str();
  cmd->add_option("--address", o->address,
                  "The pod's IP, where the server listens (default: $POD_IP)");
  cmd->add_option("--database-port", o->database_port,
                  "The server's port (default: 5432, MariaDB 3306)");
  cmd->add_option("--bin-dir", o->bin_dir, "The engine's binaries (default: Debian's)");
  cmd->add_option("--restore-from", o->restore_from,
                  "The volume was filled from a volume backup of this instance: wait for dbaasd "
                  "to restore it (POST /v1/restore) instead of making a new one");
  cmd->add_option("--port-file", o->port_file,
                  "Write the agent's port here once it listens (with --listen :0)");
  cmd->callback([&g, o] { g.action = [&g, o] { return RunAgent(*o, g.format); }; });
}

}  // namespace dbaas::cli
