#include "storage/manifest.h"

#include <algorithm>
#include <cstring>
#include <ctime>
#include <unordered_set>

#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include "base/hex.h"
#include "base/sha256.h"
#include "storage/byte_codec.h"

namespace dbaas::storage {
namespace {

using nlohmann::json;
constexpr int kJsonVersion = 1;    // JSON throughout: what repositories before v2 hold
constexpr int kBinaryVersion = 2;  // a JSON header, then binary entries
constexpr std::string_view kMagic = "DBSNAP02";
constexpr std::string_view kEndMagic = "DBSNEND2";
constexpr size_t kEntryFixed = 1 + 1 + 4 + 4 + 4 + 8 + 8 + 8 + 8;  // type .. size

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
  auto parsed_type = ParseEntryType(type);
  if (!parsed_type) return Status::Corruption(fmt::format("unknown entry type '{}'", type));
  e.type = *parsed_type;
  if (j.contains("chunks")) {
    std::string hex;
    RETURN_IF_ERROR(Get(j, "chunks", hex));
    auto bytes = HexDecode(hex);
    if (!bytes || bytes->size() != 32) {
      return Status::Corruption(fmt::format("bad chunk list id for '{}'", e.path));
    }
    BlobId id;
    std::copy(bytes->begin(), bytes->end(), id.bytes.begin());
    e.chunks = id;
  }
  return e;
}

std::string ParentPath(const std::string& path);

// Appends entries one by one, refusing what a restore must never see: paths that escape,
// entries out of order or under no directory of the manifest, files of a repository
// snapshot without content.
class EntryChecker {
 public:
  explicit EntryChecker(Manifest& m) : m_(m) {}

  Status Add(TreeEntry entry) {
    if (!IsSafeRelativePath(entry.path)) {
      return Status::Corruption(fmt::format("manifest entry has an unsafe path '{}'", entry.path));
    }
    if (entry.mode > 07777) return Status::Corruption(fmt::format("bad mode for '{}'", entry.path));
    if (entry.chunks && entry.type != EntryType::kFile) {
      return Status::Corruption(fmt::format("bad chunk list id for '{}'", entry.path));
    }
    if (entry.type == EntryType::kSymlink && entry.symlink_target.empty()) {
      return Status::Corruption(fmt::format("symlink '{}' has no target", entry.path));
    }
    if (m_.kind == SnapshotKind::kRepository && entry.type == EntryType::kFile && entry.size > 0 &&
        !entry.chunks) {
      return Status::Corruption(fmt::format("file '{}' has no chunk list", entry.path));
    }
    // Parents before children, no duplicates: the restore relies on this order.
    if (!m_.entries.empty() && !EntryPathLess(m_.entries.back().path, entry.path)) {
      return Status::Corruption(fmt::format("manifest entries are not sorted at '{}'", entry.path));
    }
    if (m_.entries.empty() != (entry.path == ".")) {
      return Status::Corruption("manifest does not start with its root directory");
    }
    if (entry.path != "." && !directories_.count(ParentPath(entry.path))) {
      return Status::Corruption(
          fmt::format("'{}' has no parent directory in the manifest", entry.path));
    }
    if (entry.type == EntryType::kDirectory) directories_.insert(entry.path);
    m_.entries.push_back(std::move(entry));
    return Status::Ok();
  }

  Status Finish() const {
    if (m_.entries.empty() || m_.entries.front().type != EntryType::kDirectory) {
      return Status::Corruption("manifest root is not a directory");
    }
    return Status::Ok();
  }

