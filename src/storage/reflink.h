// Reflink (FICLONE) clones: a new file that shares the source's extents until either is
// written. Supported by XFS (reflink=1) and btrfs; elsewhere the call fails with
// EOPNOTSUPP/EXDEV/EINVAL and callers fall back to copying.
#pragma once

#include <string>

#include "base/status.h"

namespace dbaas::storage {

// Clones all of `src_fd` into the empty `dst_fd`.
Status CloneFile(int src_fd, int dst_fd, const std::string& dst_path);

// Creates `dst` as a clone of `src` (mode 0600, replaced if it exists).
Status ClonePath(const std::string& src, const std::string& dst);

// Whether clones from files under `src_dir` into `dst_dir` work: tries to clone
// `probe_file` (an existing regular file under src_dir) into dst_dir and removes the clone.
bool ReflinkWorks(const std::string& probe_file, const std::string& dst_dir);

// The bytes of the open file `fd` whose extents no other file shares (FIEMAP, extents
// without FIEMAP_EXTENT_SHARED): what removing the file would free. A reflink clone shares
// all of its source's until either is written; on a filesystem without reflinks every
// extent is the file's own. Holes and delayed allocations count nothing and fully.
Result<uint64_t> UnsharedBytes(int fd, const std::string& path);

// Copies `src` into `dst` with copy_file_range (the kernel may still share extents).
Status CopyFileContents(int src_fd, int dst_fd, uint64_t size, const std::string& dst_path);

}  // namespace dbaas::storage
