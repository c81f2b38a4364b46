// Remote repositories seen from a daemon that may not have written them: what a bucket
// holds, importing its backups into the catalog, taking its lease over. Together with a
// restore from a repository (backup_ops.cc), the disaster-recovery path.
#include <fmt/format.h>
#include <spdlog/spdlog.h>

#include <algorithm>
#include <set>

#include "base/log.h"
#include "base/names.h"
#include "control/bucket_record.h"
#include "control/service.h"

namespace dbaas::control {
namespace {

using nlohmann::json;

Status CheckRepository(const RemoteCopier& copier, const std::string& repository) {
  RETURN_IF_ERROR(ValidateName("repository name", repository));
  return copier.CheckNames({repository});
}

}  // namespace

std::vector<RepositoryView> Service::ListRepositories() const {
  auto counters = copier_->CountersByName();
  std::vector<RepositoryView> out;
  for (const auto& name : copier_->Names()) {
    out.push_back({*copier_->Spec(name), copier_->Leased(name), counters[name]});
  }
  return out;
}

Result<std::vector<BucketBackup>> Service::ListBucketBackups(const std::string& repository) {
  RETURN_IF_ERROR(CheckRepository(*copier_, repository));
  ASSIGN_OR_RETURN(auto snapshots, copier_->ListSnapshots(repository));
  // Copies of backups deleted here wait in this queue for their removal from the bucket.
  std::set<std::string> leaving;
  ASSIGN_OR_RETURN(auto queued, catalog_->ListRemoteRemovals(repository));
  for (const auto& r : queued) leaving.insert(r.item);
  std::vector<BucketBackup> out;
  for (const auto& listed : snapshots) {
    BucketBackup b;
    b.snapshot_id = listed.snapshot.id;
    b.snapshot_created_unix_ns = listed.snapshot.created_unix_ns;
    if (!listed.record_status.ok()) {
      b.unavailable = listed.record_status.ToString();
    } else if (!listed.record) {
      b.unavailable =
          "copied by an earlier build, without its record: copy it again from the host that "
          "made it (POST .../copy), or pull it offline (dbaas remote pull)";
    } else {
      auto decoded =
          DecodeBucketRecord(*listed.record, b.snapshot_id, repository, listed.encrypted);
      if (!decoded.ok()) {
        b.unavailable = decoded.status().ToString();
      } else {
        b.backup = std::move(decoded).value();
        auto known = catalog_->GetBackup(b.backup->name);
        b.in_catalog = known.ok() && known->snapshot_id == b.snapshot_id;
        if (leaving.count(b.snapshot_id)) {
          b.unavailable = "its backup was deleted here; the copy is being removed";
        } else if (b.backup->secret.empty()) {
          b.unavailable =
              listed.encrypted
                  ? "its record holds no superuser password (its instance could not be "
                    "opened when it was recorded): dbaasd cannot import it (dbaas remote "
                    "pull and dbaas snapshot restore give its files)"
                  : fmt::format(
                        "repository '{}' is not encrypted, so it keeps no superuser password "
                        "for the backup: dbaasd cannot import it (dbaas remote pull and dbaas "
                        "snapshot restore give its files)",
                        repository);
        } else if (auto engine = engines_->For(b.backup->instance_type); !engine.ok()) {
          b.unavailable = engine.status().ToString();
        } else if (Status config = (*engine)->ValidateConfig(BackupConfig(*b.backup));
                   !config.ok()) {
          b.unavailable = "its configuration is refused: " + config.ToString();
        }
      }
    }
    out.push_back(std::move(b));
  }
  return out;
}

Result<ImportReport> Service::ImportBackups(const std::string& repository,
                                            const std::string& instance,
                                            const std::vector<std::string>& names) {
  if (!instance.empty()) RETURN_IF_ERROR(ValidateName("instance name", instance));
  for (const auto& name : names) RETURN_IF_ERROR(ValidateName("backup name", name));
  ASSIGN_OR_RETURN(std::vector<BucketBackup> listed, ListBucketBackups(repository));
  ImportReport report;
  std::vector<std::string> unseen = names;
  const auto now = std::chrono::system_clock::now();
  for (BucketBackup& b : listed) {
    std::string name = b.backup ? b.backup->name : b.snapshot_id;
    bool other_instance = b.backup && !instance.empty() && b.backup->instance != instance;
    if (!names.empty()) {
      auto it = std::find(unseen.begin(), unseen.end(), name);
      if (it == unseen.end()) continue;
      unseen.erase(it);
      if (other_instance) {
        report.skipped.emplace_back(name, fmt::format("it is a backup of instance '{}', not '{}'",
                                                      b.backup->instance, instance));
        continue;
      }
    }
    if (other_instance || b.in_catalog) continue;
    if (!b.unavailable.empty()) {
      report.skipped.emplace_back(name, b.unavailable);
      continue;
    }
    catalog::BackupRecord record = std::move(*b.backup);
    record.local = false;  // fetched from the bucket by its first restore
    if (record.retention_days) {
      record.expires_at =
          catalog::FormatRfc3339(now + std::chrono::hours(24) * *record.retention_days);
    }
    record.copies = json::object();
    record.copies[repository] = {
        {"state", "copied"}, {"at", catalog::FormatRfc3339(now)}, {"imported", true}};
    Status inserted = catalog_->InsertBackup(record);
    if (inserted.code() == StatusCode::kAlreadyExists) {
      // An import beside this one may have taken it in meanwhile: that is no conflict.
      auto there = catalog_->GetBackup(name);
      if (!there.ok() || there->snapshot_id != record.snapshot_id) {
        report.skipped.emplace_back(
            name, fmt::format("this catalog has a backup named '{}' of another snapshot", name));
      }
      continue;
    }
    RETURN_IF_ERROR(inserted);
    report.imported.push_back(name);
    WarnIfError(catalog_->AddEvent(
                    "info", record.instance, "",
                    fmt::format("backup {} imported from repository '{}'", name, repository)),
                "record an event in the catalog");
  }
  for (const auto& name : unseen) {
    report.skipped.emplace_back(name,
                                fmt::format("repository '{}' has no such backup", repository));
  }
  spdlog::info("event=backups_imported repository={} imported={} skipped={}", repository,
               report.imported.size(), report.skipped.size());
  return report;
}

Status Service::TakeOverRepository(const std::string& repository) {
  RETURN_IF_ERROR(CheckRepository(*copier_, repository));
  RETURN_IF_ERROR(copier_->TakeOverLease(repository));
  WarnIfError(catalog_->AddEvent("warn", "", "",
                                 fmt::format("took over the lease of repository '{}'", repository)),
              "record an event in the catalog");
  return Status::Ok();
}

}  // namespace dbaas::control
