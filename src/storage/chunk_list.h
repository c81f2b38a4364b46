// A file's content as a list of chunk references, stored as a blob of type kChunkList so
// that an unchanged file costs a snapshot one 32-byte reference, not one per chunk.
// Format: "DBCL" magic, u32 count, then per chunk a 32-byte id and a u32 length (LE).
#pragma once

#include <cstdint>
#include <span>
#include <string>
#include <vector>

#include "base/status.h"
#include "storage/pack_format.h"

namespace dbaas::storage {

struct ChunkRef {
  BlobId id;
  uint32_t length = 0;
  bool operator==(const ChunkRef&) const = default;
};

std::string EncodeChunkList(const std::vector<ChunkRef>& chunks);
Result<std::vector<ChunkRef>> ParseChunkList(std::span<const uint8_t> data);

}  // namespace dbaas::storage
