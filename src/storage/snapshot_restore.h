// Restoring a snapshot into a directory.
//
// Into an empty (or new) directory: directories first, then every file's chunks in
// parallel (each chunk checked as it is read) while one thread creates the files ahead of
// the writers, then symlinks, then owners (when root), modes and times, directories last.
// A durable restore (sync) into an empty directory writes large files with O_DIRECT. Thin
// snapshots are restored as reflink clones of the cloned tree, falling back to copies
// across filesystems.
//
// Delta (into an existing directory): entries the snapshot lacks are removed, and of each
// file only the chunks whose content differs are rewritten (the existing bytes are hashed
// and compared), so restoring onto a nearly identical copy writes little.
#pragma once

#include <string>

#include "base/status.h"
#include "storage/manifest.h"
#include "storage/progress.h"
#include "storage/repository.h"

namespace dbaas::storage {

struct RestoreOptions {
  std::string target;
  bool delta = false;  // allow a non-empty target and rewrite only what differs
  // syncfs() the target's filesystem at the end; files of 1 MiB and more are then written
  // with O_DIRECT (where the filesystem allows it; not by a delta restore, which reads the
  // files it writes): their bytes go to the disk once, from the restore's buffers, instead
  // of through the page cache and its writeback.
  bool sync = false;
  unsigned threads = 0;
  Progress* progress = nullptr;
};

struct RestoreStats {
  uint64_t files = 0;
  uint64_t bytes_written = 0;
  uint64_t bytes_direct = 0;     // of those, written with O_DIRECT (large files, sync)
  uint64_t bytes_unchanged = 0;  // delta: bytes found identical and left alone
  uint64_t entries_removed = 0;  // delta: entries the snapshot does not have
  uint64_t files_cloned = 0;     // thin: files restored as reflink clones
  double seconds = 0;
};

Result<RestoreStats> RestoreSnapshot(const Repository& repo, const Manifest& manifest,
                                     const RestoreOptions& options);

}  // namespace dbaas::storage
