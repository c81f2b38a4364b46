// A snapshot's manifest: the tree (paths, types, modes, owners, times, symlink targets)
// and, per regular file, the id of its chunk-list blob. Stored in snapshots/<id>.manifest
// (version 2: a JSON header, then the entries in binary, so that reading hundreds of them
// for gc costs milliseconds; repositories written before hold version 1, JSON throughout,
// in snapshots/<id>.json; docs/formats/repository.md). The parser validates every path so
// that a restore can never write outside its target directory.
#pragma once

#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "base/status.h"
#include "storage/pack_format.h"

namespace dbaas::storage {

enum class EntryType { kDirectory, kFile, kSymlink };

struct TreeEntry {
  std::string path;  // relative to the snapshot root, "/"-separated; "." is the root
  EntryType type = EntryType::kFile;
  uint32_t mode = 0;  // permission bits (07777)
  uint32_t uid = 0;
  uint32_t gid = 0;
  int64_t mtime_ns = 0;
  // What the incremental check compares with the parent snapshot (not restored).
  int64_t ctime_ns = 0;
  uint64_t inode = 0;
  uint64_t size = 0;             // files: bytes of content
  std::string symlink_target;    // symlinks only
  std::optional<BlobId> chunks;  // files with content: the chunk-list blob
};

enum class SnapshotKind { kRepository, kThin };

struct SnapshotStats {
  uint64_t files = 0;
  uint64_t directories = 0;
  uint64_t symlinks = 0;
  uint64_t logical_bytes = 0;      // sum of file sizes
  uint64_t read_bytes = 0;         // bytes read from the source (unchanged files are skipped)
  uint64_t new_blobs = 0;          // blobs this snapshot added to the repository
  uint64_t stored_bytes = 0;       // bytes this snapshot added to the repository
  uint64_t reused_files = 0;       // files taken from the parent without reading
  uint64_t partial_files = 0;      // changed files read only where the change map says
  uint64_t patched_chunks = 0;     // changed chunks stored as page patches (page_patch.h)
  uint64_t change_map_misses = 0;  // check_change_map: differences the map did not explain
  double seconds = 0;
};

struct Manifest {
  std::string id;    // 16 hex characters
  std::string name;  // optional label given by the user
  std::string parent;
  SnapshotKind kind = SnapshotKind::kRepository;
  std::string source;  // absolute path of the source directory
  int64_t created_unix_ns = 0;
  uint32_t chunk_size = 0;
  SnapshotStats stats;
  std::vector<std::string> warnings;  // e.g. special files skipped
  // What the caller records with the snapshot (a database backup's LSNs, versions, ...).
  std::map<std::string, std::string> annotations;
  std::vector<TreeEntry> entries;  // sorted by path; parents before children
};

// Version 2, what is written.
std::string EncodeManifest(const Manifest& manifest);
// Version 1 (JSON): for tests of reading repositories written before version 2.
std::string ManifestToJson(const Manifest& manifest);
// Either version, told apart by the first bytes; kCorruption for anything else.
Result<Manifest> ParseManifest(std::string_view data);

// A snapshot id is exactly 16 lowercase hex digits.
bool IsValidSnapshotId(std::string_view id);
// Relative, "/"-separated, no empty, "." or ".." components, no NUL; or "." alone.
bool IsSafeRelativePath(std::string_view path);

// The order of manifest entries: the root "." first, then byte-wise by path, which puts
// every directory before its children.
bool EntryPathLess(std::string_view a, std::string_view b);

std::string_view EntryTypeName(EntryType type);
std::string_view SnapshotKindName(SnapshotKind kind);
// UTC, with strftime's `format`; by default "2026-11-24T19:35:18Z".
std::string FormatUnixTime(int64_t unix_ns, const char* format = "%Y-%m-%dT%H:%M:%SZ");

}  // namespace dbaas::storage
