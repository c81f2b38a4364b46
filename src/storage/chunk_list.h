// A file's content as a list of chunk references, stored as a blob of type kChunkList so
// that an unchanged file costs a snapshot one 32-byte reference, not one per chunk.
// Format (docs/formats/repository.md): "DBCL", u32 count, then per chunk a 32-byte id and
// a u32 length (LE); a list with page patches is "DBC2", whose entries also carry a flags
// byte and, when its bit 1 is set, the 32-byte id of the chunk's page patch.
#pragma once

#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <vector>

#include "base/status.h"
#include "storage/pack_format.h"

namespace dbaas::storage {

struct ChunkRef {
  BlobId id;  // the chunk, or with `patch` the chunk it was patched from
  uint32_t length = 0;
  std::optional<BlobId> patch = std::nullopt;  // a page patch (page_patch.h) of `id`
  bool operator==(const ChunkRef&) const = default;
};

// A list of at least this many chunks (512 MiB at 64 KiB) is large: once a backup has stored
// it or a restore written its file, the memory malloc holds free is given back (malloc_trim).
// Blocks of a MiB or two stay in malloc's heap once its mmap threshold has risen to them,
// where the next file's do not always fit (docs/BENCHMARKS.md).
inline constexpr size_t kLargeListChunks = 8192;

std::string EncodeChunkList(const std::vector<ChunkRef>& chunks);
// Whether every chunk of `chunks` but the last has `chunk_size` bytes and the last 1 to
// `chunk_size`: a list cut with that size, whose chunks are found by their index. A list kept
// from a parent made with another chunk size is not (docs/formats/repository.md).
bool OfChunkSize(const std::vector<ChunkRef>& chunks, uint64_t chunk_size);
Result<std::vector<ChunkRef>> ParseChunkList(std::span<const uint8_t> data);

}  // namespace dbaas::storage
