#include "storage/repository.h"

#include <dirent.h>
#include <fcntl.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <array>
#include <condition_variable>
#include <filesystem>
#include <mutex>
#include <optional>
#include <shared_mutex>
#include <unordered_map>
#include <unordered_set>

#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include "base/hex.h"
#include "base/parallel.h"
#include "storage/chunk_list.h"
#include "storage/pack_writer.h"

namespace dbaas::storage {
namespace {

using nlohmann::json;
constexpr std::string_view kRepoFormat = "dbaas-repo";
constexpr int kRepoVersion = 1;

Result<RepoConfig> ParseConfig(const std::string& text, const std::string& path) {
  json j = json::parse(text, nullptr, false);
  if (j.is_discarded() || !j.is_object()) {
    return Status::Corruption(fmt::format("'{}' is not JSON", path));
  }
  RepoConfig c;
  try {
    if (j.at("format").get<std::string>() != kRepoFormat ||
        j.at("version").get<int>() != kRepoVersion) {
      return Status::Corruption(
          fmt::format("'{}' is not a version {} {} config", path, kRepoVersion, kRepoFormat));
    }
    c.chunk_size = j.at("chunk_size").get<uint32_t>();
    c.compression_level = j.at("compression_level").get<int>();
    c.pack_target_size = j.at("pack_target_size").get<uint64_t>();
    c.id = j.at("id").get<std::string>();
  } catch (const json::exception& e) {
    return Status::Corruption(fmt::format("'{}' is malformed: {}", path, e.what()));
  }
  if (c.chunk_size < 4096 || c.chunk_size > (8u << 20) || c.pack_target_size < (1u << 20)) {
    return Status::Corruption(fmt::format("'{}' has out-of-range values", path));
  }
  return c;
}

}  // namespace

Status Repository::Init(const std::string& path, RepoConfig config) {
  if (config.chunk_size < 4096 || config.chunk_size > (8u << 20) ||
      (config.chunk_size & (config.chunk_size - 1)) != 0) {
    return Status::InvalidArgument(
        fmt::format("chunk size {} is not a power of two from 4 KiB to 8 MiB", config.chunk_size));
  }
  if (config.compression_level < -7 || config.compression_level > 19) {
    return Status::InvalidArgument(
        fmt::format("compression level {} is outside -7..19", config.compression_level));
  }
  // What Open accepts: a repository Init makes must open.
  if (config.pack_target_size < (1u << 20)) {
    return Status::InvalidArgument(
        fmt::format("pack target size {} is below 1 MiB", config.pack_target_size));
  }
  std::error_code ec;
  if (std::filesystem::exists(path, ec) && !std::filesystem::is_empty(path, ec)) {
    return Status::AlreadyExists(fmt::format("'{}' exists and is not empty", path),
                                 "choose a new path for the repository");
  }
  config.id = RandomHex(16);
  RETURN_IF_ERROR(MakeDirs(path));
  for (const char* dir : {"snapshots", "thin", "tmp", "packs"}) {
    RETURN_IF_ERROR(MakeDirs(JoinPath(path, dir)));
  }
  // All 256 pack subdirectories exist from the start, so writing a pack never has to make
  // (and sync) a directory.
  for (int i = 0; i < 256; ++i) {
    RETURN_IF_ERROR(MakeDirs(JoinPath(JoinPath(path, "packs"), fmt::format("{:02x}", i))));
  }
  RETURN_IF_ERROR(FsyncDir(JoinPath(path, "packs")));
  ASSIGN_OR_RETURN(UniqueFd lock, OpenFile(JoinPath(path, "lock"), O_RDWR | O_CREAT, 0600));
  json j = {{"format", kRepoFormat},
            {"version", kRepoVersion},
            {"id", config.id},
            {"chunk_size", config.chunk_size},
            {"compression_level", config.compression_level},
            {"pack_target_size", config.pack_target_size}};
  // config.json is written last: a directory without it is not a repository.
  RETURN_IF_ERROR(WriteFileAtomic(JoinPath(path, "config.json"), j.dump(2) + "\n"));
  return FsyncDir(DirName(path));
}

Status Repository::RestrictAccess(const std::string& path) {
  auto set_mode = [](const std::string& p, mode_t mode) -> Status {
    if (::chmod(p.c_str(), mode) != 0 && errno != ENOENT) return ErrnoStatus("chmod", p, errno);
    return Status::Ok();
  };
  RETURN_IF_ERROR(set_mode(path, 0700));
  for (const char* file : {"config.json", "lock"})
    RETURN_IF_ERROR(set_mode(JoinPath(path, file), 0600));
  for (const char* dir : {"snapshots", "thin", "tmp", "packs", "wal"}) {
    std::string top = JoinPath(path, dir);
    RETURN_IF_ERROR(set_mode(top, 0700));
    if (std::string_view(dir) == "thin" || !PathExists(top)) continue;  // clones keep their modes
    // WAL archives were once written by the servers' users themselves: ours now.
    const bool take = std::string_view(dir) == "wal";
    RETURN_IF_ERROR(VisitTreeBelow(top, [take](int dir_fd, const std::string& name,
                                               const std::string& p, const struct stat& st) {
      if (S_ISLNK(st.st_mode)) return Status::Ok();
      if (take && st.st_uid != ::getuid() &&
          ::fchownat(dir_fd, name.c_str(), ::getuid(), ::getgid(), AT_SYMLINK_NOFOLLOW) != 0) {
        return ErrnoStatus("chown", p, errno);
      }
      if (::fchmodat(dir_fd, name.c_str(), S_ISDIR(st.st_mode) ? 0700 : 0600, 0) != 0) {
        return ErrnoStatus("chmod", p, errno);
      }
      return Status::Ok();
    }));
  }
  return Status::Ok();
}

Repository::Repository(std::string path, RepoConfig config)
    : path_(std::move(path)), config_(std::move(config)) {}

Result<std::unique_ptr<Repository>> Repository::Open(const std::string& path) {
  std::string config_path = JoinPath(path, "config.json");
  auto text = ReadFileToString(config_path, 1 << 20);
  if (!text.ok()) {
    if (text.status().code() == StatusCode::kNotFound) {
      return Status::NotFound(fmt::format("'{}' is not a repository (no config.json)", path),
                              "create one with 'dbaas repo init " + path + "'");
    }
    return text.status();
  }
  ASSIGN_OR_RETURN(RepoConfig config, ParseConfig(text.value(), config_path));
  std::unique_ptr<Repository> repo(new Repository(path, std::move(config)));
  RETURN_IF_ERROR(repo->LoadIndex());
  return repo;
}

Result<WriteLock> Repository::LockForWrite() const {
  std::string lock_path = JoinPath(path_, "lock");
  ASSIGN_OR_RETURN(UniqueFd fd, OpenFile(lock_path, O_RDWR | O_CREAT, 0600));
  if (::flock(fd.get(), LOCK_EX | LOCK_NB) != 0) {
    if (errno == EWOULDBLOCK) {
      return Status::Busy(fmt::format("repository '{}' is in use by another writer", path_),
                          "wait for the other snapshot, rm or gc to finish");
    }
    return ErrnoStatus("lock", lock_path, errno);
  }
  return WriteLock(std::move(fd));
}

Result<std::vector<PackBlobEntry>> ReadPackIndex(const std::string& pack_path,
                                                 uint64_t* index_offset) {
  ASSIGN_OR_RETURN(UniqueFd fd, OpenFile(pack_path, O_RDONLY));
  struct stat st;
  if (::fstat(fd.get(), &st) != 0) return ErrnoStatus("stat", pack_path, errno);
  uint64_t size = static_cast<uint64_t>(st.st_size);
  std::vector<uint8_t> footer_bytes(kPackFooterSize);
  if (size >= kPackFooterSize) {
    ASSIGN_OR_RETURN(size_t n, PreadFull(fd.get(), footer_bytes.data(), kPackFooterSize,
                                         size - kPackFooterSize, pack_path));
    if (n != kPackFooterSize) footer_bytes.resize(n);
  }
  auto footer = ParsePackFooter(footer_bytes, size);
  if (!footer.ok()) return footer.status().WithContext(fmt::format("pack '{}'", pack_path));
  std::vector<uint8_t> index(size - kPackFooterSize - footer->index_offset);
  ASSIGN_OR_RETURN(
      size_t n, PreadFull(fd.get(), index.data(), index.size(), footer->index_offset, pack_path));
  if (n != index.size()) return Status::Corruption(fmt::format("pack '{}' is short", pack_path));
  auto entries = ParsePackIndex(index, footer.value());
  if (!entries.ok()) return entries.status().WithContext(fmt::format("pack '{}'", pack_path));
  if (index_offset) *index_offset = footer->index_offset;
  return entries;
}

Status Repository::LoadIndex() {
  std::string packs_dir = JoinPath(path_, "packs");
  std::vector<std::string> names;
  std::error_code ec;
  for (auto it = std::filesystem::recursive_directory_iterator(packs_dir, ec);
       !ec && it != std::filesystem::recursive_directory_iterator(); it.increment(ec)) {
    const auto& p = it->path();
    if (p.extension() == ".pack") names.push_back(p.stem().string());
  }
  if (ec) return ErrnoStatus("list", packs_dir, ec.value());
  std::sort(names.begin(), names.end());
  std::erase_if(names, [](const std::string& name) {
    return name.size() != 32 || !HexDecode(name);  // not ours
  });
  // Every backup, restore and delete opens the repository: the indexes are read on every
  // core, and each is added as soon as the packs before it are, then let go: the entries of
  // a pack or two per core are held, not every pack's (10 MB at 170,000 blobs: a restore's
  // peak). The table grows by doubling as they come (its old and new arrays are held
  // together only while it moves: at most 4.5 MB at 170,000 blobs); a guess at the total
  // from the pack count is wrong both ways, as packs hold from a few blobs to thousands.
  std::mutex order_mutex;
  std::condition_variable order_changed;
  size_t next = 0;  // the pack to add next
  bool failed = false;
  Status loaded = ParallelFor(names.size(), 0, [&](size_t i, unsigned) -> Status {
    uint64_t index_offset = 0;
    auto entries = ReadPackIndex(PackPath(path_, names[i]), &index_offset);
    std::unique_lock lock(order_mutex);
    // Items are handed out in order: pack i - 1 is being read or added, or has failed.
    order_changed.wait(lock, [&] { return next == i || failed; });
    Status st = failed ? Status::Ok() : entries.status();
    if (!failed && st.ok()) st = AddPack(names[i], *entries, index_offset);
    if (!st.ok()) failed = true;
    if (!failed) ++next;
    order_changed.notify_all();
    return st;
  });
  RETURN_IF_ERROR(loaded);
  return Status::Ok();
}

Status Repository::AddPack(const std::string& name, const std::vector<PackBlobEntry>& entries,
                           uint64_t index_offset) {
  std::unique_lock lock(index_mutex_);
  if (uint64_t{next_number_} + entries.size() > uint64_t{BlobIndex::kMaxNumber} + 1) {
    return Status::FailedPrecondition(
        fmt::format("repository '{}' cannot index pack '{}': over 2^32 - 1 blobs", path_, name),
        "keep fewer backups, or split the repository");
  }
  const uint32_t first = next_number_;
  packs_.push_back({index_offset, first, static_cast<uint32_t>(entries.size())});
  pack_names_.push_back(name);
  {
    std::lock_guard fds(fds_mutex_);
    pack_fds_.emplace_back();
  }
  next_number_ += static_cast<uint32_t>(entries.size());
  // Whether blob `number`, whose first 8 bytes match, is `id`: this pack's entries are at
  // hand, another pack's are read (a blob in two packs, nearly always).
  auto same_as = [&](const BlobId& id) {
    return [&](uint32_t number) {
      if (number >= first) return entries[number - first].id == id;
      auto loc = ReadEntry(number);
      return loc.ok() && loc->entry.id == id;  // unreadable: both copies indexed, either does
    };
  };
  // The slots are random cache misses: each is asked for some blobs before it is needed.
  constexpr size_t kPrefetchAhead = 16;
  for (size_t i = 0; i < entries.size(); ++i) {
    if (i + kPrefetchAhead < entries.size()) blobs_.Prefetch(entries[i + kPrefetchAhead].id);
    blobs_.Add(entries[i].id, first + static_cast<uint32_t>(i), same_as(entries[i].id));
  }
  return Status::Ok();
}

size_t Repository::blob_count() const {
  std::shared_lock lock(index_mutex_);
  return blobs_.size();
}

Result<int> Repository::PackFd(uint32_t pack) const {
  std::lock_guard lock(fds_mutex_);
  UniqueFd& fd = pack_fds_[pack];
  if (!fd.valid()) {
    ASSIGN_OR_RETURN(fd, OpenFile(PackPath(path_, pack_names_[pack]), O_RDONLY));
  }
  return fd.get();
}

Result<BlobLocation> Repository::ReadEntry(uint32_t number) const {
  auto after = std::upper_bound(packs_.begin(), packs_.end(), number,
                                [](uint32_t n, const Pack& p) { return n < p.first_number; });
  if (after == packs_.begin() || number - (after - 1)->first_number >= (after - 1)->blobs) {
    return Status::Internal(fmt::format("blob number {} is in no pack", number));
  }
  const uint32_t pack = static_cast<uint32_t>(after - packs_.begin() - 1);
  const uint32_t i = number - packs_[pack].first_number;
  ASSIGN_OR_RETURN(int fd, PackFd(pack));
  std::string pack_path = PackPath(path_, pack_names_[pack]);
  std::array<uint8_t, kPackIndexEntrySize> bytes;
  ASSIGN_OR_RETURN(
      size_t n,
      PreadFull(fd, bytes.data(), bytes.size(),
                packs_[pack].index_offset + uint64_t{i} * kPackIndexEntrySize, pack_path));
  if (n != bytes.size()) {
    return Status::Corruption(fmt::format("pack '{}' is truncated", pack_path),
                              "run 'dbaas repo verify'");
  }
  auto entry = ParsePackIndexEntry(bytes, packs_[pack].index_offset, i);
  if (!entry.ok()) return entry.status().WithContext(fmt::format("pack '{}'", pack_path));
  return BlobLocation{pack, *entry};
}

std::optional<BlobLocation> Repository::Locate(const BlobId& id, Status& error) const {
  std::optional<BlobLocation> found;
  blobs_.Find(id, [&](uint32_t number) {
    auto loc = ReadEntry(number);
    if (!loc.ok()) {
      error = loc.status();
      return false;
    }
    if (loc->entry.id != id) return false;  // the same first 8 bytes, another blob
    found = *loc;
    return true;
  });
  return found;
}

Result<std::optional<BlobLocation>> Repository::FindBlob(const BlobId& id) const {
  std::shared_lock lock(index_mutex_);
  Status error;
  std::optional<BlobLocation> found = Locate(id, error);
  if (!found && !error.ok()) return error.WithContext(fmt::format("finding blob {}", id.Hex()));
  return found;
}

bool Repository::HasBlob(const BlobId& id) const {
  std::shared_lock lock(index_mutex_);
  Status error;
  return Locate(id, error).has_value();
}

Status Repository::ForEachBlob(const std::function<Status(const BlobLocation&)>& fn) const {
  for (uint32_t pack = 0;; ++pack) {
    std::string name;
    Pack known;
    {
      std::shared_lock lock(index_mutex_);
      if (pack >= packs_.size()) return Status::Ok();
      name = pack_names_[pack];
      known = packs_[pack];
    }
    ASSIGN_OR_RETURN(auto entries, ReadPackIndex(PackPath(path_, name)));
    if (entries.size() != known.blobs) {
      return Status::Corruption(
          fmt::format("pack '{}' changed since the repository was opened", name));
    }
    std::vector<bool> indexed(entries.size());
    {
      std::shared_lock lock(index_mutex_);
      for (uint32_t i = 0; i < entries.size(); ++i) {
        indexed[i] = blobs_.Holds(entries[i].id, known.first_number + i);
      }
    }
    // `fn` is called without the lock: it may read the repository.
    for (uint32_t i = 0; i < entries.size(); ++i) {
      if (indexed[i]) RETURN_IF_ERROR(fn(BlobLocation{pack, entries[i]}));
    }
  }
}

Status Repository::ReadStored(const BlobLocation& loc, std::vector<uint8_t>& out) const {
  std::shared_lock lock(index_mutex_);
  ASSIGN_OR_RETURN(int fd, PackFd(loc.pack));
  out.resize(loc.entry.stored_size);
  std::string pack_path = PackPath(path_, pack_names_[loc.pack]);
  ASSIGN_OR_RETURN(size_t n, PreadFull(fd, out.data(), out.size(), loc.entry.offset, pack_path));
  if (n != out.size()) return Status::Corruption(fmt::format("pack '{}' is truncated", pack_path));
  return Status::Ok();
}

static Status MissingBlob(const BlobId& id) {
  return Status::Corruption(fmt::format("blob {} is missing from the repository", id.Hex()),
                            "run 'dbaas repo verify'");
}

std::string Repository::PackName(uint32_t pack) const {
  std::shared_lock lock(index_mutex_);
  return pack_names_[pack];
}

Status Repository::ReadBlob(const BlobId& id, BlobCodec& codec, std::vector<uint8_t>& out,
                            BlobCheck check) const {
  ASSIGN_OR_RETURN(std::optional<BlobLocation> loc, FindBlob(id));
  if (!loc) return MissingBlob(id);
  thread_local std::vector<uint8_t> stored;
  RETURN_IF_ERROR(ReadStored(*loc, stored));
  thread_local std::vector<uint8_t> base;
  if (loc->entry.compression == Compression::kZstdDelta) {
    BlobId base_id = BlobCodec::DeltaBaseId(stored);
    ASSIGN_OR_RETURN(std::optional<BlobLocation> base_loc, FindBlob(base_id));
    if (!base_loc) return MissingBlob(base_id).WithContext(fmt::format("base of {}", id.Hex()));
    if (base_loc->entry.compression == Compression::kZstdDelta) {
      return Status::Corruption(fmt::format("blob {} is a delta of a delta", id.Hex()));
    }
    thread_local std::vector<uint8_t> base_stored;
    RETURN_IF_ERROR(ReadStored(*base_loc, base_stored));
    Status st = codec.Decode(base_loc->entry, base_stored, base, {}, check);
    if (!st.ok()) return st.WithContext(fmt::format("pack '{}'", PackName(base_loc->pack)));
  }
  Status st = codec.Decode(loc->entry, stored, out, base, check);
  if (!st.ok()) return st.WithContext(fmt::format("pack '{}'", PackName(loc->pack)));
  return Status::Ok();
}

Result<std::optional<BlobId>> Repository::DeltaBaseOf(const BlobId& id) const {
  ASSIGN_OR_RETURN(std::optional<BlobLocation> loc, FindBlob(id));
  if (!loc) return MissingBlob(id);
  if (loc->entry.compression != Compression::kZstdDelta) return std::optional<BlobId>();
  std::vector<uint8_t> stored;
  RETURN_IF_ERROR(ReadStored(*loc, stored));
  return std::optional<BlobId>(BlobCodec::DeltaBaseId(stored));
}

Result<std::vector<ChunkRef>> Repository::ReadChunkList(const BlobId& id, BlobCodec& codec) const {
  std::vector<uint8_t> data;
  RETURN_IF_ERROR(ReadBlob(id, codec, data));
  auto list = ParseChunkList(data);
  if (!list.ok()) return list.status().WithContext(fmt::format("blob {}", id.Hex()));
  return list;
}

static Result<PagePatch> PatchOf(const ChunkRef& ref, std::span<const uint8_t> data) {
  auto patch = ParsePagePatch(data);
  if (!patch.ok()) return patch.status().WithContext(fmt::format("blob {}", ref.patch->Hex()));
  if (patch->base != ref.id || patch->chunk_length != ref.length) {
    return Status::Corruption(fmt::format(
        "page patch {} is of chunk {} ({} bytes), but patches chunk {} ({} bytes) in its list",
        ref.patch->Hex(), patch->base.Hex(), patch->chunk_length, ref.id.Hex(), ref.length));
  }
  return patch;
}

Result<PagePatch> Repository::ReadPagePatch(const ChunkRef& ref, BlobCodec& codec) const {
  if (!ref.patch) return Status::InvalidArgument("chunk has no page patch");
  thread_local std::vector<uint8_t> data;
  RETURN_IF_ERROR(ReadBlob(*ref.patch, codec, data));
  return PatchOf(ref, data);
}

Status Repository::ReadChunk(const ChunkRef& ref, BlobCodec& codec, std::vector<uint8_t>& out,
                             BlobCheck check) const {
  RETURN_IF_ERROR(ReadBlob(ref.id, codec, out, check));
  if (out.size() != ref.length) {
    return Status::Corruption(fmt::format("chunk {} has {} bytes where its list says {}",
                                          ref.id.Hex(), out.size(), ref.length));
  }
  if (!ref.patch) return Status::Ok();
  // A compacted patch is a delta of the chunk just read (gc's PatchCompactor): decoded
  // against `out` rather than reading the chunk a second time.
  ASSIGN_OR_RETURN(std::optional<BlobLocation> loc, FindBlob(*ref.patch));
  thread_local std::vector<uint8_t> stored, data;
  if (loc && loc->entry.compression == Compression::kZstdDelta) {
    RETURN_IF_ERROR(ReadStored(*loc, stored));
    if (BlobCodec::DeltaBaseId(stored) == ref.id) {
      Status st = codec.Decode(loc->entry, stored, data, out, check);
      if (!st.ok()) return st.WithContext(fmt::format("pack '{}'", PackName(loc->pack)));
      ASSIGN_OR_RETURN(PagePatch patch, PatchOf(ref, data));
      return ApplyPagePatch(patch, out);
    }
  }
  ASSIGN_OR_RETURN(PagePatch patch, ReadPagePatch(ref, codec));
  return ApplyPagePatch(patch, out);
}

std::string Repository::SnapshotPath(std::string_view id) const {
  std::string path = JoinPath(JoinPath(path_, "snapshots"), std::string(id));
  // A manifest written before version 2 keeps its JSON name.
  if (std::string legacy = path + kLegacyManifestSuffix; ::access(legacy.c_str(), F_OK) == 0) {
    return legacy;
  }
  return path + kManifestSuffix;
}

std::string Repository::ThinTreePath(std::string_view id) const {
  return JoinPath(JoinPath(path_, "thin"), id);
}

Result<Manifest> Repository::LoadSnapshot(std::string_view id) const {
  if (!IsValidSnapshotId(id)) {
    return Status::InvalidArgument(fmt::format("'{}' is not a snapshot id", id));
  }
  std::string path = SnapshotPath(id);
  auto text = ReadFileToString(path, 1ull << 30);
  if (!text.ok()) {
    if (text.status().code() == StatusCode::kNotFound) {
      return Status::NotFound(fmt::format("snapshot '{}' not found", id),
                              "list snapshots with 'dbaas snapshot ls'");
    }
    return text.status();
  }
  auto manifest = ParseManifest(text.value());
  if (!manifest.ok()) return manifest.status().WithContext(fmt::format("snapshot '{}'", id));
  if (manifest->id != id) {
    return Status::Corruption(
        fmt::format("snapshot file '{}' holds snapshot '{}'", path, manifest->id));
  }
  return manifest;
}

namespace {

void SortNewestFirst(std::vector<Manifest>& manifests) {
  std::sort(manifests.begin(), manifests.end(), [](const Manifest& a, const Manifest& b) {
    return a.created_unix_ns > b.created_unix_ns;
  });
}

// Manifest headers already parsed in this process, by manifest path. Snapshot ids are
// random and never reused, and a committed manifest is never rewritten; the file's size
// and mtime are checked all the same, so a manifest replaced by hand is read again.
struct HeaderCache {
  struct Entry {
    off_t size = 0;
    int64_t mtime_ns = 0;
    Manifest header;
  };
  std::mutex mu;
  std::unordered_map<std::string, Entry> by_path;
};

HeaderCache& Headers() {
  static HeaderCache cache;
  return cache;
}

}  // namespace

Result<int64_t> Repository::SnapshotsChangedAt(const std::string& path) {
  std::string dir = JoinPath(path, "snapshots");
  struct stat st;
  if (::stat(dir.c_str(), &st) != 0) return ErrnoStatus("stat", dir, errno);
  return int64_t{st.st_mtim.tv_sec} * 1'000'000'000 + st.st_mtim.tv_nsec;
}

Result<std::vector<Manifest>> Repository::ListSnapshots() const {
  ASSIGN_OR_RETURN(auto files, ListManifestFiles(path_));
  // Parsing is the cost (a manifest of a thousand files is ~250 KB of JSON): one per core.
  std::vector<Manifest> out(files.size());
  RETURN_IF_ERROR(ParallelFor(files.size(), 0, [&](size_t i, unsigned) -> Status {
    ASSIGN_OR_RETURN(out[i], LoadSnapshot(files[i].first));
    return Status::Ok();
  }));
  SortNewestFirst(out);
  return out;
}

Result<std::vector<Manifest>> Repository::ListSnapshotHeaders() const {
  std::string dir = JoinPath(path_, "snapshots");
  ASSIGN_OR_RETURN(auto files, ListManifestFiles(path_));
  HeaderCache& cache = Headers();
  struct Slot {
    std::string id, path;
    off_t size = 0;
    int64_t mtime_ns = 0;
    std::optional<Manifest> header;  // empty: not cached, or gone
  };
  std::vector<Slot> slots;
  std::vector<size_t> misses;
  for (auto& [id, path] : files) {
    Slot slot;
    slot.id = id;
    slot.path = path;
    struct stat st;
    if (::stat(slot.path.c_str(), &st) != 0) {
      if (errno == ENOENT) continue;  // removed since the listing
      return ErrnoStatus("stat", slot.path, errno);
    }
    slot.size = st.st_size;
    slot.mtime_ns = int64_t{st.st_mtim.tv_sec} * 1'000'000'000 + st.st_mtim.tv_nsec;
    {
      std::lock_guard lock(cache.mu);
      auto hit = cache.by_path.find(slot.path);
      if (hit != cache.by_path.end() && hit->second.size == slot.size &&
          hit->second.mtime_ns == slot.mtime_ns) {
        slot.header = hit->second.header;
      }
    }
    if (!slot.header) misses.push_back(slots.size());
    slots.push_back(std::move(slot));
  }
  RETURN_IF_ERROR(ParallelFor(misses.size(), 0, [&](size_t i, unsigned) -> Status {
    Slot& slot = slots[misses[i]];
    Result<Manifest> loaded = LoadSnapshot(slot.id);
    if (!loaded.ok() && loaded.status().code() == StatusCode::kNotFound) return Status::Ok();
    if (!loaded.ok()) return loaded.status();
    loaded->entries.clear();
    loaded->entries.shrink_to_fit();
    slot.header = std::move(loaded.value());
    return Status::Ok();
  }));
  std::vector<Manifest> out;
  {
    std::lock_guard lock(cache.mu);
    std::unordered_set<std::string> listed;
    for (Slot& slot : slots) {
      listed.insert(slot.path);
      if (!slot.header) continue;  // removed between the listing and its read
      cache.by_path[slot.path] = {slot.size, slot.mtime_ns, *slot.header};
      out.push_back(std::move(*slot.header));
    }
    // Forget the snapshots of this repository that are gone.
    std::erase_if(cache.by_path, [&](const auto& kv) {
      return kv.first.starts_with(dir + "/") && !listed.count(kv.first);
    });
  }
  SortNewestFirst(out);
  return out;
}

Result<Manifest> Repository::FindSnapshot(std::string_view ref) const {
  if (IsValidSnapshotId(ref)) return LoadSnapshot(ref);
  if (ref.empty()) return Status::InvalidArgument("empty snapshot reference");
  ASSIGN_OR_RETURN(auto all, ListSnapshotHeaders());
  std::vector<const Manifest*> by_prefix;
  for (const Manifest& m : all) {
    if (m.name == ref) return LoadSnapshot(m.id);  // newest first: the newest with that name
    if (ref.size() >= 4 && m.id.starts_with(ref)) by_prefix.push_back(&m);
  }
  if (by_prefix.size() == 1) return LoadSnapshot(by_prefix[0]->id);
  if (by_prefix.size() > 1) {
    return Status::InvalidArgument(fmt::format("'{}' matches {} snapshots", ref, by_prefix.size()),
                                   "give more digits of the id");
  }
  return Status::NotFound(fmt::format("snapshot '{}' not found", ref),
                          "list snapshots with 'dbaas snapshot ls'");
}

Status Repository::CommitSnapshot(const Manifest& manifest) const {
  return WriteFileAtomic(SnapshotPath(manifest.id), EncodeManifest(manifest));
}

Result<std::vector<std::pair<std::string, std::string>>> ListManifestFiles(
    const std::string& repo_path) {
  std::string dir = JoinPath(repo_path, "snapshots");
  std::vector<std::pair<std::string, std::string>> files;
  std::error_code ec;
  for (auto it = std::filesystem::directory_iterator(dir, ec);
       !ec && it != std::filesystem::directory_iterator(); it.increment(ec)) {
    const auto& p = it->path();
    std::string ext = p.extension().string();
    if ((ext == kManifestSuffix || ext == kLegacyManifestSuffix) &&
        IsValidSnapshotId(p.stem().string())) {
      files.emplace_back(p.stem().string(), p.string());
    }
  }
  if (ec) return ErrnoStatus("list", dir, ec.value());
  return files;
}

Status Repository::RemoveSnapshot(std::string_view id) const {
  std::string path = SnapshotPath(id);
  if (Status removed = UnlinkPath(path); !removed.ok()) {
    if (removed.code() == StatusCode::kNotFound) {
      return Status::NotFound(fmt::format("snapshot '{}' not found", id));
    }
    return removed;
  }
  RETURN_IF_ERROR(FsyncDir(DirName(path)));
  // Unlisted first: a crash here leaves an orphaned tree for gc, never a broken snapshot.
  return RemoveTree(ThinTreePath(id));
}

}  // namespace dbaas::storage
