// A snapshot repository on a local directory (layout in docs/formats/repository.md):
//
//   config.json      format, chunk size, compression level (written once by Init)
//   lock             flock()ed by the one writer; readers never take it
//   packs/xx/*.pack  immutable pack files (blobs + index + footer)
//   snapshots/*.json manifests; a snapshot exists exactly when its manifest does
//   thin/<id>/       reflink-cloned trees of thin snapshots
//   tmp/             temporary files of writers; garbage after a crash, removed by gc
//   wal/<id>/        WAL archives (wal_archive.h)
//
// Modes: root-only (directories 0700, files 0600) but for the way down to wal/<id>/.
//
// Thread-safety: after Open(), FindBlob(), ReadBlob() and the other reads may be called from
// many threads, and AddPack() alongside them (a backup indexes each pack as it finishes it).
// pack_names() is not safe alongside AddPack().
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <mutex>
#include <optional>
#include <shared_mutex>
#include <string>
#include <vector>

#include "base/files.h"
#include "base/status.h"
#include "storage/blob_codec.h"
#include "storage/blob_index.h"
#include "storage/chunk_list.h"
#include "storage/manifest.h"
#include "storage/pack_format.h"
#include "storage/page_patch.h"

namespace dbaas::storage {

struct RepoConfig {
  uint32_t chunk_size = 64 * 1024;
  int compression_level = 1;
  uint64_t pack_target_size = 32ull << 20;
  std::string id;  // random, set by Init
};

// Held by the one writer of a repository; released on destruction (or process death).
class WriteLock {
 public:
  explicit WriteLock(UniqueFd fd) : fd_(std::move(fd)) {}

 private:
  UniqueFd fd_;
};

class Repository {
 public:
  // Creates an empty repository at `path` (which must not exist or be an empty directory).
  static Status Init(const std::string& path, RepoConfig config);
  // Gives the repository at `path` its modes: root-only (0700 directories, 0600 files:
  // packs, manifests, lock, config, WAL archives, which become ours where a server's user
  // wrote them). Repositories made before these modes are brought to them by this.
  static Status RestrictAccess(const std::string& path);
  // Opens a repository and loads the index of every pack.
  static Result<std::unique_ptr<Repository>> Open(const std::string& path);
  // When the list of snapshots of the repository at `path` last changed (ns since the
  // epoch: the snapshots directory's mtime, which every commit and removal moves), without
  // opening it. For caching what is derived from the snapshots.
  static Result<int64_t> SnapshotsChangedAt(const std::string& path);

  Repository(const Repository&) = delete;
  Repository& operator=(const Repository&) = delete;

  const std::string& path() const { return path_; }
  const RepoConfig& config() const { return config_; }

  // Takes the writer lock; fails with kBusy at once if another process holds it.
  Result<WriteLock> LockForWrite() const;

  // Where a blob is: its pack and its entry, read from the pack's index (the index in
  // memory holds no entries); nullopt when the repository lacks the blob. Fails only when
  // the pack's index cannot be read.
  Result<std::optional<BlobLocation>> FindBlob(const BlobId& id) const;
  // Whether the repository holds the blob. A pack index that cannot be read counts as not
  // holding it: a writer then stores the blob again, which is safe (a blob in two packs).
  bool HasBlob(const BlobId& id) const;
  // Reads, decompresses and checks a blob (and, for a delta, its base). `codec` belongs to
  // the calling thread.
  Status ReadBlob(const BlobId& id, BlobCodec& codec, std::vector<uint8_t>& out,
                  BlobCheck check = BlobCheck::kSha256) const;
  // Reads a blob's stored bytes as they are in its pack.
  Status ReadStored(const BlobLocation& loc, std::vector<uint8_t>& out) const;
  // The base of a delta blob; nullopt for other blobs.
  Result<std::optional<BlobId>> DeltaBaseOf(const BlobId& id) const;
  // Reads and checks a chunk-list blob.
  Result<std::vector<ChunkRef>> ReadChunkList(const BlobId& id, BlobCodec& codec) const;
  // Reads and checks a page-patch blob, and that it patches `ref` (its base and length).
  Result<PagePatch> ReadPagePatch(const ChunkRef& ref, BlobCodec& codec) const;
  // A chunk's content: its blob, with its page patch applied if it has one.
  Status ReadChunk(const ChunkRef& ref, BlobCodec& codec, std::vector<uint8_t>& out,
                   BlobCheck check = BlobCheck::kSha256) const;
  // Adds a finished pack to the in-memory index: `entries` as in its index, which starts at
  // `index_offset`. Fails (adding nothing) past 2^32 - 1 blobs.
  Status AddPack(const std::string& name, const std::vector<PackBlobEntry>& entries,
                 uint64_t index_offset);

