// Backups and restores: the service's side of the engines' backups (engines/engine.h).
#include <optional>

#include <fmt/format.h>
#include <spdlog/spdlog.h>

#include "base/log.h"
#include "base/names.h"
#include "base/scope_exit.h"
#include "control/service.h"
#include "control/stored_facts.h"
#include "control/validation.h"
#include "engines/engine.h"
#include "storage/repo_maintenance.h"
#include "storage/repository.h"

namespace dbaas::control {

using nlohmann::json;

namespace {

Status BackupNotFound(const std::string& instance, const std::string& backup) {
  return Status::NotFound(fmt::format("backup '{}' of instance '{}' not found", backup, instance),
                          fmt::format("list them with GET /instances/{}/backups", instance));
}

json TargetJson(const engines::RecoveryTarget& t) {
  using Kind = engines::RecoveryTarget::Kind;
  json j = {{"walArchive", t.archive_id}};
  switch (t.kind) {
    case Kind::kBackupEnd:
      j["kind"] = "backup-end";
      break;
    case Kind::kLatest:
      j["kind"] = "latest";
      break;
    case Kind::kTime:
      j["kind"] = "time";
      j["time"] = catalog::FormatRfc3339Us(t.time_unix_us);
      break;
    case Kind::kLsn:
      j["kind"] = "lsn";
      j["lsn"] = t.lsn;
      break;
    case Kind::kName:
      j["kind"] = "name";
      j["name"] = t.name;
      break;
    case Kind::kGtid:
      j["kind"] = "gtid";
      j["gtid"] = t.gtid;
      break;
  }
  return j;
}

// The instant a branch made from `backup` (to `target`, if any) holds its source's state
// of, as far as it is known before the restore: empty for an LSN or a restore point.
std::string BranchPoint(const engines::RecoveryTarget& target, const engines::BackupFacts& facts,
                        const catalog::BackupRecord& backup) {
  using Kind = engines::RecoveryTarget::Kind;
  switch (target.kind) {
    case Kind::kBackupEnd:
      return facts.stop_time_unix_us ? catalog::FormatRfc3339Us(*facts.stop_time_unix_us)
                                     : backup.created_at;
    case Kind::kTime:
      return catalog::FormatRfc3339Us(target.time_unix_us);
    case Kind::kLatest:  // everything archived until the request
      return catalog::NowRfc3339();
    case Kind::kLsn:
    case Kind::kName:
    case Kind::kGtid:
      break;
  }
  return "";
}

}  // namespace

Result<catalog::JobRecord> Service::CreateBackup(const BackupRequest& request) {
  RETURN_IF_ERROR(ValidateName("instance name", request.instance));
  if (!request.backup_name.empty())
    RETURN_IF_ERROR(ValidateName("backupName", request.backup_name));
  RETURN_IF_ERROR(ValidateRetentionDays(request.retention_days));
  for (const auto& name : request.repositories)
    RETURN_IF_ERROR(ValidateName("repository name", name));
  RETURN_IF_ERROR(copier_->CheckNames(request.repositories));
  if (request.from != "" && request.from != "primary" && request.from != "standby") {
    return Status::InvalidArgument(
        fmt::format("from '{}' is not a place to back up from", request.from),
        "give primary or standby");
  }
  ASSIGN_OR_RETURN(catalog::InstanceRecord instance, catalog_->GetInstance(request.instance));
  {
    ASSIGN_OR_RETURN(const engines::Engine* engine, engines_->For(instance.type));
    RETURN_IF_ERROR(engine->CheckBackupStore(request.into, request.instance));
  }
  if (request.from == "standby" && instance.replication.members.size() < 2) {
    return Status::FailedPrecondition(
        fmt::format("instance '{}' has no standby to back up from", request.instance),
        "add one (PATCH /instances/:name {replicas: 1}) or back up the primary");
  }
  BackupRequest req = request;
  catalog::BackupRecord record;
  {
    std::lock_guard lock(mu_);
    // Read again under the lock: a delete marks the instance deleting under it, and its
    // server must not go while the backup uses it.
    ASSIGN_OR_RETURN(instance, catalog_->GetInstance(request.instance));
    if (instance.status != catalog::InstanceState::kRunning || !servers_.count(request.instance)) {
      return Status::FailedPrecondition(
          fmt::format("instance '{}' is {}, not running", request.instance, instance.status),
          "back it up once it is running");
    }
    auto now = std::chrono::system_clock::now();
    record.instance = request.instance;
    record.instance_type = instance.type;
    record.status = catalog::BackupState::kCreating;
    record.created_at = catalog::FormatRfc3339(now);
    record.retention_days = request.retention_days;
    if (request.retention_days) {
      record.expires_at =
          catalog::FormatRfc3339(now + std::chrono::hours(24) * *request.retention_days);
    }
    record.info = {{"config", instance.config}, {"volumeSize", instance.size}};
    record.schedule_id = request.schedule_id;
    for (const auto& name : request.repositories) record.copies[name] = {{"state", "pending"}};
    RETURN_IF_ERROR(reservations_.ReserveBackup(request.instance));
    // The reservation goes again if the row cannot be made.
    bool row_made = false;
    ScopeExit unreserve([&] {
      if (!row_made) reservations_.EndBackup(request.instance);
    });
    if (!request.backup_name.empty()) {
      record.name = request.backup_name;
      RETURN_IF_ERROR(catalog_->InsertBackup(record));
    } else {
      // Two backups in the same second get -2, -3, ...
      std::string base = DefaultBackupName(request.instance);
      Status inserted;
      for (int n = 1; n < 100; ++n) {
        record.name = n == 1 ? base : fmt::format("{}-{}", base, n);
        inserted = catalog_->InsertBackup(record);
        if (inserted.code() != StatusCode::kAlreadyExists) break;
      }
      RETURN_IF_ERROR(inserted);
    }
    req.backup_name = record.name;
    row_made = true;
  }
  json body = {{"instance", req.instance}, {"backupName", req.backup_name}};
  if (!req.from.empty()) body["from"] = req.from;
  if (req.retention_days) body["retentionDays"] = *req.retention_days;
  if (!req.schedule_id.empty()) body["schedule"] = req.schedule_id;
  if (!req.repositories.empty()) body["repositories"] = req.repositories;
  if (req.into != engines::BackupStore::kDefault) body["repository"] = BackupStoreName(req.into);
  auto work = [this, req](JobContext& job) {
    auto started = std::chrono::steady_clock::now();
    bool stored_patches = false;
    auto done = RunBackup(req, job, stored_patches);
    BackupEnded(req, done.status(),
                std::chrono::duration<double>(std::chrono::steady_clock::now() - started).count());
    // The backup is listed and its instance free for the next one; the job ends after.
    if (stored_patches) CompactPagePatches(req.backup_name);
    if (!done.ok() || req.repositories.empty()) return done;
    // The copies, once compacted: a failed one leaves the backup made (its copy says
    // failed, and is tried again).
    json result = done.value();
    for (const auto& name : req.repositories) {
      Status copied = CopyBackupNow(req.backup_name, name, &job.progress);
      result["copies"][name] = copied.ok() ? "copied" : copied.ToString();
    }
    return Result<json>(result);
  };
  auto cancel = [this, req](const Status&) {
    WarnIfError(catalog_->DeleteBackup(req.backup_name), "unlist the backup that was not made");
    reservations_.EndBackup(req.instance);
  };
  auto job = jobs_->Submit("backup", req.instance, body, work, cancel);
  if (!job.ok()) {
    WarnIfError(catalog_->DeleteBackup(req.backup_name), "unlist the backup that was not made");
    reservations_.EndBackup(req.instance);
  } else {
    reservations_.SetBackupJob(req.instance, job->id);
  }
  return job;
}

Result<json> Service::RunBackup(const BackupRequest& request, JobContext& job,
                                bool& stored_patches) {
  ScopeExit done([&] { reservations_.EndBackup(request.instance); });
  auto fail = [&](const Status& st) {
    WarnIfError(catalog_->DeleteBackup(request.backup_name), "unlist the backup that was not made");
    return st;
  };
  ASSIGN_OR_RETURN(catalog::BackupRecord record, catalog_->GetBackup(request.backup_name));
  engines::Instance* server = nullptr;
  {
    // The instance cannot be deleted, nor a member of it removed, while its backup is
    // reserved: the pointer stays good (a failover moves members, never destroys one).
    std::lock_guard lock(mu_);
    if (request.from == "standby") {
      // A standby that streams now, as last seen.
      for (const MemberView& m : member_views_[request.instance]) {
        if (m.role != "standby" || !m.replication || m.replication->state != "streaming") continue;
        auto& of = standbys_[request.instance];
        if (auto it = of.find(m.name); it != of.end()) {
          server = it->second.get();
          record.info["member"] = m.name;
          break;
        }
      }
      if (server == nullptr) {
        return fail(Status::FailedPrecondition(
            fmt::format("no standby of instance '{}' streams now", request.instance),
            "see its members (GET /instances/:name), or back up the primary"));
      }
    } else {
      auto it = servers_.find(request.instance);
      if (it == servers_.end()) {
        return fail(Status::FailedPrecondition(
            fmt::format("instance '{}' is not running", request.instance)));
      }
      server = it->second.get();
    }
  }
  auto hold = repo_.HoldForWrite();
  auto repo = repo_.Open();
  if (!repo.ok()) return fail(repo.status());
  auto engine = engines_->For(record.instance_type);
  if (!engine.ok()) return fail(engine.status());
  auto info =
      (*engine)->BackupInto(request.into, *server, **repo, request.backup_name, &job.progress);
  if (!info.ok()) return fail(info.status());
  const storage::Manifest& snap = info->snapshot;
  record.status = catalog::BackupState::kReady;
  record.snapshot_id = snap.id;
  record.size = snap.stats.logical_bytes;
  record.stored_bytes = snap.stats.stored_bytes;
  engines::BackupFacts facts = info->facts;
  facts.duration_seconds = info->seconds;
  // As the repository made it, but for a volume backup, whose data is not in it.
  if (facts.snapshot_kind != "volume") {
    facts.snapshot_kind = std::string(storage::SnapshotKindName(snap.kind));
  }
  StoreFacts(facts, record.info);
  record.secret = server->endpoint().password;
  RETURN_IF_ERROR(catalog_->UpdateBackup(record));
  // The WAL from before the oldest backup is not needed any more (after a first backup:
  // everything archived before it).
  recovery_->PruneWalArchives();
  spdlog::info(
      "event=backup_ready instance={} backup={} snapshot={} bytes={} stored_bytes={} "
      "writes_blocked_ms={:.0f} duration_ms={:.0f}",
      request.instance, request.backup_name, snap.id, record.size, record.stored_bytes,
      info->seconds_writes_blocked * 1000, info->seconds * 1000);
  stored_patches = snap.stats.patched_chunks > 0;
  return json{{"backupName", request.backup_name}, {"snapshotId", snap.id}};
}

void Service::CompactPagePatches(const std::string& backup) {
  // Restores and drills go on while the patches are rewritten into new packs (a writer's
  // hold); the old packs go once no reader may still use them (made exclusive).
  auto hold = repo_.HoldForWrite();
  std::optional<RepositoryAccess::ExclusiveHold> exclusive;
  auto repo = repo_.Open();
  auto report = repo.ok()
                    ? storage::CompactPagePatches(
                          **repo, [&] { exclusive.emplace(repo_.MakeExclusive(std::move(hold))); })
                    : repo.status();
  if (!report.ok()) {  // the backup is made; its patches stay as they are until a gc
    spdlog::warn("event=repository_compact_failed backup={} error=\"{}\"", backup,
                 report.status().ToString());
    return;
  }
  spdlog::info(
      "event=repository_compact backup={} patches_compacted={} patch_bytes_saved={} "
      "packs_rewritten={}",
      backup, report->patches_compacted, report->patch_bytes_saved, report->packs_rewritten);
}

Result<std::vector<catalog::BackupRecord>> Service::ListBackups(const std::string& instance) const {
  RETURN_IF_ERROR(ValidateName("instance name", instance));
  ASSIGN_OR_RETURN(auto backups, catalog_->ListBackups(instance));
  std::erase_if(backups, [](const catalog::BackupRecord& b) {
    return b.status == catalog::BackupState::kDeleting;
  });
  if (backups.empty()) {
    // Backups outlive their instance; with neither, the name is unknown.
    RETURN_IF_ERROR(catalog_->GetInstance(instance).status());
  }
  return backups;
}

Result<catalog::BackupRecord> Service::GetBackup(const std::string& instance,
                                                 const std::string& backup) const {
  RETURN_IF_ERROR(ValidateName("instance name", instance));
  RETURN_IF_ERROR(ValidateName("backup name", backup));
  auto record = catalog_->GetBackup(backup);
  if (!record.ok()) {
    if (record.status().code() == StatusCode::kNotFound) return BackupNotFound(instance, backup);
    return record.status();
  }
  if (record->instance != instance || record->status == catalog::BackupState::kDeleting) {
    return BackupNotFound(instance, backup);
  }
  return record;
}

std::map<std::string, std::string> Service::BackupConfig(const catalog::BackupRecord& backup) {
  std::map<std::string, std::string> config;
  if (backup.info.contains("config") && backup.info["config"].is_object()) {
    for (auto& [k, v] : backup.info["config"].items()) {
      if (v.is_string()) config[k] = v.get<std::string>();
    }
  }
  return config;
}

Status Service::MarkDeleting(catalog::BackupRecord& backup, bool unless_pinned) {
  std::lock_guard lock(mu_);
  ASSIGN_OR_RETURN(backup, catalog_->GetBackup(backup.name));
  if (unless_pinned && backup.pinned) {
    return Status::FailedPrecondition(fmt::format("backup '{}' is pinned", backup.name));
  }
  if (backup.status != catalog::BackupState::kReady) {
    return Status::FailedPrecondition(
        fmt::format("backup '{}' is {}", backup.name, catalog::NameOf(backup.status)),
        "wait for it to finish");
  }
  if (reservations_.InUse(backup.name)) {
    return Status::FailedPrecondition(
        fmt::format("backup '{}' is being restored or drilled", backup.name),
        "wait for that to end");
  }
  // Marked first: a crash after this leaves a row in state deleting, whose removal the next
  // start finishes; never a listed backup without data.
  backup.status = catalog::BackupState::kDeleting;
  return catalog_->UpdateBackup(backup);
}

Status Service::DeleteBackup(const std::string& instance, const std::string& backup) {
  ASSIGN_OR_RETURN(catalog::BackupRecord record, GetBackup(instance, backup));
  RETURN_IF_ERROR(MarkDeleting(record, false));
  RETURN_IF_ERROR(RemoveBackupData({record}));
  RETURN_IF_ERROR(catalog_->DeleteBackup(backup));
  WarnIfError(catalog_->AddEvent("info", instance, "", fmt::format("backup {} deleted", backup)),
              "record an event in the catalog");
  return Status::Ok();
}

Status Service::RemoveBackupData(const std::vector<catalog::BackupRecord>& backups) {
  // Its copies go with it: queued before anything is removed (a crash from here on is
  // finished by reconcile, which queues them again).
  for (const catalog::BackupRecord& backup : backups) RETURN_IF_ERROR(QueueCopyRemovals(backup));
  // What lives outside the repository (a VolumeSnapshot) before the snapshot naming it.
  for (const catalog::BackupRecord& backup : backups) {
    const engines::BackupFacts facts = StoredFacts(backup.info);
    if (facts.volume_snapshot.empty()) continue;
    ASSIGN_OR_RETURN(const engines::Engine* engine, engines_->For(backup.instance_type));
    RETURN_IF_ERROR(engine->DeleteBackupVolume(facts));
  }
  return RemoveLocalSnapshots(backups);
}

Status Service::RemoveLocalSnapshots(const std::vector<catalog::BackupRecord>& backups) {
  auto hold = repo_.HoldExclusive();
  return RemoveSnapshotsHeld(backups);
}

Status Service::RemoveSnapshotsHeld(const std::vector<catalog::BackupRecord>& backups) {
  ASSIGN_OR_RETURN(auto repo, repo_.Open());
  std::string names;
  for (const catalog::BackupRecord& backup : backups) {
    names += (names.empty() ? "" : ",") + backup.name;
    if (backup.snapshot_id.empty()) continue;
    ASSIGN_OR_RETURN(storage::WriteLock lock, repo->LockForWrite());
    Status removed = repo->RemoveSnapshot(backup.snapshot_id);
    if (!removed.ok() && removed.code() != StatusCode::kNotFound) return removed;
  }
  ASSIGN_OR_RETURN(storage::GcReport report, storage::CollectGarbage(*repo));
  spdlog::info("event=repository_gc backups={} packs_deleted={} packs_rewritten={} bytes_freed={}",
               names, report.packs_deleted, report.packs_rewritten, report.bytes_freed);
  recovery_->PruneWalArchives();
  return Status::Ok();
}

Result<catalog::JobRecord> Service::Restore(const RestoreRequest& original) {
  RestoreRequest request = original;
  bool to_target = request.target.kind != engines::RecoveryTarget::Kind::kBackupEnd;
  RETURN_IF_ERROR(ValidateName("instance name", request.source_instance));
  if (request.backup_name.empty() && !to_target) {
    return Status::InvalidArgument(
        "backupName is required (or a target: targetTime, targetLsn, targetName, targetGtid "
        "or target=latest)");
  }
  if (request.new_instance_name.empty()) {
    return Status::InvalidArgument("newInstanceName is required");
  }
  if (!request.backup_name.empty())
    RETURN_IF_ERROR(ValidateName("backupName", request.backup_name));
  RETURN_IF_ERROR(ValidateName("newInstanceName", request.new_instance_name));
  RETURN_IF_ERROR(ValidateSize(request.size));
  if (!request.repository.empty()) {
    RETURN_IF_ERROR(ValidateName("repository name", request.repository));
    RETURN_IF_ERROR(copier_->CheckNames({request.repository}));
  } else if (!request.backup_name.empty()) {
    // A backup kept only in buckets (imported, or its local copy expired) comes from one.
    auto named = catalog_->GetBackup(request.backup_name);
    if (named.ok() && !named->local) {
      request.repository = RepositoryHolding(*named);
      if (request.repository.empty()) {
        return Status::FailedPrecondition(
            fmt::format("backup '{}' has no local copy and no copy in a configured repository",
                        request.backup_name),
            "configure the repository that holds it (dbaasd's 'repositories')");
      }
    }
  }
  if (to_target) {
    // From a bucket: what the local archive lacks of the WAL comes first, so that the
    // target is judged against all of it.
    if (!request.repository.empty()) {
      RETURN_IF_ERROR(
          FetchWalFromRemote(request.source_instance, request.backup_name, request.repository));
    }
    RETURN_IF_ERROR(recovery_->ResolveTarget(request));
  }
  ASSIGN_OR_RETURN(catalog::BackupRecord backup,
                   GetBackup(request.source_instance, request.backup_name));
  if (!request.repository.empty() && !backup.CopiedTo(request.repository)) {
    return Status::FailedPrecondition(
        fmt::format("backup '{}' has no copy in repository '{}'", backup.name, request.repository),
        "copy it there first, or restore without 'repository'");
  }
  if (backup.status != catalog::BackupState::kReady) {
    return Status::FailedPrecondition(
        fmt::format("backup '{}' is {}, not ready", backup.name, catalog::NameOf(backup.status)),
        "wait for it to finish");
  }
  if (!request.size.empty() && SizeBytes(request.size) < backup.size) {
    return Status::InvalidArgument(
        fmt::format("size {} is smaller than the backup's data ({} bytes)", request.size,
                    backup.size),
        "give a larger size, or none");
  }
  catalog::InstanceRecord record;
  record.name = request.new_instance_name;
  record.type = backup.instance_type;
  record.status = catalog::InstanceState::kRestoring;
  // Unless asked for another, the copy gets the volume size its source had.
  record.size = request.size.empty() ? BackupVolumeSize(backup) : request.size;
  record.config = BackupConfig(backup);
  for (const auto& [key, value] : request.config) record.config[key] = value;
  if (request.branch) {
    ASSIGN_OR_RETURN(const engines::Engine* engine, engines_->For(backup.instance_type));
    RETURN_IF_ERROR(engine->ValidateConfig(record.config));
  }
  record.created_at = record.updated_at = catalog::NowRfc3339();
  record.restored_from =
      catalog::RestoredFrom{request.source_instance, backup.name, record.created_at, "", "", ""};
  if (request.branch) {
    // Its parent is the backup's instance if that still runs under the name; a later one
    // made under it is not (never equal to a creation time).
    auto source = catalog_->GetInstance(request.source_instance);
    record.restored_from->source_created_at = source.ok() && source->created_at <= backup.created_at
                                                  ? source->created_at
                                                  : "deleted before the branch";
    engines::BackupFacts facts = StoredFacts(backup.info);
    record.restored_from->branch_method = facts.snapshot_kind == "thin" ? "clone" : "copy";
    record.restored_from->branch_point = BranchPoint(request.target, facts, backup);
  }
  {
    std::lock_guard lock(mu_);
    RETURN_IF_ERROR(catalog_->InsertInstance(record));
    reservations_.UseBackup(backup.name);
  }
  json body = {{"sourceInstance", request.source_instance},
               {"backupName", request.backup_name},
               {"newInstanceName", request.new_instance_name},
               {"size", request.size}};
  if (to_target) body["target"] = TargetJson(request.target);
  if (request.branch) body["branch"] = true;
  if (!request.config.empty()) body["config"] = request.config;
  if (!request.repository.empty()) body["repository"] = request.repository;
  auto release = [this, name = backup.name] { reservations_.StopUsingBackup(name); };
  auto work = [this, request, release](JobContext& job) {
    ScopeExit done(release);
    return RunRestore(request, job);
  };
  auto cancel = [this, release, name = request.new_instance_name](const Status& why) {
    Discard(name, why.message());
    release();
  };
  auto job = jobs_->Submit(request.branch ? "branch" : "restore", request.new_instance_name, body,
                           work, cancel);
  if (!job.ok()) {
    WarnIfError(catalog_->DeleteInstance(request.new_instance_name),
                "unlist the instance that was not made");
    release();
  }
  return job;
}

Result<json> Service::RunRestore(const RestoreRequest& request, JobContext& job) {
  auto started = std::chrono::steady_clock::now();
  catalog::RestoreRecord history{0,
                                 job.id,
                                 request.source_instance,
                                 request.backup_name,
                                 request.new_instance_name,
                                 "succeeded",
                                 catalog::NowRfc3339(),
                                 "",
                                 0,
                                 ""};
  auto record_end = [&](const Status& st) {
    history.finished_at = catalog::NowRfc3339();
    history.seconds =
        std::chrono::duration<double>(std::chrono::steady_clock::now() - started).count();
    if (!st.ok()) {
      history.status = "failed";
      history.error = st.ToString();
    }
    WarnIfError(catalog_->AddRestore(history), "record the restore in the catalog's history");
    metrics_->RestoreEnded(request.source_instance, st.ok(), history.seconds);
  };
  auto fail = [&](const Status& st) {
    Discard(request.new_instance_name, st.ToString());
    record_end(st);
    return st;
  };
  auto backup = catalog_->GetBackup(request.backup_name);
  if (!backup.ok()) return fail(backup.status());
  auto record = catalog_->GetInstance(request.new_instance_name);
  if (!record.ok()) return fail(record.status());
  if (!request.repository.empty()) {
    Status fetched = FetchFromRemote(backup.value(), request.repository, job.progress);
    if (!fetched.ok()) return fail(fetched);
  }
  auto hold = repo_.HoldForRead();
  auto repo = repo_.Open();
  if (!repo.ok()) return fail(repo.status());
  auto snapshot = (*repo)->LoadSnapshot(backup->snapshot_id);
  if (!snapshot.ok()) return fail(snapshot.status());
  auto engine = engines_->For(backup->instance_type);
  if (!engine.ok()) return fail(engine.status());
  engines::InstanceSpec spec =
      SpecFor(request.new_instance_name, backup->instance_type, record->config);
  spec.superuser_access = request.superuser_access.value_or(false);
  if (!request.superuser_access) {
    std::lock_guard lock(mu_);
    if (auto source = servers_.find(backup->instance); source != servers_.end()) {
      spec.superuser_access = source->second->superuser_access();
    }
  }
  auto restored =
      (*engine)->Restore(**repo, *snapshot, spec, backup->secret, request.target, &job.progress,
                         /*file_check=*/nullptr);
  if (!restored.ok()) return fail(restored.status());
  std::unique_ptr<engines::Instance> server = std::move(restored.value());
  int port = server->endpoint().port;
  {
    std::lock_guard lock(mu_);
    servers_[request.new_instance_name] = std::move(server);
  }
  RETURN_IF_ERROR(catalog_->UpdateInstancePort(request.new_instance_name, port));
  RETURN_IF_ERROR(
      catalog_->UpdateInstanceStatus(request.new_instance_name, catalog::InstanceState::kRunning));
  record_end(Status::Ok());
  spdlog::info("event=restore_ready instance={} source={} backup={} duration_ms={:.0f}",
               request.new_instance_name, request.source_instance, request.backup_name,
               history.seconds * 1000);
  json result = {{"instance", request.new_instance_name},
                 {"backupName", request.backup_name},
                 {"seconds", history.seconds}};
  if (request.branch && record->restored_from) {
    result.update(BranchAnswer(request.new_instance_name, *record->restored_from));
  }
  return result;
}

}  // namespace dbaas::control
