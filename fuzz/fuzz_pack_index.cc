// Fuzzes the pack footer and index parsers with arbitrary pack tails.
#include <cstddef>
#include <cstdint>

#include "storage/pack_format.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace dbaas::storage;
  if (size < kPackFooterSize) return 0;
  std::span<const uint8_t> all(data, size);
  // The input is the tail of a pack whose blobs take the first `prefix` bytes.
  uint64_t prefix = data[0] * 97u;
  uint64_t file_size = prefix + size;
  auto footer = ParsePackFooter(all.subspan(size - kPackFooterSize), file_size);
  if (!footer.ok()) return 0;
  if (footer->index_offset < prefix) return 0;
  uint64_t start = footer->index_offset - prefix;
  uint64_t len = file_size - kPackFooterSize - footer->index_offset;
  if (start + len > size) return 0;
  auto entries = ParsePackIndex(all.subspan(start, len), footer.value());
  if (entries.ok()) {
    for (const PackBlobEntry& e : entries.value()) {
      // The parser's promise: every blob lies inside the pack, before the index.
      if (e.offset + e.stored_size > footer->index_offset) __builtin_trap();
    }
  }
  return 0;
}
