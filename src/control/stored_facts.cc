#include "control/stored_facts.h"

#include <algorithm>

#include <fmt/format.h>

namespace dbaas::control {
namespace {

using nlohmann::json;

std::string Text(const json& info, const char* key, const char* older = nullptr) {
  for (const char* k : {key, older}) {
    if (k && info.contains(k) && info[k].is_string()) return info[k].get<std::string>();
  }
  return "";
}

template <typename T>
std::optional<T> Number(const json& info, const char* key) {
  if (!info.contains(key) || !info[key].is_number()) return std::nullopt;
  return info[key].get<T>();
}

}  // namespace

void StoreFacts(const engines::BackupFacts& f, json& info) {
  if (!info.is_object()) info = json::object();
  auto text = [&](const char* key, const std::string& v) {
    if (!v.empty()) info[key] = v;
  };
  auto number = [&](const char* key, const auto& v) {
    if (v) info[key] = *v;
  };
  text("engine", f.engine);
  text("serverVersion", f.server_version);
  text("snapshotKind", f.snapshot_kind);
  text("volumeSnapshot", f.volume_snapshot);
  text("volumeSnapshotContent", f.volume_snapshot_content);
  number("durationSeconds", f.duration_seconds);
  text("systemIdentifier", f.system_identifier);
  number("timeline", f.timeline);
  text("startLsn", f.start_lsn);
  text("stopLsn", f.stop_lsn);
  number("stopTimeUnixUs", f.stop_time_unix_us);
  number("secondsInBackupMode", f.seconds_in_backup_mode);
  text("walArchive", f.wal_archive);
  text("gtidPosition", f.gtid_position);
  text("method", f.method);
  number("checkpointLsn", f.checkpoint_lsn);
  number("endLsn", f.end_lsn);
  number("secondsWritesBlocked", f.seconds_writes_blocked);
}

engines::BackupFacts StoredFacts(const json& info) {
  engines::BackupFacts f;
  if (!info.is_object()) return f;
  f.engine = Text(info, "engine");
  f.server_version = Text(info, "serverVersion", "server_version_num");
  f.snapshot_kind = Text(info, "snapshotKind");
  f.volume_snapshot = Text(info, "volumeSnapshot");
  f.volume_snapshot_content = Text(info, "volumeSnapshotContent");
  f.duration_seconds = Number<double>(info, "durationSeconds");
  f.system_identifier = Text(info, "systemIdentifier");
  f.timeline = Number<uint32_t>(info, "timeline");
  f.start_lsn = Text(info, "startLsn", "start_lsn");
  f.stop_lsn = Text(info, "stopLsn", "stop_lsn");
  f.stop_time_unix_us = Number<int64_t>(info, "stopTimeUnixUs");
  f.seconds_in_backup_mode = Number<double>(info, "secondsInBackupMode");
  f.wal_archive = Text(info, "walArchive");
  f.gtid_position = Text(info, "gtidPosition");
  f.method = Text(info, "method");
  f.checkpoint_lsn = Number<uint64_t>(info, "checkpointLsn");
  f.end_lsn = Number<uint64_t>(info, "endLsn");
  f.seconds_writes_blocked = Number<double>(info, "secondsWritesBlocked");
  return f;
}

std::string BackupVolumeSize(const catalog::BackupRecord& backup) {
  if (auto it = backup.info.find("volumeSize"); it != backup.info.end() && it->is_string()) {
    std::string size = it->get<std::string>();
    if (!size.empty()) return size;
  }
  constexpr uint64_t kGiB = uint64_t{1} << 30;
  return fmt::format("{}Gi", std::max<uint64_t>(1, (backup.size + kGiB - 1) / kGiB));
}

}  // namespace dbaas::control
