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

bool BlobCodec::CompressDelta(std::span<const uint8_t> raw, const BlobId& base_id,
                              std::span<const uint8_t> base, int level, size_t plain_size,
                              std::vector<uint8_t>& out) {
  out.resize(kDeltaBaseIdSize + ZSTD_compressBound(raw.size()));
  std::memcpy(out.data(), base_id.bytes.data(), kDeltaBaseIdSize);
  ZSTD_CCtx_reset(cctx_, ZSTD_reset_session_and_parameters);
  ZSTD_CCtx_setParameter(cctx_, ZSTD_c_compressionLevel, level);
  if (ZSTD_isError(ZSTD_CCtx_refPrefix(cctx_, base.data(), base.size()))) return false;
  size_t n = ZSTD_compress2(cctx_, out.data() + kDeltaBaseIdSize, out.size() - kDeltaBaseIdSize,
                            raw.data(), raw.size());
  // The prefix applies to one frame only; reset so later plain calls start clean.
  ZSTD_CCtx_reset(cctx_, ZSTD_reset_session_and_parameters);
  if (ZSTD_isError(n) || kDeltaBaseIdSize + n >= plain_size) return false;
  out.resize(kDeltaBaseIdSize + n);
  return true;
}

BlobId BlobCodec::DeltaBaseId(std::span<const uint8_t> stored) {
  BlobId id;
  std::memcpy(id.bytes.data(), stored.data(), kDeltaBaseIdSize);
  return id;
}

Status BlobCodec::Decode(const PackBlobEntry& entry, std::span<const uint8_t> stored,
                         std::vector<uint8_t>& out, std::span<const uint8_t> base) {
  out.resize(entry.raw_size);
  if (entry.compression == Compression::kZstdDelta) {
    if (stored.size() <= kDeltaBaseIdSize) {
      return Status::Corruption(fmt::format("delta blob {} is too short", entry.id.Hex()));
    }
    ZSTD_DCtx_reset(dctx_, ZSTD_reset_session_and_parameters);
    size_t n =
        ZSTD_isError(ZSTD_DCtx_refPrefix(dctx_, base.data(), base.size()))
            ? size_t(-1)
            : ZSTD_decompressDCtx(dctx_, out.data(), out.size(), stored.data() + kDeltaBaseIdSize,
                                  stored.size() - kDeltaBaseIdSize);
    ZSTD_DCtx_reset(dctx_, ZSTD_reset_session_and_parameters);
    if (ZSTD_isError(n) || n != entry.raw_size) {
      return Status::Corruption(
          fmt::format("delta blob {} does not decompress against its base", entry.id.Hex()));
    }
  } else if (entry.compression == Compression::kNone) {
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
