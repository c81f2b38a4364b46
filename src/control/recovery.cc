#include "control/recovery.h"

#include <algorithm>
#include <set>

#include <fmt/format.h>
#include <spdlog/spdlog.h>

#include "base/log.h"
#include "base/names.h"
#include "control/stored_facts.h"
#include "engines/engine.h"
#include "engines/log_spool.h"
#include "storage/wal_archive.h"

namespace dbaas::control {

using engines::RecoveryTarget;
using nlohmann::json;

namespace {

// A backup a point-in-time restore can start from.
struct PitrBackup {
  catalog::BackupRecord record;
  std::string archive;
  int64_t stop_unix_us = 0;
  std::string start_lsn;
  std::string stop_lsn;
  uint64_t stop_position = 0;
  std::string gtid_position;  // MariaDB's
};

std::optional<PitrBackup> AsPitrBackup(const catalog::BackupRecord& b) {
  if (b.status != catalog::BackupState::kReady) return std::nullopt;
  engines::BackupFacts facts = StoredFacts(b.info);
  PitrBackup p;
  p.archive = facts.wal_archive;
  p.start_lsn = facts.start_lsn;
  p.stop_lsn = facts.stop_lsn;
  p.gtid_position = facts.gtid_position;
  auto position = engines::ParseLogPosition(p.stop_lsn);
  if (p.archive.empty() || !position || !engines::ParseLogPosition(p.start_lsn) ||
      !facts.stop_time_unix_us) {
    return std::nullopt;
  }
  p.stop_position = *position;
  p.stop_unix_us = *facts.stop_time_unix_us;
  p.record = b;
  return p;
}

// The backups of `instance` a restore to a target can start from, oldest first: those
// sharing the archive of `backup_name`, else of the newest such backup (an instance made
// again under the same name archives anew; its older backups belong to another history).
// With `repository`, only the backups copied there (a restore from that bucket).
Result<std::vector<PitrBackup>> PitrBackups(const catalog::Catalog& catalog,
                                            const std::string& instance,
                                            const std::string& backup_name,
                                            const std::string& repository = "") {
  ASSIGN_OR_RETURN(auto records, catalog.ListBackups(instance));  // newest first
  std::string archive;
  if (!backup_name.empty()) {
    auto named = std::find_if(records.begin(), records.end(), [&](const catalog::BackupRecord& b) {
      return b.name == backup_name;
    });
    if (named == records.end()) {
      return Status::NotFound(
          fmt::format("backup '{}' of instance '{}' not found", backup_name, instance),
          fmt::format("list them with GET /instances/{}/backups", instance));
    }
    auto p = AsPitrBackup(*named);
    if (!p) {
      return Status::FailedPrecondition(
          fmt::format("backup '{}' has no archived WAL after it (taken without archiving, or "
                      "not ready)",
                      backup_name),
          "restore it without a target, or choose another backup");
    }
    if (!repository.empty() && !named->CopiedTo(repository)) {
      return Status::FailedPrecondition(
          fmt::format("backup '{}' has no copy in repository '{}'", backup_name, repository),
          "copy it there first, or restore without 'repository'");
    }
    archive = p->archive;
  }
  std::vector<PitrBackup> out;
  for (auto it = records.rbegin(); it != records.rend(); ++it) {
    auto p = AsPitrBackup(*it);
    // Without a repository, only backups this host has can be a base (or a named one: the
    // restore fetched it).
    bool usable =
        repository.empty() ? it->local || it->name == backup_name : it->CopiedTo(repository);
    if (p && usable) out.push_back(std::move(*p));
  }
  if (out.empty()) {
    if (!repository.empty()) {
      return Status::FailedPrecondition(
          fmt::format("no backup of instance '{}' with archived WAL has a copy in repository "
                      "'{}'",
                      instance, repository),
          "copy one there first (POST /instances/:name/backups/:backup/copy)");
    }
    return Status::FailedPrecondition(
        fmt::format("instance '{}' has no backup with archived WAL after it", instance),
        "take a backup: point-in-time recovery replays the WAL archived after one");
  }
  if (archive.empty()) archive = out.back().archive;
  std::erase_if(out, [&](const PitrBackup& p) { return p.archive != archive; });
  return out;
}

Status OutsideWindow(const std::string& instance, const std::string& what, const std::string& from,
                     const std::string& to) {
  return Status::InvalidArgument(
      fmt::format("{} is outside the recoverable window of instance '{}': from {} to {}", what,
                  instance, from, to),
      fmt::format("choose a target in the window (GET /instances/{}/recovery-window)", instance));
}

int64_t NowUnixUs() {
  return std::chrono::duration_cast<std::chrono::microseconds>(
             std::chrono::system_clock::now().time_since_epoch())
      .count();
}

}  // namespace

Recovery::Recovery(catalog::Catalog& catalog, const engines::EngineSet& engines,
                   RepositoryAccess& repo, OpenPrimary open_primary,
                   std::function<void(const std::string&)> archive_removed)
    : catalog_(catalog),
      engines_(engines),
      repo_(repo),
      open_primary_(std::move(open_primary)),
      archive_removed_(std::move(archive_removed)) {}

Status Recovery::ResolveTarget(RestoreRequest& request) {
  RecoveryTarget& target = request.target;
  // From a bucket: only the backups copied there.
  ASSIGN_OR_RETURN(
      std::vector<PitrBackup> backups,
      PitrBackups(catalog_, request.source_instance, request.backup_name, request.repository));
  const std::string archive = backups.back().archive;
  const std::string engine_type = backups.back().record.instance_type;
  ASSIGN_OR_RETURN(const engines::Engine* engine, engines_.For(engine_type));
  // What the source has committed until now goes into the archive before the target is
  // judged: a target of "now" is then in reach.
  std::optional<int64_t> complete_at;
  if (auto source = open_primary_(request.source_instance);
      source.ok() && (*source)->log_archive_id() == archive) {
    int64_t before = NowUnixUs();
    Status archived = engine->ArchiveNow(**source, std::chrono::seconds(10));
    if (archived.ok()) {
      complete_at = before;
    } else {
      spdlog::warn("event=archive_now_failed instance={} error=\"{}\"", request.source_instance,
                   archived.ToString());
      // A source that is down still has in its spool what it archived last.
      if (auto spool = (*source)->log_spool()) engines::DrainLogSpoolOrWarn(*spool);
      // One that runs has commits the archive may not hold: "latest" would silently miss
      // them.
      auto record = catalog_.GetInstance(request.source_instance);
      if (target.kind == RecoveryTarget::Kind::kLatest && record.ok() &&
          record->status == catalog::InstanceState::kRunning) {
        return Status::FailedPrecondition(
            fmt::format("the latest commits of instance '{}' cannot be archived now: {}",
                        request.source_instance, archived.message()),
            "see the instance's status (archiving), then retry; or restore to a time");
      }
    }
  }
  const PitrBackup* base = nullptr;
  bool point_unknown = false;  // a restore point the catalog does not have: where is unknown
  std::optional<uint64_t> target_lsn;
  switch (target.kind) {
    case RecoveryTarget::Kind::kBackupEnd:
      return Status::Internal("ResolveTarget without a target");
    case RecoveryTarget::Kind::kLatest:
      base = &backups.back();
      break;
    case RecoveryTarget::Kind::kTime:
      for (const PitrBackup& b : backups) {
        if (b.stop_unix_us <= target.time_unix_us) base = &b;
      }
      break;
    case RecoveryTarget::Kind::kLsn:
      target_lsn = engines::ParseLogPosition(target.lsn);
      if (!target_lsn) {
        return Status::InvalidArgument(
            fmt::format("targetLsn '{}' is not a log position", target.lsn),
            "write it as the engine does: PostgreSQL's 0/3000060, MariaDB's binlog.000042:1234");
      }
      for (const PitrBackup& b : backups) {
        if (b.stop_position <= *target_lsn) base = &b;
      }
      break;
    case RecoveryTarget::Kind::kName: {
      ASSIGN_OR_RETURN(auto points, catalog_.ListRestorePoints(request.source_instance));
      auto point = std::find_if(points.begin(), points.end(), [&](const auto& p) {
        return p.wal_archive == archive && p.name == target.name;
      });
      if (point == points.end()) {
        // Made with pg_create_restore_point directly: replay from the oldest backup (or the
        // one named); the server fails the restore if the name is not in the WAL.
        base = &backups.front();
        point_unknown = true;
      } else {
        target_lsn = engines::ParseLogPosition(point->lsn);
        target.lsn = point->lsn;  // where MariaDB's replay stops (its binlog has no names)
        for (const PitrBackup& b : backups) {
          if (target_lsn && b.stop_position <= *target_lsn) base = &b;
        }
      }
      break;
    }
    case RecoveryTarget::Kind::kGtid: {
      // The newest backup none of whose transactions is past the target.
      ASSIGN_OR_RETURN(engines::GtidPosition wanted, engines::ParseGtidPosition(target.gtid));
      if (wanted.empty()) return Status::InvalidArgument("targetGtid is empty");
      for (const PitrBackup& b : backups) {
        auto at = engines::ParseGtidPosition(b.gtid_position);
        if (!at.ok()) continue;
        bool before = true;
        for (const auto& [domain, gtid] : wanted) {
          auto it = at->find(domain);
          before &= it == at->end() || it->second.seq <= gtid.seq;
        }
        if (before) base = &b;
      }
      break;
    }
  }
  if (!request.backup_name.empty() && base != nullptr) {
    // Named: that backup, if it ends before the target (no later than the newest that does).
    auto named = std::find_if(backups.begin(), backups.end(), [&](const PitrBackup& b) {
      return b.record.name == request.backup_name;
    });
    if (named == backups.end()) return Status::Internal("the named backup is not listed");
    if (!point_unknown && named->stop_position > base->stop_position) {
      return Status::InvalidArgument(
          fmt::format("backup '{}' ends after the target (at {} / LSN {})", request.backup_name,
                      catalog::FormatRfc3339Us(named->stop_unix_us), named->stop_lsn),
          "choose an earlier backup, or none (the newest that ends before the target)");
    }
    base = &*named;
  }
  const PitrBackup& oldest = backups.front();
  if (base == nullptr) {
    std::string what = target.kind == RecoveryTarget::Kind::kTime
                           ? "targetTime " + catalog::FormatRfc3339Us(target.time_unix_us)
                       : target.kind == RecoveryTarget::Kind::kLsn ? "targetLsn " + target.lsn
                       : target.kind == RecoveryTarget::Kind::kGtid
                           ? "targetGtid " + target.gtid
                           : "restore point '" + target.name + "'";
    return Status::InvalidArgument(
        fmt::format(
            "{} is before the oldest backup of instance '{}' with archived WAL{} ('{}', "
            "consistent from {} / LSN {})",
            what, request.source_instance,
            request.repository.empty() ? "" : " copied to repository '" + request.repository + "'",
            oldest.record.name, catalog::FormatRfc3339Us(oldest.stop_unix_us), oldest.stop_lsn),
        fmt::format("choose a later target (GET /instances/{}/recovery-window)",
                    request.source_instance));
  }
  engines::ArchiveEnd end;
  {
    auto hold = repo_.HoldForRead();
    ASSIGN_OR_RETURN(end, engine->ScanArchive(repository_dir(), archive, base->stop_lsn));
  }
  int64_t latest = std::max(end.last_commit_unix_us.value_or(0), backups.back().stop_unix_us);
  if (complete_at) latest = std::max(latest, *complete_at);
  if (target.kind == RecoveryTarget::Kind::kTime) {
    if (target.time_unix_us > latest) {
      return OutsideWindow(
          request.source_instance, "targetTime " + catalog::FormatRfc3339Us(target.time_unix_us),
          catalog::FormatRfc3339Us(oldest.stop_unix_us), catalog::FormatRfc3339Us(latest));
    }
    // Nothing archived committed after the target: replaying all of it gives the state at
    // the target (PostgreSQL would refuse a time target it never passes; MariaDB's replay
    // cuts by time itself, and what is archived between now and the restore's run must not
    // join it).
    if (engine_type == "postgresql" &&
        (!end.last_commit_unix_us || target.time_unix_us >= *end.last_commit_unix_us)) {
      target.kind = RecoveryTarget::Kind::kLatest;
    }
  }
  // (A binlog position is judged by MariaDB's replay plan, which knows a file's end.)
  if (target_lsn && target.kind == RecoveryTarget::Kind::kLsn && engine_type == "postgresql") {
    auto last = engines::ParseLogPosition(end.last_lsn);
    if (last && *target_lsn > *last) {
      return OutsideWindow(request.source_instance, "targetLsn " + target.lsn, oldest.stop_lsn,
                           end.last_lsn);
    }
  }
  request.backup_name = base->record.name;
  target.archive_id = archive;
  return Status::Ok();
}

Result<std::string> Recovery::ArchiveOf(const std::string& instance, const std::string& backup_name,
                                        const std::string& repository) const {
  ASSIGN_OR_RETURN(std::vector<PitrBackup> backups,
                   PitrBackups(catalog_, instance, backup_name, repository));
  return backups.back().archive;
}

Result<RecoveryWindow> Recovery::Window(const std::string& instance) {
  RETURN_IF_ERROR(ValidateName("instance name", instance));
  auto backups = PitrBackups(catalog_, instance, "");
  if (!backups.ok()) {
    RETURN_IF_ERROR(catalog_.GetInstance(instance).status());  // unknown name: 404
    return backups.status();
  }
  const PitrBackup& oldest = backups->front();
  ASSIGN_OR_RETURN(const engines::Engine* engine, engines_.For(oldest.record.instance_type));
  engines::ArchiveEnd end;
  {
    auto hold = repo_.HoldForRead();
    ASSIGN_OR_RETURN(end, engine->ScanArchive(repository_dir(), oldest.archive, oldest.stop_lsn));
  }
  RecoveryWindow w;
  w.instance = instance;
  w.engine = oldest.record.instance_type;
  w.wal_archive = oldest.archive;
  if (!oldest.gtid_position.empty() || !end.last_gtid.empty()) {
    // GTIDs (MariaDB): the oldest backup's position, and each domain's last one since.
    w.earliest_gtid = oldest.gtid_position;
    auto latest = engines::ParseGtidPosition(oldest.gtid_position);
    auto since = engines::ParseGtidPosition(end.last_gtid);
    if (latest.ok() && since.ok()) {
      for (const auto& [domain, gtid] : *since) (*latest)[domain] = gtid;
      w.latest_gtid = engines::FormatGtidPosition(*latest);
    }
  }
  w.earliest_unix_us = oldest.stop_unix_us;
  w.earliest_lsn = oldest.stop_lsn;
  w.latest_unix_us = std::max(end.last_commit_unix_us.value_or(0), backups->back().stop_unix_us);
  w.latest_lsn = end.last_lsn;
  w.last_segment = end.last_segment;
  w.backups = backups->size();
  return w;
}

Result<catalog::RestorePointRecord> Recovery::CreateRestorePoint(const std::string& instance,
                                                                 const std::string& name) {
  RETURN_IF_ERROR(ValidateName("instance name", instance));
  bool name_ok = !name.empty() && name.size() <= 63;
  for (char c : name) {
    name_ok &= (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
               c == '-' || c == '_' || c == '.' || c == ':';
  }
  if (!name_ok) {
    return Status::InvalidArgument(
        fmt::format("'{}' is not a restore point name", name),
        "use 1 to 63 letters, digits and - _ . : (e.g. before-migration-42)");
  }
  ASSIGN_OR_RETURN(catalog::InstanceRecord record, catalog_.GetInstance(instance));
  if (record.status != catalog::InstanceState::kRunning) {
    return Status::FailedPrecondition(
        fmt::format("instance '{}' is {}, not running", instance, record.status),
        "create restore points while it runs");
  }
  ASSIGN_OR_RETURN(const engines::Engine* engine, engines_.For(record.type));
  ASSIGN_OR_RETURN(auto server, open_primary_(instance));
  catalog::RestorePointRecord point{server->log_archive_id(), name, instance, "",
                                    catalog::NowRfc3339(),    ""};
  ASSIGN_OR_RETURN(auto existing, catalog_.ListRestorePoints(instance));
  for (const auto& p : existing) {
    if (p.wal_archive == point.wal_archive && p.name == name) {
      return Status::AlreadyExists(
          fmt::format("instance '{}' has a restore point named '{}' already", instance, name),
          "choose another name");
    }
  }
  ASSIGN_OR_RETURN(engines::RestorePointAt at, engine->CreateRestorePoint(*server, name));
  point.lsn = at.lsn;
  point.gtid = at.gtid;
  RETURN_IF_ERROR(catalog_.InsertRestorePoint(point));
  WarnIfError(catalog_.AddEvent("info", instance, "",
                                fmt::format("restore point {} at {}", name, point.lsn)),
              "record an event in the catalog");
  return point;
}

Result<std::vector<catalog::RestorePointRecord>> Recovery::ListRestorePoints(
    const std::string& instance) const {
  RETURN_IF_ERROR(ValidateName("instance name", instance));
  ASSIGN_OR_RETURN(auto points, catalog_.ListRestorePoints(instance));
  if (points.empty()) RETURN_IF_ERROR(catalog_.GetInstance(instance).status());
  return points;
}

void Recovery::PruneWalArchives() {
  auto ids = storage::WalArchive::ListIds(repository_dir());
  auto backups = catalog_.ListBackups();
  auto instances = catalog_.ListInstances();
  if (!ids.ok() || !backups.ok() || !instances.ok()) {
    spdlog::error("event=wal_prune_failed error=\"cannot list archives, backups or instances\"");
    return;
  }
  // Per archive, the start of its oldest kept backup: what a restore from it replays from;
  // and whose log it is (the engine that reads it).
  struct KeepFrom {
    uint64_t position = 0;
    std::string start;
  };
  std::map<std::string, KeepFrom> keep_from;
  std::map<std::string, std::string> engine_of;  // archive -> instance type
  std::set<std::string> keep_whole;  // a kept backup's start cannot be read: nothing goes
  for (const catalog::BackupRecord& b : *backups) {
    if (b.status == catalog::BackupState::kDeleting) continue;
    engines::BackupFacts facts = StoredFacts(b.info);
    const std::string& archive = facts.wal_archive;
    const std::string& start = facts.start_lsn;
    auto position = engines::ParseLogPosition(start);
    if (archive.empty()) continue;
    engine_of[archive] = b.instance_type;
    if (!position) {
      keep_whole.insert(archive);
      continue;
    }
    auto it = keep_from.find(archive);
    if (it == keep_from.end() || *position < it->second.position) {
      keep_from[archive] = {*position, start};
    }
  }
  std::map<std::string, std::string> listed;  // instance -> type
  for (const auto& i : *instances) listed[i.name] = i.type;
  for (const std::string& id : *ids) {
    if (keep_whole.count(id)) continue;
    // Archive ids are <instance>.<random>: an instance still listed (even one being made,
    // whose archive exists before its instance.json) keeps its archive.
    auto instance = listed.find(id.substr(0, id.rfind('.')));
    if (!engine_of.count(id) && instance != listed.end()) engine_of[id] = instance->second;
    Result<uint64_t> removed = uint64_t{0};
    auto engine = engines_.For(engine_of.count(id) ? engine_of[id] : "postgresql");
    if (!engine.ok()) {
      removed = engine.status();
    } else if (auto it = keep_from.find(id); it != keep_from.end()) {
      removed = (*engine)->PruneArchive(repository_dir(), id, it->second.start);
    } else if (instance != listed.end()) {
      // No backup to replay onto: its log cannot be restored.
      removed = (*engine)->PruneArchive(repository_dir(), id, std::nullopt);
    } else {
      Status st = storage::WalArchive::Remove(repository_dir(), id);
      if (!st.ok()) removed = st;
      spdlog::info("event=wal_archive_removed archive={}", id);
      if (st.ok() && archive_removed_) archive_removed_(id);
    }
    if (!removed.ok()) {
      spdlog::error("event=wal_prune_failed archive={} error=\"{}\"", id,
                    removed.status().ToString());
    } else if (*removed > 0) {
      spdlog::info("event=wal_pruned archive={} files={}", id, *removed);
    }
  }
}

}  // namespace dbaas::control
