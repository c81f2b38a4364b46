// Restore drills: the original design's restore test, run by the service. A backup is
// restored into a scratch instance under drills/, checked by the database's own checker,
// counted, timed, and the scratch instance removed; the result is kept on the backup.
#include <filesystem>

#include <fmt/format.h>
#include <spdlog/spdlog.h>

#include "base/hex.h"
#include "base/log.h"
#include "control/service.h"
#include "control/validation.h"
#include "engines/engine.h"
#include "storage/repository.h"

namespace dbaas::control {

using nlohmann::json;

Result<catalog::JobRecord> Service::VerifyBackup(const std::string& instance,
                                                 const std::string& backup) {
  ASSIGN_OR_RETURN(catalog::BackupRecord record, GetBackup(instance, backup));
  {
    std::lock_guard lock(mu_);
    if (record.status != catalog::BackupState::kReady) {
      return Status::FailedPrecondition(
          fmt::format("backup '{}' is {}, not ready", backup, record.status),
          "drill it once it is ready");
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
  auto started = std::chrono::steady_clock::now();
  auto elapsed = [&] {
    return std::chrono::duration<double>(std::chrono::steady_clock::now() - started).count();
  };
  json drill = {{"at", catalog::NowRfc3339()}, {"job", job.id}};
  std::vector<std::string> problems;
  ASSIGN_OR_RETURN(const engines::Engine* engine, engines_->For(backup.instance_type));
  engines::FileCheck file_check;
  // The repository is read (and gc kept out) during the restore only, not the check.
  auto restored = [&]() -> Result<std::unique_ptr<engines::Instance>> {
    auto hold = repo_.HoldForRead();
    ASSIGN_OR_RETURN(auto repo, repo_.Open());
    ASSIGN_OR_RETURN(storage::Manifest snapshot, repo->LoadSnapshot(backup.snapshot_id));
    engines::InstanceSpec spec =
        SpecFor("drill-" + RandomHex(4), backup.instance_type, BackupConfig(backup));
    spec.data_root = drills_dir();
    spec.archiving = {};  // a scratch copy's WAL is nobody's history
    return engine->Restore(*repo, snapshot, spec, backup.secret, engines::RecoveryTarget{},
                           &job.progress, &file_check);
  }();
  if (!file_check.checker.empty()) {
    drill["fileChecker"] = file_check.checker;
    drill["fileCheckSeconds"] = file_check.seconds;
  }
  for (auto& p : file_check.problems) problems.push_back(file_check.checker + ": " + p);
  if (!restored.ok()) {
    problems.push_back("restore failed: " + restored.status().ToString());
  } else {
    std::unique_ptr<engines::Instance> scratch = std::move(restored.value());
    // Time to usable: restored, recovered, accepting connections (the file check, which
    // a real restore does not run, left out).
    drill["rtoSeconds"] = elapsed() - file_check.seconds;
    auto report = engine->CheckIntegrity(*scratch);
    if (!report.ok()) {
      problems.push_back("check failed: " + report.status().ToString());
    } else {
      drill["checker"] = report->checker;
      drill["databases"] = report->databases;
      drill["tables"] = report->tables;
      drill["rows"] = report->rows;
      drill["rowCounts"] = report->row_counts;
      for (auto& p : report->problems) problems.push_back(std::move(p));
    }
    if (Status st = scratch->Delete(); !st.ok()) {
      spdlog::error("event=drill_cleanup_failed backup={} error=\"{}\"", backup.name,
                    st.ToString());
    }
  }
  bool passed = problems.empty();
  drill["status"] = passed ? "passed" : "failed";
  drill["seconds"] = elapsed();
  drill["problems"] = problems;
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

Status Service::RemoveLeftoverDrills() {
  RETURN_IF_ERROR(MakeDirs(drills_dir(), 0711));
  std::error_code ec;
  std::vector<std::string> names;
  for (const auto& entry : std::filesystem::directory_iterator(drills_dir(), ec)) {
    names.push_back(entry.path().filename().string());
  }
  if (ec) return Status::IoError(fmt::format("listing '{}': {}", drills_dir(), ec.message()));
  for (const std::string& name : names) {
    // A drill cut off by a crash: its server may still run, its user exist.
    RETURN_IF_ERROR(engines_->RemoveRemains(drills_dir(), name));
    spdlog::warn("event=drill_leftover_removed scratch={}", name);
  }
  return Status::Ok();
}

}  // namespace dbaas::control
