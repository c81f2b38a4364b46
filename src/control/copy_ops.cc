// Copies of backups in remote repositories: the copy after a backup, on request, and again
// while one has failed; the archived WAL shipped alongside; how far behind each remote is.
#include <fmt/format.h>
#include <spdlog/spdlog.h>

#include <set>
#include <thread>

#include "base/log.h"
#include "base/names.h"
#include "base/scope_exit.h"
#include "control/service.h"
#include "control/stored_facts.h"

namespace dbaas::control {
namespace {

using nlohmann::json;

json CopyState(const std::string& state, const std::string& error = "", uint64_t bytes = 0) {
  json j = {{"state", state}, {"at", catalog::FormatRfc3339(std::chrono::system_clock::now())}};
  if (!error.empty()) j["error"] = error;
  if (state == "copied") j["bytes"] = bytes;
  return j;
}

bool Waiting(const catalog::BackupRecord& backup, const std::string& remote) {
  const json& copies = backup.copies;
  if (!copies.is_object() || !copies.contains(remote)) return false;
  const std::string state = copies[remote].value("state", "");
  return state != "copied" && state != "refused";
}

}  // namespace

Status Service::CopyBackupNow(const std::string& backup, const std::string& to,
                              storage::Progress* progress) {
  bool had_copy = false;  // a finished copy there already: never marked failed
  // Refused for good (not "failed": nothing for the copy tick to try again, no lag).
  if (auto record = catalog_->GetBackup(backup);
      record.ok() && StoredFacts(record->info).snapshot_kind == "volume") {
    Status refused = Status::FailedPrecondition(
        fmt::format("backup '{}' is a volume snapshot: its data is in its VolumeSnapshot, not "
                    "the repository, so a copy would hold only its label and WAL",
                    backup),
        "volume snapshot backups stay in the cluster (docs/KUBERNETES.md)");
    WarnIfError(catalog_->SetBackupCopy(backup, to, CopyState("refused", refused.message())),
                "record the refused copy");
    return refused;
  }
  Status copied = [&]() -> Status {
    ASSIGN_OR_RETURN(catalog::BackupRecord before, catalog_->GetBackup(backup));
    had_copy = before.CopiedTo(to);
    // A copy there being removed (retention, a deletion) would be removed after this one.
    ASSIGN_OR_RETURN(auto leaving, catalog_->ListRemoteRemovals(to));
    for (const auto& r : leaving) {
      if (r.item == before.snapshot_id) {
        return Status::FailedPrecondition(
            fmt::format("the copy of backup '{}' in repository '{}' is being removed", backup, to),
            "copy it again once that is done (the next copy tick)");
      }
    }
    // Only in buckets: fetched into the local repository from one that has it first (a copy
    // from bucket to bucket goes through here, decrypted and sealed again), and kept from
    // retention while it is sent.
    if (!before.local) {
      // There already: its record written anew (a copy by an earlier build had none).
      if (had_copy) return copier_->WriteRecord(to, before);
      std::string from = RepositoryHolding(before);
      if (from.empty()) {
        return Status::FailedPrecondition(fmt::format(
            "backup '{}' has no local copy and no copy in a configured repository", backup));
      }
      {
        std::lock_guard lock(mu_);  // retention decides under it
        reservations_.UseBackup(backup);
      }
      ScopeExit release([&] { reservations_.StopUsingBackup(backup); });
      storage::Progress unused;
      RETURN_IF_ERROR(FetchFromRemote(before, from, progress ? *progress : unused));
      return PushAndRecord(backup, to, progress);
    }
    return PushAndRecord(backup, to, progress);
  }();
  if (!copied.ok()) {
    spdlog::warn("event=backup_copy_failed backup={} repository={} error=\"{}\"", backup, to,
                 copied.ToString());
    // Unless the backup is gone, or a finished copy is there already, it says so; CopyTick
    // tries again.
    if (!had_copy) {
      (void)catalog_->SetBackupCopy(backup, to, CopyState("failed", copied.ToString()));
    }
  }
  return copied;
}

Status Service::PushAndRecord(const std::string& backup, const std::string& to,
                              storage::Progress* progress) {
  // A reader's hold: no gc deletes the packs being sent.
  auto hold = repo_.HoldForRead();
  ASSIGN_OR_RETURN(catalog::BackupRecord record, catalog_->GetBackup(backup));
  if (record.status != catalog::BackupState::kReady || record.snapshot_id.empty()) {
    return Status::FailedPrecondition(
        fmt::format("backup '{}' is {}, not ready", backup, record.status));
  }
  ASSIGN_OR_RETURN(auto repo, repo_.Open());
  ASSIGN_OR_RETURN(auto pushed, copier_->PushSnapshot(to, *repo, record, progress));
  // Deleted while it was sent: its queued removal may have found nothing yet, so it is
  // queued again.
  if (auto now = catalog_->GetBackup(backup);
      !now.ok() || now->status != catalog::BackupState::kReady) {
    WarnIfError(
        catalog_->QueueRemoteRemoval({to, record.snapshot_id, backup, catalog::NowRfc3339()}),
        "queue the removal of a deleted backup's copy");
    return Status::FailedPrecondition(
        fmt::format("backup '{}' was deleted while it was copied", backup));
  }
  // Copied before: what was recorded then stays.
  if (pushed.already_there && !Waiting(record, to) && record.copies.contains(to))
    return Status::Ok();
  spdlog::info(
      "event=backup_copied backup={} repository={} blobs_sent={} bytes_sent={} "
      "duration_ms={:.0f}",
      backup, to, pushed.blobs_sent, pushed.bytes_sent, pushed.seconds * 1000);
  return catalog_->SetBackupCopy(backup, to, CopyState("copied", "", pushed.bytes_sent));
}

Result<catalog::JobRecord> Service::CopyBackup(const std::string& instance,
                                               const std::string& backup, const std::string& to) {
  RETURN_IF_ERROR(ValidateName("repository name", to));
  RETURN_IF_ERROR(copier_->CheckNames({to}));
  ASSIGN_OR_RETURN(catalog::BackupRecord record, GetBackup(instance, backup));
  if (record.status != catalog::BackupState::kReady) {
    return Status::FailedPrecondition(
        fmt::format("backup '{}' is {}, not ready", backup, record.status),
        "copy it once it is ready");
  }
  // Counted as waiting (the lag) until the job has made it; a copy made before stays.
  if (!record.copies.is_object() || !record.copies.contains(to)) {
    RETURN_IF_ERROR(catalog_->SetBackupCopy(backup, to, CopyState("pending")));
  }
  json body = {{"instance", instance}, {"backupName", backup}, {"to", to}};
  auto work = [this, backup, to](JobContext& job) -> Result<json> {
    RETURN_IF_ERROR(CopyBackupNow(backup, to, &job.progress));
    ASSIGN_OR_RETURN(catalog::BackupRecord done, catalog_->GetBackup(backup));
    return json{{"backupName", backup}, {"repository", to}, {"copy", done.copies[to]}};
  };
  // A job that never runs leaves the copy failed (tried again), not pending for ever.
  auto never_ran = [this, backup, to](const Status& why) {
    auto now = catalog_->GetBackup(backup);
    if (now.ok() && now->CopiedTo(to)) return;  // a finished copy stays one
    WarnIfError(catalog_->SetBackupCopy(backup, to, CopyState("failed", why.ToString())),
                "record a copy that did not run");
  };
  auto job = jobs_->Submit("copy-backup", instance, body, work, never_ran);
  if (!job.ok()) never_ran(job.status());
  return job;
}

std::map<std::string, std::string> Service::BucketWalKeep(const std::string& repository) const {
  // Only the archives of this host's running instances, whose every backup this catalog
  // made and lists: a bucket may hold backups of other archives this host never imported
  // (a disaster-recovery host), whose WAL it must keep.
  std::set<std::string> own;
  {
    std::lock_guard lock(mu_);
    for (const auto& [name, server] : servers_) {
      if (std::string id = server->log_archive_id(); !id.empty()) own.insert(id);
    }
  }
  struct Oldest {
    uint64_t at = 0;
    std::string start, type;
    bool whole = false;  // a backup whose start cannot be read: keep it all
  };
  std::map<std::string, Oldest> oldest;  // by archive
  auto backups = catalog_->ListBackups();
  if (!backups.ok()) return {};
  for (const auto& b : backups.value()) {
    // Copies waiting or failed count too: they are made again, and need their WAL there.
    if (b.status != catalog::BackupState::kReady || !b.copies.is_object() ||
        !b.copies.contains(repository))
      continue;
    const engines::BackupFacts facts = StoredFacts(b.info);
    if (facts.wal_archive.empty() || !own.count(facts.wal_archive)) continue;
    auto at = engines::ParseLogPosition(facts.start_lsn);
    auto [it, first] = oldest.try_emplace(facts.wal_archive);
    Oldest& o = it->second;
    if (!at) {
      o.whole = true;
      continue;
    }
    if (first || o.start.empty() || *at < o.at)
      o = {*at, facts.start_lsn, b.instance_type, o.whole};
  }
  std::map<std::string, std::string> keep;
  for (const auto& [archive, o] : oldest) {
    if (o.whole || o.start.empty()) continue;
    auto engine = engines_->For(o.type);
    if (!engine.ok()) continue;
    auto position = (*engine)->ArchivePositionOf(repository_dir(), archive, o.start);
    if (position.ok() && position->has_value()) keep[archive] = **position;
  }
  return keep;
}

std::string Service::RepositoryHolding(const catalog::BackupRecord& backup) const {
  for (const auto& name : copier_->Names()) {
    if (backup.CopiedTo(name)) return name;
  }
  return "";
}

std::map<std::string, double> Service::CopyLagSeconds() const {
  std::map<std::string, double> lag;
  for (const auto& name : copier_->Names()) lag[name] = 0;
  auto backups = catalog_->ListBackups();
  if (!backups.ok()) return lag;
  auto now = std::chrono::system_clock::now();
  for (const auto& b : backups.value()) {
    if (b.status != catalog::BackupState::kReady) continue;
    for (auto& [name, seconds] : lag) {
      if (!Waiting(b, name)) continue;
      seconds = std::max(
          seconds, std::chrono::duration<double>(now - catalog::TimePointOf(b.created_at)).count());
    }
  }
  return lag;
}

void Service::CopyTick() {
  std::map<std::string, std::vector<std::string>> retries;  // by repository: failed copies
  if (auto backups = catalog_->ListBackups(); backups.ok()) {
    for (const auto& b : backups.value()) {
      if (b.status != catalog::BackupState::kReady || !b.copies.is_object()) continue;
      for (const auto& [name, state] : b.copies.items()) {
        // Only failed ones: a pending copy belongs to the job that makes it.
        if (state.value("state", "") == "failed" && copier_->Has(name))
          retries[name].push_back(b.name);
      }
    }
  }
  // A thread per bucket: one that does not answer holds up no other.
  std::vector<std::thread> threads;
  for (const auto& name : copier_->Names()) {
    threads.emplace_back([this, name, backups = retries[name]] {
      // down: no copy either
      if (!copier_->ShipWal(name, repository_dir(), BucketWalKeep(name)).ok()) return;
      RemoveQueuedCopies(name);
      for (const auto& backup : backups) {
        if (!CopyBackupNow(backup, name, nullptr).ok()) return;
      }
    });
  }
  for (auto& thread : threads) thread.join();
  for (const auto& [name, seconds] : CopyLagSeconds()) {
    bool behind = seconds > static_cast<double>(options_.copy_behind_alert.count());
    if (!copy_alerts_.Observe("copy_behind/" + name, behind)) continue;
    RaiseAlert({"copy_behind",
                "",
                "",
                fmt::format("repository '{}' is {:.0f} s behind: a backup waits for its copy there",
                            name, seconds),
                {{"repository", name}, {"lagSeconds", seconds}}});
  }
}

Status Service::FetchFromRemote(const catalog::BackupRecord& backup, const std::string& repository,
                                storage::Progress& progress) {
  auto hold = repo_.HoldForWrite();
  ASSIGN_OR_RETURN(auto repo, repo_.Open());
  ASSIGN_OR_RETURN(auto lock, repo->LockForWrite());
  ASSIGN_OR_RETURN(auto pulled,
                   copier_->PullSnapshot(repository, *repo, backup.snapshot_id, &progress));
  // Local again (until retention says otherwise).
  if (!backup.local) RETURN_IF_ERROR(catalog_->SetBackupLocal(backup.name, true));
  spdlog::info(
      "event=backup_fetched backup={} repository={} blobs_fetched={} bytes_fetched={} "
      "duration_ms={:.0f}",
      backup.name, repository, pulled.blobs_fetched, pulled.bytes_fetched, pulled.seconds * 1000);
  return Status::Ok();
}

Status Service::FetchWalFromRemote(const std::string& instance, const std::string& backup,
                                   const std::string& repository) {
  ASSIGN_OR_RETURN(std::string archive, recovery_->ArchiveOf(instance, backup, repository));
  // No hold: no pack is touched, and WAL files are stored as the drainer stores them (each
  // renamed into place); backups go on meanwhile.
  ASSIGN_OR_RETURN(storage::WalCopyStats pulled,
                   copier_->PullWal(repository, archive, repository_dir()));
  spdlog::info("event=wal_fetched instance={} archive={} repository={} files={} bytes={}", instance,
               archive, repository, pulled.files, pulled.bytes);
  return Status::Ok();
}

Status Service::QueueCopyRemovals(const catalog::BackupRecord& backup) {
  if (backup.snapshot_id.empty() || !backup.copies.is_object()) return Status::Ok();
  for (const auto& [name, copy] : backup.copies.items()) {
    if (!copier_->Has(name)) {  // no longer configured: nothing can remove it
      spdlog::warn(
          "event=copy_left repository={} backup={} snapshot={} reason=\"not "
          "configured\"",
          name, backup.name, backup.snapshot_id);
      continue;
    }
    // A failed or cut-off copy may have left packs, never a manifest: its removal finds
    // nothing and its gc takes them.
    RETURN_IF_ERROR(catalog_->QueueRemoteRemoval(
        {name, backup.snapshot_id, backup.name, catalog::NowRfc3339()}));
  }
  return Status::Ok();
}

void Service::RemoveQueuedCopies(const std::string& name) {
  auto queued = catalog_->ListRemoteRemovals(name);
  if (!queued.ok() || queued->empty()) return;
  // A row goes once its manifest is gone and a gc after that has run: a gc that failed is
  // run again on the next tick (its removal then finds nothing).
  std::vector<const catalog::RemoteRemovalRecord*> removed;
  for (const auto& r : queued.value()) {
    const bool archive = r.item.starts_with(catalog::kWalArchiveItem);
    Status gone =
        archive ? copier_->RemoveWalArchive(name, r.item.substr(catalog::kWalArchiveItem.size()))
                : copier_->RemoveSnapshot(name, r.item);
    if (!gone.ok()) {  // this one waits; the others go on
      spdlog::warn("event=copy_remove_failed repository={} item={} backup={} error=\"{}\"", name,
                   r.item, r.backup, gone.ToString());
      continue;
    }
    spdlog::info("event=copy_removed repository={} item={} backup={}", name, r.item, r.backup);
    removed.push_back(&r);
  }
  if (removed.empty()) return;
  auto gc = copier_->CollectGarbage(name, options_.remote_gc_grace);
  if (!gc.ok()) {
    spdlog::warn("event=remote_gc_failed repository={} error=\"{}\"", name, gc.status().ToString());
    return;
  }
  spdlog::info("event=remote_gc repository={} packs_deleted={} bytes_freed={}", name,
               gc->packs_deleted, gc->bytes_freed);
  for (const auto* r : removed) {
    WarnIfError(catalog_->DeleteRemoteRemoval(name, r->item),
                "record a copy's removal in the catalog");
  }
}

void Service::ReconcileCopies() {
  auto backups = catalog_->ListBackups();
  if (!backups.ok()) return;
  for (const auto& b : backups.value()) {
    if (!b.copies.is_object()) continue;
    for (const auto& [name, state] : b.copies.items()) {
      if (state.value("state", "") != "pending") continue;
      // Its job ended with the daemon: failed, so the next tick makes it.
      WarnIfError(
          catalog_->SetBackupCopy(
              b.name, name, CopyState("failed", "the daemon stopped before the copy was made")),
          "record an interrupted copy");
    }
  }
}

}  // namespace dbaas::control
