// dbaas: the command-line client. instance/backup/restore/job talk to dbaasd; the offline
// repo/snapshot commands work on a snapshot repository directly.
#include <iostream>
#include <map>

#include <CLI/CLI.hpp>

#include "base/log.h"
#include "base/process.h"
#include "commands.h"

int main(int argc, char** argv) {
  // A repository can hold thousands of packs, each kept open while reading.
  dbaas::RaiseOpenFileLimit();
  CLI::App app{"dbaas: Mini DBaaS command-line client"};
  app.require_subcommand(1);
  app.fallthrough();  // global options (-o, --threads) may follow the subcommand
  dbaas::cli::GlobalOptions global;
  std::string log_level = "warn";
  std::map<std::string, dbaas::cli::OutputFormat> formats{
      {"table", dbaas::cli::OutputFormat::kTable}, {"json", dbaas::cli::OutputFormat::kJson}};
  app.add_option("-o,--output", global.format, "Output format: table or json")
      ->transform(CLI::CheckedTransformer(formats, CLI::ignore_case))
      ->capture_default_str();
  app.add_option("--threads", global.threads, "Worker threads (default: one per core)");
  app.add_option("--log-level", log_level, "debug, info, warn, error or off")
      ->capture_default_str();
  dbaas::cli::AddRepoCommands(app, global);
  dbaas::cli::AddClientCommands(app, global);
  dbaas::cli::AddWalCommands(app, global);
  dbaas::cli::AddRemoteCommands(app, global);
  dbaas::cli::AddKubeCommands(app, global);
  dbaas::cli::AddAgentCommand(app, global);
  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    return app.exit(e);
  }
  dbaas::SetLogLevel(log_level);
  if (!global.action) {
    std::cerr << app.help();
    return 2;
  }
  return global.action();
}
