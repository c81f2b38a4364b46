#include "control/drill_runner.h"

#include <filesystem>

#include <fmt/format.h>
#include <spdlog/spdlog.h>

#include "base/files.h"
#include "base/hex.h"
#include "storage/repository.h"

namespace dbaas::control {

using nlohmann::json;

DrillRunner::DrillRunner(const engines::EngineSet& engines, RepositoryAccess& repo,
                         std::string drills_dir, SpecMaker spec_for)
    : engines_(engines),
      repo_(repo),
      drills_dir_(std::move(drills_dir)),
      spec_for_(std::move(spec_for)) {}

json DrillRunner::Run(const catalog::BackupRecord& backup, JobContext& job) {
  auto started = std::chrono::steady_clock::now();
  auto elapsed = [&] {
    return std::chrono::duration<double>(std::chrono::steady_clock::now() - started).count();
  };
  json drill = {{"at", catalog::NowRfc3339()}, {"job", job.id}};
  std::vector<std::string> problems;
  engines::FileCheck file_check;
  const engines::Engine* engine = nullptr;
  // The repository is read (and gc kept out) during the restore only, not the check.
  auto restored = [&]() -> Result<std::unique_ptr<engines::Instance>> {
    ASSIGN_OR_RETURN(engine, engines_.For(backup.instance_type));
    auto hold = repo_.HoldForRead();
    ASSIGN_OR_RETURN(auto repo, repo_.Open());
    ASSIGN_OR_RETURN(storage::Manifest snapshot, repo->LoadSnapshot(backup.snapshot_id));
    engines::InstanceSpec spec = spec_for_("drill-" + RandomHex(4), backup);
    spec.data_root = drills_dir_;
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
  drill["status"] = problems.empty() ? "passed" : "failed";
  drill["seconds"] = elapsed();
  drill["problems"] = problems;
  return drill;
}

Status DrillRunner::RemoveLeftovers() {
  RETURN_IF_ERROR(MakeDirs(drills_dir_, 0711));
  std::error_code ec;
  std::vector<std::string> names;
  for (const auto& entry : std::filesystem::directory_iterator(drills_dir_, ec)) {
    names.push_back(entry.path().filename().string());
  }
  if (ec) return Status::IoError(fmt::format("listing '{}': {}", drills_dir_, ec.message()));
  for (const std::string& name : names) {
    // A drill cut off by a crash: its server may still run, its user exist.
    RETURN_IF_ERROR(engines_.RemoveRemains(drills_dir_, name));
    spdlog::warn("event=drill_leftover_removed scratch={}", name);
  }
  return Status::Ok();
}

}  // namespace dbaas::control
