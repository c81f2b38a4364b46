// dbaas instance|backup|restore|job: commands that talk to dbaasd over its REST API.
// Long operations are started asynchronously and followed with a progress bar, so a
// person sees them move and a script (-o json) gets the final object.
#include <iostream>

#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include "api_client.h"
#include "client_helpers.h"
#include "commands.h"

namespace dbaas::cli {
namespace {

using nlohmann::json;

// key=value pairs of --config.
Result<json> ParseConfigPairs(const std::vector<std::string>& pairs) {
  json config = json::object();
  for (const auto& p : pairs) {
    auto eq = p.find('=');
    if (eq == std::string::npos || eq == 0) {
      return Status::InvalidArgument(fmt::format("--config '{}' is not KEY=VALUE", p));
    }
    config[p.substr(0, eq)] = p.substr(eq + 1);
  }
  return config;
}

// Where a restore or a branch ends: a time, an LSN (a binlog position for MariaDB), a
// restore point, a GTID (MariaDB) or everything archived (one at most).
struct TargetArgs {
  std::string time, lsn, point, gtid;
  bool latest = false;
};

void AddTargetOptions(CLI::App* cmd, TargetArgs& t) {
  auto* time = cmd->add_option("--time", t.time,
                               "Point in time, RFC 3339 with a zone (2026-11-25T10:00:00Z)");
  auto* lsn = cmd->add_option(
      "--lsn", t.lsn, "Up to this log position (PostgreSQL 0/3000060, MariaDB binlog.000042:1234)");
  auto* point = cmd->add_option("--restore-point", t.point, "Up to this restore point");
  auto* gtid = cmd->add_option("--gtid", t.gtid, "MariaDB: up to and including this GTID (0-1-42)");
  auto* latest = cmd->add_flag("--latest", t.latest, "Everything archived");
  for (auto* opt : {time, lsn, point, gtid, latest}) {
    for (auto* other : {time, lsn, point, gtid, latest}) {
      if (opt != other) opt->excludes(other);
    }
  }
}

void AddTargetFields(json& body, const TargetArgs& t) {
  if (!t.time.empty()) body["targetTime"] = t.time;
  if (!t.lsn.empty()) body["targetLsn"] = t.lsn;
  if (!t.point.empty()) body["targetName"] = t.point;
  if (!t.gtid.empty()) body["targetGtid"] = t.gtid;
  if (t.latest) body["target"] = "latest";
}

Status PrintBranches(const GlobalOptions& g, const json& list) {
  return ShowList(g, list, {"NAME", "STATUS", "FROM", "METHOD", "AT", "OWN BYTES"},
                  [](const json& i) -> std::vector<std::string> {
                    const json& from = i.value("branchedFrom", json::object());
                    const json& v = i.value("volume", json::object());
                    std::string own = v.value("exclusiveBytes", json()).is_number()
                                          ? HumanBytes(v["exclusiveBytes"].get<uint64_t>())
                                          : "-";
                    return {Str(i, "name"),      Str(i, "status"), Str(from, "instance"),
                            Str(from, "method"), Str(from, "at"),  own};
                  });
}

void AddBranchCommands(CLI::App* inst, GlobalOptions& g, std::shared_ptr<ClientState> c) {
  struct BranchArgs {
    std::string source, name, backup, size;
    TargetArgs target;
    std::vector<std::string> config;
    bool no_wait = false;
  };
  auto a = std::make_shared<BranchArgs>();
  auto* branch = inst->add_subcommand(
      "branch",
      "A new, writable instance from another as it is now (a consistent copy: reflink clones "
      "where the filesystem has them, else through the repository; no backup is left), or as "
      "it was at a backup or a point in time");
  branch->add_option("source", a->source, "The instance to branch")->required();
  branch->add_option("name", a->name, "Name of the new instance")->required();
  branch->add_option("--backup", a->backup, "As it was at this backup");
  AddTargetOptions(branch, a->target);
  branch->add_option("--config", a->config, "Server setting KEY=VALUE over the source's");
  branch->add_option("--size", a->size, "Volume size (default: the source's)");
  branch->add_flag("--no-wait", a->no_wait, "Print the job and return at once");
  branch->callback([&g, c, a] {
    g.action = [&g, c, a] {
      return WithClient(g, *c, [&](ApiClient& api) -> Status {
        ASSIGN_OR_RETURN(json config, ParseConfigPairs(a->config));
        json body = {{"newInstanceName", a->name}};
        if (!config.empty()) body["config"] = config;
        if (!a->backup.empty()) body["backupName"] = a->backup;
        if (!a->size.empty()) body["size"] = a->size;
        AddTargetFields(body, a->target);
        std::string path = fmt::format("/instances/{}/branch", PathSegment(a->source));
        ASSIGN_OR_RETURN(json job, StartAndWait(api, g, path, body, "branch", a->no_wait));
        if (a->no_wait) return Show(g, job, PrintJob);
        ASSIGN_OR_RETURN(json got, api.Get("/instances/" + PathSegment(a->name)));
        if (g.format == OutputFormat::kTable) {
          const json& r = job.value("result", json::object());
          std::cout << fmt::format("branch {} made by {} in {:.2f} s\n", a->name, Str(r, "method"),
                                   r.value("seconds", 0.0));
        }
        return Show(g, got["instance"], PrintInstance);
      });
    };
  });

  auto parent = std::make_shared<std::string>();
  auto* ls = inst->add_subcommand("branches", "List the branches made from an instance");
  ls->add_option("name", *parent, "The parent instance")->required();
  ls->callback([&g, c, parent] {
    g.action = [&g, c, parent] {
      return WithClient(g, *c, [&](ApiClient& api) -> Status {
        ASSIGN_OR_RETURN(json got,
                         api.Get(fmt::format("/instances/{}/branches", PathSegment(*parent))));
        return PrintBranches(g, got["branches"]);
      });
    };
  });

  auto reset_name = std::make_shared<std::string>();
  auto* reset = inst->add_subcommand(
      "reset", "Make a branch again from its parent's current state (what it held is gone)");
  reset->add_option("name", *reset_name, "The branch")->required();
  reset->callback([&g, c, reset_name] {
    g.action = [&g, c, reset_name] {
      return WithClient(g, *c, [&](ApiClient& api) -> Status {
        std::string path = fmt::format("/instances/{}/reset", PathSegment(*reset_name));
        RETURN_IF_ERROR(StartAndWait(api, g, path, json::object(), "reset", false).status());
        ASSIGN_OR_RETURN(json got, api.Get("/instances/" + PathSegment(*reset_name)));
        return Show(g, got["instance"], PrintInstance);
      });
    };
  });
}

void AddInstanceCommands(CLI::App& app, GlobalOptions& g, std::shared_ptr<ClientState> c) {
  auto* inst = app.add_subcommand(
      "instance",
      "Database instances (create, ls, get, resize, replicate, switchover, rm, branch, "
      "branches, reset)");
  inst->require_subcommand(1);

  struct CreateArgs {
    std::string name, type = "postgresql", size;
    std::vector<std::string> config;
    bool no_wait = false;
    bool superuser_access = false;
    int replicas = 0;
    bool synchronous = false;
  };
  auto ca = std::make_shared<CreateArgs>();
  auto* create = inst->add_subcommand("create", "Create an instance and wait until it runs");
  create->add_option("name", ca->name, "Instance name (DNS-1123 label)")->required();
  create->add_option("--type", ca->type, "postgresql, mariadb or mysql")->capture_default_str();
  create->add_option("--size", ca->size, "Volume size, e.g. 10Gi");
  create->add_option("--config", ca->config, "Server setting KEY=VALUE (repeatable)");
  create->add_flag("--superuser-access", ca->superuser_access,
                   "Hand out the superuser's login too (by default the login is the owner of "
                   "the database app, not a superuser)");
  create
      ->add_option("--replicas", ca->replicas,
                   "Standbys following the primary, each a server of its own, made from "
                   "the newest backup (PostgreSQL, MariaDB; 0 to 5)")
      ->capture_default_str();
  create->add_flag("--synchronous", ca->synchronous,
                   "A commit returns only once a standby has it (needs --replicas; "
                   "PostgreSQL)");
  create->add_flag("--no-wait", ca->no_wait, "Print the job and return at once");
  create->callback([&g, c, ca] {
    g.action = [&g, c, ca] {
      return WithClient(g, *c, [&](ApiClient& api) -> Status {
        ASSIGN_OR_RETURN(json config, ParseConfigPairs(ca->config));
        json body = {{"name", ca->name}, {"type", ca->type}, {"config", config}};
        if (!ca->size.empty()) body["size"] = ca->size;
        if (ca->superuser_access) body["superuserAccess"] = true;
        if (ca->replicas > 0) body["replicas"] = ca->replicas;
        if (ca->synchronous) body["synchronous"] = true;
        ASSIGN_OR_RETURN(json job, StartAndWait(api, g, "/instances", body, "create", ca->no_wait));
        if (ca->no_wait) return Show(g, job, PrintJob);
        ASSIGN_OR_RETURN(json got, api.Get("/instances/" + PathSegment(ca->name)));
        return Show(g, got["instance"], PrintInstance);
      });
    };
  });

  auto* ls = inst->add_subcommand("ls", "List instances");
  ls->callback([&g, c] {
    g.action = [&g, c] {
      return WithClient(g, *c, [&](ApiClient& api) -> Status {
        ASSIGN_OR_RETURN(json got, api.Get("/instances"));
        return ShowList(
            g, got["instances"], {"NAME", "TYPE", "STATUS", "PORT", "CREATED"},
            [](const json& i) -> std::vector<std::string> {
              std::string port = i["connection"].is_object() ? Str(i["connection"], "port") : "-";
              return {Str(i, "name"), Str(i, "type"), Str(i, "status"), port, Str(i, "createdAt")};
            });
      });
    };
  });

  auto name = std::make_shared<std::string>();
  auto secrets = std::make_shared<bool>(false);
  auto* get = inst->add_subcommand("get", "Show an instance and how to connect to it");
  get->add_option("name", *name, "Instance name")->required();
  get->add_flag("--show-secrets", *secrets, "Include the password (and put it in the URI)");
  get->callback([&g, c, name, secrets] {
    g.action = [&g, c, name, secrets] {
      return WithClient(g, *c, [&](ApiClient& api) -> Status {
        ASSIGN_OR_RETURN(json got, api.Get(fmt::format("/instances/{}{}", PathSegment(*name),
                                                       *secrets ? "?showSecrets=true" : "")));
        return Show(g, got["instance"], PrintInstance);
      });
    };
  });

  auto resize_name = std::make_shared<std::string>();
  auto resize_size = std::make_shared<std::string>();
  auto* resize = inst->add_subcommand(
      "resize",
      "Set an instance's volume size (not below what it uses; enforced where the "
      "runtime can: see volume.enforced)");
  resize->add_option("name", *resize_name, "Instance name")->required();
  resize->add_option("size", *resize_size, "New size, a Kubernetes quantity (20Gi)")->required();
  resize->callback([&g, c, resize_name, resize_size] {
    g.action = [&g, c, resize_name, resize_size] {
      return WithClient(g, *c, [&](ApiClient& api) -> Status {
        ASSIGN_OR_RETURN(json got,
                         api.Patch(fmt::format("/instances/{}", PathSegment(*resize_name)),
                                   json{{"size", *resize_size}}));
        return Show(g, got["instance"], PrintInstance);
      });
    };
  });

  struct ReplicateArgs {
    std::string name;
    int replicas = -1;        // -1: unchanged
    std::string synchronous;  // "": unchanged
  };
  auto ra = std::make_shared<ReplicateArgs>();
  auto* replicate = inst->add_subcommand(
      "replicate", "Set an instance's standbys: how many, and whether commits wait for one");
  replicate->add_option("name", ra->name, "Instance name")->required();
  replicate->add_option("--replicas", ra->replicas, "Standbys (0 to 5)");
  replicate
      ->add_option("--synchronous", ra->synchronous,
                   "true: a commit returns once a standby has it; false: asynchronous")
      ->check(CLI::IsMember({"true", "false"}));
  replicate->callback([&g, c, ra] {
    g.action = [&g, c, ra] {
      return WithClient(g, *c, [&](ApiClient& api) -> Status {
        json body = json::object();
        if (ra->replicas >= 0) body["replicas"] = ra->replicas;
        if (!ra->synchronous.empty()) body["synchronous"] = ra->synchronous == "true";
        if (body.empty()) {
          return Status::InvalidArgument("nothing to change", "give --replicas or --synchronous");
        }
        std::string path = "/instances/" + PathSegment(ra->name);
        ASSIGN_OR_RETURN(json started, api.Patch(path + "?async=true", body));
        RETURN_IF_ERROR(api.WaitForJob(started.value("jobId", ""), "replicate",
                                       g.format == OutputFormat::kTable)
                            .status());
        ASSIGN_OR_RETURN(json got, api.Get(path));
        return Show(g, got["instance"], PrintInstance);
      });
    };
  });

  auto so = std::make_shared<std::pair<std::string, std::string>>();
  auto* switchover =
      inst->add_subcommand("switchover", "Hand the primary's role to a standby, with nothing lost");
  switchover->add_option("name", so->first, "Instance name")->required();
  switchover->add_option("--to", so->second, "The standby to promote (default: most advanced)");
  switchover->callback([&g, c, so] {
    g.action = [&g, c, so] {
      return WithClient(g, *c, [&](ApiClient& api) -> Status {
        json body = json::object();
        if (!so->second.empty()) body["to"] = so->second;
        std::string path = "/instances/" + PathSegment(so->first);
        ASSIGN_OR_RETURN(json job,
                         StartAndWait(api, g, path + "/switchover", body, "switchover", false));
        ASSIGN_OR_RETURN(json got, api.Get(path));
        return Show(g, got["instance"], PrintInstance);
      });
    };
  });

  auto rm_name = std::make_shared<std::string>();
  auto rm_backups = std::make_shared<bool>(false);
  auto* rm = inst->add_subcommand("rm", "Delete an instance (its backups stay unless asked)");
  rm->add_option("name", *rm_name, "Instance name")->required();
  rm->add_flag("--delete-backups", *rm_backups, "Delete its backups too");
  rm->callback([&g, c, rm_name, rm_backups] {
    g.action = [&g, c, rm_name, rm_backups] {
      return WithClient(g, *c, [&](ApiClient& api) -> Status {
        ASSIGN_OR_RETURN(json started,
                         api.Delete(fmt::format("/instances/{}?async=true{}", PathSegment(*rm_name),
                                                *rm_backups ? "&deleteBackups=true" : "")));
        ASSIGN_OR_RETURN(json job, api.WaitForJob(started.value("jobId", ""), "delete",
                                                  g.format == OutputFormat::kTable));
        if (g.format == OutputFormat::kJson) {
          PrintJson(job);
          return Status::Ok();
        }
        std::cout << fmt::format("deleted instance {} ({} backups deleted)\n", *rm_name,
                                 job["result"].value("backupsDeleted", 0));
        return Status::Ok();
      });
    };
  });
  AddBranchCommands(inst, g, c);
}

void AddBackupCommands(CLI::App& app, GlobalOptions& g, std::shared_ptr<ClientState> c) {
  auto* backup = app.add_subcommand("backup", "Backups of instances (create, ls, get, rm)");
  backup->require_subcommand(1);

  struct Args {
    std::string instance, name, from, into;
    std::vector<std::string> copy_to;
    int retention_days = 0;
    bool no_wait = false;
  };
  auto a = std::make_shared<Args>();
  auto* create = backup->add_subcommand("create", "Back up a running instance");
  create->add_option("--copy-to", a->copy_to,
                     "Copy it to this remote repository once made (repeatable)");
  create->add_option("instance", a->instance, "Instance name")->required();
  create->add_option("--name", a->name, "Backup name (default <instance>-backup-<time>)");
  create->add_option("--retention-days", a->retention_days, "Days to keep it");
  create
      ->add_option("--from", a->from,
                   "primary (default) or standby: a streaming standby of an instance with "
                   "standbys does the reading")
      ->check(CLI::IsMember({"primary", "standby"}));
  AddBackupStoreOption(create, a->into);
  create->add_flag("--no-wait", a->no_wait, "Print the job and return at once");
  create->callback([&g, c, a] {
    g.action = [&g, c, a] {
      return WithClient(g, *c, [&](ApiClient& api) -> Status {
        json body = json::object();
        if (!a->name.empty()) body["backupName"] = a->name;
        if (a->retention_days != 0) body["retentionDays"] = a->retention_days;
        if (!a->copy_to.empty()) body["repositories"] = a->copy_to;
        if (!a->from.empty()) body["from"] = a->from;
        if (!a->into.empty()) body["repository"] = a->into;
        std::string path = fmt::format("/instances/{}/backup", PathSegment(a->instance));
        ASSIGN_OR_RETURN(json job, StartAndWait(api, g, path, body, "backup", a->no_wait));
        if (a->no_wait) return Show(g, job, PrintJob);
        std::string name = job["result"].value("backupName", "");
        ASSIGN_OR_RETURN(json got,
                         api.Get(fmt::format("/instances/{}/backups/{}", PathSegment(a->instance),
                                             PathSegment(name))));
        return Show(g, got["backup"], PrintBackup);
      });
    };
  });

  auto ls_instance = std::make_shared<std::string>();
  auto* ls = backup->add_subcommand("ls", "List an instance's backups (also of a deleted one)");
  ls->add_option("instance", *ls_instance, "Instance name")->required();
  ls->callback([&g, c, ls_instance] {
    g.action = [&g, c, ls_instance] {
      return WithClient(g, *c, [&](ApiClient& api) -> Status {
        ASSIGN_OR_RETURN(json got,
                         api.Get(fmt::format("/instances/{}/backups", PathSegment(*ls_instance))));
        return ShowList(g, got["backups"],
                        {"NAME", "STATUS", "DATA", "STORED", "CREATED", "EXPIRES"},
                        [](const json& b) -> std::vector<std::string> {
                          return {Str(b, "backupName"),
                                  Str(b, "status"),
                                  HumanBytes(b.value("dataBytes", uint64_t{0})),
                                  HumanBytes(b.value("storedBytes", uint64_t{0})),
                                  Str(b, "createdAt"),
                                  Str(b, "expiresAt")};
                        });
      });
    };
  });

  for (const char* verb : {"get", "rm"}) {
    auto args = std::make_shared<std::pair<std::string, std::string>>();
    bool is_get = std::string_view(verb) == "get";
    auto* cmd = backup->add_subcommand(verb, is_get ? "Show a backup" : "Delete a backup");
    cmd->add_option("instance", args->first, "Instance name")->required();
    cmd->add_option("backup", args->second, "Backup name")->required();
    cmd->callback([&g, c, args, is_get] {
      g.action = [&g, c, args, is_get] {
        return WithClient(g, *c, [&](ApiClient& api) -> Status {
          std::string path = fmt::format("/instances/{}/backups/{}", PathSegment(args->first),
                                         PathSegment(args->second));
          if (is_get) {
            ASSIGN_OR_RETURN(json got, api.Get(path));
            return Show(g, got["backup"], PrintBackup);
          }
          ASSIGN_OR_RETURN(json got, api.Delete(path));
          if (g.format == OutputFormat::kJson) {
            PrintJson(got);
            return Status::Ok();
          }
          std::cout << fmt::format("deleted backup {}\n", args->second);
          return Status::Ok();
        });
      };
    });
  }
}

void AddRecoveryCommands(CLI::App& app, GlobalOptions& g, std::shared_ptr<ClientState> c) {
  struct Args {
    std::string instance, backup, target, size, repository;
    TargetArgs to;
    bool no_wait = false;
  };
  auto a = std::make_shared<Args>();
  auto* restore = app.add_subcommand(
      "restore",
      "Restore a backup into a new instance, or (PostgreSQL) the source as it was at a time, "
      "an LSN or a restore point");
  restore->add_option("instance", a->instance, "The backed-up instance")->required();
  restore->add_option("backup", a->backup,
                      "Backup name (with a target: optional, the newest before it)");
  restore->add_option("--to", a->target, "Name of the new instance")->required();
  restore->add_option("--size", a->size, "Volume size of the new instance");
  restore->add_option("--from-repository", a->repository,
                      "Fetch what this host lacks of the backup and its WAL from this remote "
                      "repository first (a lost local copy; a new host)");
  AddTargetOptions(restore, a->to);
  restore->add_flag("--no-wait", a->no_wait, "Print the job and return at once");
  restore->callback([&g, c, a] {
    g.action = [&g, c, a] {
      return WithClient(g, *c, [&](ApiClient& api) -> Status {
        json body = {{"newInstanceName", a->target}};
        if (!a->backup.empty()) body["backupName"] = a->backup;
        if (!a->size.empty()) body["size"] = a->size;
        if (!a->repository.empty()) body["repository"] = a->repository;
        AddTargetFields(body, a->to);
        std::string path = fmt::format("/instances/{}/restore", PathSegment(a->instance));
        ASSIGN_OR_RETURN(json job, StartAndWait(api, g, path, body, "restore", a->no_wait));
        if (a->no_wait) return Show(g, job, PrintJob);
        ASSIGN_OR_RETURN(json got, api.Get("/instances/" + PathSegment(a->target)));
        return Show(g, got["instance"], PrintInstance);
      });
    };
  });

  auto window_of = std::make_shared<std::string>();
  auto* window = app.add_subcommand(
      "recovery-window", "What a point-in-time restore of an instance can reach (PostgreSQL)");
  window->add_option("instance", *window_of, "Instance name")->required();
  window->callback([&g, c, window_of] {
    g.action = [&g, c, window_of] {
      return WithClient(g, *c, [&](ApiClient& api) -> Status {
        ASSIGN_OR_RETURN(json got, api.Get(fmt::format("/instances/{}/recovery-window",
                                                       PathSegment(*window_of))));
        return Show(g, got["recoveryWindow"], [](const json& w) {
          PrintTable(
              {"FIELD", "VALUE"},
              {{"earliest", Str(w, "earliestTime") + "  (LSN " + Str(w, "earliestLsn") + ")"},
               {"latest", Str(w, "latestTime") + "  (LSN " + Str(w, "latestLsn") + ")"},
               {"backups", w.value("backups", json(0)).dump()},
               {"last segment", Str(w, "lastArchivedSegment")},
               {"archive", Str(w, "walArchive")}});
        });
      });
    };
  });
  auto* rp = app.add_subcommand("restore-point", "Named points in an instance's WAL (create, ls)");
  rp->require_subcommand(1);
  auto rp_args = std::make_shared<std::pair<std::string, std::string>>();
  auto* rp_create = rp->add_subcommand("create", "Create a restore point and archive it");
  rp_create->add_option("instance", rp_args->first, "Instance name")->required();
  rp_create->add_option("name", rp_args->second, "Restore point name")->required();
  rp_create->callback([&g, c, rp_args] {
    g.action = [&g, c, rp_args] {
      return WithClient(g, *c, [&](ApiClient& api) -> Status {
        ASSIGN_OR_RETURN(json got, api.Post(fmt::format("/instances/{}/restore-points",
                                                        PathSegment(rp_args->first)),
                                            json{{"name", rp_args->second}}));
        return Show(g, got["restorePoint"], [](const json& p) {
          std::cout << fmt::format("restore point {} at {}\n", Str(p, "name"), Str(p, "lsn"));
        });
      });
    };
  });
  auto* rp_ls = rp->add_subcommand("ls", "List restore points");
  rp_ls->add_option("instance", rp_args->first, "Instance name")->required();
  rp_ls->callback([&g, c, rp_args] {
    g.action = [&g, c, rp_args] {
      return WithClient(g, *c, [&](ApiClient& api) -> Status {
        ASSIGN_OR_RETURN(json got, api.Get(fmt::format("/instances/{}/restore-points",
                                                       PathSegment(rp_args->first))));
        return ShowList(g, got["restorePoints"], {"NAME", "LSN", "CREATED"},
                        [](const json& p) -> std::vector<std::string> {
                          return {Str(p, "name"), Str(p, "lsn"), Str(p, "createdAt")};
                        });
      });
    };
  });
}

void AddJobCommands(CLI::App& app, GlobalOptions& g, std::shared_ptr<ClientState> c) {
  auto* job = app.add_subcommand("job", "Jobs: long operations of dbaasd (get, wait, ls)");
  job->require_subcommand(1);
  for (const char* verb : {"get", "wait"}) {
    auto id = std::make_shared<std::string>();
    bool wait = std::string_view(verb) == "wait";
    auto* cmd = job->add_subcommand(verb, wait ? "Wait for a job to end" : "Show a job");
    cmd->add_option("id", *id, "Job id")->required();
    cmd->callback([&g, c, id, wait] {
      g.action = [&g, c, id, wait] {
        return WithClient(g, *c, [&](ApiClient& api) -> Status {
          json j;
          if (wait) {
            ASSIGN_OR_RETURN(j, api.WaitForJob(*id, "job", g.format == OutputFormat::kTable));
          } else {
            ASSIGN_OR_RETURN(json got, api.Get("/jobs/" + PathSegment(*id)));
            j = got["job"];
          }
          return Show(g, j, PrintJob);
        });
      };
    });
  }
  auto* ls = job->add_subcommand("ls", "List recent jobs");
  ls->callback([&g, c] {
    g.action = [&g, c] {
      return WithClient(g, *c, [&](ApiClient& api) -> Status {
        ASSIGN_OR_RETURN(json got, api.Get("/jobs"));
        return ShowList(g, got["jobs"], {"ID", "TYPE", "INSTANCE", "STATUS", "CREATED"},
                        [](const json& j) -> std::vector<std::string> {
                          return {Str(j, "id"), Str(j, "type"), Str(j, "instance"),
                                  Str(j, "status"), Str(j, "createdAt")};
                        });
      });
    };
  });
}

}  // namespace

void AddClientCommands(CLI::App& app, GlobalOptions& global) {
  auto state = std::make_shared<ClientState>();
  app.add_option("--server", state->server.server,
                 "dbaasd's URL (default $DBAAS_SERVER or http://127.0.0.1:3000)");
  app.add_option("--token-file", state->server.token_file, "File holding the API token");
  app.add_option("--cacert", state->server.ca_cert,
                 "PEM CA certificate to check an https:// dbaasd with (default $DBAAS_CACERT, "
                 "else the system's)");
  app.add_option("--data-root", state->server.data_root,
                 "dbaasd's data root, to read its api-token (or $DBAAS_DATA_ROOT; or set "
                 "$DBAAS_TOKEN)");
  AddInstanceCommands(app, global, state);
  AddBackupCommands(app, global, state);
  AddRecoveryCommands(app, global, state);
  AddJobCommands(app, global, state);
  AddOperationsCommands(app, global, state);
  AddRepositoryCommands(app, global, state);
}

}  // namespace dbaas::cli
