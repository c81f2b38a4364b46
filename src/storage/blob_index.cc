#include "storage/blob_index.h"

namespace dbaas::storage {

void BlobIndex::Rehash(size_t slot_count) {
  std::vector<Slot, HugePageAllocator<Slot>> old(slot_count);
  old.swap(slots_);
  const size_t mask = slot_count - 1;
  for (const Slot& s : old) {
    if (s.number_plus_one == 0) continue;
    size_t i = s.Key() & mask;
    while (slots_[i].number_plus_one != 0) i = (i + 1) & mask;
    slots_[i] = s;
  }
}

}  // namespace dbaas::storage
