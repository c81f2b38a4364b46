// Walks a directory tree with lstat (no symlink is followed) and returns its entries in
// manifest order. Special files (sockets, FIFOs, devices) are skipped with a warning.
#pragma once

#include <functional>
#include <string>
#include <vector>

#include "base/status.h"
#include "storage/manifest.h"

namespace dbaas::storage {

// What to do with a path found during the scan (relative path, is it a directory).
enum class ScanFilter { kInclude, kSkip, kIncludeEmpty /* a directory, without contents */ };
using ScanFilterFn = std::function<ScanFilter(const std::string& path, bool is_directory)>;

struct ScanResult {
  std::vector<TreeEntry> entries;
  std::vector<std::string> warnings;
};

// Files that vanish during the scan are left out (a live database deletes files).
Result<ScanResult> ScanTree(const std::string& root, const ScanFilterFn& filter = {});

}  // namespace dbaas::storage
