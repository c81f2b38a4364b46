// The repository's blob index (storage/blob_index.h): every blob added is found where it was
// added, through its growth (into arrays on huge pages); a blob added twice keeps its first
// location; ids that differ only beyond the bytes hashed, in the tag or beyond it, are told
// apart.
#include "storage/blob_index.h"

#include <gtest/gtest.h>

#include <string>

#include "base/sha256.h"

namespace dbaas::storage {
namespace {

BlobId IdOf(size_t n) { return Sha256("blob " + std::to_string(n)); }

BlobLocation At(const BlobId& id, uint32_t pack, uint64_t offset) {
  BlobLocation loc;
  loc.pack = pack;
  loc.entry.id = id;
  loc.entry.offset = offset;
  return loc;
}

TEST(BlobIndexTest, FindsEveryBlobThroughGrowth) {
  BlobIndex index;
  EXPECT_EQ(index.Find(IdOf(0)), nullptr);  // empty: no slots yet
  constexpr size_t kCount = 100000;         // grows from 16 slots, rehashing on the way
  for (size_t i = 0; i < kCount; ++i) index.Add(At(IdOf(i), static_cast<uint32_t>(i % 7), i));
  ASSERT_EQ(index.size(), kCount);
  for (size_t i = 0; i < kCount; ++i) {
    const BlobLocation* loc = index.Find(IdOf(i));
    ASSERT_NE(loc, nullptr) << i;
    EXPECT_EQ(loc->entry.id, IdOf(i));
    EXPECT_EQ(loc->pack, i % 7);
    EXPECT_EQ(loc->entry.offset, i);
  }
  for (size_t i = kCount; i < kCount + 1000; ++i) EXPECT_EQ(index.Find(IdOf(i)), nullptr);
  size_t iterated = 0;
  for (const BlobLocation& loc : index) iterated += index.Find(loc.entry.id) == &loc;
  EXPECT_EQ(iterated, kCount);
}

TEST(BlobIndexTest, TheFirstLocationOfABlobWins) {
  BlobIndex index;
  index.Reserve(4);
  index.Add(At(IdOf(1), 3, 100));
  index.Add(At(IdOf(1), 5, 200));
  ASSERT_EQ(index.size(), 1u);
  EXPECT_EQ(index.Find(IdOf(1))->pack, 3u);
  EXPECT_EQ(index.Find(IdOf(1))->entry.offset, 100u);
}

TEST(BlobIndexTest, IdsThatShareTheirHashedBytesAreTwoBlobs) {
  BlobIndex index;
  BlobId a = IdOf(1), b = IdOf(1);
  b.bytes[31] ^= 1;  // same first 8 bytes: the same slot, probed past
  index.Add(At(a, 1, 1));
  index.Add(At(b, 2, 2));
  ASSERT_EQ(index.size(), 2u);
  EXPECT_EQ(index.Find(a)->pack, 1u);
  EXPECT_EQ(index.Find(b)->pack, 2u);
  BlobId c = a;
  c.bytes[20] ^= 1;
  EXPECT_EQ(index.Find(c), nullptr);
  // The same hashed bytes and another tag (the slot's check before the location's).
  BlobId d = a;
  d.bytes[9] ^= 1;
  EXPECT_EQ(index.Find(d), nullptr);
  index.Add(At(d, 3, 3));
  ASSERT_EQ(index.size(), 3u);
  EXPECT_EQ(index.Find(d)->pack, 3u);
  EXPECT_EQ(index.Find(a)->pack, 1u);
}

}  // namespace
}  // namespace dbaas::storage
