#include "storage/pack_format.h"

#include <cstring>

#include <fmt/format.h>

namespace dbaas::storage {
namespace {

// Little-endian field codecs; the format is the same on every host.
void PutU32(std::string& out, uint32_t v) {
  for (int i = 0; i < 4; ++i) out.push_back(static_cast<char>(v >> (8 * i)));
}
void PutU64(std::string& out, uint64_t v) {
  for (int i = 0; i < 8; ++i) out.push_back(static_cast<char>(v >> (8 * i)));
}
uint32_t GetU32(const uint8_t* p) {
  uint32_t v = 0;
  for (int i = 0; i < 4; ++i) v |= static_cast<uint32_t>(p[i]) << (8 * i);
  return v;
}
uint64_t GetU64(const uint8_t* p) {
  uint64_t v = 0;
  for (int i = 0; i < 8; ++i) v |= static_cast<uint64_t>(p[i]) << (8 * i);
  return v;
}

}  // namespace

std::string EncodePackTail(const std::vector<PackBlobEntry>& entries, uint64_t index_offset) {
  std::string index;
  index.reserve(entries.size() * kPackIndexEntrySize);
  for (const PackBlobEntry& e : entries) {
    index.append(reinterpret_cast<const char*>(e.id.bytes.data()), e.id.bytes.size());
    index.push_back(static_cast<char>(e.type));
    index.push_back(static_cast<char>(e.compression));
    index.append(2, '\0');  // reserved
    PutU32(index, e.stored_size);
    PutU32(index, e.raw_size);
    PutU64(index, e.offset);
  }
  Sha256Digest digest = Sha256(index);
  std::string tail = std::move(index);
  PutU64(tail, index_offset);
  PutU32(tail, static_cast<uint32_t>(entries.size()));
  PutU32(tail, kPackFormatVersion);
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
  f.index_offset = GetU64(p);
  f.entry_count = GetU32(p + 8);
  f.version = GetU32(p + 12);
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
    const uint8_t* p = index.data() + size_t{i} * kPackIndexEntrySize;
    PackBlobEntry& e = entries[i];
    std::memcpy(e.id.bytes.data(), p, 32);
    uint8_t type = p[32];
    uint8_t compression = p[33];
    e.stored_size = GetU32(p + 36);
    e.raw_size = GetU32(p + 40);
    e.offset = GetU64(p + 44);
    if (type > static_cast<uint8_t>(BlobType::kPagePatch) ||
        compression > static_cast<uint8_t>(Compression::kZstdDelta)) {
      return Status::Corruption(fmt::format("pack index entry {} has an unknown type", i));
    }
    e.type = static_cast<BlobType>(type);
    e.compression = static_cast<Compression>(compression);
    if (e.raw_size > kMaxBlobSize || e.stored_size > kMaxBlobSize ||
        (e.compression == Compression::kNone && e.stored_size != e.raw_size) ||
        (e.compression == Compression::kZstdDelta && e.stored_size <= kDeltaBaseIdSize) ||
        e.offset < kPackHeaderSize || e.offset > footer.index_offset ||
        footer.index_offset - e.offset < e.stored_size) {
      return Status::Corruption(fmt::format("pack index entry {} is out of bounds", i));
    }
  }
  return entries;
}

}  // namespace dbaas::storage
