#include "storage/blob_codec.h"

#include <zstd.h>

#include <cstring>

#include <fmt/format.h>

namespace dbaas::storage {

BlobCodec::BlobCodec() : cctx_(ZSTD_createCCtx()), dctx_(ZSTD_createDCtx()) {}

BlobCodec::~BlobCodec() {
  ZSTD_freeCCtx(cctx_);
  ZSTD_freeDCtx(dctx_);
}

Compression BlobCodec::Compress(std::span<const uint8_t> raw, int level,
                                std::vector<uint8_t>& out) {
  out.resize(ZSTD_compressBound(raw.size()));
  size_t n = ZSTD_compressCCtx(cctx_, out.data(), out.size(), raw.data(), raw.size(), level);
  if (ZSTD_isError(n) || n + raw.size() / 32 >= raw.size()) {
    out.assign(raw.begin(), raw.end());
    return Compression::kNone;
  }
  out.resize(n);
  return Compression::kZstd;
}

Status BlobCodec::Decode(const PackBlobEntry& entry, std::span<const uint8_t> stored,
                         std::vector<uint8_t>& out) {
  out.resize(entry.raw_size);
  if (entry.compression == Compression::kNone) {
    if (stored.size() != entry.raw_size) {
      return Status::Corruption(fmt::format("blob {} has the wrong length", entry.id.Hex()));
    }
    if (!stored.empty()) std::memcpy(out.data(), stored.data(), stored.size());
  } else {
    size_t n = ZSTD_decompressDCtx(dctx_, out.data(), out.size(), stored.data(), stored.size());
    if (ZSTD_isError(n) || n != entry.raw_size) {
      return Status::Corruption(
          fmt::format("blob {} does not decompress: {}", entry.id.Hex(),
                      ZSTD_isError(n) ? ZSTD_getErrorName(n) : "wrong length"));
    }
  }
  if (Sha256(out) != entry.id) {
    return Status::Corruption(fmt::format("blob {} fails its checksum", entry.id.Hex()));
  }
  return Status::Ok();
}

}  // namespace dbaas::storage