  const std::vector<std::string>& pack_names() const { return pack_names_; }
  size_t blob_count() const;
  // Calls `fn` once for every blob the index holds (a blob in two packs: the copy indexed),
  // pack by pack, in each pack's order; reads every pack's index.
  Status ForEachBlob(const std::function<Status(const BlobLocation&)>& fn) const;

  // Manifests, newest first. Unreadable manifests are reported, not skipped silently.
  Result<std::vector<Manifest>> ListSnapshots() const;
  // The same without their entries: id, name, source, kind, times, stats, annotations; for
  // choosing a snapshot (then LoadSnapshot it) and for totals. A committed manifest never
  // changes, so each is parsed once per process: a daemon that lists on every backup does
  // not parse every manifest each time.
  Result<std::vector<Manifest>> ListSnapshotHeaders() const;
  // By full id, unique id prefix (4+ hex digits), or name (the newest with that name).
  Result<Manifest> FindSnapshot(std::string_view ref) const;
  Result<Manifest> LoadSnapshot(std::string_view id) const;
  // Makes a snapshot visible: writes its manifest atomically and durably. Everything it
  // references must already be durable.
  Status CommitSnapshot(const Manifest& manifest) const;
  // Unlists a snapshot (its packed data stays until gc), then removes its cloned tree if it
  // is thin. The caller holds the writer lock.
  Status RemoveSnapshot(std::string_view id) const;

  std::string SnapshotPath(std::string_view id) const;
  std::string ThinTreePath(std::string_view id) const;
  std::string TmpDir() const { return JoinPath(path_, "tmp"); }

 private:
  Repository(std::string path, RepoConfig config);
  Status LoadIndex();
  // Reads the entry of the blob numbered `number` (blob_index.h). Under index_mutex_.
  Result<BlobLocation> ReadEntry(uint32_t number) const;
  // Under index_mutex_.
  std::optional<BlobLocation> Locate(const BlobId& id, Status& error) const;
  Result<int> PackFd(uint32_t pack) const;
  std::string PackName(uint32_t pack) const;

  std::string path_;
  RepoConfig config_;
  // A pack as the index knows it: its blobs are numbered first_number, first_number + 1, ...
  // in the order of its index, which starts at index_offset in the file.
  struct Pack {
    uint64_t index_offset = 0;
    uint32_t first_number = 0;
    uint32_t blobs = 0;
  };
  // Guards packs_, pack_names_' growth and blobs_: shared by readers, held alone by
  // AddPack(). Lock order: index_mutex_, then fds_mutex_.
  mutable std::shared_mutex index_mutex_;
  std::vector<Pack> packs_;
  std::vector<std::string> pack_names_;
  uint32_t next_number_ = 0;
  BlobIndex blobs_;
  mutable std::mutex fds_mutex_;
  mutable std::vector<UniqueFd> pack_fds_;
};

// snapshots/<id>.manifest (version 2); <id>.json for manifests written before.
inline constexpr const char* kManifestSuffix = ".manifest";
inline constexpr const char* kLegacyManifestSuffix = ".json";

// Every committed manifest of the repository at `path`: (snapshot id, file path).
Result<std::vector<std::pair<std::string, std::string>>> ListManifestFiles(
    const std::string& repo_path);

// Reads and validates one pack's index (footer, checksum, bounds); where the index starts in
// the file goes to `index_offset` if given.
Result<std::vector<PackBlobEntry>> ReadPackIndex(const std::string& pack_path,
                                                 uint64_t* index_offset = nullptr);

}  // namespace dbaas::storage
