// Restore drills as the service runs them: a job per drill (control/drill_runner.h does
// the drill), its result kept on the backup, counted, and alerted when it fails.
#include <fmt/format.h>
#include <spdlog/spdlog.h>

#include "base/log.h"
#include "control/service.h"
#include "control/validation.h"
#include "engines/engine.h"

namespace dbaas::control {

using nlohmann::json;

Result<catalog::JobRecord> Service::VerifyBackup(const std::string& instance,
                                                 const std::string& backup) {
  ASSIGN_OR_RETURN(catalog::BackupRecord record, GetBackup(instance, backup));
  {
    std::lock_guard lock(mu_);
    // Read again where it is reserved: retention decides under the same lock.
    ASSIGN_OR_RETURN(record, catalog_->GetBackup(backup));
    if (record.status != catalog::BackupState::kReady) {
      return Status::FailedPrecondition(
          fmt::format("backup '{}' is {}, not ready", backup, record.status),
          "drill it once it is ready");
    }
    if (!record.local) {
      return Status::FailedPrecondition(
          fmt::format("backup '{}' has no local copy: it is kept in a remote repository", backup),
          "restore it from there (POST .../restore with 'repository'), which checks it too, or "
          "copy it again to fetch it");
    }
    reservations_.UseBackup(backup);  // not deleted while drilled
  }
  auto release = [this, backup] { reservations_.StopUsingBackup(backup); };
  auto work = [this, record, release](JobContext& job) {
    auto result = RunDrill(record, job);
    release();
    return result;
  };
  auto job = jobs_->Submit("verify", instance, {{"instance", instance}, {"backupName", backup}},
                           work, [release](const Status&) { release(); });
  if (!job.ok()) release();
  return job;
}

Result<json> Service::RunDrill(const catalog::BackupRecord& backup, JobContext& job) {
  json drill = drills_->Run(backup, job);
  bool passed = drill["status"] == "passed";
  const std::vector<std::string> problems = drill["problems"];
  {
    std::lock_guard lock(mu_);
    auto current = catalog_->GetBackup(backup.name);
    if (current.ok()) {
      current->drill = drill;
      RETURN_IF_ERROR(catalog_->UpdateBackup(current.value()));
    }
  }
  double rto = drill.value("rtoSeconds", 0.0);
  metrics_->DrillEnded(backup.instance, passed, rto);
  std::string summary =
      passed ? fmt::format(
                   "restore drill of backup {} passed: usable in {:.1f} s, {} tables, "
                   "{} rows checked by {}",
                   backup.name, rto, drill.value("tables", 0), drill.value("rows", 0),
                   drill.value("checker", ""))
             : fmt::format("restore drill of backup {} failed: {}", backup.name, problems.front());
  WarnIfError(catalog_->AddEvent(passed ? "info" : "error", backup.instance, job.id, summary),
              "record an event in the catalog");
  spdlog::info("event=drill_ended instance={} backup={} passed={} rto_s={:.2f} message=\"{}\"",
               backup.instance, backup.name, passed, rto, summary);
  if (!passed) {
    alerts_->Send({"drill_failed", backup.instance, backup.name, summary, drill});
    retention_due_ = true;  // it no longer counts as a good backup
  }
  return json{{"backupName", backup.name}, {"passed", passed}, {"drill", drill}};
}

}  // namespace dbaas::control
