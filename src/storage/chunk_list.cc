#include "storage/chunk_list.h"

#include <algorithm>
#include <cstring>

#include <fmt/format.h>

#include "storage/byte_codec.h"

namespace dbaas::storage {
namespace {
constexpr std::string_view kMagic = "DBCL";
constexpr std::string_view kPatchedMagic = "DBC2";
constexpr uint8_t kHasPatch = 1;

void PutId(std::string& out, const BlobId& id) {
  out.append(reinterpret_cast<const char*>(id.bytes.data()), id.bytes.size());
}

bool ReadId(ByteReader& r, BlobId& id) {
  std::string_view bytes;
  if (!r.Bytes(32, bytes)) return false;
  std::memcpy(id.bytes.data(), bytes.data(), 32);
  return true;
}
}  // namespace

std::string EncodeChunkList(const std::vector<ChunkRef>& chunks) {
  // Lists without patches keep the first format: their ids (and so the dedup of unchanged
  // files' lists) are what they were.
  bool patched = std::any_of(chunks.begin(), chunks.end(),
                             [](const ChunkRef& c) { return c.patch.has_value(); });
  std::string out(patched ? kPatchedMagic : kMagic);
  out.reserve(8 + chunks.size() * (patched ? 69 : 36));
  PutLe<uint32_t>(out, static_cast<uint32_t>(chunks.size()));
  for (const ChunkRef& c : chunks) {
    PutId(out, c.id);
    PutLe<uint32_t>(out, c.length);
    if (!patched) continue;
    PutLe<uint8_t>(out, c.patch ? kHasPatch : 0);
    if (c.patch) PutId(out, *c.patch);
  }
  return out;
}

Result<std::vector<ChunkRef>> ParseChunkList(std::span<const uint8_t> data) {
  ByteReader r(std::string_view(reinterpret_cast<const char*>(data.data()), data.size()));
  std::string_view magic;
  uint32_t count = 0;
  if (!r.Bytes(4, magic) || (magic != kMagic && magic != kPatchedMagic) || !r.Read(count)) {
    return Status::Corruption("chunk list has a bad header");
  }
  const bool patched = magic == kPatchedMagic;
  const size_t min_entry = patched ? 37 : 36;
  if (r.left() / min_entry < count || (!patched && r.left() != size_t{count} * min_entry)) {
    return Status::Corruption(
        fmt::format("chunk list of {} bytes cannot hold {} chunks", data.size(), count));
  }
  std::vector<ChunkRef> chunks(count);
  for (uint32_t i = 0; i < count; ++i) {
    ChunkRef& c = chunks[i];
    uint8_t flags = 0;
    if (!ReadId(r, c.id) || !r.Read(c.length) || (patched && !r.Read(flags))) {
      return Status::Corruption(fmt::format("chunk list ends inside entry {}", i));
    }
    if (c.length == 0 || c.length > kMaxBlobSize || (flags & ~kHasPatch) != 0) {
      return Status::Corruption(
          fmt::format("chunk list entry {} has length {} and flags {}", i, c.length, flags));
    }
    if (flags & kHasPatch) {
      c.patch.emplace();
      if (!ReadId(r, *c.patch)) {
        return Status::Corruption(fmt::format("chunk list ends inside entry {}", i));
      }
    }
  }
  if (patched && std::none_of(chunks.begin(), chunks.end(),
                              [](const ChunkRef& c) { return c.patch.has_value(); })) {
    return Status::Corruption("chunk list of the patched format has no patch");
  }
  if (r.left() != 0) {
    return Status::Corruption(
        fmt::format("chunk list has {} bytes after its {} chunks", r.left(), count));
  }
  return chunks;
}

bool OfChunkSize(const std::vector<ChunkRef>& chunks, uint64_t chunk_size) {
  if (chunks.empty() || chunks.back().length == 0 || chunks.back().length > chunk_size) {
    return false;
  }
  for (size_t c = 0; c + 1 < chunks.size(); ++c) {
    if (chunks[c].length != chunk_size) return false;
  }
  return true;
}

}  // namespace dbaas::storage
