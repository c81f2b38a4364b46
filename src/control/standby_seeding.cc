// A new standby's first copy (issue 15): from the instance's newest backup, so that the
// primary does none of the reading (a clone, where the repository holds the backup as a
// thin snapshot), else, when that backup cannot serve, a copy of the running primary.
#include <fmt/format.h>
#include <spdlog/spdlog.h>

#include "base/log.h"
#include "base/scope_exit.h"
#include "control/service.h"
#include "engines/engine.h"

namespace dbaas::control {

Result<std::unique_ptr<engines::Instance>> Service::StartStandby(const std::string& name,
                                                                 const engines::Engine& engine,
                                                                 const engines::Instance& primary,
                                                                 const engines::InstanceSpec& spec,
                                                                 StandbySource& from) {
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
      from.source = fmt::format("from backup {}", backup.name);
      return seeded;
    }
    from.note = fmt::format("backup {} did not serve: {}", backup.name, seeded.status().message());
    spdlog::warn("instance {}: {}; trying another way", name, seeded.status().ToString());
    break;
  }
  auto copied = engine.MakeStandby(primary, spec, engines::StandbySeed{});
  if (copied.ok()) {
    from.source = "copied from the primary";
    return start(std::move(copied).value());
  }
  if (copied.status().code() != StatusCode::kFailedPrecondition) {
    return copied.status().WithContext(fmt::format("make standby '{}'", spec.name));
  }
  // The engine copies only from a backup (MariaDB), and none served: one is taken for it.
  ASSIGN_OR_RETURN(auto made, MakeStandbyFromFreshBackup(name, engine, primary, spec));
  from.source = "from a backup taken for it";
  return start(std::move(made));
}

Result<std::unique_ptr<engines::Instance>> Service::MakeStandbyFromFreshBackup(
    const std::string& name, const engines::Engine& engine, const engines::Instance& primary,
    const engines::InstanceSpec& spec) {
  // As any backup of the instance: not beside another one.
  RETURN_IF_ERROR(reservations_.ReserveBackup(name));
  ScopeExit reserved([&] { reservations_.EndBackup(name); });
  storage::Manifest snapshot;
  {
    auto hold = repo_.HoldForWrite();
    ASSIGN_OR_RETURN(auto repo, repo_.Open());
    ASSIGN_OR_RETURN(
        engines::EngineBackup backup,
        engine.Backup(primary, *repo, std::string(kStandbySnapshotPrefix) + spec.name, nullptr));
    snapshot = std::move(backup.snapshot);
  }
  ScopeExit remove([&] { RemoveTransientSnapshot(snapshot); });
  auto hold = repo_.HoldForRead();
  ASSIGN_OR_RETURN(auto repo, repo_.Open());
  auto made = engine.MakeStandby(primary, spec, engines::StandbySeed{repo.get(), &snapshot});
  if (!made.ok()) return made.status().WithContext(fmt::format("make standby '{}'", spec.name));
  return made;
}

void Service::RemakeStandby(const catalog::InstanceRecord& record, const std::string& member,
                            const engines::Engine& engine, const engines::Instance& primary) {
  const std::string& name = record.name;
  auto now = catalog_->GetInstance(name);
  if (!now.ok()) return;
  catalog::InstanceReplication without = now->replication;
  std::erase(without.members, member);
  // Out of the catalog first: a daemon killed from here on finds a directory no member
  // names (StartMembers removes it), never a member without a server.
  if (Status dropped = catalog_->UpdateInstanceReplication(name, without); !dropped.ok()) {
    spdlog::error("event=standby_remake_failed instance={} member={} error=\"{}\"", name, member,
                  dropped.ToString());
    return;
  }
  std::unique_ptr<engines::Instance> old = TakeStandby(name, member);
  spdlog::warn("event=standby_diverged instance={} member={}: made again", name, member);
  WarnIfError(catalog_->AddEvent("warning", name, "",
                                 fmt::format("standby {} cannot follow {} (it diverged, or its "
                                             "primary no longer has what it needs): made again",
                                             member, record.primary())),
              "record an event in the catalog");
  if (old) {
    // Its logs go to its archive first; when they cannot, it stays (next tick tries again).
    if (Status deleted = old->Delete(); !deleted.ok()) {
      spdlog::error("event=standby_remake_failed instance={} member={} error=\"{}\"", name, member,
                    deleted.ToString());
      std::lock_guard lock(mu_);
      standbys_[name][member] = std::move(old);
      WarnIfError(catalog_->UpdateInstanceReplication(name, now->replication),
                  "put the member back in the catalog");
      return;
    }
  }
  engines::InstanceSpec spec = SpecFor(member, record.type, record.config);
  spec.data_root = MemberRoot(name, member);
  StandbySource from;
  auto made = StartStandby(name, engine, primary, spec, from);
  if (!made.ok()) {
    WarnIfError(engines_->RemoveRemains(spec.data_root, member), "remove the standby not made");
    spdlog::error("event=standby_remake_failed instance={} member={} error=\"{}\"", name, member,
                  made.status().ToString());
    WarnIfError(catalog_->AddEvent("error", name, "",
                                   fmt::format("standby {} could not be made again ({}); add one "
                                               "with PATCH /instances/{} {{replicas}}",
                                               member, made.status().message(), name)),
                "record an event in the catalog");
    return;
  }
  {
    std::lock_guard lock(mu_);
    standbys_[name][member] = std::move(made).value();
  }
  WarnIfError(catalog_->UpdateInstanceReplication(name, now->replication),
              "put the member back in the catalog");
}

}  // namespace dbaas::control
