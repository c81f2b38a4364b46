// What the service does when it starts: make the catalog, the instances' directories, the
// running servers and the repository agree again after a crash or a kill -9.
//
//   jobs queued or running       -> failed, kAborted ("interrupted"), with what was done
//   instance creating/restoring  -> its half-made directory and row are removed
//   instance deleting            -> the delete is finished (it is safe to redo)
//   instance without a size      -> the default size (made before sizes were required)
//   instance running/failed      -> its server is started (one left running by the killed
//                                   daemon is shut down first, so that ours is supervised)
//   backup creating              -> ready if its snapshot was committed, else removed
//   backup deleting              -> its snapshot is removed, then its row
//   branch being reset           -> failed, its files removed (reset it again)
//   a branch's transient snapshot -> removed
//   repository tmp/ not empty    -> garbage-collected
#include <dirent.h>

#include <algorithm>
#include <set>

#include <fmt/format.h>

#include <spdlog/spdlog.h>

#include "base/log.h"
#include "control/service.h"
#include "control/stored_facts.h"
#include "engines/engine.h"
#include "engines/log_spool.h"
#include "storage/repo_maintenance.h"
#include "storage/repository.h"

namespace dbaas::control {

using nlohmann::json;

namespace {

bool DirHasEntries(const std::string& path) {
  DIR* dir = ::opendir(path.c_str());
  if (!dir) return false;
  bool found = false;
  while (dirent* e = ::readdir(dir)) {
    std::string_view n = e->d_name;
    if (n != "." && n != "..") {
      found = true;
      break;
    }
  }
  ::closedir(dir);
  return found;
}

}  // namespace

Status Service::Reconcile() {
  ASSIGN_OR_RETURN(auto jobs, catalog_->ListUnfinishedJobs());
  std::set<std::string> finish_with_backups;  // deletes asked to take the backups too
  std::set<std::string> resets;               // branches cut off while being reset
  for (auto& job : jobs) {
    if (job.kind == "delete-instance" && job.request.value("deleteBackups", false)) {
      finish_with_backups.insert(job.instance);
    }
    if (job.kind == "reset-branch") resets.insert(job.instance);
    job.status = catalog::JobState::kFailed;
    job.finished_at = catalog::NowRfc3339();
    job.error_code = StatusCode::kAborted;
    job.error_message = fmt::format(
        "dbaasd stopped while this job was {} (killed or crashed); on restart the {} was {}",
        job.started_at.empty() ? "queued" : "running", job.kind,
        job.kind == "delete-instance" ? "finished" : "rolled back");
    RETURN_IF_ERROR(catalog_->UpdateJob(job));
    if (job.kind == "restore") {
      WarnIfError(
          catalog_->AddRestore({0, job.id, job.request.value("sourceInstance", ""),
                                job.request.value("backupName", ""), job.instance, "interrupted",
                                job.started_at, job.finished_at, 0, job.error_message}),
          "record the restore in the catalog's history");
    }
    WarnIfError(catalog_->AddEvent("warn", job.instance, job.id, job.error_message),
                "record an event in the catalog");
    spdlog::warn("event=job_interrupted job={} kind={} instance={}", job.id, job.kind,
                 job.instance);
  }
  RETURN_IF_ERROR(ReconcileBackups());
  ASSIGN_OR_RETURN(auto instances, catalog_->ListInstances());
  for (auto& inst : instances) {
    if (inst.size.empty()) {  // made before sizes were required
      RETURN_IF_ERROR(catalog_->UpdateInstanceSize(inst.name, options_.default_instance_size));
      inst.size = options_.default_instance_size;
    }
    if (inst.status == catalog::InstanceState::kRestoring && resets.count(inst.name)) {
      // What the branch held was to go anyway; the branch itself stays listed.
      WarnIfError(engines_->RemoveRemains(instances_dir(), inst.name), "remove the branch's files");
      RETURN_IF_ERROR(catalog_->UpdateInstanceStatus(
          inst.name, catalog::InstanceState::kFailed,
          "dbaasd stopped while this branch was reset: reset it again, or delete it"));
      continue;
    }
    if (inst.status == catalog::InstanceState::kCreating ||
        inst.status == catalog::InstanceState::kRestoring) {
      Discard(inst.name, fmt::format("dbaasd stopped while the instance was {}", inst.status));
      continue;
    }
    if (inst.status == catalog::InstanceState::kDeleting) {
      auto done = RunDelete(inst.name, finish_with_backups.count(inst.name) > 0);
      if (!done.ok()) {
        WarnIfError(catalog_->UpdateInstanceStatus(inst.name, catalog::InstanceState::kFailed,
                                                   done.status().ToString()),
                    "record the instance's state in the catalog");
      }
      continue;
    }
    auto started = std::chrono::steady_clock::now();
    Status st = Status::Ok();
    if (!inst.replication.empty()) {
      st = StartMembers(inst);  // control/replication_ops.cc
    } else if (auto opened = engines_->Open(instances_dir(), inst.name); !opened.ok()) {
      st = opened.status();
    } else {
      std::unique_ptr<engines::Instance> server = std::move(opened.value());
      st = server->Start();
      if (st.ok()) {
        std::lock_guard lock(mu_);
        servers_[inst.name] = std::move(server);
      } else if (auto spool = server->log_spool()) {
        // The drainer drains running instances only: what this server archived before it
        // went down goes into the repository now (a restore to latest finds it).
        engines::DrainLogSpoolOrWarn(*spool);
      }
    }
    if (st.ok()) {
      RETURN_IF_ERROR(catalog_->UpdateInstanceStatus(inst.name, catalog::InstanceState::kRunning));
      spdlog::info("event=instance_started instance={} duration_ms={}", inst.name,
                   std::chrono::duration_cast<std::chrono::milliseconds>(
                       std::chrono::steady_clock::now() - started)
                       .count());
    } else {
      RETURN_IF_ERROR(catalog_->UpdateInstanceStatus(inst.name, catalog::InstanceState::kFailed,
                                                     st.ToString()));
      spdlog::error("event=instance_start_failed instance={} error=\"{}\"", inst.name,
                    st.ToString());
    }
  }
  return Status::Ok();
}

Status Service::ReconcileBackups() {
  ASSIGN_OR_RETURN(auto repo, storage::Repository::Open(repository_dir()));
  ASSIGN_OR_RETURN(auto snapshots, repo->ListSnapshotHeaders());
  ASSIGN_OR_RETURN(auto backups, catalog_->ListBackups());
  for (auto& b : backups) {
    if (b.status != catalog::BackupState::kCreating) continue;
    // A backup cut off by the crash: done if its snapshot was committed.
    const storage::Manifest* committed = nullptr;
    for (const auto& s : snapshots) {
      auto inst = s.annotations.find("instance");
      if (s.name == b.name && inst != s.annotations.end() && inst->second == b.instance) {
        committed = &s;
      }
    }
    if (!committed) {
      // What it made outside the repository first (a VolumeSnapshot): the row, which names
      // it, stays until that is gone (the next start tries again).
      auto engine = engines_->For(b.instance_type);
      Status outside =
          engine.ok() ? (*engine)->DeleteCutOffBackupVolume(b.instance, b.name) : Status::Ok();
      if (!outside.ok()) {
        spdlog::warn("event=backup_cleanup_failed backup={} error=\"{}\"", b.name,
                     outside.ToString());
        continue;
      }
      RETURN_IF_ERROR(catalog_->DeleteBackup(b.name));
      WarnIfError(
          catalog_->AddEvent("warn", b.instance, "",
                             fmt::format("backup {} was cut off by a crash and removed", b.name)),
          "record an event in the catalog");
      continue;
    }
    b.status = catalog::BackupState::kReady;
    b.snapshot_id = committed->id;
    b.size = committed->stats.logical_bytes;
    b.stored_bytes = committed->stats.stored_bytes;
    // What the backup knew of itself is in its snapshot: the row gets the same facts a
    // backup that ended normally has (a point-in-time restore can start from it).
    engines::BackupFacts facts = engines::FromAnnotations(committed->annotations);
    if (facts.snapshot_kind != "volume") {
      facts.snapshot_kind = std::string(storage::SnapshotKindName(committed->kind));
    }
    StoreFacts(facts, b.info);
    // The password is the instance's, which still exists: the backup was of a running one.
    auto opened = OpenPrimary(b.instance);
    if (opened.ok()) b.secret = (*opened)->endpoint().password;
    RETURN_IF_ERROR(catalog_->UpdateBackup(b));
    WarnIfError(
        catalog_->AddEvent("info", b.instance, "",
                           fmt::format("backup {} was committed before a crash; kept", b.name)),
        "record an event in the catalog");
  }
  bool dirty = DirHasEntries(repo->TmpDir());
  for (const auto& s : snapshots) {
    if (!s.name.starts_with(kBranchSnapshotPrefix) && !s.name.starts_with(kStandbySnapshotPrefix)) {
      continue;
    }
    // A branch or standby cut off between its copy and the copy's removal: no backup,
    // nothing uses it.
    spdlog::warn("event=transient_snapshot_removed snapshot={} name={}", s.id, s.name);
    ASSIGN_OR_RETURN(storage::WriteLock lock, repo->LockForWrite());
    Status removed = repo->RemoveSnapshot(s.id);
    if (!removed.ok() && removed.code() != StatusCode::kNotFound) return removed;
    dirty = true;
  }
  for (const auto& b : backups) {
    if (b.status != catalog::BackupState::kReady || b.snapshot_id.empty()) continue;
    bool present = std::any_of(snapshots.begin(), snapshots.end(),
                               [&](const storage::Manifest& s) { return s.id == b.snapshot_id; });
    // Said to be local, but its snapshot is gone (a local copy lost): a bucket's copy, if
    // there is one, is what restores it now.
    if (b.local && !present && !RepositoryHolding(b).empty()) {
      spdlog::warn("event=local_copy_missing backup={} snapshot={}", b.name, b.snapshot_id);
      RETURN_IF_ERROR(catalog_->SetBackupLocal(b.name, false));
      continue;
    }
    // A local copy that expired while a bucket keeps the backup, cut off before it went
    // (or a pull cut off before it was recorded: fetched again when needed).
    if (b.local || !present) continue;
    spdlog::warn("event=local_copy_removed backup={} snapshot={}", b.name, b.snapshot_id);
    ASSIGN_OR_RETURN(storage::WriteLock lock, repo->LockForWrite());
    Status removed = repo->RemoveSnapshot(b.snapshot_id);
    if (!removed.ok() && removed.code() != StatusCode::kNotFound) return removed;
    dirty = true;
  }
  for (const auto& b : backups) {
    if (b.status != catalog::BackupState::kDeleting) continue;
    spdlog::warn("event=backup_delete_resumed backup={}", b.name);
    RETURN_IF_ERROR(QueueCopyRemovals(b));
    {
      ASSIGN_OR_RETURN(storage::WriteLock lock, repo->LockForWrite());
      Status removed = repo->RemoveSnapshot(b.snapshot_id);
      if (!removed.ok() && removed.code() != StatusCode::kNotFound) return removed;
    }
    RETURN_IF_ERROR(catalog_->DeleteBackup(b.name));
    dirty = true;
  }
  if (dirty) {
    ASSIGN_OR_RETURN(storage::GcReport report, storage::CollectGarbage(*repo));
    spdlog::info("event=repository_gc reason=reconcile packs_deleted={} temp_files_removed={}",
                 report.packs_deleted, report.temp_files_removed);
  }
  return Status::Ok();
}

}  // namespace dbaas::control