 private:
  Manifest& m_;
  // Every entry's parent must be a directory of this manifest, so that no restore writes
  // through a symlink or into a path the snapshot did not create.
  std::unordered_set<std::string> directories_;
};

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

namespace {

// Everything but the entries, as JSON: the whole of a v1 manifest but its entries, and the
// header of a v2 one.
json HeaderJson(const Manifest& m, int version) {
  json stats = {{"files", m.stats.files},
                {"directories", m.stats.directories},
                {"symlinks", m.stats.symlinks},
                {"logical_bytes", m.stats.logical_bytes},
                {"read_bytes", m.stats.read_bytes},
                {"new_blobs", m.stats.new_blobs},
                {"stored_bytes", m.stats.stored_bytes},
                {"reused_files", m.stats.reused_files},
                {"partial_files", m.stats.partial_files},
                {"patched_chunks", m.stats.patched_chunks},
                {"change_map_misses", m.stats.change_map_misses},
                {"seconds", m.stats.seconds}};
  return {{"format", "dbaas-snapshot"},
          {"version", version},
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
          {"annotations", m.annotations}};
}

Status ParseHeaderJson(const json& j, int expected_version, Manifest& m) {
  if (!j.is_object()) return Status::Corruption("manifest header is not a JSON object");
  std::string format;
  int version = 0;
  RETURN_IF_ERROR(Get(j, "format", format));
  RETURN_IF_ERROR(Get(j, "version", version));
  if (format != "dbaas-snapshot" || version != expected_version) {
    return Status::Corruption(fmt::format("unsupported manifest format '{}' v{}", format, version));
  }
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
    RETURN_IF_ERROR(GetOptional(s, "patched_chunks", m.stats.patched_chunks));
    RETURN_IF_ERROR(GetOptional(s, "change_map_misses", m.stats.change_map_misses));
    RETURN_IF_ERROR(GetOptional(s, "seconds", m.stats.seconds));
  }
  return Status::Ok();
}

Result<Manifest> ParseJsonManifest(std::string_view text) {
  json j = json::parse(text, nullptr, /*allow_exceptions=*/false);
  if (j.is_discarded() || !j.is_object()) return Status::Corruption("manifest is not JSON");
  Manifest m;
  RETURN_IF_ERROR(ParseHeaderJson(j, kJsonVersion, m));
  auto entries = j.find("entries");
  if (entries == j.end() || !entries->is_array()) {
    return Status::Corruption("manifest lacks its entries");
  }
  m.entries.reserve(entries->size());
  EntryChecker checker(m);
  for (const json& e : *entries) {
    ASSIGN_OR_RETURN(TreeEntry entry, ParseEntry(e));
    RETURN_IF_ERROR(checker.Add(std::move(entry)));
  }
  RETURN_IF_ERROR(checker.Finish());
  return m;
}

uint8_t TypeCode(EntryType type) {
  return type == EntryType::kDirectory ? 0 : type == EntryType::kFile ? 1 : 2;
}

Result<Manifest> ParseBinaryManifest(std::string_view data) {
  const size_t trailer = 32 + kEndMagic.size();
  if (data.size() < kMagic.size() + 4 + 4 + trailer ||
      data.substr(data.size() - kEndMagic.size()) != kEndMagic) {
    return Status::Corruption("manifest is cut short (no end marker)");
  }
  std::string_view body = data.substr(0, data.size() - trailer);
  Sha256Digest want;
  std::memcpy(want.bytes.data(), data.data() + body.size(), 32);
  if (Sha256(body) != want) return Status::Corruption("manifest does not match its checksum");
  ByteReader r(body.substr(kMagic.size()));
  uint32_t header_len = 0;
  std::string_view header;
  if (!r.Read(header_len) || !r.Bytes(header_len, header)) {
    return Status::Corruption("manifest header is cut short");
  }
  json j = json::parse(header, nullptr, /*allow_exceptions=*/false);
  if (j.is_discarded()) return Status::Corruption("manifest header is not JSON");
  Manifest m;
  RETURN_IF_ERROR(ParseHeaderJson(j, kBinaryVersion, m));
  uint32_t count = 0;
  if (!r.Read(count) || count > r.left() / kEntryFixed) {
    return Status::Corruption("manifest entry count does not fit the manifest");
  }
  m.entries.reserve(count);
  EntryChecker checker(m);
  std::string previous;
  for (uint32_t i = 0; i < count; ++i) {
    TreeEntry e;
    uint16_t shared = 0, suffix_len = 0;
    std::string_view suffix;
    uint8_t type = 0, flags = 0;
    if (!r.Read(shared) || !r.Read(suffix_len) || !r.Bytes(suffix_len, suffix) ||
        shared > previous.size() || !r.Read(type) || !r.Read(flags) || !r.Read(e.mode) ||
        !r.Read(e.uid) || !r.Read(e.gid) || !r.Read(e.mtime_ns) || !r.Read(e.ctime_ns) ||
        !r.Read(e.inode) || !r.Read(e.size) || type > 2 || flags > 1) {
      return Status::Corruption(fmt::format("manifest entry {} is malformed", i));
    }
    e.path.reserve(shared + suffix.size());
    e.path.assign(previous, 0, shared);
    e.path.append(suffix);
    e.type = type == 0 ? EntryType::kDirectory : type == 1 ? EntryType::kFile : EntryType::kSymlink;
    if (flags & 1) {
      std::string_view id;
      if (!r.Bytes(32, id)) return Status::Corruption("manifest entry is cut short");
      BlobId blob;
      std::memcpy(blob.bytes.data(), id.data(), 32);
      e.chunks = blob;
    }
    if (e.type == EntryType::kSymlink) {
      uint16_t target_len = 0;
      std::string_view target;
      if (!r.Read(target_len) || !r.Bytes(target_len, target)) {
        return Status::Corruption("manifest entry is cut short");
      }
      e.symlink_target = target;
    }
    previous = e.path;
    RETURN_IF_ERROR(checker.Add(std::move(e)));
  }
  if (r.left() != 0) return Status::Corruption("manifest has bytes after its entries");
  RETURN_IF_ERROR(checker.Finish());
  return m;
}

}  // namespace

