// A changed chunk stored as the chunk it changed from plus the bytes that changed: what an
// incremental with a change map stores, so that a database page changed in a 64 KiB chunk
// costs the page (read, hashed, compressed), not the chunk, and the parent's chunk is
// never read. Format in docs/formats/repository.md ("Page patch blob").
//
// A patch is cumulative: it holds every byte that differs from its base chunk, so applying
// one patch to one base gives the chunk (a restore reads two blobs at most, plus a delta
// base). The next incremental lays its changes over the parent's patch rather than
// patching the patch; when the patch would exceed half its chunk, the chunk is read whole.
#pragma once

#include <cstdint>
#include <span>
#include <string>
#include <vector>

#include "base/status.h"
#include "storage/pack_format.h"

namespace dbaas::storage {

// A byte range within one chunk.
struct PatchRange {
  uint32_t offset = 0;
  uint32_t length = 0;
  bool operator==(const PatchRange&) const = default;
};

struct PagePatch {
  BlobId base;                     // the chunk it applies to: a data blob
  uint32_t chunk_length = 0;       // the base's length, and the patched chunk's
  std::vector<PatchRange> ranges;  // sorted, disjoint, not adjacent, within chunk_length
  std::vector<uint8_t> data;       // the ranges' bytes, back to back
};

std::string EncodePagePatch(const PagePatch& patch);
// Refuses (kCorruption) anything EncodePagePatch would not have written.
Result<PagePatch> ParsePagePatch(std::span<const uint8_t> data);

// Writes the patch's bytes over `chunk`, the base's content; kCorruption unless `chunk`
// has the patch's chunk_length.
Status ApplyPagePatch(const PagePatch& patch, std::span<uint8_t> chunk);

// Sorted, with overlapping and adjacent ranges joined.
std::vector<PatchRange> MergeRanges(std::vector<PatchRange> ranges);

// The patch of `base` that holds `newer` (ranges and their bytes, back to back, as now
// read) over what `older` (the parent's patch of the same base, or null) held.
PagePatch OverlayPatch(const PagePatch* older, const BlobId& base, uint32_t chunk_length,
                       const std::vector<PatchRange>& newer, std::span<const uint8_t> newer_data);

}  // namespace dbaas::storage
