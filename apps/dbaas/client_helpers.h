// What the client commands share: the connection options, running a request with a
// client, following a job, and printing the API's objects for people or scripts.
#pragma once

#include <functional>
#include <memory>
#include <string>

#include <nlohmann/json.hpp>

#include "api_client.h"
#include "commands.h"

namespace dbaas::cli {

struct ClientState {
  ServerOptions server;
};

// `key` of `j` as text; "-" when absent or null.
std::string Str(const nlohmann::json& j, const char* key);

// Runs `body` with a connected client; errors become exit codes.
int WithClient(const GlobalOptions& g, const ClientState& c,
               const std::function<Status(ApiClient&)>& body);

// Starts a job-backed request (?async=true) and waits for it unless `no_wait`.
Result<nlohmann::json> StartAndWait(ApiClient& api, const GlobalOptions& g, const std::string& path,
                                    const nlohmann::json& body, const std::string& label,
                                    bool no_wait);

// --into: where a backup's data files go (the API's `repository`), for backups and schedules.
void AddBackupStoreOption(CLI::App* command, std::string& into);

void PrintInstance(const nlohmann::json& inst);
void PrintBackup(const nlohmann::json& b);
void PrintJob(const nlohmann::json& j);

// Prints a list as JSON for scripts, or for people as a table with a row per item.
Status ShowList(const GlobalOptions& g, const nlohmann::json& items,
                const std::vector<std::string>& header,
                const std::function<std::vector<std::string>(const nlohmann::json&)>& row);

// Prints `j` as JSON for scripts, or as `table` draws it for people.
Status Show(const GlobalOptions& g, const nlohmann::json& j, void (*table)(const nlohmann::json&));

// dbaas schedule create|ls|rm, dbaas backup verify|pin|unpin (the backup group exists).
void AddOperationsCommands(CLI::App& app, GlobalOptions& g, std::shared_ptr<ClientState> c);
// dbaas repository ls|backups|import|take-over.
void AddRepositoryCommands(CLI::App& app, GlobalOptions& g, std::shared_ptr<ClientState> c);

}  // namespace dbaas::cli
