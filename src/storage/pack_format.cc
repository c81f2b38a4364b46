#include "storage/pack_format.h"

#include <cstring>

#include <fmt/format.h>

#include "storage/byte_codec.h"

namespace dbaas::storage {

std::string EncodePackTail(const std::vector<PackBlobEntry>& entries, uint64_t index_offset) {
  std::string index;
  index.reserve(entries.size() * kPackIndexEntrySize);
  for (const PackBlobEntry& e : entries) {
    index.append(reinterpret_cast<const char*>(e.id.bytes.data()), e.id.bytes.size());
    index.push_back(static_cast<char>(e.type));
    index.push_back(static_cast<char>(e.compression));
    index.append(2, '\0');  // reserved
    PutLe<uint32_t>(index, e.stored_size);
    PutLe<uint32_t>(index, e.raw_size);
    PutLe<uint64_t>(index, e.offset);
  }
  Sha256Digest digest = Sha256(index);
  std::string tail = std::move(index);
  PutLe<uint64_t>(tail, index_offset);
  PutLe<uint32_t>(tail, static_cast<uint32_t>(entries.size()));
  PutLe<uint32_t>(tail, kPackFormatVersion);
  tail.append(reinterpret_cast<const char*>(digest.bytes.data()), digest.bytes.size());
  tail.append(kPackFooterMagic);
  return tail;
}

Result<PackFooter> ParsePackFooter(std::span<const uint8_t> footer, uint64_t file_size) {
  if (footer.size() != kPackFooterSize || file_size < kPackHeaderSize + kPackFooterSize) {
    return Status::Corruption(fmt::format("pack is too short ({} bytes)", file_size));
  }
  const uint8_t* p = footer.data();
  if (std::memcmp(p + 48, kPackFooterMagic.data(), 8) != 0) {
    return Status::Corruption("bad pack footer magic (truncated or not a pack)");
  }
  PackFooter f;
  f.index_offset = GetLe<uint64_t>(p);
  f.entry_count = GetLe<uint32_t>(p + 8);
  f.version = GetLe<uint32_t>(p + 12);
  std::memcpy(f.index_digest.bytes.data(), p + 16, 32);
  if (f.version != kPackFormatVersion) {
    return Status::Corruption(fmt::format("unsupported pack format version {}", f.version));
  }
  uint64_t index_end = file_size - kPackFooterSize;
  if (f.index_offset < kPackHeaderSize || f.index_offset > index_end ||
      (index_end - f.index_offset) != uint64_t{f.entry_count} * kPackIndexEntrySize) {
    return Status::Corruption(
        fmt::format("pack footer points outside the pack (index at {}, "
                    "{} entries, file {} bytes)",
                    f.index_offset, f.entry_count, file_size));
  }
  return f;
}

Result<PackBlobEntry> ParsePackIndexEntry(std::span<const uint8_t> bytes, uint64_t index_offset,
                                          uint32_t i) {
  if (bytes.size() != kPackIndexEntrySize) {
    return Status::Corruption(fmt::format("pack index entry {} is short", i));
  }
  const uint8_t* p = bytes.data();
  PackBlobEntry e;
  std::memcpy(e.id.bytes.data(), p, 32);
  uint8_t type = p[32];
  uint8_t compression = p[33];
  e.stored_size = GetLe<uint32_t>(p + 36);
  e.raw_size = GetLe<uint32_t>(p + 40);
  e.offset = GetLe<uint64_t>(p + 44);
  if (type > static_cast<uint8_t>(BlobType::kPagePatch) ||
      compression > static_cast<uint8_t>(Compression::kZstdDelta)) {
    return Status::Corruption(fmt::format("pack index entry {} has an unknown type", i));
  }
  e.type = static_cast<BlobType>(type);
  e.compression = static_cast<Compression>(compression);
  if (e.raw_size > kMaxBlobSize || e.stored_size > kMaxBlobSize ||
      (e.compression == Compression::kNone && e.stored_size != e.raw_size) ||
      (e.compression == Compression::kZstdDelta && e.stored_size <= kDeltaBaseIdSize) ||
      e.offset < kPackHeaderSize || e.offset > index_offset ||
      index_offset - e.offset < e.stored_size) {
    return Status::Corruption(fmt::format("pack index entry {} is out of bounds", i));
  }
  return e;
}

Result<std::vector<PackBlobEntry>> ParsePackIndex(std::span<const uint8_t> index,
                                                  const PackFooter& footer) {
  if (index.size() != uint64_t{footer.entry_count} * kPackIndexEntrySize) {
    return Status::Corruption("pack index has the wrong length");
  }
  if (Sha256(index) != footer.index_digest) {
    return Status::Corruption("pack index checksum mismatch");
  }
  std::vector<PackBlobEntry> entries(footer.entry_count);
  for (uint32_t i = 0; i < footer.entry_count; ++i) {
    ASSIGN_OR_RETURN(entries[i], ParsePackIndexEntry(index.subspan(size_t{i} * kPackIndexEntrySize,
                                                                   kPackIndexEntrySize),
                                                     footer.index_offset, i));
  }
  return entries;
}

}  // namespace dbaas::storage
