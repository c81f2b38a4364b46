#include "client_helpers.h"

#include <iostream>

#include <fmt/format.h>

#include "output.h"

namespace dbaas::cli {

using nlohmann::json;

std::string Str(const json& j, const char* key) {
  if (!j.contains(key) || j[key].is_null()) return "-";
  return j[key].is_string() ? j[key].get<std::string>() : j[key].dump();
}

// Runs `body` with a connected client; errors become exit codes.
int WithClient(const GlobalOptions& g, const ClientState& c,
               const std::function<Status(ApiClient&)>& body) {
  auto client = ApiClient::Connect(c.server);
  if (!client.ok()) return ReportError(client.status(), g.format);
  Status st = body(*client.value());
  return st.ok() ? 0 : ReportError(st, g.format);
}

// Starts a job-backed request (?async=true) and waits for it unless `no_wait`.
Result<json> StartAndWait(ApiClient& api, const GlobalOptions& g, const std::string& path,
                          const json& body, const std::string& label, bool no_wait) {
  ASSIGN_OR_RETURN(json started, api.Post(path + "?async=true", body));
  std::string id = started.value("jobId", "");
  if (no_wait) return started["job"];
  return api.WaitForJob(id, label, g.format == OutputFormat::kTable);
}

void AddBackupStoreOption(CLI::App* command, std::string& into) {
  command
      ->add_option("--into", into,
                   "Where the data files go: local (dbaasd's repository) or volumeSnapshot (a "
                   "CSI VolumeSnapshot: the Kubernetes runtime); default: the runtime's choice")
      ->check(CLI::IsMember({"local", "volumeSnapshot"}));
}

void PrintInstance(const json& inst) {
  std::vector<std::vector<std::string>> rows = {
      {"name", Str(inst, "name")}, {"type", Str(inst, "type")}, {"status", Str(inst, "status")}};
  if (inst.contains("statusMessage")) rows.push_back({"message", Str(inst, "statusMessage")});
  if (inst.contains("volume") && inst["volume"].is_object()) {
    const json& v = inst["volume"];
    std::string used = v.value("usedBytes", json()).is_number()
                           ? HumanBytes(v["usedBytes"].get<uint64_t>()) + " used"
                           : "not measured yet";
    rows.push_back({"size", fmt::format("{} ({}; {})", Str(inst, "size"), used,
                                        v.value("enforced", false) ? "enforced" : "not enforced")});
    if (v.value("exclusiveBytes", json()).is_number()) {
      rows.push_back({"own bytes", HumanBytes(v["exclusiveBytes"].get<uint64_t>()) +
                                       " (shared with no branch or thin backup)"});
    }
  }
  if (inst.contains("connection") && inst["connection"].is_object()) {
    const json& c = inst["connection"];
    rows.push_back({"host", Str(c, "host")});
    rows.push_back({"port", Str(c, "port")});
    rows.push_back({"socket", Str(c, "socket")});
    rows.push_back({"user", Str(c, "user")});
    rows.push_back({"database", Str(c, "database")});
    rows.push_back({"uri", Str(c, "uri")});
    if (c.contains("uriReadOnly")) rows.push_back({"uri (read-only)", Str(c, "uriReadOnly")});
    if (c.contains("password")) rows.push_back({"password", Str(c, "password")});
  }
  if (inst.value("members", json::array()).size() > 0) {
    rows.push_back(
        {"replicas", fmt::format("{} ({}; {} failovers)", Str(inst, "replicas"),
                                 inst.value("synchronous", false) ? "synchronous" : "asynchronous",
                                 Str(inst, "failovers"))});
    for (const json& m : inst["members"]) {
      std::string lag;
      if (m["replication"].is_object()) {
        lag = fmt::format(", {} {}, lag {}", Str(m["replication"], "state"),
                          Str(m["replication"], "syncState"),
                          HumanBytes(m["replication"].value("lagBytes", uint64_t{0})));
      }
      rows.push_back({"member " + Str(m, "name"),
                      fmt::format("{} {} port {} timeline {}{}", Str(m, "role"), Str(m, "state"),
                                  Str(m, "port"), Str(m, "timeline"), lag)});
    }
  }
  if (inst.contains("restoredFrom")) {
    const json& r = inst["restoredFrom"];
    rows.push_back({"restored from", fmt::format("{} / {} at {}", Str(r, "sourceInstance"),
                                                 Str(r, "backupName"), Str(r, "restoredAt"))});
  }
  if (inst.contains("branchedFrom")) {
    const json& b = inst["branchedFrom"];
    rows.push_back(
        {"branched from", fmt::format("{} as it was at {} ({}{})", Str(b, "instance"), Str(b, "at"),
                                      Str(b, "method"),
                                      b.value("backupName", json()).is_string()
                                          ? ", backup " + b["backupName"].get<std::string>()
                                          : "")});
  }
  rows.push_back({"created", Str(inst, "createdAt")});
  PrintTable({"FIELD", "VALUE"}, rows);
}

void PrintBackup(const json& b) {
  PrintTable(
      {"FIELD", "VALUE"},
      {{"backup", Str(b, "backupName")},
       {"instance", Str(b, "instanceName")},
       {"status", Str(b, "status")},
       {"volume", Str(b, "size")},
       {"data", b.contains("dataBytes") ? HumanBytes(b.value("dataBytes", uint64_t{0})) : "-"},
       {"stored", HumanBytes(b.value("storedBytes", uint64_t{0}))},
       {"created", Str(b, "createdAt")},
       {"expires", Str(b, "expiresAt")},
       {"snapshot", Str(b, "snapshotId")},
       {"lsn range", fmt::format("{} .. {}", Str(b, "startLsn"), Str(b, "stopLsn"))},
       {"backup mode", fmt::format("{} s", Str(b, "secondsInBackupMode"))},
       {"pinned", b.value("pinned", false) ? "yes" : "no"},
       {"schedule", Str(b, "schedule")},
       {"last drill", b.contains("drill") && b["drill"].is_object()
                          ? Str(b["drill"], "status") + " at " + Str(b["drill"], "at")
                          : "-"}});
}

void PrintJob(const json& j) {
  std::vector<std::vector<std::string>> rows = {
      {"job", Str(j, "id")},
      {"type", Str(j, "type")},
      {"instance", Str(j, "instance")},
      {"status", Str(j, "status")},
      {"progress", fmt::format("{:.0f}%", j.value("progress", 0.0) * 100)},
      {"created", Str(j, "createdAt")},
      {"started", Str(j, "startedAt")},
      {"finished", Str(j, "finishedAt")}};
  if (j.contains("error")) rows.push_back({"error", Str(j["error"], "message")});
  PrintTable({"FIELD", "VALUE"}, rows);
}

// Prints `j` as JSON for scripts, or as `table` draws it for people.
Status Show(const GlobalOptions& g, const json& j, void (*table)(const json&)) {
  if (g.format == OutputFormat::kJson) {
    PrintJson(j);
  } else {
    table(j);
  }
  return Status::Ok();
}

Status ShowList(const GlobalOptions& g, const json& items, const std::vector<std::string>& header,
                const std::function<std::vector<std::string>(const json&)>& row) {
  if (g.format == OutputFormat::kJson) {
    PrintJson(items);
    return Status::Ok();
  }
  std::vector<std::vector<std::string>> rows;
  for (const auto& item : items) rows.push_back(row(item));
  PrintTable(header, rows);
  return Status::Ok();
}

}  // namespace dbaas::cli
