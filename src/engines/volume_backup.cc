#include "engines/volume_backup.h"

#include <cctype>

namespace dbaas::engines {

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
