// Restore drills, the original design's restore test: a backup restored into a scratch
// instance under the drills directory, its files checked before the server starts
// (PostgreSQL: pg_verifybackup), its data checked by the database's own checker and
// counted once it runs, timed, and the scratch instance removed. What the drill found is a
// result (passed or failed, with the problems), not an error: the service records it on
// the backup and alerts (Service::VerifyBackup).
//
// Thread-safety: drills may run at once (each has a scratch instance of its own).
#pragma once

#include <functional>
#include <map>
#include <string>

#include <nlohmann/json.hpp>

#include "base/status.h"
#include "catalog/catalog.h"
#include "control/job_runner.h"
#include "control/repository_access.h"
#include "engines/engine.h"

namespace dbaas::control {

class DrillRunner {
 public:
  // The spec of the scratch instance `name` a restore of `backup` makes (the service's
  // binaries and the backup's configuration); its data root is the drills directory.
  using SpecMaker =
      std::function<engines::InstanceSpec(const std::string& name, const catalog::BackupRecord&)>;

  DrillRunner(const engines::EngineSet& engines, RepositoryAccess& repo, std::string drills_dir,
              SpecMaker spec_for);

  // The drill's record: at, job, status (passed or failed), problems, seconds, rtoSeconds
  // (restored to accepting connections, the file check left out), the checkers and what
  // they counted. The repository is held for reading during the restore only.
  nlohmann::json Run(const catalog::BackupRecord& backup, JobContext& job);
  // Removes the scratch instances a drill cut off by a crash left (servers, users, files).
  Status RemoveLeftovers();

 private:
  const engines::EngineSet& engines_;
  RepositoryAccess& repo_;
  const std::string drills_dir_;
  const SpecMaker spec_for_;
};

}  // namespace dbaas::control
