// The pack file format (docs/formats/repository.md): a header, the stored blobs back to
// back, an index of the blobs, and a fixed-size footer that locates and checksums the
// index. A pack is written once, under a temporary name, and renamed into place only when
// complete and synced, so a visible pack is always whole; the parsers below still check
// every field, because disks and people corrupt files.
#pragma once

#include <cstdint>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "base/sha256.h"
#include "base/status.h"

namespace dbaas::storage {

using BlobId = Sha256Digest;  // SHA-256 of the blob's uncompressed content

// kPagePatch: a changed chunk's bytes over its parent's chunk (page_patch.h).
enum class BlobType : uint8_t { kData = 0, kChunkList = 1, kPagePatch = 2 };
// kZstdDelta: the stored bytes are the 32-byte id of a base blob, then a zstd frame made
// with the base's content as prefix dictionary. A base is never itself a delta, so a read
// needs at most one extra blob.
enum class Compression : uint8_t { kNone = 0, kZstd = 1, kZstdDelta = 2 };
inline constexpr size_t kDeltaBaseIdSize = 32;

inline constexpr std::string_view kPackHeaderMagic = "DBAASPK1";  // 8 bytes
inline constexpr std::string_view kPackFooterMagic = "DBPKEND1";  // 8 bytes
inline constexpr size_t kPackHeaderSize = 8;
inline constexpr size_t kPackIndexEntrySize = 52;
inline constexpr size_t kPackFooterSize = 56;
inline constexpr uint32_t kPackFormatVersion = 1;
// A blob is at most one chunk or one chunk list; anything larger in an index is corrupt.
inline constexpr uint32_t kMaxBlobSize = 64u << 20;

struct PackBlobEntry {
  BlobId id;
  BlobType type = BlobType::kData;
  Compression compression = Compression::kNone;
  uint32_t stored_size = 0;  // bytes in the pack
  uint32_t raw_size = 0;     // bytes after decompression
  uint64_t offset = 0;       // from the start of the pack file
};

struct PackFooter {
  uint64_t index_offset = 0;
  uint32_t entry_count = 0;
  uint32_t version = 0;
  Sha256Digest index_digest;
};

// Encodes the index section and the footer for `entries`, whose blobs end at `index_offset`.
std::string EncodePackTail(const std::vector<PackBlobEntry>& entries, uint64_t index_offset);

// Parses the last kPackFooterSize bytes of a pack of `file_size` bytes.
Result<PackFooter> ParsePackFooter(std::span<const uint8_t> footer, uint64_t file_size);

// Parses entry `i` of a pack's index (kPackIndexEntrySize bytes) whose blobs end at
// `index_offset`: a known type and compression, sizes, and the blob within the pack. The
// repository reads one entry at a time this way (its blob index keeps no entries).
Result<PackBlobEntry> ParsePackIndexEntry(std::span<const uint8_t> bytes, uint64_t index_offset,
                                          uint32_t i);

// Parses the index section against its footer: digest, bounds of every blob, known types.
Result<std::vector<PackBlobEntry>> ParsePackIndex(std::span<const uint8_t> index,
                                                  const PackFooter& footer);

}  // namespace dbaas::storage
