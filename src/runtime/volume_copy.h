// A copy of a directory tree as fast as its filesystem allows: every file a reflink clone
// where the filesystem has them (XFS reflink=1, btrfs: constant time in the data size),
// else a kernel copy. The source is walked by descriptor and no link is followed (an
// instance's server writes the source and could swap a directory for a link); symlinks
// are copied as links, modes and times kept, sockets and FIFOs left out. The copy is the
// daemon's.
#pragma once

#include <string>

#include "base/status.h"

namespace dbaas::runtime {

// Copies the tree at `source` to `destination` (which must not exist) under a temporary
// name, syncs it and renames it into place: on failure `destination` does not exist.
Status CopyVolumeTree(const std::string& source, const std::string& destination);

}  // namespace dbaas::runtime
