// Registration of the CLI's command groups. Each group adds its subcommands to the app;
// a parsed subcommand sets `action`, which main() runs and whose result is the exit code.
#pragma once

#include <functional>

#include <CLI/CLI.hpp>

#include "output.h"

namespace dbaas::cli {

struct GlobalOptions {
  OutputFormat format = OutputFormat::kTable;
  unsigned threads = 0;
  std::function<int()> action;
};

// dbaas repo init|verify|gc|stats, dbaas snapshot create|ls|restore|rm
void AddRepoCommands(CLI::App& app, GlobalOptions& global);
// dbaas instance|backup|restore|job, talking to dbaasd
void AddClientCommands(CLI::App& app, GlobalOptions& global);
// dbaas wal-push|wal-fetch (PostgreSQL's archive_command and restore_command), wal-drain
void AddWalCommands(CLI::App& app, GlobalOptions& global);
// dbaas remote init|push|pull|ls|verify|rm|gc|rekey: copies in an S3 bucket
void AddRemoteCommands(CLI::App& app, GlobalOptions& global);
// dbaas kube preflight|objects: a cluster's readiness, an instance's objects there
void AddKubeCommands(CLI::App& app, GlobalOptions& global);
// dbaas agent: the in-pod agent of the Kubernetes runtime
void AddAgentCommand(CLI::App& app, GlobalOptions& global);

}  // namespace dbaas::cli
