// Which blobs a repository holds, and where each one's pack index entry is: an open-addressed
// table of 12-byte slots, each holding the first 8 bytes of a blob's id and the blob's number
// (its place among the packs' index entries, which the repository maps to a pack and an
// entry). The entries themselves stay where they are, in the packs' indexes on disk: at
// pgbench scale 700 (170,000 blobs) the table is 3 MB, where holding the entries in memory
// took 16 MB and made a backup's and a restore's memory grow with the data. A probe whose 8
// bytes match confirms by reading that one entry (the caller's `same`): a false match costs
// a read, never a wrong answer.
//
// Thread-safety: Find() and Holds() from many threads; Add() alone.
#pragma once

#include <algorithm>
#include <bit>
#include <cstdint>
#include <cstring>
#include <optional>
#include <vector>

#include "base/huge_page_allocator.h"
#include "storage/pack_format.h"

namespace dbaas::storage {

// A pack index entry and the pack it is in.
struct BlobLocation {
  uint32_t pack = 0;  // index into the repository's pack_names()
  PackBlobEntry entry;
};

class BlobIndex {
 public:
  // The largest number a blob may have: numbers 0 to kMaxNumber, 2^32 - 1 blobs.
  static constexpr uint32_t kMaxNumber = UINT32_MAX - 1;

  // The number of the blob `id`, if indexed. `same(number)` says whether the blob numbered
  // `number` is `id` (reading its entry); it is asked only where the first 8 bytes of the
  // id match, so nearly only for the blob itself.
  template <class Same>
  std::optional<uint32_t> Find(const BlobId& id, Same&& same) const {
    if (slots_.empty()) return std::nullopt;
    const uint64_t key = KeyOf(id);
    const size_t mask = slots_.size() - 1;
    for (size_t i = key & mask;; i = (i + 1) & mask) {
      const Slot& s = slots_[i];
      if (s.number_plus_one == 0) return std::nullopt;
      if (s.Key() == key && same(s.number_plus_one - 1)) return s.number_plus_one - 1;
    }
  }

  // Indexes `number` as `id`'s, unless `same` finds `id` indexed already (a blob in two
  // packs: two writers raced, or a repack was cut off; the first is kept). True when added.
  template <class Same>
  bool Add(const BlobId& id, uint32_t number, Same&& same) {
    if (SlotsFor(count_ + 1) > slots_.size()) Rehash(SlotsFor(count_ + 1));
    const uint64_t key = KeyOf(id);
    const size_t mask = slots_.size() - 1;
    size_t i = key & mask;
    for (; slots_[i].number_plus_one != 0; i = (i + 1) & mask) {
      if (slots_[i].Key() == key && same(slots_[i].number_plus_one - 1)) return false;
    }
    slots_[i].Set(key, number);
    ++count_;
    return true;
  }

  // Whether `number` is the number indexed for `id`: a walk over a pack's own index (stats)
  // counts each blob once this way, without reading any entry.
  bool Holds(const BlobId& id, uint32_t number) const {
    return Find(id, [number](uint32_t n) { return n == number; }).has_value();
  }

  // Starts loading the slot where `id` goes: a bulk Add() issues it some blobs ahead, so
  // that its cache misses overlap.
  void Prefetch(const BlobId& id) const {
    if (!slots_.empty()) __builtin_prefetch(&slots_[KeyOf(id) & (slots_.size() - 1)]);
  }

  size_t size() const { return count_; }

 private:
  // 12 bytes: three 32-bit words, so that the table packs without padding.
  struct Slot {
    uint32_t key_low = 0, key_high = 0;
    uint32_t number_plus_one = 0;  // 0: empty
    uint64_t Key() const { return uint64_t{key_high} << 32 | key_low; }
    void Set(uint64_t key, uint32_t number) {
      key_low = static_cast<uint32_t>(key);
      key_high = static_cast<uint32_t>(key >> 32);
      number_plus_one = number + 1;
    }
  };
  static_assert(sizeof(Slot) == 12);

  // At most three quarters of the slots full: a probe stops at the first empty one.
  static size_t SlotsFor(size_t count) {
    return std::bit_ceil(std::max<size_t>(16, count + count / 3 + 1));
  }
  // A blob's id is a SHA-256 digest, uniformly distributed: its first 8 bytes are its hash.
  static uint64_t KeyOf(const BlobId& id) {
    uint64_t key;
    std::memcpy(&key, id.bytes.data(), sizeof(key));
    return key;
  }

  void Rehash(size_t slot_count);

  size_t count_ = 0;
  std::vector<Slot, HugePageAllocator<Slot>> slots_;
};

}  // namespace dbaas::storage
