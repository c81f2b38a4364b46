#include "storage/manifest.h"

#include <ctime>
#include <unordered_set>

#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include "base/hex.h"

namespace dbaas::storage {
namespace {

using nlohmann::json;
constexpr int kManifestVersion = 1;

std::optional<EntryType> ParseEntryType(std::string_view name) {
  if (name == "dir") return EntryType::kDirectory;
  if (name == "file") return EntryType::kFile;
  if (name == "symlink") return EntryType::kSymlink;
  return std::nullopt;
}

// Typed access that turns a missing or mistyped field into a Corruption status.
template <typename T>
Status Get(const json& object, const char* key, T& out) {
  auto it = object.find(key);
  if (it == object.end()) return Status::Corruption(fmt::format("manifest lacks '{}'", key));
  try {
    out = it->template get<T>();
  } catch (const json::exception&) {
    return Status::Corruption(fmt::format("manifest field '{}' has the wrong type", key));
  }
  return Status::Ok();
}

template <typename T>
Status GetOptional(const json& object, const char* key, T& out) {
  if (!object.contains(key)) return Status::Ok();
  return Get(object, key, out);
}

Result<TreeEntry> ParseEntry(const json& j) {
  if (!j.is_object()) return Status::Corruption("manifest entry is not an object");
  TreeEntry e;
  std::string type;
  RETURN_IF_ERROR(Get(j, "path", e.path));
  RETURN_IF_ERROR(Get(j, "type", type));
  RETURN_IF_ERROR(Get(j, "mode", e.mode));
  RETURN_IF_ERROR(Get(j, "uid", e.uid));
  RETURN_IF_ERROR(Get(j, "gid", e.gid));
  RETURN_IF_ERROR(Get(j, "mtime_ns", e.mtime_ns));
  RETURN_IF_ERROR(GetOptional(j, "ctime_ns", e.ctime_ns));
  RETURN_IF_ERROR(GetOptional(j, "inode", e.inode));
  RETURN_IF_ERROR(GetOptional(j, "size", e.size));
  RETURN_IF_ERROR(GetOptional(j, "target", e.symlink_target));
  if (!IsSafeRelativePath(e.path)) {
    return Status::Corruption(fmt::format("manifest entry has an unsafe path '{}'", e.path));
  }
  auto parsed_type = ParseEntryType(type);
  if (!parsed_type) return Status::Corruption(fmt::format("unknown entry type '{}'", type));
  e.type = *parsed_type;
  if (e.mode > 07777) return Status::Corruption(fmt::format("bad mode for '{}'", e.path));
  if (j.contains("chunks")) {
    std::string hex;
    RETURN_IF_ERROR(Get(j, "chunks", hex));
    auto bytes = HexDecode(hex);
    if (!bytes || bytes->size() != 32 || e.type != EntryType::kFile) {
      return Status::Corruption(fmt::format("bad chunk list id for '{}'", e.path));
    }
    BlobId id;
    std::copy(bytes->begin(), bytes->end(), id.bytes.begin());
    e.chunks = id;
  }
  if (e.type == EntryType::kSymlink && e.symlink_target.empty()) {
    return Status::Corruption(fmt::format("symlink '{}' has no target", e.path));
  }
  return e;
}

std::string ParentPath(const std::string& path) {
  auto pos = path.rfind('/');
  return pos == std::string::npos ? "." : path.substr(0, pos);
}

}  // namespace

std::string_view EntryTypeName(EntryType type) {
  switch (type) {
    case EntryType::kDirectory:
      return "dir";
    case EntryType::kFile:
      return "file";
    case EntryType::kSymlink:
      return "symlink";
  }
  return "?";
}

std::string_view SnapshotKindName(SnapshotKind kind) {
  return kind == SnapshotKind::kThin ? "thin" : "repository";
}

std::string FormatUnixTime(int64_t unix_ns, const char* format) {
  std::time_t seconds = static_cast<std::time_t>(unix_ns / 1000000000);
  std::tm tm{};
  gmtime_r(&seconds, &tm);
  char buf[64];
  std::strftime(buf, sizeof(buf), format, &tm);
  return buf;
}

bool EntryPathLess(std::string_view a, std::string_view b) {
  if (a == ".") return b != ".";
  if (b == ".") return false;
  return a < b;
}

bool IsValidSnapshotId(std::string_view id) {
  if (id.size() != 16) return false;
  for (char c : id) {
    if (!((c >= '0' && c <= '9') || (c >= 'a' && c <= 'f'))) return false;
  }
  return true;
}

bool IsSafeRelativePath(std::string_view path) {
  if (path == ".") return true;
  if (path.empty() || path.front() == '/' || path.find('\0') != std::string_view::npos) {
    return false;
  }
  size_t start = 0;
  while (start <= path.size()) {
    size_t end = path.find('/', start);
    if (end == std::string_view::npos) end = path.size();
    std::string_view part = path.substr(start, end - start);
    if (part.empty() || part == "." || part == "..") return false;
    start = end + 1;
  }
  return true;
}

std::string ManifestToJson(const Manifest& m) {
  json entries = json::array();
  for (const TreeEntry& e : m.entries) {
    json j = {{"path", e.path},         {"type", EntryTypeName(e.type)},
              {"mode", e.mode},         {"uid", e.uid},
              {"gid", e.gid},           {"mtime_ns", e.mtime_ns},
              {"ctime_ns", e.ctime_ns}, {"inode", e.inode}};
    if (e.type == EntryType::kFile) j["size"] = e.size;
    if (e.type == EntryType::kSymlink) j["target"] = e.symlink_target;
    if (e.chunks) j["chunks"] = e.chunks->Hex();
    entries.push_back(std::move(j));
  }
  json stats = {{"files", m.stats.files},
                {"directories", m.stats.directories},
                {"symlinks", m.stats.symlinks},
                {"logical_bytes", m.stats.logical_bytes},
                {"read_bytes", m.stats.read_bytes},
                {"new_blobs", m.stats.new_blobs},
                {"stored_bytes", m.stats.stored_bytes},
                {"reused_files", m.stats.reused_files},
                {"partial_files", m.stats.partial_files},
                {"change_map_misses", m.stats.change_map_misses},
                {"seconds", m.stats.seconds}};
  json j = {{"format", "dbaas-snapshot"},
            {"version", kManifestVersion},
            {"id", m.id},
            {"name", m.name},
            {"parent", m.parent},
            {"kind", SnapshotKindName(m.kind)},
            {"source", m.source},
            {"created_unix_ns", m.created_unix_ns},
            {"created_at", FormatUnixTime(m.created_unix_ns)},
            {"chunk_size", m.chunk_size},
            {"stats", std::move(stats)},
            {"warnings", m.warnings},
            {"annotations", m.annotations},
            {"entries", std::move(entries)}};
  return j.dump(0) + "\n";
}

Result<Manifest> ParseManifest(std::string_view text) {
  json j = json::parse(text, nullptr, /*allow_exceptions=*/false);
  if (j.is_discarded() || !j.is_object()) return Status::Corruption("manifest is not JSON");
  std::string format;
  int version = 0;
  RETURN_IF_ERROR(Get(j, "format", format));
  RETURN_IF_ERROR(Get(j, "version", version));
  if (format != "dbaas-snapshot" || version != kManifestVersion) {
    return Status::Corruption(fmt::format("unsupported manifest format '{}' v{}", format, version));
  }
  Manifest m;
  std::string kind;
  RETURN_IF_ERROR(Get(j, "id", m.id));
  RETURN_IF_ERROR(Get(j, "name", m.name));
  RETURN_IF_ERROR(Get(j, "parent", m.parent));
  RETURN_IF_ERROR(Get(j, "kind", kind));
  RETURN_IF_ERROR(Get(j, "source", m.source));
  RETURN_IF_ERROR(Get(j, "created_unix_ns", m.created_unix_ns));
  RETURN_IF_ERROR(Get(j, "chunk_size", m.chunk_size));
  RETURN_IF_ERROR(GetOptional(j, "warnings", m.warnings));
  RETURN_IF_ERROR(GetOptional(j, "annotations", m.annotations));
  if (!IsValidSnapshotId(m.id) || (!m.parent.empty() && !IsValidSnapshotId(m.parent))) {
    return Status::Corruption("manifest has a malformed snapshot id");
  }
  if (kind == "thin") {
    m.kind = SnapshotKind::kThin;
  } else if (kind != "repository") {
    return Status::Corruption(fmt::format("unknown snapshot kind '{}'", kind));
  }
  if (j.contains("stats")) {
    const json& s = j["stats"];
    if (!s.is_object()) return Status::Corruption("manifest stats is not an object");
    RETURN_IF_ERROR(GetOptional(s, "files", m.stats.files));
    RETURN_IF_ERROR(GetOptional(s, "directories", m.stats.directories));
    RETURN_IF_ERROR(GetOptional(s, "symlinks", m.stats.symlinks));
    RETURN_IF_ERROR(GetOptional(s, "logical_bytes", m.stats.logical_bytes));
    RETURN_IF_ERROR(GetOptional(s, "read_bytes", m.stats.read_bytes));
    RETURN_IF_ERROR(GetOptional(s, "new_blobs", m.stats.new_blobs));
    RETURN_IF_ERROR(GetOptional(s, "stored_bytes", m.stats.stored_bytes));
    RETURN_IF_ERROR(GetOptional(s, "reused_files", m.stats.reused_files));
    RETURN_IF_ERROR(GetOptional(s, "partial_files", m.stats.partial_files));
    RETURN_IF_ERROR(GetOptional(s, "change_map_misses", m.stats.change_map_misses));
    RETURN_IF_ERROR(GetOptional(s, "seconds", m.stats.seconds));
  }
  auto entries = j.find("entries");
  if (entries == j.end() || !entries->is_array()) {
    return Status::Corruption("manifest lacks its entries");
  }
  m.entries.reserve(entries->size());
  // Every entry's parent must be a directory of this manifest, so that no restore writes
  // through a symlink or into a path the snapshot did not create.
  std::unordered_set<std::string> directories;
  for (const json& e : *entries) {
    ASSIGN_OR_RETURN(TreeEntry entry, ParseEntry(e));
    if (m.kind == SnapshotKind::kRepository && entry.type == EntryType::kFile && entry.size > 0 &&
        !entry.chunks) {
      return Status::Corruption(fmt::format("file '{}' has no chunk list", entry.path));
    }
    // Parents before children, no duplicates: the restore relies on this order.
    if (!m.entries.empty() && !EntryPathLess(m.entries.back().path, entry.path)) {
      return Status::Corruption(fmt::format("manifest entries are not sorted at '{}'", entry.path));
    }
    if (m.entries.empty() != (entry.path == ".")) {
      return Status::Corruption("manifest does not start with its root directory");
    }
    if (entry.path != "." && !directories.count(ParentPath(entry.path))) {
      return Status::Corruption(
          fmt::format("'{}' has no parent directory in the manifest", entry.path));
    }
    if (entry.type == EntryType::kDirectory) directories.insert(entry.path);
    m.entries.push_back(std::move(entry));
  }
  if (m.entries.empty() || m.entries.front().type != EntryType::kDirectory) {
    return Status::Corruption("manifest root is not a directory");
  }
  return m;
}

}  // namespace dbaas::storage
