#include "engines/backup_facts.h"

#include <charconv>

#include <fmt/format.h>

namespace dbaas::engines {
namespace {

template <typename T>
std::optional<T> Number(const std::map<std::string, std::string>& a, const char* key) {
  auto it = a.find(key);
  if (it == a.end()) return std::nullopt;
  T value{};
  const std::string& text = it->second;
  auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), value);
  if (ec != std::errc() || end != text.data() + text.size()) return std::nullopt;
  return value;
}

std::string Text(const std::map<std::string, std::string>& a, const char* key) {
  auto it = a.find(key);
  return it == a.end() ? "" : it->second;
}

}  // namespace

std::string_view BackupStoreName(BackupStore into) {
  switch (into) {
    case BackupStore::kDefault:
      return "";
    case BackupStore::kRepository:
      return "local";
    case BackupStore::kVolumeSnapshot:
      return "volumeSnapshot";
  }
  return "";
}

Result<BackupStore> ParseBackupStore(std::string_view name) {
  if (name.empty()) return BackupStore::kDefault;
  if (name == "local") return BackupStore::kRepository;
  if (name == "volumeSnapshot") return BackupStore::kVolumeSnapshot;
  return Status::InvalidArgument(
      fmt::format("repository '{}' does not take backups: a backup goes into \"local\" (the "
                  "daemon's repository) or \"volumeSnapshot\"",
                  name),
      "remote repositories get copies of backups: name them in `repositories`");
}

std::map<std::string, std::string> ToAnnotations(const BackupFacts& f) {
  std::map<std::string, std::string> a;
  auto text = [&](const char* key, const std::string& v) {
    if (!v.empty()) a[key] = v;
  };
  auto seconds = [&](const char* key, const std::optional<double>& v) {
    if (v) a[key] = fmt::format("{:.3f}", *v);
  };
  text("engine", f.engine);
  text("server_version_num", f.server_version);
  text("snapshot_kind", f.snapshot_kind);
  text("volume_snapshot", f.volume_snapshot);
  text("volume_snapshot_content", f.volume_snapshot_content);
  seconds("duration_seconds", f.duration_seconds);
  text("system_identifier", f.system_identifier);
  if (f.timeline) a["timeline"] = std::to_string(*f.timeline);
  text("start_lsn", f.start_lsn);
  text("stop_lsn", f.stop_lsn);
  if (f.stop_time_unix_us) a["stop_time_unix_us"] = std::to_string(*f.stop_time_unix_us);
  seconds("seconds_in_backup_mode", f.seconds_in_backup_mode);
  text("wal_archive", f.wal_archive);
  text("gtid_position", f.gtid_position);
  text("method", f.method);
  if (f.checkpoint_lsn) a["checkpoint_lsn"] = std::to_string(*f.checkpoint_lsn);
  if (f.end_lsn) a["end_lsn"] = std::to_string(*f.end_lsn);
  seconds("seconds_writes_blocked", f.seconds_writes_blocked);
  return a;
}

BackupFacts FromAnnotations(const std::map<std::string, std::string>& a) {
  BackupFacts f;
  f.engine = Text(a, "engine");
  f.server_version = Text(a, "server_version_num");
  f.snapshot_kind = Text(a, "snapshot_kind");
  f.volume_snapshot = Text(a, "volume_snapshot");
  f.volume_snapshot_content = Text(a, "volume_snapshot_content");
  f.duration_seconds = Number<double>(a, "duration_seconds");
  f.system_identifier = Text(a, "system_identifier");
  f.timeline = Number<uint32_t>(a, "timeline");
  f.start_lsn = Text(a, "start_lsn");
  f.stop_lsn = Text(a, "stop_lsn");
  f.stop_time_unix_us = Number<int64_t>(a, "stop_time_unix_us");
  f.seconds_in_backup_mode = Number<double>(a, "seconds_in_backup_mode");
  f.wal_archive = Text(a, "wal_archive");
  f.gtid_position = Text(a, "gtid_position");
  f.method = Text(a, "method");
  f.checkpoint_lsn = Number<uint64_t>(a, "checkpoint_lsn");
  f.end_lsn = Number<uint64_t>(a, "end_lsn");
  f.seconds_writes_blocked = Number<double>(a, "seconds_writes_blocked");
  return f;
}

}  // namespace dbaas::engines
