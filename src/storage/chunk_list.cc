#include "storage/chunk_list.h"

#include <cstring>

#include <fmt/format.h>

namespace dbaas::storage {
namespace {
constexpr std::string_view kMagic = "DBCL";
constexpr size_t kEntrySize = 36;
}  // namespace

std::string EncodeChunkList(const std::vector<ChunkRef>& chunks) {
  std::string out(kMagic);
  out.reserve(8 + chunks.size() * kEntrySize);
  auto put_u32 = [&out](uint32_t v) {
    for (int i = 0; i < 4; ++i) out.push_back(static_cast<char>(v >> (8 * i)));
  };
  put_u32(static_cast<uint32_t>(chunks.size()));
  for (const ChunkRef& c : chunks) {
    out.append(reinterpret_cast<const char*>(c.id.bytes.data()), c.id.bytes.size());
    put_u32(c.length);
  }
  return out;
}

Result<std::vector<ChunkRef>> ParseChunkList(std::span<const uint8_t> data) {
  auto get_u32 = [](const uint8_t* p) {
    return uint32_t{p[0]} | uint32_t{p[1]} << 8 | uint32_t{p[2]} << 16 | uint32_t{p[3]} << 24;
  };
  if (data.size() < 8 || std::memcmp(data.data(), kMagic.data(), 4) != 0) {
    return Status::Corruption("chunk list has a bad header");
  }
  uint32_t count = get_u32(data.data() + 4);
  if ((data.size() - 8) / kEntrySize != count || (data.size() - 8) % kEntrySize != 0) {
    return Status::Corruption(
        fmt::format("chunk list of {} bytes cannot hold {} chunks", data.size(), count));
  }
  std::vector<ChunkRef> chunks(count);
  for (uint32_t i = 0; i < count; ++i) {
    const uint8_t* p = data.data() + 8 + size_t{i} * kEntrySize;
    std::memcpy(chunks[i].id.bytes.data(), p, 32);
    chunks[i].length = get_u32(p + 32);
    if (chunks[i].length == 0 || chunks[i].length > kMaxBlobSize) {
      return Status::Corruption(
          fmt::format("chunk list entry {} has length {}", i, chunks[i].length));
    }
  }
  return chunks;
}

}  // namespace dbaas::storage
