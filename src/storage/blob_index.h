// Where each blob of a repository is: the in-memory index a repository loads from its packs'
// indexes. Open addressing over one array of locations: loading a large repository's
// ~170,000 blobs makes two allocations rather than one node each (the node map took a fifth
// of an incremental's CPU at pgbench scale 700 to build, search and free).
//
// Thread-safety: Find() from many threads; Add() alone.
#pragma once

#include <cstdint>
#include <vector>

#include "storage/pack_format.h"

namespace dbaas::storage {

struct BlobLocation {
  uint32_t pack = 0;  // index into the repository's pack_names()
  PackBlobEntry entry;
};

class BlobIndex {
 public:
  // Room for `count` blobs without growing.
  void Reserve(size_t count);
  // Adds `loc` unless its blob is indexed already (a blob in two packs: either does).
  void Add(const BlobLocation& loc);
  // Valid until the next Add().
  const BlobLocation* Find(const BlobId& id) const;

  size_t size() const { return locations_.size(); }
  std::vector<BlobLocation>::const_iterator begin() const { return locations_.begin(); }
  std::vector<BlobLocation>::const_iterator end() const { return locations_.end(); }

 private:
  // The slot holding `id`, or the empty slot where it would go.
  size_t SlotOf(const BlobId& id) const;
  void Rehash(size_t slot_count);

  std::vector<BlobLocation> locations_;
  std::vector<uint32_t> slots_;  // 1 + an index into locations_; 0: empty
};

}  // namespace dbaas::storage
