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

namespace {

// Every frame carries its content checksum: a restore checks it instead of SHA-256.
void SetParameters(ZSTD_CCtx* cctx, int level) {
  ZSTD_CCtx_reset(cctx, ZSTD_reset_session_and_parameters);
  ZSTD_CCtx_setParameter(cctx, ZSTD_c_compressionLevel, level);
  ZSTD_CCtx_setParameter(cctx, ZSTD_c_checksumFlag, 1);
}

}  // namespace

// RFC 8878, 3.1.1: after the 4-byte magic number, the frame header descriptor, whose bit
// 2 is the Content_Checksum_flag.
bool FrameHasChecksum(std::span<const uint8_t> frame) {
  constexpr uint8_t kMagic[4] = {0x28, 0xB5, 0x2F, 0xFD};
  return frame.size() > 4 && std::memcmp(frame.data(), kMagic, 4) == 0 && (frame[4] & 0x04);
}

Compression BlobCodec::Compress(std::span<const uint8_t> raw, int level,
                                std::vector<uint8_t>& out) {
  out.resize(ZSTD_compressBound(raw.size()));
  SetParameters(cctx_, level);
  size_t n = ZSTD_compress2(cctx_, out.data(), out.size(), raw.data(), raw.size());
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
  SetParameters(cctx_, level);
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
                         std::vector<uint8_t>& out, std::span<const uint8_t> base,
                         BlobCheck check) {
  out.resize(entry.raw_size);
  bool checked_by_frame = false;
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
    checked_by_frame = FrameHasChecksum(stored.subspan(kDeltaBaseIdSize));
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
    checked_by_frame = FrameHasChecksum(stored);
  }
  // zstd checked the frame's checksum as it decompressed (a mismatch is an error above).
  if (check == BlobCheck::kFrameChecksum && checked_by_frame) return Status::Ok();
  if (Sha256(out) != entry.id) {
    return Status::Corruption(fmt::format("blob {} fails its checksum", entry.id.Hex()));
  }
  return Status::Ok();
}

}  // namespace dbaas::storage
