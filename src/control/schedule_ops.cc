// Operations the service runs by itself: schedules (their backups and alert conditions run
// in control/scheduler.h), retention, and the metrics' state.
#include <sys/statvfs.h>

#include <fmt/format.h>
#include <spdlog/spdlog.h>

#include "base/hex.h"
#include "base/log.h"
#include "base/names.h"
#include "control/cron.h"
#include "control/retention.h"
#include "control/service.h"
#include "control/validation.h"
#include "storage/repo_maintenance.h"
#include "storage/repository.h"

namespace dbaas::control {

using Clock = std::chrono::system_clock;
using nlohmann::json;

namespace {

constexpr size_t kMaxSchedulesPerInstance = 16;
constexpr int kMaxKeep = 10000;

Status ValidateKeep(const char* field, int n) {
  if (n >= 0 && n <= kMaxKeep) return Status::Ok();
  return Status::InvalidArgument(fmt::format("{} {} is out of range", field, n),
                                 fmt::format("give 0 to {}", kMaxKeep));
}

Status ScheduleNotFound(const std::string& instance, const std::string& id) {
  return Status::NotFound(fmt::format("schedule '{}' of instance '{}' not found", id, instance),
                          fmt::format("list them with GET /instances/{}/schedules", instance));
}

}  // namespace

Result<catalog::ScheduleRecord> Service::CreateSchedule(const ScheduleRequest& request) {
  RETURN_IF_ERROR(ValidateName("instance name", request.instance));
  ASSIGN_OR_RETURN(CronSchedule cron, CronSchedule::Parse(request.cron, request.time_zone));
  RETURN_IF_ERROR(ValidateRetentionDays(request.retention_days));
  RETURN_IF_ERROR(ValidateKeep("keepDaily", request.keep_daily));
  RETURN_IF_ERROR(ValidateKeep("keepWeekly", request.keep_weekly));
  RETURN_IF_ERROR(ValidateKeep("keepMonthly", request.keep_monthly));
  for (const auto& name : request.repositories)
    RETURN_IF_ERROR(ValidateName("repository name", name));
  RETURN_IF_ERROR(copier_->CheckNames(request.repositories));
  ASSIGN_OR_RETURN(catalog::InstanceRecord instance, catalog_->GetInstance(request.instance));
  if (instance.status == catalog::InstanceState::kDeleting) {
    return Status::FailedPrecondition(fmt::format("instance '{}' is being deleted", instance.name));
  }
  {
    ASSIGN_OR_RETURN(const engines::Engine* engine, engines_->For(instance.type));
    RETURN_IF_ERROR(engine->CheckBackupStore(request.into, request.instance));
  }
  ASSIGN_OR_RETURN(auto existing, catalog_->ListSchedules(request.instance));
  if (existing.size() >= kMaxSchedulesPerInstance) {
    return Status::FailedPrecondition(
        fmt::format("instance '{}' has {} schedules already", request.instance, existing.size()),
        "delete one first");
  }
  if (!cron.NextAfter(Clock::now())) {
    return Status::InvalidArgument(fmt::format("cron '{}' never fires", request.cron),
                                   "check the day and month fields");
  }
  catalog::ScheduleRecord r;
  r.id = "s" + RandomHex(4);
  r.instance = request.instance;
  r.cron = cron.expression();
  r.time_zone = cron.time_zone();
  r.retention_days = request.retention_days;
  r.keep_daily = request.keep_daily;
  r.keep_weekly = request.keep_weekly;
  r.keep_monthly = request.keep_monthly;
  r.verify = request.verify;
  r.repositories = request.repositories;
  r.repository = std::string(engines::BackupStoreName(request.into));
  r.created_at = r.last_slot_at = catalog::NowRfc3339();
  RETURN_IF_ERROR(catalog_->InsertSchedule(r));
  WarnIfError(
      catalog_->AddEvent("info", r.instance, "",
                         fmt::format("schedule {} created: {} ({})", r.id, r.cron, r.time_zone)),
      "record an event in the catalog");
  if (scheduler_) scheduler_->Wake();
  return r;
}

Result<std::vector<catalog::ScheduleRecord>> Service::ListSchedules(
    const std::string& instance) const {
  RETURN_IF_ERROR(ValidateName("instance name", instance));
  RETURN_IF_ERROR(catalog_->GetInstance(instance).status());
  return catalog_->ListSchedules(instance);
}

Status Service::DeleteSchedule(const std::string& instance, const std::string& id) {
  RETURN_IF_ERROR(ValidateName("instance name", instance));
  auto schedule = catalog_->GetSchedule(id);
  if (!schedule.ok() || schedule->instance != instance) return ScheduleNotFound(instance, id);
  RETURN_IF_ERROR(catalog_->DeleteSchedule(id));
  WarnIfError(catalog_->AddEvent("info", instance, "", fmt::format("schedule {} deleted", id)),
              "record an event in the catalog");
  retention_due_ = true;  // its keep rules no longer hold its backups
  return Status::Ok();
}

Result<catalog::BackupRecord> Service::SetBackupPinned(const std::string& instance,
                                                       const std::string& backup, bool pinned) {
  std::lock_guard lock(mu_);  // against a concurrent retention pass marking it deleting
  ASSIGN_OR_RETURN(catalog::BackupRecord record, GetBackup(instance, backup));
  if (record.status != catalog::BackupState::kReady) {
    return Status::FailedPrecondition(fmt::format("backup '{}' is {}", backup, record.status),
                                      "pin it once it is ready");
  }
  record.pinned = pinned;
  RETURN_IF_ERROR(catalog_->UpdateBackup(record));
  retention_due_ = true;
  return record;
}

void Service::SchedulerTick() {
  // Retention first: a backup the schedules start below would put the pass off.
  // Time alone expires backups: a pass a minute at least, and after every change.
  auto steady = std::chrono::steady_clock::now();
  bool minute = steady - last_retention_ >= std::chrono::minutes(1);
  if (retention_due_.exchange(false) || minute) {
    last_retention_ = steady;
    auto expired = ApplyRetention();
    if (!expired.ok()) {
      spdlog::error("event=retention_failed error=\"{}\"", expired.status().ToString());
    }
  }
  auto now = Clock::now();
  schedules_->RunDue(now);
  if (steady - last_checks_ >= options_.alert_check_interval) {
    schedules_->CheckConditions(now);
    last_checks_ = steady;
  }
}

void Service::BackupEnded(const BackupRequest& request, const Status& status, double seconds) {
  metrics_->BackupEnded(request.instance, status.ok(), seconds);
  if (!request.schedule_id.empty()) {
    auto schedule = catalog_->GetSchedule(request.schedule_id);
    if (schedule.ok()) {
      schedule->last_status = status.ok() ? "succeeded" : "failed";
      schedule->last_message = status.ok() ? request.backup_name : status.ToString();
      WarnIfError(catalog_->UpdateSchedule(schedule.value()),
                  "record the schedule's run in the catalog");
    }
  }
  if (!status.ok()) {
    alerts_->Send(
        {"backup_failed",
         request.instance,
         request.backup_name,
         fmt::format("backup of instance '{}' failed: {}", request.instance, status.ToString()),
         {{"schedule", request.schedule_id}}});
    return;
  }
  retention_due_ = true;
  if (request.verify_after) {
    auto drill = VerifyBackup(request.instance, request.backup_name);
    if (!drill.ok()) {
      spdlog::warn("event=drill_not_started backup={} error=\"{}\"", request.backup_name,
                   drill.status().ToString());
    }
  }
}

Result<int> Service::ApplyRetention() {
  {
    // Deleting waits for the repository's writer and readers: with a backup or a restore
    // running, the pass is put off rather than holding up the scheduler behind it.
    if (!reservations_.Idle()) {
      retention_due_ = true;
      return 0;
    }
  }
  ASSIGN_OR_RETURN(auto backups, catalog_->ListBackups());
  ASSIGN_OR_RETURN(auto schedules, catalog_->ListSchedules());
  ASSIGN_OR_RETURN(auto instances, catalog_->ListInstances());
  std::map<std::string, KeepRules> rules;
  for (const auto& s : schedules) {
    rules[s.id] = KeepRules{s.keep_daily, s.keep_weekly, s.keep_monthly, s.time_zone};
  }
  std::set<std::string> live;
  for (const auto& i : instances) live.insert(i.name);
  std::map<std::string, std::optional<int>> remote_days;
  for (const auto& name : copier_->Names()) remote_days[name] = copier_->Spec(name)->retention_days;
  RetentionPlan plan = PlanRetention(backups, rules, live, remote_days, Clock::now());
  DropExpiredCopies(plan);
  const std::vector<Expiry>& expired = plan.whole;
  if (expired.empty()) return 0;

  std::vector<catalog::BackupRecord> going;
  for (const Expiry& e : expired) {
    auto record = catalog_->GetBackup(e.backup);
    if (!record.ok()) continue;
    // Pinned or restored since the list was read: it stays, for now.
    if (!MarkDeleting(record.value(), true).ok()) continue;
    WarnIfError(catalog_->AddEvent("info", e.instance, "",
                                   fmt::format("backup {} expired: {}", e.backup, e.reason)),
                "record an event in the catalog");
    spdlog::info("event=backup_expired instance={} backup={} reason=\"{}\"", e.instance, e.backup,
                 e.reason);
    going.push_back(std::move(record.value()));
  }
  if (going.empty()) return 0;
  RETURN_IF_ERROR(RemoveBackupData(going));
  for (const auto& b : going) {
    RETURN_IF_ERROR(catalog_->DeleteBackup(b.name));
    metrics_->BackupsExpired(b.instance, 1);
  }
  return static_cast<int>(going.size());
}

void Service::DropExpiredCopies(const RetentionPlan& plan) {
  // Copies first: each is queued for removal from its bucket (the copier's tick removes
  // it) and forgotten by its backup.
  for (const CopyExpiry& c : plan.copies) {
    std::lock_guard lock(mu_);
    auto record = catalog_->GetBackup(c.backup);
    // Restored or copied from there right now: next time.
    if (!record.ok() || !record->CopiedTo(c.repository) || reservations_.InUse(c.backup)) continue;
    Status queued = catalog_->QueueRemoteRemoval(
        {c.repository, record->snapshot_id, c.backup, catalog::NowRfc3339()});
    if (queued.ok()) queued = catalog_->RemoveBackupCopy(c.backup, c.repository);
    if (!queued.ok()) {
      spdlog::warn("event=copy_expiry_failed backup={} repository={} error=\"{}\"", c.backup,
                   c.repository, queued.ToString());
      continue;
    }
    WarnIfError(
        catalog_->AddEvent("info", c.instance, "",
                           fmt::format("the copy of backup {} in repository '{}' expired: {}",
                                       c.backup, c.repository, c.reason)),
        "record an event in the catalog");
    spdlog::info("event=copy_expired backup={} repository={} reason=\"{}\"", c.backup, c.repository,
                 c.reason);
  }
  // Then local snapshots that a bucket keeps longer, under the exclusive hold (no restore
  // or pull reads or writes the repository meanwhile): the row says so first (restores go
  // to the bucket from then on), then the snapshot goes. A crash between leaves a snapshot
  // the next start removes (ReconcileBackups).
  if (plan.local_only.empty()) return;
  auto hold = repo_.HoldExclusive();
  std::vector<catalog::BackupRecord> local_going;
  for (const Expiry& e : plan.local_only) {
    std::lock_guard lock(mu_);
    auto record = catalog_->GetBackup(e.backup);
    if (!record.ok() || record->status != catalog::BackupState::kReady || !record->local ||
        reservations_.InUse(e.backup)) {
      continue;
    }
    if (!catalog_->SetBackupLocal(e.backup, false).ok()) continue;
    WarnIfError(catalog_->AddEvent("info", e.instance, "",
                                   fmt::format("the local copy of backup {} expired ({}); a "
                                               "remote repository keeps it",
                                               e.backup, e.reason)),
                "record an event in the catalog");
    spdlog::info("event=local_copy_expired backup={} reason=\"{}\"", e.backup, e.reason);
    local_going.push_back(std::move(record).value());
  }
  if (local_going.empty()) return;
  WarnIfError(RemoveSnapshotsHeld(local_going), "remove the local copies of expired backups");
}

std::string Service::RenderMetrics() const {
  MetricsState state;
  state.jobs_in_flight = jobs_->in_flight();
  if (auto schedules = catalog_->ListSchedules(); schedules.ok()) {
    state.schedules = schedules->size();
  }
  if (auto backups = catalog_->ListBackups(); backups.ok()) {
    for (const auto& b : backups.value()) {  // newest first
      if (b.status != catalog::BackupState::kReady) continue;
      auto& s = state.instances[b.instance];
      s.backups += 1;
      if (!IsGoodBackup(b)) s.failed_drill_backups += 1;
      if (IsGoodBackup(b) && s.last_good_backup_unix == 0) {
        s.last_good_backup_unix =
            std::chrono::duration<double>(catalog::TimePointOf(b.created_at).time_since_epoch())
                .count();
        s.last_backup_bytes = b.size;
        s.last_backup_stored_bytes = b.stored_bytes;
      }
      if (s.last_drill_rto_seconds < 0 && b.drill.is_object() && b.drill.contains("rtoSeconds")) {
        s.last_drill_rto_seconds = b.drill["rtoSeconds"].get<double>();
      }
    }
  }
  if (volumes_) {
    for (const auto& [name, reading] : volumes_->All()) {
      auto& s = state.instances[name];
      s.volume_used_bytes = reading.used_bytes;
      s.volume_size_bytes = reading.size_bytes;
    }
  }
  if (auto instances = catalog_->ListInstances(); instances.ok()) {
    for (const auto& r : instances.value()) {
      if (!r.replication.empty()) state.instances[r.name].failovers = r.replication.failovers;
    }
  }
  {
    std::lock_guard lock(mu_);
    for (const auto& [name, members] : member_views_) {
      for (const MemberView& m : members) {
        if (m.role != "standby") continue;
        auto& standby = state.instances[name].standbys[m.name];
        standby.streaming = m.replication && m.replication->state == "streaming";
        if (m.replication) {
          standby.lag_bytes = m.replication->lag_bytes;
          standby.lag_seconds = m.replication->lag_seconds;
        }
      }
    }
  }
  if (drainer_) {
    for (const std::string& name : drainer_->Failing())
      state.instances[name].log_archiving_failing = true;
  }
  RepositoryAccess::Sizes sizes = repo_.CurrentSizes();
  state.repository_logical_bytes = sizes.logical_bytes;
  state.repository_stored_bytes = sizes.stored_bytes;
  struct statvfs fs;
  if (::statvfs(options_.data_root.c_str(), &fs) == 0) {
    state.data_root_total_bytes = static_cast<uint64_t>(fs.f_blocks) * fs.f_frsize;
    state.data_root_used_bytes = static_cast<uint64_t>(fs.f_blocks - fs.f_bfree) * fs.f_frsize;
  }
  auto counters = copier_->CountersByName();
  for (const auto& [name, lag] : CopyLagSeconds()) {
    const auto& c = counters[name];
    state.remotes[name] = {lag, c.bytes_sent, c.failures, c.last_success_unix};
  }
  return metrics_->Render(state);
}

}  // namespace dbaas::control
