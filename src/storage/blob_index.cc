#include "storage/blob_index.h"

#include <bit>
#include <cstring>

namespace dbaas::storage {
namespace {

// At most half the slots full: probes stay short.
size_t SlotsFor(size_t count) { return std::bit_ceil(std::max<size_t>(16, 2 * count)); }

// A blob's id is a SHA-256 digest, uniformly distributed: its first bytes are the hash, and
// the next four its tag in a slot.
size_t HashOf(const BlobId& id) {
  uint64_t h;
  std::memcpy(&h, id.bytes.data(), sizeof(h));
  return static_cast<size_t>(h);
}

uint64_t TagOf(const BlobId& id) {
  uint32_t t;
  std::memcpy(&t, id.bytes.data() + sizeof(uint64_t), sizeof(t));
  return uint64_t{t} << 32;
}

constexpr uint64_t kPlaceMask = 0xffffffffu;

}  // namespace

void BlobIndex::Reserve(size_t count) {
  locations_.reserve(count);
  if (SlotsFor(count) > slots_.size()) Rehash(SlotsFor(count));
}

size_t BlobIndex::SlotOf(const BlobId& id) const {
  const size_t mask = slots_.size() - 1;
  const uint64_t tag = TagOf(id);
  for (size_t slot = HashOf(id) & mask;; slot = (slot + 1) & mask) {
    uint64_t s = slots_[slot];
    if (s == 0) return slot;
    // The location (another cache line) is read only when the tag matches: a load of
    // 170,000 blobs, nearly all new, then touches the slots alone.
    if ((s & ~kPlaceMask) == tag && locations_[(s & kPlaceMask) - 1].entry.id == id) return slot;
  }
}

void BlobIndex::Prefetch(const BlobId& id) const {
  if (!slots_.empty()) __builtin_prefetch(&slots_[HashOf(id) & (slots_.size() - 1)]);
}

void BlobIndex::Add(const BlobLocation& loc) {
  if (SlotsFor(locations_.size() + 1) > slots_.size()) Rehash(SlotsFor(locations_.size() + 1));
  size_t slot = SlotOf(loc.entry.id);
  if (slots_[slot] != 0) return;
  locations_.push_back(loc);
  slots_[slot] = TagOf(loc.entry.id) | locations_.size();
}

const BlobLocation* BlobIndex::Find(const BlobId& id) const {
  if (slots_.empty()) return nullptr;
  uint64_t s = slots_[SlotOf(id)];
  return s == 0 ? nullptr : &locations_[(s & kPlaceMask) - 1];
}

void BlobIndex::Rehash(size_t slot_count) {
  slots_.assign(slot_count, 0);
  const size_t mask = slot_count - 1;
  for (size_t i = 0; i < locations_.size(); ++i) {
    const BlobId& id = locations_[i].entry.id;
    size_t slot = HashOf(id) & mask;
    while (slots_[slot] != 0) slot = (slot + 1) & mask;
    slots_[slot] = TagOf(id) | (i + 1);
  }
}

}  // namespace dbaas::storage
