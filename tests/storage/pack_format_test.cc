#include "storage/pack_format.h"

#include <zstd.h>

#include <gtest/gtest.h>

#include "storage/blob_codec.h"
#include "storage/chunk_list.h"

namespace dbaas::storage {
namespace {

std::vector<PackBlobEntry> SampleEntries() {
  std::vector<PackBlobEntry> entries(3);
  for (int i = 0; i < 3; ++i) {
    entries[i].id = Sha256(std::string_view(std::to_string(i)));
    entries[i].compression = i == 1 ? Compression::kZstd : Compression::kNone;
    entries[i].stored_size = 100;
    entries[i].raw_size = i == 1 ? 400 : 100;
    entries[i].offset = kPackHeaderSize + 100 * i;
  }
  return entries;
}

std::span<const uint8_t> Bytes(const std::string& s) {
  return {reinterpret_cast<const uint8_t*>(s.data()), s.size()};
}

TEST(PackFormatTest, TailRoundTrip) {
  auto entries = SampleEntries();
  uint64_t index_offset = kPackHeaderSize + 300;
  std::string tail = EncodePackTail(entries, index_offset);
  uint64_t file_size = index_offset + tail.size();
  auto footer = ParsePackFooter(Bytes(tail).subspan(tail.size() - kPackFooterSize), file_size);
  ASSERT_TRUE(footer.ok()) << footer.status().ToString();
  EXPECT_EQ(footer->entry_count, 3u);
  auto parsed = ParsePackIndex(Bytes(tail).subspan(0, tail.size() - kPackFooterSize), *footer);
  ASSERT_TRUE(parsed.ok()) << parsed.status().ToString();
  ASSERT_EQ(parsed->size(), 3u);
  EXPECT_EQ((*parsed)[1].id, entries[1].id);
  EXPECT_EQ((*parsed)[1].raw_size, 400u);
  EXPECT_EQ((*parsed)[2].offset, entries[2].offset);
}

TEST(PackFormatTest, EveryFlippedByteOfTheTailIsDetected) {
  auto entries = SampleEntries();
  uint64_t index_offset = kPackHeaderSize + 300;
  std::string good = EncodePackTail(entries, index_offset);
  uint64_t file_size = index_offset + good.size();
  for (size_t i = 0; i < good.size(); ++i) {
    std::string bad = good;
    bad[i] ^= 0x01;
    auto footer = ParsePackFooter(Bytes(bad).subspan(bad.size() - kPackFooterSize), file_size);
    if (!footer.ok()) {
      EXPECT_EQ(footer.status().code(), StatusCode::kCorruption);
      continue;
    }
    auto parsed = ParsePackIndex(Bytes(bad).subspan(0, bad.size() - kPackFooterSize), *footer);
    EXPECT_FALSE(parsed.ok()) << "flip at byte " << i << " not detected";
  }
}

TEST(PackFormatTest, TruncatedPackIsCorruption) {
  std::string tail = EncodePackTail(SampleEntries(), kPackHeaderSize + 300);
  auto footer = ParsePackFooter(Bytes(tail).subspan(0, 10), 10);
  ASSERT_FALSE(footer.ok());
  EXPECT_EQ(footer.status().code(), StatusCode::kCorruption);
  // The right footer against a file that is shorter than it claims.
  auto footer2 = ParsePackFooter(Bytes(tail).subspan(tail.size() - kPackFooterSize), 200);
  EXPECT_FALSE(footer2.ok());
}

TEST(ChunkListTest, RoundTripAndRejectsBadLengths) {
  std::vector<ChunkRef> chunks{{Sha256(std::string_view("a")), 16384},
                               {Sha256(std::string_view("b")), 7}};
  std::string encoded = EncodeChunkList(chunks);
  auto parsed = ParseChunkList(Bytes(encoded));
  ASSERT_TRUE(parsed.ok());
  EXPECT_EQ(*parsed, chunks);
  EXPECT_FALSE(ParseChunkList(Bytes(encoded.substr(0, encoded.size() - 1))).ok());
  std::string zero_len = encoded;
  zero_len[8 + 32] = zero_len[8 + 33] = zero_len[8 + 34] = zero_len[8 + 35] = 0;
  EXPECT_FALSE(ParseChunkList(Bytes(zero_len)).ok());
}

}  // namespace
}  // namespace dbaas::storage

