// Compression and decompression of blobs with zstd. One codec per thread: the contexts are
// reused across calls (creating them per chunk costs more than compressing 16 KiB).
#pragma once

#include <cstdint>
#include <span>
#include <vector>

#include "base/status.h"
#include "storage/pack_format.h"

struct ZSTD_CCtx_s;
struct ZSTD_DCtx_s;

namespace dbaas::storage {

// How a decoded blob is checked.
enum class BlobCheck {
  // Its SHA-256 is its id: what `repo verify` does, and every read of a blob whose frame
  // carries no checksum (stored raw, or written before frames carried one).
  kSha256,
  // A zstd frame that carries its content checksum (XXH64, every frame written now) is
  // checked by zstd as it decompresses, a tenth of SHA-256's cost: for restores, which
  // decode every byte of a snapshot.
  kFrameChecksum,
};

// A zstd frame whose header says it carries its content checksum (zstd checks it as it
// decompresses).
bool FrameHasChecksum(std::span<const uint8_t> frame);

class BlobCodec {
 public:
  BlobCodec();
  ~BlobCodec();
  BlobCodec(const BlobCodec&) = delete;
  BlobCodec& operator=(const BlobCodec&) = delete;

  // Compresses `raw` at `level` into `out`, a zstd frame with its content checksum. Returns
  // kNone (with `out` = raw) when compression would not save at least 1/32 of the size:
  // incompressible chunks stay raw.
  Compression Compress(std::span<const uint8_t> raw, int level, std::vector<uint8_t>& out);

  // Compresses `raw` as a delta against `base` (the content of blob `base_id`) into `out`:
  // base_id, then a zstd frame with `base` as prefix dictionary. Returns false (and leaves
  // `out` unspecified) when that would not be smaller than `plain_size`.
  bool CompressDelta(std::span<const uint8_t> raw, const BlobId& base_id,
                     std::span<const uint8_t> base, int level, size_t plain_size,
                     std::vector<uint8_t>& out);

  // Decodes a stored blob into `out` (resized to `raw_size`) and checks it as `check` says.
  // A kZstdDelta blob needs `base`: the content of the blob its stored bytes name.
  Status Decode(const PackBlobEntry& entry, std::span<const uint8_t> stored,
                std::vector<uint8_t>& out, std::span<const uint8_t> base = {},
                BlobCheck check = BlobCheck::kSha256);

  // The base id a kZstdDelta blob's stored bytes start with.
  static BlobId DeltaBaseId(std::span<const uint8_t> stored);

 private:
  ZSTD_CCtx_s* cctx_;
  ZSTD_DCtx_s* dctx_;
};

}  // namespace dbaas::storage
