// dbaas schedule create|ls|rm and dbaas backup verify|pin|unpin: the operations side of
// the API (schedules, retention, restore drills).
#include <iostream>

#include <fmt/format.h>

#include "client_helpers.h"
#include "output.h"

namespace dbaas::cli {
namespace {

using nlohmann::json;

// Exit code of `dbaas backup verify` when the drill ran and failed (1 is an error).
constexpr int kDrillFailedExit = 3;

void PrintSchedule(const json& s) {
  PrintTable({"FIELD", "VALUE"},
             {{"schedule", Str(s, "id")},
              {"instance", Str(s, "instanceName")},
              {"cron", Str(s, "cron") + "  (" + Str(s, "timeZone") + ")"},
              {"retention days", Str(s, "retentionDays")},
              {"keep", fmt::format("daily {}, weekly {}, monthly {}", Str(s, "keepDaily"),
                                   Str(s, "keepWeekly"), Str(s, "keepMonthly"))},
              {"drill after", s.value("verify", false) ? "yes" : "no"},
              {"data files into", s.value("repository", json()).is_string()
                                      ? s["repository"].get<std::string>()
                                      : "the runtime's default"},
              {"next run", Str(s, "nextRunAt")},
              {"last run", Str(s, "lastRunAt") + "  " + Str(s, "lastStatus")},
              {"last message", Str(s, "lastMessage")}});
}

void PrintDrill(const json& d) {
  std::vector<std::vector<std::string>> rows = {
      {"result", Str(d, "status")},
      {"time to usable",
       d.contains("rtoSeconds") ? fmt::format("{:.2f} s", d["rtoSeconds"].get<double>()) : "-"},
      {"files checked by", Str(d, "fileChecker")},
      {"checked by", Str(d, "checker")},
      {"tables", Str(d, "tables")},
      {"rows", Str(d, "rows")},
      {"at", Str(d, "at")}};
  for (const auto& p : d.value("problems", json::array())) {
    rows.push_back({"problem", p.get<std::string>()});
  }
  PrintTable({"FIELD", "VALUE"}, rows);
}

void AddScheduleCommands(CLI::App& app, GlobalOptions& g, std::shared_ptr<ClientState> c) {
  auto* schedule = app.add_subcommand("schedule", "Backup schedules of instances (create, ls, rm)");
  schedule->require_subcommand(1);

  struct Args {
    std::string instance, cron, time_zone, id, into;
    std::vector<std::string> copy_to;
    int retention_days = 0, keep_daily = 0, keep_weekly = 0, keep_monthly = 0;
    bool verify = false;
  };
  auto a = std::make_shared<Args>();
  auto* create = schedule->add_subcommand(
      "create",
      "Back an instance up on a cron schedule, e.g. --cron '0 2 * * *' --retention-days 7 "
      "(daily), '0 3 * * 0' (weekly), '0 4 1 * *' (monthly)");
  create->add_option("instance", a->instance, "Instance name")->required();
  create
      ->add_option("--cron", a->cron,
                   "minute hour day-of-month month day-of-week (crontab(5)); a leading "
                   "seconds field or @daily/@weekly/@monthly also work")
      ->required();
  create->add_option("--tz", a->time_zone, "IANA time zone the cron is read in (default UTC)");
  create->add_option("--retention-days", a->retention_days, "Days each backup is kept");
  create->add_option("--keep-daily", a->keep_daily, "Keep the newest backup of N days");
  create->add_option("--keep-weekly", a->keep_weekly, "Keep the newest backup of N weeks");
  create->add_option("--keep-monthly", a->keep_monthly, "Keep the newest backup of N months");
  create->add_flag("--verify", a->verify, "Run a restore drill after each backup");
  AddBackupStoreOption(create, a->into);
  create->add_option("--copy-to", a->copy_to,
                     "Copy each backup to this remote repository once made (repeatable)");
  create->callback([&g, c, a] {
    g.action = [&g, c, a] {
      return WithClient(g, *c, [&](ApiClient& api) -> Status {
        json body = {{"cron", a->cron}, {"verify", a->verify}};
        if (!a->time_zone.empty()) body["timeZone"] = a->time_zone;
        if (a->retention_days != 0) body["retentionDays"] = a->retention_days;
        if (a->keep_daily != 0) body["keepDaily"] = a->keep_daily;
        if (a->keep_weekly != 0) body["keepWeekly"] = a->keep_weekly;
        if (a->keep_monthly != 0) body["keepMonthly"] = a->keep_monthly;
        if (!a->into.empty()) body["repository"] = a->into;
        if (!a->copy_to.empty()) body["repositories"] = a->copy_to;
        ASSIGN_OR_RETURN(
            json got,
            api.Post(fmt::format("/instances/{}/schedules", PathSegment(a->instance)), body));
        return Show(g, got["schedule"], PrintSchedule);
      });
    };
  });

  auto* ls = schedule->add_subcommand("ls", "List an instance's schedules");
  ls->add_option("instance", a->instance, "Instance name")->required();
  ls->callback([&g, c, a] {
    g.action = [&g, c, a] {
      return WithClient(g, *c, [&](ApiClient& api) -> Status {
        ASSIGN_OR_RETURN(json got,
                         api.Get(fmt::format("/instances/{}/schedules", PathSegment(a->instance))));
        return ShowList(g, got["schedules"],
                        {"ID", "CRON", "ZONE", "RETENTION", "NEXT RUN", "LAST"},
                        [](const json& s) -> std::vector<std::string> {
                          return {Str(s, "id"),        Str(s, "cron"),
                                  Str(s, "timeZone"),  Str(s, "retentionDays"),
                                  Str(s, "nextRunAt"), Str(s, "lastStatus")};
                        });
      });
    };
  });

  auto* rm = schedule->add_subcommand("rm", "Delete a schedule (its backups stay)");
  rm->add_option("instance", a->instance, "Instance name")->required();
  rm->add_option("id", a->id, "Schedule id")->required();
  rm->callback([&g, c, a] {
    g.action = [&g, c, a] {
      return WithClient(g, *c, [&](ApiClient& api) -> Status {
        ASSIGN_OR_RETURN(
            json got, api.Delete(fmt::format("/instances/{}/schedules/{}", PathSegment(a->instance),
                                             PathSegment(a->id))));
        if (g.format == OutputFormat::kJson) {
          PrintJson(got);
        } else {
          std::cout << fmt::format("deleted schedule {}\n", a->id);
        }
        return Status::Ok();
      });
    };
  });
}

void AddDrillAndPinCommands(CLI::App& app, GlobalOptions& g, std::shared_ptr<ClientState> c) {
  CLI::App* backup = app.get_subcommand("backup");
  struct Args {
    std::string instance, backup;
    bool no_wait = false;
  };
  auto a = std::make_shared<Args>();
  auto* verify = backup->add_subcommand(
      "verify",
      "Restore drill: restore into a scratch instance, check it (pg_amcheck or CHECK TABLE, "
      "rows per table), time it, remove it; exit 3 if it fails");
  verify->add_option("instance", a->instance, "Instance name")->required();
  verify->add_option("backup", a->backup, "Backup name")->required();
  verify->add_flag("--no-wait", a->no_wait, "Print the job and return at once");
  verify->callback([&g, c, a] {
    g.action = [&g, c, a] {
      bool failed = false;
      int code = WithClient(g, *c, [&](ApiClient& api) -> Status {
        std::string path = fmt::format("/instances/{}/backups/{}/verify", PathSegment(a->instance),
                                       PathSegment(a->backup));
        ASSIGN_OR_RETURN(json job, StartAndWait(api, g, path, json::object(), "drill", a->no_wait));
        if (a->no_wait) return Show(g, job, PrintJob);
        failed = !job["result"].value("passed", false);
        return Show(g, job["result"].value("drill", json::object()), PrintDrill);
      });
      return code == 0 && failed ? kDrillFailedExit : code;
    };
  });

  for (bool pin : {true, false}) {
    auto* cmd = backup->add_subcommand(pin ? "pin" : "unpin",
                                       pin ? "Pin a backup: retention never deletes it"
                                           : "Unpin a backup: retention applies again");
    cmd->add_option("instance", a->instance, "Instance name")->required();
    cmd->add_option("backup", a->backup, "Backup name")->required();
    cmd->callback([&g, c, a, pin] {
      g.action = [&g, c, a, pin] {
        return WithClient(g, *c, [&](ApiClient& api) -> Status {
          ASSIGN_OR_RETURN(
              json got, api.Patch(fmt::format("/instances/{}/backups/{}", PathSegment(a->instance),
                                              PathSegment(a->backup)),
                                  json{{"pinned", pin}}));
          return Show(g, got["backup"], PrintBackup);
        });
      };
    });
  }
}

}  // namespace

void AddOperationsCommands(CLI::App& app, GlobalOptions& g, std::shared_ptr<ClientState> c) {
  AddScheduleCommands(app, g, c);
  AddDrillAndPinCommands(app, g, c);
}

}  // namespace dbaas::cli