namespace dbaas::storage {
namespace {

PackBlobEntry EntryFor(const std::string& raw, Compression c) {
  PackBlobEntry e;
  e.id = Sha256(raw);
  e.compression = c;
  e.raw_size = static_cast<uint32_t>(raw.size());
  return e;
}

// A restore checks frames by their zstd content checksum instead of SHA-256: every frame
// written now carries one, and no flipped bit of one yields other content unnoticed (a few
// flip padding bits that decode to the same content, which is right).
TEST(BlobCodecTest, TheFrameChecksumCatchesEveryFlippedByte) {
  std::string raw;
  for (int i = 0; i < 400; ++i) raw += "row " + std::to_string(i * 7919) + " balance 0; ";
  BlobCodec codec;
  std::vector<uint8_t> stored, out;
  ASSERT_EQ(codec.Compress(Bytes(raw), 1, stored), Compression::kZstd);
  PackBlobEntry e = EntryFor(raw, Compression::kZstd);
  ASSERT_TRUE(codec.Decode(e, stored, out, {}, BlobCheck::kFrameChecksum).ok());
  EXPECT_EQ(std::string(out.begin(), out.end()), raw);
  size_t caught = 0;
  for (size_t i = 0; i < stored.size(); ++i) {
    for (uint8_t bit : {0x01, 0x10, 0x80}) {
      std::vector<uint8_t> damaged = stored;
      damaged[i] ^= bit;
      Status st = codec.Decode(e, damaged, out, {}, BlobCheck::kFrameChecksum);
      if (st.ok()) {
        EXPECT_EQ(std::string(out.begin(), out.end()), raw) << "byte " << i << " bit " << +bit;
      } else {
        EXPECT_EQ(st.code(), StatusCode::kCorruption);
        ++caught;
      }
    }
  }
  EXPECT_GT(caught, stored.size() * 3 * 9 / 10);
}

TEST(BlobCodecTest, DeltaFramesCarryTheirChecksumToo) {
  std::string base(65536, 'a'), raw = base;
  raw.replace(1000, 20, "a changed tuple here");
  BlobCodec codec;
  std::vector<uint8_t> plain, delta, out;
  codec.Compress(Bytes(raw), 1, plain);
  ASSERT_TRUE(codec.CompressDelta(Bytes(raw), Sha256(base), Bytes(base), 1, raw.size(), delta));
  PackBlobEntry e = EntryFor(raw, Compression::kZstdDelta);
  ASSERT_TRUE(codec.Decode(e, delta, out, Bytes(base), BlobCheck::kFrameChecksum).ok());
  EXPECT_EQ(std::string(out.begin(), out.end()), raw);
  delta.back() ^= 0x40;  // the checksum itself
  EXPECT_EQ(codec.Decode(e, delta, out, Bytes(base), BlobCheck::kFrameChecksum).code(),
            StatusCode::kCorruption);
}

// Frames written before they carried a checksum, and blobs stored raw, are still checked
// by SHA-256: a blob that is not its id's content fails either way.
TEST(BlobCodecTest, WithoutAFrameChecksumSha256Decides) {
  std::string raw(50000, 'x'), other(50000, 'y');
  std::vector<uint8_t> old_frame(ZSTD_compressBound(raw.size()));
  old_frame.resize(ZSTD_compress(old_frame.data(), old_frame.size(), raw.data(), raw.size(), 1));
  BlobCodec codec;
  std::vector<uint8_t> out;
  PackBlobEntry right = EntryFor(raw, Compression::kZstd);
  EXPECT_TRUE(codec.Decode(right, old_frame, out, {}, BlobCheck::kFrameChecksum).ok());
  PackBlobEntry wrong = EntryFor(other, Compression::kZstd);
  wrong.raw_size = static_cast<uint32_t>(raw.size());
  EXPECT_EQ(codec.Decode(wrong, old_frame, out, {}, BlobCheck::kFrameChecksum).code(),
            StatusCode::kCorruption);
  PackBlobEntry raw_entry = EntryFor(other, Compression::kNone);
  EXPECT_EQ(codec.Decode(raw_entry, Bytes(raw), out, {}, BlobCheck::kFrameChecksum).code(),
            StatusCode::kCorruption);
}

}  // namespace
}  // namespace dbaas::storage
