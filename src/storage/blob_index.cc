#include "storage/blob_index.h"

#include <bit>
#include <cstring>

namespace dbaas::storage {
namespace {

// At most half the slots full: probes stay short.
size_t SlotsFor(size_t count) { return std::bit_ceil(std::max<size_t>(16, 2 * count)); }

// A blob's id is a SHA-256 digest, uniformly distributed: its first bytes are the hash.
size_t HashOf(const BlobId& id) {
  uint64_t h;
  std::memcpy(&h, id.bytes.data(), sizeof(h));
  return static_cast<size_t>(h);
}

}  // namespace

void BlobIndex::Reserve(size_t count) {
  locations_.reserve(count);
  if (SlotsFor(count) > slots_.size()) Rehash(SlotsFor(count));
}

size_t BlobIndex::SlotOf(const BlobId& id) const {
  const size_t mask = slots_.size() - 1;
  for (size_t slot = HashOf(id) & mask;; slot = (slot + 1) & mask) {
    uint32_t at = slots_[slot];
    if (at == 0 || locations_[at - 1].entry.id == id) return slot;
  }
}

void BlobIndex::Add(const BlobLocation& loc) {
  if (SlotsFor(locations_.size() + 1) > slots_.size()) Rehash(SlotsFor(locations_.size() + 1));
  size_t slot = SlotOf(loc.entry.id);
  if (slots_[slot] != 0) return;
  locations_.push_back(loc);
  slots_[slot] = static_cast<uint32_t>(locations_.size());
}

const BlobLocation* BlobIndex::Find(const BlobId& id) const {
  if (slots_.empty()) return nullptr;
  uint32_t at = slots_[SlotOf(id)];
  return at == 0 ? nullptr : &locations_[at - 1];
}

void BlobIndex::Rehash(size_t slot_count) {
  slots_.assign(slot_count, 0);
  const size_t mask = slot_count - 1;
  for (size_t i = 0; i < locations_.size(); ++i) {
    size_t slot = HashOf(locations_[i].entry.id) & mask;
    while (slots_[slot] != 0) slot = (slot + 1) & mask;
    slots_[slot] = static_cast<uint32_t>(i + 1);
  }
}

}  // namespace dbaas::storage
