#include "engines/volume_backup.h"

#include <cctype>

#include <fmt/format.h>

#include "storage/wal_archive.h"

namespace dbaas::engines {
namespace {

using nlohmann::json;
using Kind = RecoveryTarget::Kind;

constexpr std::pair<Kind, const char*> kKindNames[] = {{Kind::kLatest, "latest"},
                                                       {Kind::kTime, "time"},
                                                       {Kind::kLsn, "lsn"},
                                                       {Kind::kName, "name"},
                                                       {Kind::kGtid, "gtid"}};

}  // namespace

json RecoveryTargetJson(const RecoveryTarget& target) {
  json j = {{"archiveId", target.archive_id}};
  for (const auto& [kind, name] : kKindNames) {
    if (kind == target.kind) j["kind"] = name;
  }
  switch (target.kind) {
    case Kind::kTime:
      j["timeUnixUs"] = target.time_unix_us;
      break;
    case Kind::kLsn:
      j["lsn"] = target.lsn;
      break;
    case Kind::kName:
      j["name"] = target.name;
      // MariaDB's: where the catalog has it (its binlog has no named points).
      if (!target.lsn.empty()) j["lsn"] = target.lsn;
      break;
    case Kind::kGtid:
      j["gtid"] = target.gtid;
      break;
    default:
      break;
  }
  return j;
}

Result<RecoveryTarget> RecoveryTargetFromJson(const json& j) {
  if (!j.is_object()) return Status::InvalidArgument("target must be an object");
  RecoveryTarget t;
  const std::string kind =
      j.contains("kind") && j["kind"].is_string() ? j["kind"].get<std::string>() : "";
  bool known = false;
  for (const auto& [k, name] : kKindNames) {
    if (kind == name) {
      t.kind = k;
      known = true;
    }
  }
  if (!known) {
    return Status::InvalidArgument(
        fmt::format("target kind '{}' is not one of latest, time, lsn, name, gtid", kind));
  }
  auto text = [&](const char* key, std::string& out) -> Status {
    if (!j.contains(key) || !j[key].is_string() || j[key].get<std::string>().empty()) {
      return Status::InvalidArgument(fmt::format("target {} must be a non-empty string", key));
    }
    out = j[key].get<std::string>();
    return Status::Ok();
  };
  RETURN_IF_ERROR(text("archiveId", t.archive_id));
  RETURN_IF_ERROR(storage::ValidateArchiveId(t.archive_id));
  switch (t.kind) {
    case Kind::kTime:
      if (!j.contains("timeUnixUs") || !j["timeUnixUs"].is_number_integer()) {
        return Status::InvalidArgument("target timeUnixUs must be an integer");
      }
      t.time_unix_us = j["timeUnixUs"].get<int64_t>();
      break;
    case Kind::kLsn:
      RETURN_IF_ERROR(text("lsn", t.lsn));
      break;
    case Kind::kName:
      RETURN_IF_ERROR(text("name", t.name));
      if (j.contains("lsn")) RETURN_IF_ERROR(text("lsn", t.lsn));
      break;
    case Kind::kGtid:
      RETURN_IF_ERROR(text("gtid", t.gtid));
      RETURN_IF_ERROR(ParseGtidPosition(t.gtid).status());
      break;
    default:
      break;
  }
  return t;
}

bool IsVolumeBackupEndFile(std::string_view path) {
  for (const char* file : kVolumeBackupEndFiles) {
    if (path == file) return true;
  }
  return false;
}

bool IsVolumeLogPath(std::string_view path) {
  constexpr std::string_view kDir = "pg_wal/";
  if (!path.starts_with(kDir)) return false;
  const std::string_view name = path.substr(kDir.size());
  if (name.empty() || name == "." || name == "..") return false;
  for (char c : name) {
    if (!std::isalnum(static_cast<unsigned char>(c)) && c != '.' && c != '_' && c != '-') {
      return false;
    }
  }
  return true;
}

}  // namespace dbaas::engines
