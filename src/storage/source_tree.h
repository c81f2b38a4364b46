// Where a snapshot reads the tree it stores: a directory on this machine, or a tree another
// process serves (the in-pod agent's volume, read by the daemon over HTTPS:
// kube_runtime/agent_source_tree.h). Incrementals, dedup and change maps work the same on
// either: only the scan and the reads go through here.
#pragma once

#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "base/files.h"
#include "base/status.h"
#include "storage/manifest.h"
#include "storage/tree_scan.h"

namespace dbaas::storage {

// One open file of a source tree. Read may be called from several threads at once.
class SourceFile {
 public:
  virtual ~SourceFile() = default;
  // Up to `length` bytes at `offset` into `data`; fewer only at the file's end.
  virtual Result<size_t> Read(uint8_t* data, size_t length, uint64_t offset) = 0;
};

class SourceTree {
 public:
  virtual ~SourceTree() = default;
  // What the manifest records as its source: the next snapshot of the same tree finds its
  // parent (the incremental's base) by it.
  virtual const std::string& identity() const = 0;
  // The directory on this machine, or "" for a tree served from elsewhere (which cannot be
  // cloned: its snapshots are repository snapshots).
  virtual std::string local_root() const = 0;
  // The entries in manifest order, left out what `filter` leaves out.
  virtual Result<ScanResult> Scan(const ScanFilterFn& filter) = 0;
  // A file of the last scan by its relative path; kNotFound when it is gone since.
  virtual Result<std::unique_ptr<SourceFile>> Open(const std::string& path) = 0;
};

// A directory on this machine (lstat, nothing followed; O_NOATIME where allowed).
class LocalSourceTree final : public SourceTree {
 public:
  explicit LocalSourceTree(std::string root) : root_(std::move(root)) {}
  const std::string& identity() const override { return root_; }
  std::string local_root() const override { return root_; }
  Result<ScanResult> Scan(const ScanFilterFn& filter) override;
  Result<std::unique_ptr<SourceFile>> Open(const std::string& path) override;

 private:
  std::string root_;
};

// Opens a file to read it whole, with O_NOATIME when the file is ours (it keeps a backup
// from dirtying inodes) and without otherwise.
Result<UniqueFd> OpenForReading(const std::string& path);

// What a scan with `filter` would have left of `entries` (manifest order): for a tree
// listed elsewhere whole. Entries under a skipped directory, or under one the filter keeps
// empty, go with it.
std::vector<TreeEntry> FilterEntries(std::vector<TreeEntry> entries, const ScanFilterFn& filter);

}  // namespace dbaas::storage
