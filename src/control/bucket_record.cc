#include "control/bucket_record.h"

#include <fmt/format.h>

#include <nlohmann/json.hpp>

#include "base/names.h"
#include "control/stored_facts.h"
#include "control/validation.h"
#include "storage/wal_archive.h"

namespace dbaas::control {
namespace {

using nlohmann::json;

constexpr const char* kFormat = "dbaas-backup-record";
constexpr int kVersion = 1;
constexpr size_t kMaxRecordBytes = 1 << 20;  // a record is a few KB

bool IsKnownType(const std::string& type) {
  return type == "postgresql" || type == "mariadb" || type == "mysql";
}

}  // namespace

std::vector<uint8_t> EncodeBucketRecord(const catalog::BackupRecord& backup, bool encrypted) {
  json b = {{"name", backup.name},
            {"instance", backup.instance},
            {"instanceType", backup.instance_type},
            {"createdAt", backup.created_at},
            {"dataBytes", backup.size},
            {"storedBytes", backup.stored_bytes},
            {"pinned", backup.pinned},
            {"info", backup.info.is_object() ? backup.info : json::object()}};
  if (backup.retention_days) b["retentionDays"] = *backup.retention_days;
  json record = {{"format", kFormat}, {"version", kVersion}, {"backup", b}};
  if (encrypted && !backup.secret.empty()) record["secret"] = backup.secret;
  std::string text = record.dump();
  return {text.begin(), text.end()};
}

Result<catalog::BackupRecord> DecodeBucketRecord(std::span<const uint8_t> bytes,
                                                 const std::string& snapshot_id,
                                                 const std::string& repository, bool encrypted) {
  auto bad = [&](const std::string& what) {
    return Status::Corruption(
        fmt::format("the record of snapshot {} in repository '{}' {}", snapshot_id, repository,
                    what),
        "dbaasd did not write it so; copy the backup there again from a host that has it (a "
        "copy writes its record anew)");
  };
  if (bytes.size() > kMaxRecordBytes) return bad("is too large");
  json record = json::parse(bytes.begin(), bytes.end(), nullptr, false);
  if (!record.is_object() || record.value("format", json()) != kFormat)
    return bad("is not a backup record");
  if (record.value("version", json()) != kVersion)
    return bad(fmt::format("is of version {}, which this build does not read",
                           record.value("version", json()).dump()));
  const json& b = record.value("backup", json());
  if (!b.is_object()) return bad("has no backup");
  auto text = [&](const char* key) -> std::string {
    auto it = b.find(key);
    return it != b.end() && it->is_string() ? it->get<std::string>() : "";
  };
  auto count = [&](const char* key) -> std::optional<uint64_t> {
    auto it = b.find(key);
    if (it == b.end() || !it->is_number_unsigned()) return std::nullopt;
    return it->get<uint64_t>();
  };
  catalog::BackupRecord out;
  out.name = text("name");
  out.instance = text("instance");
  out.instance_type = text("instanceType");
  out.created_at = text("createdAt");
  if (!ValidateName("backup name", out.name).ok()) return bad("names no valid backup");
  if (!ValidateName("instance name", out.instance).ok()) return bad("names no valid instance");
  if (!IsKnownType(out.instance_type))
    return bad(fmt::format("has an unknown instance type '{}'", out.instance_type));
  if (!catalog::ParseRfc3339(out.created_at).ok()) return bad("has no valid createdAt");
  auto data = count("dataBytes"), stored = count("storedBytes");
  if (!data || !stored) return bad("has no dataBytes or storedBytes");
  out.size = *data;
  out.stored_bytes = *stored;
  if (auto it = b.find("retentionDays"); it != b.end()) {
    if (!it->is_number_integer() || it->get<int64_t>() < 1 || it->get<int64_t>() > 36500)
      return bad("has an invalid retentionDays");
    out.retention_days = it->get<int>();
  }
  out.pinned = b.value("pinned", json(false)) == json(true);
  out.info = b.value("info", json::object());
  if (!out.info.is_object()) return bad("has an info that is not an object");
  // What later reaches a path or the new instance's size.
  const engines::BackupFacts facts = StoredFacts(out.info);
  if (!facts.wal_archive.empty() && !storage::ValidateArchiveId(facts.wal_archive).ok())
    return bad("names no valid WAL archive");
  if (auto it = out.info.find("walArchive"); it != out.info.end() && !it->is_string())
    return bad("names no valid WAL archive");
  if (auto it = out.info.find("volumeSize"); it != out.info.end()) {
    if (!it->is_string() || !ValidateSize(it->get<std::string>()).ok())
      return bad("has no valid volumeSize");
  }
  if (auto it = out.info.find("config"); it != out.info.end()) {
    bool strings = it->is_object();
    for (auto setting = it->begin(); strings && setting != it->end(); ++setting)
      strings = setting->is_string();
    if (!strings) return bad("has a config that is not settings and their values");
  }
  if (auto it = record.find("secret"); it != record.end()) {
    if (!encrypted)
      return bad("holds a password, which dbaasd keeps only in encrypted repositories");
    if (!it->is_string() || it->get<std::string>().empty()) return bad("has an invalid secret");
    out.secret = it->get<std::string>();
  }
  out.status = catalog::BackupState::kReady;
  out.snapshot_id = snapshot_id;
  out.local = false;  // a copy in a bucket, until fetched
  return out;
}

}  // namespace dbaas::control
