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

class BlobCodec {
 public:
  BlobCodec();
  ~BlobCodec();
  BlobCodec(const BlobCodec&) = delete;
  BlobCodec& operator=(const BlobCodec&) = delete;

  // Compresses `raw` at `level` into `out`. Returns kNone (with `out` = raw) when
  // compression would not save at least 1/32 of the size: incompressible chunks stay raw.
  Compression Compress(std::span<const uint8_t> raw, int level, std::vector<uint8_t>& out);

  // Decodes a stored blob into `out` (resized to `raw_size`) and checks its SHA-256 is `id`.
  Status Decode(const PackBlobEntry& entry, std::span<const uint8_t> stored,
                std::vector<uint8_t>& out);

 private:
  ZSTD_CCtx_s* cctx_;
  ZSTD_DCtx_s* dctx_;
};

}  // namespace dbaas::storage
