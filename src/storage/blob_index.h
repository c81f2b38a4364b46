// Where each blob of a repository is: the in-memory index a repository loads from its packs'
// indexes. Open addressing over one array of locations: loading a large repository's
// ~170,000 blobs makes two allocations rather than one node each (the node map took a fifth
// of an incremental's CPU at pgbench scale 700 to build, search and free).
//
// Thread-safety: Find() from many threads; Add() alone.
#pragma once

#include <cstdint>
#include <vector>

#include "base/huge_page_allocator.h"
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
  // Starts loading the slot where `id` goes: a bulk Add() issues it some blobs ahead, so
  // that its cache misses overlap.
  void Prefetch(const BlobId& id) const;

  size_t size() const { return locations_.size(); }
  auto begin() const { return locations_.begin(); }
  auto end() const { return locations_.end(); }

 private:
  // The slot holding `id`, or the empty slot where it would go.
  size_t SlotOf(const BlobId& id) const;
  void Rehash(size_t slot_count);

  std::vector<BlobLocation, HugePageAllocator<BlobLocation>> locations_;
  // Low 32 bits: 1 + an index into locations_ (0: empty); high 32: the blob's tag, so that
  // a probe reads a location only for a likely match.
  std::vector<uint64_t, HugePageAllocator<uint64_t>> slots_;
};

}  // namespace dbaas::storage
