// Writes one pack file: blobs are appended to a temporary file in the repository's tmp/
// directory; Finish() writes the index and footer, fsyncs, and renames the pack into
// packs/ (then fsyncs that directory). Until Finish() returns ok the pack is invisible;
// an abandoned writer removes its temporary file. Not thread-safe: one writer per thread.
#pragma once

#include <cstdint>
#include <span>
#include <string>
#include <vector>

#include "base/files.h"
#include "base/status.h"
#include "storage/pack_format.h"

namespace dbaas::storage {

struct FinishedPack {
  std::string name;  // 32 hex characters
  std::vector<PackBlobEntry> entries;
  uint64_t index_offset = 0;  // where its index starts: the end of its blobs
  uint64_t bytes = 0;         // size of the pack file
};

class PackWriter {
 public:
  // `repo_path` is the repository root.
  explicit PackWriter(std::string repo_path);
  ~PackWriter();
  PackWriter(const PackWriter&) = delete;
  PackWriter& operator=(const PackWriter&) = delete;

  // Appends a stored blob (already compressed, or raw, as `entry` says).
  Status Add(PackBlobEntry entry, std::span<const uint8_t> stored);

  bool empty() const { return entries_.empty(); }
  uint64_t size() const { return offset_; }
  const std::vector<PackBlobEntry>& entries() const { return entries_; }

  // Makes the pack durable and visible. Afterwards the writer is empty and can be reused
  // for the next pack.
  Result<FinishedPack> Finish();

 private:
  Status Open();
  Status Flush();

  std::string repo_path_;
  std::string tmp_path_;
  UniqueFd fd_;
  std::vector<uint8_t> buffer_;
  std::vector<PackBlobEntry> entries_;
  uint64_t offset_ = 0;
};

// Path of a pack inside a repository: packs/<first two hex digits>/<name>.pack.
std::string PackPath(const std::string& repo_path, const std::string& name);

}  // namespace dbaas::storage
