// Creating a snapshot of a directory tree.
//
// Repository snapshots: files are cut into fixed-size chunks (the repository's chunk size;
// database files change in fixed-size pages at fixed offsets, so fixed chunks aligned to
// them store least: docs/BENCHMARKS.md), each chunk is hashed (SHA-256), and chunks the
// repository does not have are compressed and appended to packs. Files unchanged since the
// parent snapshot (same size, mtime, ctime, inode) are not read at all. All cores work on
// ranges of files in parallel; each holds one range buffer and one open pack.
//
// Thin snapshots: when the repository and the source are on one filesystem that supports
// reflinks, the tree is cloned into the repository (FICLONE): near-instant at any size.
//
// Either way the snapshot becomes visible only after everything it references is durable;
// a process killed at any point leaves the repository valid, with garbage for gc.
#pragma once

#include <functional>
#include <map>
#include <string>
#include <vector>

#include "base/status.h"
#include "storage/change_map.h"
#include "storage/manifest.h"
#include "storage/progress.h"
#include "storage/repository.h"
#include "storage/source_tree.h"
#include "storage/tree_scan.h"

namespace dbaas::storage {

enum class SnapshotMode {
  kAuto,        // thin where reflinks work between source and repository, else repository
  kRepository,  // always chunks and packs
  kThin,        // reflink clones, or fail
};

// A file a snapshot gets from its caller rather than from the source tree: content made
// in memory (PostgreSQL's backup_label) or a file read at the end (WAL segments).
struct ExtraFile {
  std::string path;         // relative, as in a manifest; its parent must be in the tree
  std::string content;      // used when source_path is empty
  std::string source_path;  // absolute path of a file to read instead
  // The file at source_path is the caller's to give away: a thin snapshot moves it into its
  // tree when it is on the repository's filesystem (a clone made in the repository's tmp/)
  // rather than copying it, which would write it all again while the database runs.
  bool take_source = false;
  uint32_t mode = 0600;
  uint32_t uid = 0;
  uint32_t gid = 0;
};

struct BeforeCommitResult {
  std::vector<ExtraFile> files;                    // added, replacing same-path entries
  std::map<std::string, std::string> annotations;  // recorded in the manifest
};

// Called once the source tree has been read, before the snapshot is made durable and
// visible: gets the tree's entries, returns files to add and annotations to record.
// An error aborts the snapshot (nothing is listed).
using BeforeCommitFn =
    std::function<Result<BeforeCommitResult>(const std::vector<TreeEntry>& entries)>;

struct CreateOptions {
  std::string source;  // directory to snapshot
  // Or a tree read through this (the caller's, alive for the call) instead of `source`.
  SourceTree* tree = nullptr;
  std::string name;  // optional label
  // Parent for the incremental check: an id, prefix or name. Empty: the newest repository
  // snapshot of the same source path, if any.
  std::string parent;
  bool full_read = false;  // re-read every file even if unchanged since the parent
  // Offered the parent, when there is one: where its files changed since (change_map.h).
  // Without a map, a file whose size or times changed is read whole.
  std::function<ChangeMapOffer(const Manifest& parent)> change_map;
  // Reads the chunks the map leaves out too, compares them with the parent's and reports
  // each difference the map does not explain (stats.change_map_misses, a warning each): the
  // tests' check of the map. What was read is stored.
  bool check_change_map = false;
  SnapshotMode mode = SnapshotMode::kAuto;
  unsigned threads = 0;  // 0: one per core
  ScanFilterFn filter;   // which paths to leave out
  BeforeCommitFn before_commit;
  Progress* progress = nullptr;
};

// Takes the repository's writer lock for the duration.
Result<Manifest> CreateSnapshot(Repository& repo, const CreateOptions& options);

}  // namespace dbaas::storage
