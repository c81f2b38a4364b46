#include "storage/pack_format.h"

#include <zstd.h>

#include <gtest/gtest.h>

#include "storage/blob_codec.h"
#include "storage/chunk_list.h"
#include "storage/page_patch.h"

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

TEST(ChunkListTest, PatchedListsRoundTripAndKeepTheFirstFormatWithoutPatches) {
  std::vector<ChunkRef> chunks{{Sha256(std::string_view("a")), 16384},
                               {Sha256(std::string_view("b")), 16384},
                               {Sha256(std::string_view("c")), 7}};
  EXPECT_EQ(EncodeChunkList(chunks).substr(0, 4), "DBCL");
  chunks[1].patch = Sha256(std::string_view("patch"));
  std::string encoded = EncodeChunkList(chunks);
  EXPECT_EQ(encoded.substr(0, 4), "DBC2");
  EXPECT_EQ(encoded.size(), 8 + 3 * 37 + 32u);
  auto parsed = ParseChunkList(Bytes(encoded));
  ASSERT_TRUE(parsed.ok()) << parsed.status().ToString();
  EXPECT_EQ(*parsed, chunks);
  for (size_t cut : {encoded.size() - 1, encoded.size() - 32, size_t{8 + 36}}) {
    EXPECT_FALSE(ParseChunkList(Bytes(encoded.substr(0, cut))).ok()) << cut;
  }
  std::string trailing = encoded + "x";
  EXPECT_FALSE(ParseChunkList(Bytes(trailing)).ok());
  std::string bad_flags = encoded;
  bad_flags[8 + 36] = 2;  // the first entry's flags: an unknown bit
  EXPECT_FALSE(ParseChunkList(Bytes(bad_flags)).ok());
  // The patched format without a patch is not what the encoder writes: refused, so that
  // every list has one encoding (and one id).
  chunks[1].patch.reset();
  std::string plain = EncodeChunkList(chunks);
  std::string relabeled = "DBC2" + plain.substr(4, 4);
  for (size_t i = 0; i < 3; ++i) relabeled += plain.substr(8 + i * 36, 36) + std::string(1, '\0');
  auto no_patch = ParseChunkList(Bytes(relabeled));
  ASSERT_FALSE(no_patch.ok());
  EXPECT_NE(no_patch.status().message().find("no patch"), std::string::npos);
}

TEST(PagePatchTest, OverlaysMergeAndTheNewerBytesWin) {
  BlobId base = Sha256(std::string_view("base"));
  std::vector<uint8_t> chunk(1000, 'b');
  std::vector<uint8_t> first_data(20, '1');
  PagePatch first = OverlayPatch(nullptr, base, 1000, {{100, 10}, {300, 10}}, first_data);
  EXPECT_EQ(first.ranges, (std::vector<PatchRange>{{100, 10}, {300, 10}}));
  // Overlaps the first range and touches the second's end: joined into two ranges.
  std::vector<uint8_t> second_data(15 + 5, '2');
  PagePatch second = OverlayPatch(&first, base, 1000, {{105, 15}, {310, 5}}, second_data);
  EXPECT_EQ(second.ranges, (std::vector<PatchRange>{{100, 20}, {300, 15}}));
  ASSERT_TRUE(ApplyPagePatch(second, chunk).ok());
  std::string expected = std::string(100, 'b') + std::string(5, '1') + std::string(15, '2') +
                         std::string(180, 'b') + std::string(10, '1') + std::string(5, '2') +
                         std::string(685, 'b');
  EXPECT_EQ(std::string(chunk.begin(), chunk.end()), expected);
  std::vector<uint8_t> short_chunk(999);
  EXPECT_EQ(ApplyPagePatch(second, short_chunk).code(), StatusCode::kCorruption);
}

TEST(PagePatchTest, ParsesWhatItEncodesAndRefusesEverythingElse) {
  std::vector<uint8_t> data(8192 + 100, 'x');
  PagePatch p = OverlayPatch(nullptr, Sha256(std::string_view("base")), 65536,
                             {{8192, 8192}, {65436, 100}}, data);
  std::string encoded = EncodePagePatch(p);
  auto parsed = ParsePagePatch(Bytes(encoded));
  ASSERT_TRUE(parsed.ok()) << parsed.status().ToString();
  EXPECT_EQ(parsed->base, p.base);
  EXPECT_EQ(parsed->chunk_length, 65536u);
  EXPECT_EQ(parsed->ranges, p.ranges);
  EXPECT_EQ(parsed->data, p.data);
  // Each refused for the reason its message names.
  auto refused = [&](std::string bytes, std::string_view message) {
    auto r = ParsePagePatch(Bytes(bytes));
    ASSERT_FALSE(r.ok()) << message;
    EXPECT_EQ(r.status().code(), StatusCode::kCorruption) << message;
    EXPECT_NE(r.status().message().find(message), std::string::npos) << r.status().message();
  };
  auto with_u32 = [&](size_t at, uint32_t v) {  // header: magic, base id, length at 36,
    std::string b = encoded;                    // count at 40, ranges from 44
    std::memcpy(b.data() + at, &v, 4);
    return b;
  };
  refused(encoded.substr(0, encoded.size() - 1), "bytes of data for ranges of");
  refused(encoded + "y", "bytes of data for ranges of");
  refused("DBPQ" + encoded.substr(4), "bad header");
  refused(encoded.substr(0, 40), "bad header");
  refused(with_u32(36, 0), "cannot hold");
  refused(with_u32(40, 0), "cannot hold");
  refused(with_u32(40, 1000000), "cannot hold");
  refused(with_u32(52, 65500), "ends past its chunk");
  refused(with_u32(44, 57300), "out of order");         // overlaps the next
  refused(with_u32(44, 65436 - 8192), "out of order");  // touches the next
  refused(with_u32(48, 0), "is empty");
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