std::string EncodeManifest(const Manifest& m) {
  // File names are bytes, not UTF-8: the entries carry them as they are; in the header's
  // text (a warning naming a file) invalid UTF-8 is replaced rather than thrown on.
  std::string header =
      HeaderJson(m, kBinaryVersion).dump(-1, ' ', false, json::error_handler_t::replace);
  std::string out(kMagic);
  out.reserve(header.size() + m.entries.size() * 96 + 128);
  PutLe<uint32_t>(out, static_cast<uint32_t>(header.size()));
  out += header;
  PutLe<uint32_t>(out, static_cast<uint32_t>(m.entries.size()));
  std::string_view previous;
  for (const TreeEntry& e : m.entries) {
    size_t shared = 0;
    size_t limit = std::min({previous.size(), e.path.size(), size_t{0xffff}});
    while (shared < limit && previous[shared] == e.path[shared]) ++shared;
    PutLe<uint16_t>(out, static_cast<uint16_t>(shared));
    PutLe<uint16_t>(out, static_cast<uint16_t>(e.path.size() - shared));
    out.append(e.path, shared);
    PutLe<uint8_t>(out, TypeCode(e.type));
    PutLe<uint8_t>(out, e.chunks ? 1 : 0);
    PutLe(out, e.mode);
    PutLe(out, e.uid);
    PutLe(out, e.gid);
    PutLe(out, e.mtime_ns);
    PutLe(out, e.ctime_ns);
    PutLe(out, e.inode);
    PutLe(out, e.size);
    if (e.chunks) out.append(reinterpret_cast<const char*>(e.chunks->bytes.data()), 32);
    if (e.type == EntryType::kSymlink) {
      PutLe<uint16_t>(out, static_cast<uint16_t>(e.symlink_target.size()));
      out += e.symlink_target;
    }
    previous = e.path;
  }
  Sha256Digest sum = Sha256(out);
  out.append(reinterpret_cast<const char*>(sum.bytes.data()), 32);
  out += kEndMagic;
  return out;
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
  json j = HeaderJson(m, kJsonVersion);
  j["entries"] = std::move(entries);
  return j.dump(0, ' ', false, json::error_handler_t::replace) + "\n";
}

Result<Manifest> ParseManifest(std::string_view data) {
  if (data.starts_with(kMagic)) return ParseBinaryManifest(data);
  return ParseJsonManifest(data);
}

}  // namespace dbaas::storage
