// Fuzzes the PostgreSQL WAL scanner (the tenant can write what it reads from pg_wal and the
// spool). The input is one segment of 64 KiB (8 pages), its long header's size patched to
// match so that the fuzzer gets past it; a real segment's start is the seed. The same bytes
// are offered as the segment's first pages too.
#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <span>
#include <vector>

#include "engines/postgres/pg_wal_blocks.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace dbaas::engines;
  constexpr uint64_t kSegment = 64 << 10;
  constexpr uint64_t kAt = 0x1000000;  // where it claims to be: segment 1 of 16 MiB segments
  std::vector<uint8_t> segment(kSegment, 0);
  std::memcpy(segment.data(), data, size < kSegment ? size : kSegment);
  uint32_t seg_size = kSegment;
  if (kSegment >= 40) std::memcpy(segment.data() + 32, &seg_size, 4);
  // The range: records from the first byte of the segment to its end, and beyond.
  WalBlockScanner scanner(kAt, kAt + 2 * kSegment, 1, kSegment);
  const bool whole = scanner.AddSegment(segment, kAt).ok();
  WalChanges changes;
  if (whole) {
    if (scanner.next_segment_lsn() != kAt + kSegment) __builtin_trap();
    changes = scanner.Finish();
    for (const auto& [rel, blocks] : changes.blocks) {
      if (!std::is_sorted(blocks.begin(), blocks.end())) __builtin_trap();
    }
  }
  // Its first pages alone (as the segment holding a range's end is read): taken only where
  // a switch record ends the segment within them, and then saying what the whole does.
  constexpr size_t kPage = 8192;
  const size_t pages = 1 + (size > 0 ? data[size - 1] % (kSegment / kPage - 1) : 0);
  WalBlockScanner cut(kAt, kAt + 2 * kSegment, 1, kSegment);
  if (cut.AddSegment(std::span<const uint8_t>(segment).first(pages * kPage), kAt).ok()) {
    if (!whole || cut.next_segment_lsn() != kAt + kSegment) __builtin_trap();
    if (cut.Finish().blocks != changes.blocks) __builtin_trap();
  }
  return 0;
}
