#include "storage/page_patch.h"

#include <algorithm>
#include <cstring>

#include <fmt/format.h>

#include "storage/byte_codec.h"

namespace dbaas::storage {
namespace {

constexpr std::string_view kMagic = "DBPP";

uint64_t End(const PatchRange& r) { return uint64_t{r.offset} + r.length; }

// Copies `ranges` (their bytes back to back in `data`) into `out`, laid out as `merged`
// (which covers every one of them).
void CopyInto(const std::vector<PatchRange>& merged, const std::vector<PatchRange>& ranges,
              std::span<const uint8_t> data, std::vector<uint8_t>& out) {
  std::vector<size_t> starts(merged.size());
  for (size_t i = 0, pos = 0; i < merged.size(); pos += merged[i].length, ++i) starts[i] = pos;
  size_t from = 0;
  for (const PatchRange& r : ranges) {
    auto it =
        std::upper_bound(merged.begin(), merged.end(), r.offset,
                         [](uint32_t offset, const PatchRange& m) { return offset < m.offset; });
    size_t i = static_cast<size_t>(it - merged.begin()) - 1;  // merged[i] holds r
    std::memcpy(out.data() + starts[i] + (r.offset - merged[i].offset), data.data() + from,
                r.length);
    from += r.length;
  }
}

}  // namespace

std::string EncodePagePatch(const PagePatch& patch) {
  std::string out(kMagic);
  out.reserve(44 + patch.ranges.size() * 8 + patch.data.size());
  out.append(reinterpret_cast<const char*>(patch.base.bytes.data()), patch.base.bytes.size());
  PutLe<uint32_t>(out, patch.chunk_length);
  PutLe<uint32_t>(out, static_cast<uint32_t>(patch.ranges.size()));
  for (const PatchRange& r : patch.ranges) {
    PutLe<uint32_t>(out, r.offset);
    PutLe<uint32_t>(out, r.length);
  }
  out.append(reinterpret_cast<const char*>(patch.data.data()), patch.data.size());
  return out;
}

Result<PagePatch> ParsePagePatch(std::span<const uint8_t> data) {
  ByteReader r(std::string_view(reinterpret_cast<const char*>(data.data()), data.size()));
  std::string_view magic, base;
  PagePatch p;
  uint32_t count = 0;
  if (!r.Bytes(kMagic.size(), magic) || magic != kMagic || !r.Bytes(32, base) ||
      !r.Read(p.chunk_length) || !r.Read(count)) {
    return Status::Corruption("page patch has a bad header");
  }
  std::memcpy(p.base.bytes.data(), base.data(), 32);
  if (p.chunk_length == 0 || p.chunk_length > kMaxBlobSize || count == 0 || count > r.left() / 8) {
    return Status::Corruption(
        fmt::format("page patch of a {} byte chunk cannot hold {} ranges", p.chunk_length, count));
  }
  p.ranges.resize(count);
  uint64_t total = 0, previous_end = 0;
  for (uint32_t i = 0; i < count; ++i) {
    PatchRange& range = p.ranges[i];
    r.Read(range.offset);
    r.Read(range.length);
    std::string_view wrong = range.length == 0                       ? "is empty"
                             : End(range) > p.chunk_length           ? "ends past its chunk"
                             : i > 0 && range.offset <= previous_end ? "is out of order"
                                                                     : "";
    if (!wrong.empty()) {
      return Status::Corruption(
          fmt::format("page patch range {} ({} bytes at {} of a {} byte chunk) {}", i, range.length,
                      range.offset, p.chunk_length, wrong));
    }
    previous_end = End(range);
    total += range.length;
  }
  if (r.left() != total) {
    return Status::Corruption(
        fmt::format("page patch has {} bytes of data for ranges of {}", r.left(), total));
  }
  std::string_view bytes;
  r.Bytes(total, bytes);
  p.data.assign(bytes.begin(), bytes.end());
  return p;
}

Status ApplyPagePatch(const PagePatch& patch, std::span<uint8_t> chunk) {
  if (chunk.size() != patch.chunk_length) {
    return Status::Corruption(fmt::format("page patch of a {} byte chunk given a chunk of {}",
                                          patch.chunk_length, chunk.size()));
  }
  size_t from = 0;
  for (const PatchRange& r : patch.ranges) {  // checked by the parser: within the chunk
    std::memcpy(chunk.data() + r.offset, patch.data.data() + from, r.length);
    from += r.length;
  }
  return Status::Ok();
}

std::vector<PatchRange> MergeRanges(std::vector<PatchRange> ranges) {
  std::erase_if(ranges, [](const PatchRange& r) { return r.length == 0; });
  std::sort(ranges.begin(), ranges.end(),
            [](const PatchRange& a, const PatchRange& b) { return a.offset < b.offset; });
  std::vector<PatchRange> merged;
  for (const PatchRange& r : ranges) {
    if (!merged.empty() && r.offset <= End(merged.back())) {
      merged.back().length =
          static_cast<uint32_t>(std::max(End(merged.back()), End(r)) - merged.back().offset);
    } else {
      merged.push_back(r);
    }
  }
  return merged;
}

PagePatch OverlayPatch(const PagePatch* older, const BlobId& base, uint32_t chunk_length,
                       const std::vector<PatchRange>& newer, std::span<const uint8_t> newer_data) {
  PagePatch p;
  p.base = base;
  p.chunk_length = chunk_length;
  std::vector<PatchRange> all = newer;
  if (older) all.insert(all.end(), older->ranges.begin(), older->ranges.end());
  p.ranges = MergeRanges(std::move(all));
  uint64_t total = 0;
  for (const PatchRange& r : p.ranges) total += r.length;
  p.data.resize(total);
  if (older) CopyInto(p.ranges, older->ranges, older->data, p.data);
  CopyInto(p.ranges, newer, newer_data, p.data);  // the newer bytes win
  return p;
}

}  // namespace dbaas::storage
