// dbaas repository ls|backups|import|take-over: the daemon's remote repositories, and the
// disaster-recovery path through them (docs/OPERATIONS.md): on a new host, list what a
// bucket holds, import its backups, restore them (dbaas restore --from-repository), take
// the bucket over before writing there.
#include <iostream>

#include <fmt/format.h>

#include "client_helpers.h"
#include "output.h"

namespace dbaas::cli {
namespace {

using nlohmann::json;

void PrintImport(const json& got) {
  std::vector<std::vector<std::string>> rows;
  for (const auto& name : got.value("imported", json::array()))
    rows.push_back({name.get<std::string>(), "imported", ""});
  for (const auto& s : got.value("skipped", json::array()))
    rows.push_back({Str(s, "backupName"), "skipped", Str(s, "reason")});
  PrintTable({"BACKUP", "RESULT", "WHY"}, rows);
}

}  // namespace

void AddRepositoryCommands(CLI::App& app, GlobalOptions& g, std::shared_ptr<ClientState> c) {
  auto* group = app.add_subcommand(
      "repository",
      "dbaasd's remote repositories (S3 buckets): ls, backups, import, take-over; on a new "
      "host, the way back after the old one is lost");
  group->require_subcommand(1);

  auto* ls = group->add_subcommand("ls", "List the configured repositories and how they fare");
  ls->callback([&g, c] {
    g.action = [&g, c] {
      return WithClient(g, *c, [&](ApiClient& api) -> Status {
        ASSIGN_OR_RETURN(json got, api.Get("/repositories"));
        return ShowList(g, got["repositories"],
                        {"NAME", "BUCKET", "ENCRYPTED", "LEASED", "SENT", "FAILURES", "LAST OK"},
                        [](const json& r) -> std::vector<std::string> {
                          return {Str(r, "name"),
                                  Str(r, "bucket"),
                                  r.value("encrypted", false) ? "yes" : "no",
                                  r.value("leased", false) ? "yes" : "no",
                                  HumanBytes(r.value("bytesSent", uint64_t{0})),
                                  Str(r, "failures"),
                                  Str(r, "lastSuccessAt")};
                        });
      });
    };
  });

  auto listed = std::make_shared<std::string>();
  auto* backups = group->add_subcommand(
      "backups", "List the backups a repository holds, and which can be imported here");
  backups->add_option("repository", *listed, "Repository name")->required();
  backups->callback([&g, c, listed] {
    g.action = [&g, c, listed] {
      return WithClient(g, *c, [&](ApiClient& api) -> Status {
        ASSIGN_OR_RETURN(json got,
                         api.Get(fmt::format("/repositories/{}/backups", PathSegment(*listed))));
        return ShowList(g, got["backups"],
                        {"BACKUP", "INSTANCE", "TYPE", "DATA", "CREATED", "HERE", "IMPORT"},
                        [](const json& b) -> std::vector<std::string> {
                          const json& r = b["backup"].is_object() ? b["backup"] : json::object();
                          std::string import = b.value("importable", false) ? "yes" : "no";
                          if (b["unavailable"].is_string())
                            import += ": " + b["unavailable"].get<std::string>();
                          return {r.is_object() && r.contains("backupName")
                                      ? Str(r, "backupName")
                                      : "(snapshot " + Str(b, "snapshotId") + ")",
                                  Str(r, "instanceName"),
                                  Str(r, "instanceType"),
                                  HumanBytes(r.value("dataBytes", uint64_t{0})),
                                  Str(r, "createdAt"),
                                  b.value("inCatalog", false) ? "yes" : "no",
                                  import};
                        });
      });
    };
  });

  struct ImportArgs {
    std::string repository, instance;
    std::vector<std::string> backups;
  };
  auto a = std::make_shared<ImportArgs>();
  auto* import = group->add_subcommand(
      "import",
      "Import a repository's backups into this daemon's catalog (ready, restorable with "
      "dbaas restore --from-repository); what the catalog has is left alone");
  import->add_option("repository", a->repository, "Repository name")->required();
  import->add_option("--instance", a->instance, "Only the backups of this instance");
  import->add_option("--backup", a->backups, "Only this backup (repeatable)");
  import->callback([&g, c, a] {
    g.action = [&g, c, a] {
      return WithClient(g, *c, [&](ApiClient& api) -> Status {
        json body = json::object();
  if (!a->instance.empty()) body["instance"] = a->instance;
  if (!a->backups.empty()) body["backups"] = a->backups;
  ASSIGN_OR_RETURN(
      json got, api.Post(fmt::format("/repositories/{}/import", PathSegment(a->repository)), body));
  return Show(g, got, PrintImport);
});
};  // namespace dbaas::cli
});

auto taken = std::make_shared<std::string>();
auto* take = group->add_subcommand(
    "take-over",
    "Take a repository's writer's lease from the daemon that holds it (a lost host): this "
    "daemon copies, removes and collects garbage there from now on, and that one is refused");
take->add_option("repository", *taken, "Repository name")->required();
take->callback([&g, c, taken] {
  g.action = [&g, c, taken] {
    return WithClient(g, *c, [&](ApiClient& api) -> Status {
      ASSIGN_OR_RETURN(json got,
                       api.Post(fmt::format("/repositories/{}/lease", PathSegment(*taken)),
                                json{{"takeOver", true}}));
      if (g.format == OutputFormat::kJson) {
        PrintJson(got);
        return Status::Ok();
      }
      std::cout << fmt::format("this daemon now holds the lease of repository {}\n", *taken);
      return Status::Ok();
    });
  };
});
}

}  // namespace dbaas::cli
