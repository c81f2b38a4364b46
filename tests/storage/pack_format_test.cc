#include "storage/pack_format.h"

#include <gtest/gtest.h>

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
