// The repository's blob index (storage/blob_index.h): every blob added is found under the
// number it was added with, through the table's growth; a blob added twice keeps its first
// number; ids that share their first 8 bytes are told apart by the caller's check, which is
// asked only for those; the table's memory is 12 bytes a slot.
#include "storage/blob_index.h"

#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "base/sha256.h"

namespace dbaas::storage {
namespace {

BlobId IdOf(size_t n) { return Sha256("blob " + std::to_string(n)); }

// The blobs' entries as the repository reads them: number -> id.
struct Entries {
  std::vector<BlobId> ids;
  mutable size_t reads = 0;
  auto Same(const BlobId& id) const {
    return [this, id](uint32_t number) {
      ++reads;
      return number < ids.size() && ids[number] == id;
    };
  }
  bool Add(BlobIndex& index, const BlobId& id) {
    ids.push_back(id);
    return index.Add(id, static_cast<uint32_t>(ids.size() - 1), Same(id));
  }
};

TEST(BlobIndexTest, FindsEveryBlobThroughGrowth) {
  BlobIndex index;
  Entries entries;
  EXPECT_FALSE(index.Find(IdOf(0), entries.Same(IdOf(0))));  // empty: no slots yet
  constexpr size_t kCount = 100000;  // grows from 16 slots, rehashing on the way
  for (size_t i = 0; i < kCount; ++i) ASSERT_TRUE(entries.Add(index, IdOf(i)));
  ASSERT_EQ(index.size(), kCount);
  entries.reads = 0;
  for (size_t i = 0; i < kCount; ++i) {
    auto number = index.Find(IdOf(i), entries.Same(IdOf(i)));
    ASSERT_TRUE(number.has_value()) << i;
    EXPECT_EQ(*number, i);
    EXPECT_TRUE(index.Holds(IdOf(i), static_cast<uint32_t>(i)));
    EXPECT_FALSE(index.Holds(IdOf(i), static_cast<uint32_t>(i + 1)));
  }
  // Random ids share no first 8 bytes: one read per blob found, none for a blob absent.
  EXPECT_EQ(entries.reads, kCount);
  for (size_t i = kCount; i < kCount + 1000; ++i) {
    EXPECT_FALSE(index.Find(IdOf(i), entries.Same(IdOf(i))));
  }
  EXPECT_EQ(entries.reads, kCount);
}

TEST(BlobIndexTest, TheFirstNumberOfABlobWins) {
  BlobIndex index;
  Entries entries;
  ASSERT_TRUE(entries.Add(index, IdOf(1)));
  EXPECT_FALSE(entries.Add(index, IdOf(1))) << "number 1 is the same blob as number 0";
  ASSERT_EQ(index.size(), 1u);
  EXPECT_EQ(index.Find(IdOf(1), entries.Same(IdOf(1))), 0u);
}

TEST(BlobIndexTest, IdsThatShareTheirFirstBytesAreToldApartByTheirEntries) {
  BlobIndex index;
  Entries entries;
  BlobId a = IdOf(1), b = IdOf(1);
  b.bytes[31] ^= 1;  // the same first 8 bytes: the same slot, probed past
  ASSERT_TRUE(entries.Add(index, a));
  ASSERT_TRUE(entries.Add(index, b));
  ASSERT_EQ(index.size(), 2u);
  EXPECT_EQ(index.Find(a, entries.Same(a)), 0u);
  EXPECT_EQ(index.Find(b, entries.Same(b)), 1u);
  BlobId c = a;
  c.bytes[20] ^= 1;
  entries.reads = 0;
  EXPECT_FALSE(index.Find(c, entries.Same(c)));
  EXPECT_EQ(entries.reads, 2u) << "both entries with c's first 8 bytes read, neither is c";
  // Another first 8 bytes: no entry read.
  BlobId d = a;
  d.bytes[3] ^= 1;
  entries.reads = 0;
  EXPECT_FALSE(index.Find(d, entries.Same(d)));
  EXPECT_EQ(entries.reads, 0u);
}

TEST(BlobIndexTest, AnEntryThatCannotBeReadIsNotTheBlob) {
  // The repository's check answers false when the pack's entry cannot be read: the blob
  // counts as absent (a writer stores it again), and a second copy is indexed beside it.
  BlobIndex index;
  auto unreadable = [](uint32_t) { return false; };
  ASSERT_TRUE(index.Add(IdOf(7), 0, unreadable));
  EXPECT_FALSE(index.Find(IdOf(7), unreadable));
  EXPECT_TRUE(index.Add(IdOf(7), 1, unreadable));
  EXPECT_EQ(index.size(), 2u);
  EXPECT_EQ(index.Find(IdOf(7), [](uint32_t n) { return n == 1; }), 1u);
}

}  // namespace
}  // namespace dbaas::storage
