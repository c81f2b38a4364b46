// A new standby's first copy (issue 15): from the instance's newest backup, so that the
// primary does none of the reading (a clone, where the repository holds the backup as a
// thin snapshot), else, when that backup cannot serve, a copy of the running primary.
#include <fmt/format.h>
#include <spdlog/spdlog.h>

#include "base/log.h"
#include "control/service.h"
#include "engines/engine.h"

namespace dbaas::control {

Result<std::unique_ptr<engines::Instance>> Service::StartStandby(const std::string& name,
                                                                 const engines::Engine& engine,
                                                                 const engines::Instance& primary,
                                                                 const engines::InstanceSpec& spec,
                                                                 std::string& source) {
  auto start = [&](std::unique_ptr<engines::Instance> standby)
      -> Result<std::unique_ptr<engines::Instance>> {
    if (Status st = standby->Start(); !st.ok()) {
      WarnIfError(standby->Delete(), "remove the standby that did not start");
      WarnIfError(engine.DropMemberSlot(primary, spec.name), "drop the slot of that standby");
      return st.WithContext(fmt::format("start standby '{}'", spec.name));
    }
    return standby;
  };
  ASSIGN_OR_RETURN(std::vector<catalog::BackupRecord> backups, catalog_->ListBackups(name));
  // Newest first: only the newest ready one is tried (an older one means more WAL).
  for (const catalog::BackupRecord& backup : backups) {
    if (backup.status != catalog::BackupState::kReady || !backup.local ||
        backup.snapshot_id.empty()) {
      continue;
    }
    auto made = [&]() -> Result<std::unique_ptr<engines::Instance>> {
      auto hold = repo_.HoldForRead();
      ASSIGN_OR_RETURN(auto repo, repo_.Open());
      ASSIGN_OR_RETURN(storage::Manifest snapshot, repo->LoadSnapshot(backup.snapshot_id));
      return engine.MakeStandby(primary, spec, engines::StandbySeed{repo.get(), &snapshot});
    }();
    auto seeded = made.ok() ? start(std::move(made).value()) : made.status();
    if (seeded.ok()) {
      source = fmt::format("from backup {}", backup.name);
      return seeded;
    }
    spdlog::warn("instance {}: {}; copying the primary instead", name, seeded.status().ToString());
    break;
  }
  auto copied = engine.MakeStandby(primary, spec, engines::StandbySeed{});
  if (!copied.ok()) {
    return copied.status().WithContext(fmt::format("make standby '{}'", spec.name));
  }
  source = "copied from the primary";
  return start(std::move(copied).value());
}

}  // namespace dbaas::control
