// Branches: new, writable instances from another as it is now or as it was (service.h).
// A branch of now is the engine's consistent backup into a transient snapshot, restored
// and removed at once: on XFS/btrfs both are reflink clones, so the time and the space a
// branch takes do not grow with the data (docs/ARCHITECTURE.md, "Branches").
#include <fmt/format.h>
#include <spdlog/spdlog.h>

#include "base/log.h"
#include "base/names.h"
#include "base/scope_exit.h"
#include "control/service.h"
#include "control/validation.h"
#include "engines/engine.h"
#include "storage/repo_maintenance.h"
#include "storage/repository.h"

namespace dbaas::control {

using nlohmann::json;

namespace {

Status SourceNotRunning(const std::string& source, catalog::InstanceState state) {
  return Status::FailedPrecondition(
      fmt::format("instance '{}' is {}, not running: a branch of it as it is now needs its "
                  "server",
                  source, state),
      fmt::format("start it again, or branch it as it was (backupName or a target; GET "
                  "/instances/{}/backups)",
                  source));
}

}  // namespace

Result<catalog::JobRecord> Service::Branch(const BranchRequest& request) {
  RETURN_IF_ERROR(ValidateName("instance name", request.source_instance));
  if (request.new_instance_name.empty()) {
    return Status::InvalidArgument("newInstanceName is required");
  }
  RETURN_IF_ERROR(ValidateName("newInstanceName", request.new_instance_name));
  RETURN_IF_ERROR(ValidateSize(request.size));
  if (!request.backup_name.empty() ||
      request.target.kind != engines::RecoveryTarget::Kind::kBackupEnd) {
    RestoreRequest restore;
    restore.source_instance = request.source_instance;
    restore.backup_name = request.backup_name;
    restore.new_instance_name = request.new_instance_name;
    restore.size = request.size;
    restore.target = request.target;
    restore.branch = true;
    restore.config = request.config;
    return Restore(restore);
  }
  ASSIGN_OR_RETURN(catalog::InstanceRecord source, catalog_->GetInstance(request.source_instance));
  ASSIGN_OR_RETURN(const engines::Engine* engine, engines_->For(source.type));
  catalog::InstanceRecord record;
  record.name = request.new_instance_name;
  record.type = source.type;
  record.status = catalog::InstanceState::kRestoring;
  record.size = request.size.empty() ? source.size : request.size;
  record.config = source.config;
  for (const auto& [key, value] : request.config) record.config[key] = value;
  RETURN_IF_ERROR(engine->ValidateConfig(record.config));
  // A size asked for must hold the source's data (the source's own is what it has).
  RETURN_IF_ERROR(CheckBranchSize(source.name, request.size));
  record.created_at = record.updated_at = catalog::NowRfc3339();
  // How it is made and the point it holds are known once the copy is taken (RunBranchNow).
  record.restored_from =
      catalog::RestoredFrom{source.name, "", record.created_at, "pending", "", source.created_at};
  {
    std::lock_guard lock(mu_);
    // Read again under the lock: a delete marks the source deleting under it, and its
    // server must not go while the copy uses it.
    ASSIGN_OR_RETURN(source, catalog_->GetInstance(request.source_instance));
    if (source.status != catalog::InstanceState::kRunning || !servers_.count(source.name)) {
      return SourceNotRunning(source.name, source.status);
    }
    // One consistent copy of an instance at a time (a backup or a branch); the source is
    // not deleted while its copy is taken.
    RETURN_IF_ERROR(reservations_.ReserveBackup(source.name));
    if (Status inserted = catalog_->InsertInstance(record); !inserted.ok()) {
      reservations_.EndBackup(source.name);
      return inserted;
    }
  }
  json body = {{"sourceInstance", source.name},
               {"newInstanceName", record.name},
               {"size", request.size},
               {"branch", true}};
  if (!request.config.empty()) body["config"] = request.config;
  auto work = [this, from = source.name, name = record.name](JobContext& job) {
    return RunBranchNow(from, name, std::nullopt, job);
  };
  auto cancel = [this, from = source.name, name = record.name](const Status& why) {
    Discard(name, why.message());
    reservations_.EndBackup(from);
  };
  auto job = jobs_->Submit("branch", record.name, body, work, cancel);
  if (!job.ok()) {
    WarnIfError(catalog_->DeleteInstance(record.name), "unlist the instance that was not made");
    reservations_.EndBackup(source.name);
  } else {
    reservations_.SetBackupJob(source.name, job->id);
  }
  return job;
}

Status Service::CheckBranchSize(const std::string& source, const std::string& size) const {
  // A clone's blocks count in full where sizes are enforced (project quotas): a branch's
  // size must hold what its parent uses.
  ASSIGN_OR_RETURN(std::optional<uint64_t> used, UsedBytes(source));
  if (used && !size.empty() && SizeBytes(size) < *used) {
    return Status::InvalidArgument(
        fmt::format("size {} is smaller than what instance '{}' uses ({} bytes)", size, source,
                    *used),
        "give a larger size, or none (the source's); a branch's size is changed with PATCH "
        "/instances/:name {size}");
  }
  return Status::Ok();
}

Result<catalog::JobRecord> Service::ResetBranch(const std::string& name) {
  RETURN_IF_ERROR(ValidateName("instance name", name));
  ASSIGN_OR_RETURN(catalog::InstanceRecord record, catalog_->GetInstance(name));
  if (!record.restored_from || !record.restored_from->is_branch()) {
    return Status::FailedPrecondition(
        fmt::format("instance '{}' is not a branch: it has no parent to be reset to", name),
        "make a branch with POST /instances/:name/branch");
  }
  const std::string parent = record.restored_from->source_instance;
  auto gone = [&] {
    return Status::FailedPrecondition(
        fmt::format("the parent of branch '{}', instance '{}', was deleted", name, parent),
        "a branch whose parent is gone cannot be reset; delete it or keep it as it is");
  };
  auto source = catalog_->GetInstance(parent);
  if (!source.ok())
    return source.status().code() == StatusCode::kNotFound ? gone() : source.status();
  if (!IsParent(*source, *record.restored_from)) return gone();
  RETURN_IF_ERROR(CheckBranchSize(parent, record.size));
  catalog::InstanceState state;
  {
    std::lock_guard lock(mu_);
    ASSIGN_OR_RETURN(record, catalog_->GetInstance(name));
    ASSIGN_OR_RETURN(*source, catalog_->GetInstance(parent));
    state = record.status;
    if (state != catalog::InstanceState::kRunning && state != catalog::InstanceState::kFailed) {
      return Status::FailedPrecondition(fmt::format("instance '{}' is {}", name, state),
                                        "wait for the operation in progress to end (see its job)");
    }
    // A reset makes one server again: standbys would follow a history that is gone.
    if (!record.replication.empty() || reshaping_.count(name)) {
      return Status::FailedPrecondition(
          fmt::format("branch '{}' has (or had) standbys: a reset makes one server", name),
          "delete the branch and make it again");
    }
    if (source->status != catalog::InstanceState::kRunning || !servers_.count(parent)) {
      return SourceNotRunning(parent, source->status);
    }
    // The branch's own reservation keeps its backups, branches and deletes off it until the
    // reset ends; the parent's, other copies of it.
    RETURN_IF_ERROR(reservations_.ReserveBackup(name));
    if (Status reserved = reservations_.ReserveBackup(parent); !reserved.ok()) {
      reservations_.EndBackup(name);
      return reserved;
    }
    Status marked = catalog_->UpdateInstanceStatus(name, catalog::InstanceState::kRestoring,
                                                   "resetting to the current state of " + parent);
    if (!marked.ok()) {
      reservations_.EndBackup(parent);
      reservations_.EndBackup(name);
      return marked;
    }
  }
  json body = {{"instance", name}, {"parent", parent}};
  auto work = [this, parent, name, state](JobContext& job) {
    return RunBranchNow(parent, name, state, job);
  };
  auto cancel = [this, parent, name, state](const Status&) {
    WarnIfError(catalog_->UpdateInstanceStatus(name, state), "record the instance's state");
    reservations_.EndBackup(parent);
    reservations_.EndBackup(name);
  };
  auto job = jobs_->Submit("reset-branch", name, body, work, cancel);
  if (!job.ok()) {
    cancel(job.status());
  } else {
    reservations_.SetBackupJob(parent, job->id);
    reservations_.SetBackupJob(name, job->id);
  }
  return job;
}

bool Service::IsParent(const catalog::InstanceRecord& parent, const catalog::RestoredFrom& from) {
  return parent.name == from.source_instance &&
         (from.source_created_at.empty() || from.source_created_at == parent.created_at);
}

Result<std::vector<InstanceView>> Service::ListBranches(const std::string& parent) const {
  RETURN_IF_ERROR(ValidateName("instance name", parent));
  ASSIGN_OR_RETURN(auto records, catalog_->ListInstances());
  std::optional<catalog::InstanceRecord> listed;
  for (const auto& r : records) {
    if (r.name == parent) listed = r;
  }
  std::vector<InstanceView> branches;
  for (auto& r : records) {
    if (!r.restored_from || !r.restored_from->is_branch() ||
        r.restored_from->source_instance != parent) {
      continue;
    }
    // An instance made again under a deleted parent's name has none of its branches.
    if (listed && !IsParent(*listed, *r.restored_from)) continue;
    branches.push_back(ViewOf(std::move(r)));
  }
  // Branches outlive their parent; with neither, the name is unknown.
  if (branches.empty() && !listed) RETURN_IF_ERROR(catalog_->GetInstance(parent).status());
  return branches;
}

Result<json> Service::RunBranchNow(const std::string& source, const std::string& name,
                                   std::optional<catalog::InstanceState> reset_from,
                                   JobContext& job) {
  auto started = std::chrono::steady_clock::now();
  const bool reset = reset_from.has_value();
  bool reserved = true;
  auto release = [&] {
    if (reserved) reservations_.EndBackup(source);
    reserved = false;
  };
  ScopeExit release_at_end(release);
  ScopeExit release_branch([&] {
    if (reset) reservations_.EndBackup(name);
  });
  bool emptied = false;  // a reset branch's files are gone
  auto fail = [&](const Status& st) {
    if (!reset) {
      Discard(name, st.ToString());
    } else if (!emptied) {  // nothing of it was touched
      WarnIfError(catalog_->UpdateInstanceStatus(name, *reset_from),
                  "record the instance's state in the catalog");
    } else {  // listed, failed and empty: reset it again, or delete it
      WarnIfError(engines_->RemoveRemains(instances_dir(), name), "remove the branch's files");
      WarnIfError(catalog_->UpdateInstanceStatus(name, catalog::InstanceState::kFailed,
                                                 "the reset failed: " + st.ToString()),
                  "record the instance's state in the catalog");
    }
    return st;
  };
  auto record = catalog_->GetInstance(name);
  if (!record.ok()) return fail(record.status());
  auto engine = engines_->For(record->type);
  if (!engine.ok()) return fail(engine.status());
  engines::Instance* server = nullptr;
  {
    // The source cannot be deleted while its backup is reserved: the pointer stays good
    // until release().
    std::lock_guard lock(mu_);
    auto it = servers_.find(source);
    if (it == servers_.end()) {
      return fail(Status::FailedPrecondition(fmt::format("instance '{}' is not running", source)));
    }
    server = it->second.get();
  }
  std::optional<storage::Manifest> snapshot;
  engines::BackupFacts facts;
  {
    auto hold = repo_.HoldForWrite();
    auto repo = repo_.Open();
    if (!repo.ok()) return fail(repo.status());
    auto copy = (*engine)->Backup(*server, **repo, std::string(kBranchSnapshotPrefix) + name,
                                  &job.progress);
    if (!copy.ok()) return fail(copy.status());
    snapshot = std::move(copy->snapshot);
    facts = std::move(copy->facts);
  }
  std::string password = server->endpoint().password;
  engines::InstanceSpec spec = SpecFor(name, record->type, record->config);
  spec.superuser_access = server->superuser_access();
  release();  // the source is free again; from here on `server` is not used
  ScopeExit remove_snapshot([&] { RemoveTransientSnapshot(*snapshot); });
  if (reset) {  // the copy is taken: now the branch's own state goes
    emptied = true;
    if (auto own = TakeServer(name)) {
      WarnIfError(own->Stop(), "stop the branch's server before its reset");
    }
    if (Status removed = engines_->RemoveRemains(instances_dir(), name); !removed.ok()) {
      return fail(removed);
    }
  }
  Result<std::unique_ptr<engines::Instance>> restored = Status::Internal("not restored");
  {
    auto hold = repo_.HoldForRead();
    auto repo = repo_.Open();
    if (!repo.ok()) return fail(repo.status());
    restored = (*engine)->Restore(**repo, *snapshot, spec, password, engines::RecoveryTarget{},
                                  &job.progress, /*file_check=*/nullptr);
  }
  if (!restored.ok()) return fail(restored.status());
  int port = (*restored)->endpoint().port;
  {
    std::lock_guard lock(mu_);
    servers_[name] = std::move(restored.value());
  }
  catalog::RestoredFrom from = *record->restored_from;
  from.backup_name.clear();  // a reset branch made from a backup holds none now
  from.restored_at = catalog::NowRfc3339();
  from.branch_method = snapshot->kind == storage::SnapshotKind::kThin ? "clone" : "copy";
  from.branch_point = catalog::FormatRfc3339Us(
      facts.stop_time_unix_us.value_or(static_cast<int64_t>(snapshot->created_unix_ns / 1000)));
  Status recorded = catalog_->UpdateInstancePort(name, port);
  if (recorded.ok()) recorded = catalog_->UpdateRestoredFrom(name, from);
  if (recorded.ok()) {
    recorded = catalog_->UpdateInstanceStatus(name, catalog::InstanceState::kRunning);
  }
  if (!recorded.ok()) {  // the catalog refused: the new server goes with the branch
    if (auto made = TakeServer(name)) WarnIfError(made->Stop(), "stop the branch's server");
    emptied = true;
    return fail(recorded);
  }
  double seconds =
      std::chrono::duration<double>(std::chrono::steady_clock::now() - started).count();
  WarnIfError(catalog_->AddEvent("info", name, job.id,
                                 fmt::format("{} from {} as it was at {} ({}, {:.2f} s)",
                                             reset ? "reset" : "branched", source,
                                             from.branch_point, from.branch_method, seconds)),
              "record an event in the catalog");
  spdlog::info("event=branch_ready instance={} parent={} method={} reset={} duration_ms={:.0f}",
               name, source, from.branch_method, reset, seconds * 1000);
  json result = {{"instance", name}, {"seconds", seconds}};
  result.update(BranchAnswer(name, from));
  return result;
}

json Service::BranchAnswer(const std::string& name, const catalog::RestoredFrom& from) {
  json exclusive = nullptr;
  if (auto probe = VolumeProbeOf(name)) {
    if (auto stats = probe(); stats.ok()) exclusive = stats->exclusive_bytes;
  }
  return {{"method", from.branch_method}, {"exclusiveBytes", exclusive}};
}

void Service::RemoveTransientSnapshot(const storage::Manifest& snapshot) {
  // Held while it runs: the writer's for a thin one, gc's alone otherwise.
  auto remove = [&](auto /*hold*/) -> Status {
    ASSIGN_OR_RETURN(auto repo, repo_.Open());
    {
      ASSIGN_OR_RETURN(storage::WriteLock lock, repo->LockForWrite());
      RETURN_IF_ERROR(repo->RemoveSnapshot(snapshot.id));
    }
    // A thin snapshot's clones went with it; one through the repository left packs.
    if (snapshot.kind != storage::SnapshotKind::kThin) {
      RETURN_IF_ERROR(storage::CollectGarbage(*repo).status());
    }
    return Status::Ok();
  };
  Status removed = snapshot.kind == storage::SnapshotKind::kThin ? remove(repo_.HoldForWrite())
                                                                 : remove(repo_.HoldExclusive());
  if (!removed.ok()) {
    spdlog::warn("event=transient_snapshot_remove_failed snapshot={} error=\"{}\"", snapshot.id,
                 removed.ToString());
  }
}

}  // namespace dbaas::control
