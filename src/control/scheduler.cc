#include "control/scheduler.h"

#include <sys/statvfs.h>

#include <map>

#include <fmt/format.h>
#include <spdlog/spdlog.h>

#include "base/log.h"
#include "control/cron.h"
#include "control/retention.h"

namespace dbaas::control {

using Clock = std::chrono::system_clock;

Scheduler::Scheduler(catalog::Catalog& catalog, Hooks hooks, Options options)
    : catalog_(catalog), hooks_(std::move(hooks)), options_(std::move(options)) {}

void Scheduler::RunDue(Clock::time_point now) {
  auto schedules = catalog_.ListSchedules();
  if (!schedules.ok()) {
    spdlog::error("event=scheduler_failed error=\"{}\"", schedules.status().ToString());
    return;
  }
  for (catalog::ScheduleRecord& s : schedules.value()) {
    auto cron = CronSchedule::Parse(s.cron, s.time_zone);
    if (!cron.ok()) continue;  // validated when made; a later tz database may disagree
    DueRun run = NextDueRun(*cron, catalog::TimePointOf(s.last_slot_at), now);
    if (!run.due) continue;
    // The slot is remembered before the backup starts: a crash during it does not run the
    // slot again, and several slots missed while the daemon was down run once. (The
    // backup's end records its outcome here too, maybe before start_backup returns.)
    s.last_slot_at = catalog::FormatRfc3339(run.slot);
    s.last_run_at = catalog::NowRfc3339();
    s.last_status = "started";
    s.last_message = "";
    if (Status st = catalog_.UpdateSchedule(s); !st.ok()) {
      spdlog::error("event=scheduler_failed schedule={} error=\"{}\"", s.id, st.ToString());
      continue;  // deleted meanwhile, or the catalog fails: no backup without the record
    }
    BackupRequest request;
    request.instance = s.instance;
    request.retention_days = s.retention_days;
    request.schedule_id = s.id;
    request.verify_after = s.verify;
    request.repositories = s.repositories;
    // Checked when the schedule was made; a name no longer known is the default's.
    request.into = engines::ParseBackupStore(s.repository).value_or(engines::BackupStore::kDefault);
    auto job = hooks_.start_backup(request);
    spdlog::info("event=scheduled_backup schedule={} instance={} slot={} result=\"{}\"", s.id,
                 s.instance, s.last_slot_at, job.ok() ? "job " + job->id : job.status().ToString());
    if (!job.ok()) NotStarted(s, job.status());
  }
}

void Scheduler::NotStarted(catalog::ScheduleRecord& s, const Status& why) {
  s.last_status = "skipped";
  s.last_message = why.ToString();
  WarnIfError(catalog_.UpdateSchedule(s), "record the schedule's run in the catalog");
  hooks_.backup_not_started(s.instance);
  hooks_.send_alert({"backup_failed",
                     s.instance,
                     "",
                     fmt::format("scheduled backup of instance '{}' could not start: {}",
                                 s.instance, why.ToString()),
                     {{"schedule", s.id}}});
}

void Scheduler::CheckDisk() {
  struct statvfs fs;
  if (::statvfs(options_.data_root.c_str(), &fs) != 0 || fs.f_blocks == 0) return;
  double used = 100.0 * static_cast<double>(fs.f_blocks - fs.f_bfree) /
                static_cast<double>(fs.f_blocks - fs.f_bfree + fs.f_bavail);
  if (!alerting_.Observe("disk", used >= options_.disk_alert_percent)) return;
  hooks_.send_alert({"disk_usage_high",
                     "",
                     "",
                     fmt::format("the data root's filesystem ({}) is {:.1f}% full (threshold {}%)",
                                 options_.data_root, used, options_.disk_alert_percent),
                     {{"usedPercent", used}, {"thresholdPercent", options_.disk_alert_percent}}});
}

void Scheduler::CheckConditions(Clock::time_point now) {
  CheckDisk();
  auto schedules = catalog_.ListSchedules();
  auto backups = catalog_.ListBackups();
  if (!schedules.ok() || !backups.ok()) return;
  std::map<std::string, Clock::time_point> newest_good;
  for (const auto& b : backups.value()) {
    if (!IsGoodBackup(b)) continue;
    auto& newest = newest_good[b.instance];
    newest = std::max(newest, catalog::TimePointOf(b.created_at));
  }
  for (const auto& s : schedules.value()) {
    auto cron = CronSchedule::Parse(s.cron, s.time_zone);
    if (!cron.ok()) continue;
    auto period = cron->Period(now);
    if (period.count() == 0) continue;
    // Counted from the newest good backup, or from the schedule's creation.
    auto since = std::max(catalog::TimePointOf(s.created_at), newest_good[s.instance]);
    if (!alerting_.Observe("stale:" + s.id, now - since > 2 * period)) continue;
    hooks_.send_alert(
        {"no_recent_backup",
         s.instance,
         "",
         fmt::format("instance '{}' has no good backup since {} (schedule {} runs '{}', every "
                     "{} s at most)",
                     s.instance, catalog::FormatRfc3339(since), s.id, s.cron, period.count()),
         {{"schedule", s.id}, {"periodSeconds", period.count()}}});
  }
}

}  // namespace dbaas::control
