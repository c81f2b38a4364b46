#include "storage/wal_archive.h"

#include <sys/stat.h>
#include <unistd.h>

#include <fstream>

#include <gtest/gtest.h>
#include <zstd.h>

#include "base/files.h"
#include "storage/blob_codec.h"
#include "test_util.h"

namespace dbaas::storage {
namespace {

using testing::ReadFile;
using testing::TempDir;
using testing::WriteFile;

const char kSeg1[] = "000000010000000000000001";
const char kSeg2[] = "000000010000000000000002";

TEST(WalFileNameTest, AcceptsWhatPostgresArchivesAndNothingElse) {
  auto seg = ParseWalFileName("0000000200000001000000FE");
  ASSERT_TRUE(seg.ok());
  EXPECT_EQ(seg->kind, WalFileName::Kind::kSegment);
  EXPECT_EQ(seg->timeline, 2u);
  EXPECT_EQ(seg->position, "00000001000000FE");
  EXPECT_EQ(ParseWalFileName("00000003.history")->kind, WalFileName::Kind::kHistory);
  EXPECT_EQ(ParseWalFileName("000000010000000000000003.partial")->kind,
            WalFileName::Kind::kPartial);
  EXPECT_EQ(ParseWalFileName("000000010000000000000003.00000028.backup")->kind,
            WalFileName::Kind::kBackupLabel);
  for (const char* bad : {"", "..", "../000000010000000000000001", "00000001000000000000000g",
                          "000000010000000000000001.tmp", "000000000000000000000001",
                          "00000001.history/x", "/etc/passwd", "000000010000000000000001/"}) {
    EXPECT_EQ(ParseWalFileName(bad).status().code(), StatusCode::kInvalidArgument) << bad;
  }
}

class WalArchiveTest : public ::testing::Test {
 protected:
  void SetUp() override {
    Status created = WalArchive::Create(repo_, "pg1.abcd");
    ASSERT_TRUE(created.ok()) << created.ToString();
    auto opened = WalArchive::Open(repo_, "pg1.abcd");
    ASSERT_TRUE(opened.ok());
    archive_.emplace(std::move(opened.value()));
  }

  // Stores the file at `path` as `name`, as the spool's drain stores what it read.
  Status Push(const std::string& path, const std::string& name) {
    std::string raw = ReadFile(path);
    return archive_->Store({reinterpret_cast<const uint8_t*>(raw.data()), raw.size()}, name);
  }

  TempDir tmp_;
  std::string repo_ = tmp_ / "repo";
  std::optional<WalArchive> archive_;
};

TEST_F(WalArchiveTest, PushThenFetchGivesTheSameBytesCompressed) {
  // A segment as PostgreSQL leaves it: some records, then zeros.
  std::string segment = testing::RandomBytes(1 << 20, 7) + std::string(15 << 20, '\0');
  WriteFile(tmp_ / kSeg1, segment);
  ASSERT_TRUE(Push(tmp_ / kSeg1, kSeg1).ok());
  auto listed = archive_->List();
  ASSERT_TRUE(listed.ok());
  ASSERT_EQ(listed->size(), 1u);
  EXPECT_EQ((*listed)[0].name, kSeg1);
  EXPECT_LT((*listed)[0].stored_bytes, 2u << 20) << "zeros should compress";
  ASSERT_TRUE(archive_->Fetch(kSeg1, tmp_ / "fetched").ok());
  EXPECT_TRUE(ReadFile(tmp_ / "fetched") == segment);
  EXPECT_EQ(archive_->Fetch(kSeg2, tmp_ / "none").code(), StatusCode::kNotFound);
}

TEST_F(WalArchiveTest, StoredBytesMoveToAnotherArchiveOnlyWhenTheyCheck) {
  WriteFile(tmp_ / "seg", testing::RandomBytes(300000, 3));
  ASSERT_TRUE(Push(tmp_ / "seg", kSeg1).ok());
  auto stored = archive_->ReadStored(kSeg1);
  ASSERT_TRUE(stored.ok()) << stored.status().ToString();
  ASSERT_TRUE(WalArchive::Create(repo_, "pg2.abcd").ok());
  auto other = WalArchive::Open(repo_, "pg2.abcd").value();
  auto damaged = *stored;
  damaged[damaged.size() / 2] ^= 0x10;
  Status refused = other.StoreEncoded(damaged, kSeg1);
  EXPECT_EQ(refused.code(), StatusCode::kCorruption) << refused.ToString();
  EXPECT_EQ(other.Read(kSeg1).status().code(), StatusCode::kNotFound) << "nothing kept";
  ASSERT_TRUE(other.StoreEncoded(*stored, kSeg1).ok());
  EXPECT_TRUE(other.StoreEncoded(*stored, kSeg1).ok()) << "the same file again";
  EXPECT_TRUE(other.Read(kSeg1).value() == archive_->Read(kSeg1).value());
  EXPECT_EQ(other.StoreEncoded(*stored, "../x").code(), StatusCode::kInvalidArgument);
}

TEST_F(WalArchiveTest, SameNameSameContentSucceedsOtherContentFailsLoudly) {
  WriteFile(tmp_ / "a", "first content");
  WriteFile(tmp_ / "b", "other content");
  ASSERT_TRUE(Push(tmp_ / "a", kSeg1).ok());
  EXPECT_TRUE(Push(tmp_ / "a", kSeg1).ok()) << "re-archiving after a crash";
  Status clash = Push(tmp_ / "b", kSeg1);
  EXPECT_EQ(clash.code(), StatusCode::kAlreadyExists);
  EXPECT_NE(clash.message().find(kSeg1), std::string::npos) << clash.ToString();
  // The first content is still what the archive gives.
  ASSERT_TRUE(archive_->Fetch(kSeg1, tmp_ / "out").ok());
  EXPECT_EQ(ReadFile(tmp_ / "out"), "first content");
}

TEST_F(WalArchiveTest, RefusesNamesThatAreNotWalFiles) {
  WriteFile(tmp_ / "a", "x");
  EXPECT_EQ(Push(tmp_ / "a", "../escape").code(), StatusCode::kInvalidArgument);
  EXPECT_EQ(archive_->Fetch("../../config.json", tmp_ / "o").code(), StatusCode::kInvalidArgument);
  EXPECT_FALSE(dbaas::PathExists(repo_ + "/wal/escape"));
}

TEST_F(WalArchiveTest, AFlippedByteIsFoundOnFetch) {
  WriteFile(tmp_ / "a", testing::RandomBytes(100000, 3));
  ASSERT_TRUE(Push(tmp_ / "a", kSeg1).ok());
  std::string path = archive_->dir() + "/" + kSeg1;
  std::string stored = ReadFile(path);
  stored[stored.size() / 2] ^= 0x40;
  WriteFile(path, stored);
  Status fetched = archive_->Fetch(kSeg1, tmp_ / "out");
  EXPECT_EQ(fetched.code(), StatusCode::kCorruption) << fetched.ToString();
  // A scan checks the frame's own checksum instead of SHA-256: it finds it too (random
  // bytes are stored raw inside the frame, so only a checksum can).
  auto scanned = archive_->Read(kSeg1, BlobCheck::kFrameChecksum);
  EXPECT_EQ(scanned.status().code(), StatusCode::kCorruption) << scanned.status().ToString();
}

TEST_F(WalArchiveTest, AFileWithoutAFrameChecksumIsCheckedBySha256) {
  // As files were stored before their frames carried a checksum: the header's SHA-256 is
  // the only check, and a scan that asks for the frame's falls back to it.
  std::string raw = testing::RandomBytes(100000, 4);
  WriteFile(tmp_ / "a", raw);
  ASSERT_TRUE(Push(tmp_ / "a", kSeg1).ok());
  std::string path = archive_->dir() + "/" + kSeg1;
  std::string stored = ReadFile(path);
  const size_t header = 8 + 8 + 32;
  std::string frame(ZSTD_compressBound(raw.size()), '\0');
  size_t n = ZSTD_compress(frame.data(), frame.size(), raw.data(), raw.size(), 1);
  ASSERT_FALSE(ZSTD_isError(n));
  frame.resize(n);
  ASSERT_FALSE(FrameHasChecksum({reinterpret_cast<const uint8_t*>(frame.data()), n}));
  ASSERT_TRUE(FrameHasChecksum(
      {reinterpret_cast<const uint8_t*>(stored.data()) + header, stored.size() - header}))
      << "files stored now carry their frame's checksum";
  WriteFile(path, stored.substr(0, header) + frame);
  auto read = archive_->Read(kSeg1, BlobCheck::kFrameChecksum);
  ASSERT_TRUE(read.ok()) << read.status().ToString();
  EXPECT_EQ(std::string(read->begin(), read->end()), raw);
  frame[frame.size() / 2] ^= 0x40;
  WriteFile(path, stored.substr(0, header) + frame);
  auto flipped = archive_->Read(kSeg1, BlobCheck::kFrameChecksum);
  EXPECT_EQ(flipped.status().code(), StatusCode::kCorruption) << flipped.status().ToString();
}

TEST_F(WalArchiveTest, ASymlinkPlantedInTheArchiveIsNotFollowed) {
  WriteFile(tmp_ / "secret", "not WAL");
  ASSERT_EQ(::symlink((tmp_ / "secret").c_str(), (archive_->dir() + "/" + kSeg1).c_str()), 0);
  EXPECT_FALSE(archive_->Fetch(kSeg1, tmp_ / "out").ok());
  EXPECT_FALSE(archive_->RawSize(kSeg1).ok());
  EXPECT_FALSE(dbaas::PathExists(tmp_ / "out"));
}

TEST_F(WalArchiveTest, RemoveBeforeKeepsLaterSegmentsAndHistory) {
  WriteFile(tmp_ / "a", "x");
  for (const char* name : {"000000010000000000000001", "000000010000000000000002",
                           "000000010000000000000002.00000028.backup", "000000020000000000000003",
                           "00000002.history", "000000010000000100000000"}) {
    ASSERT_TRUE(Push(tmp_ / "a", name).ok()) << name;
  }
  auto removed = archive_->RemoveBefore("0000000000000003");
  ASSERT_TRUE(removed.ok());
  EXPECT_EQ(*removed, 3u);
  auto listed = archive_->List();
  ASSERT_TRUE(listed.ok());
  std::vector<std::string> left;
  for (const auto& f : *listed) left.push_back(f.name);
  EXPECT_EQ(left, (std::vector<std::string>{"000000010000000100000000", "00000002.history",
                                            "000000020000000000000003"}));
}

// A restore's staged copy: the history files and what comes from the position on, as
// stored (a fetch from the copy checks the same checksum); a link planted in the archive
// is neither listed nor copied.
TEST_F(WalArchiveTest, CopyIntoTakesHistoryAndWhatFollowsThePosition) {
  WriteFile(tmp_ / "a", "segment bytes");
  for (const char* name : {"000000010000000000000001", "000000010000000000000002",
                           "00000002.history", "000000020000000000000003"}) {
    ASSERT_TRUE(Push(tmp_ / "a", name).ok()) << name;
  }
  WriteFile(tmp_ / "secret", "not WAL");
  ASSERT_EQ(
      ::symlink((tmp_ / "secret").c_str(), (archive_->dir() + "/000000020000000000000004").c_str()),
      0);
  const std::string stage = tmp_ / "stage";
  ASSERT_TRUE(WalArchive::Create(stage, "pg1.abcd").ok());
  auto dest = WalArchive::Open(stage, "pg1.abcd");
  ASSERT_TRUE(dest.ok());
  auto copied = archive_->CopyInto(*dest, "0000000000000002");
  ASSERT_TRUE(copied.ok()) << copied.status().ToString();
  EXPECT_EQ(*copied, 3u);
  std::vector<std::string> names;
  auto listed = dest->List();
  ASSERT_TRUE(listed.ok());
  for (const auto& f : *listed) names.push_back(f.name);
  EXPECT_EQ(names, (std::vector<std::string>{"000000010000000000000002", "00000002.history",
                                             "000000020000000000000003"}));
  ASSERT_TRUE(dest->Fetch("000000020000000000000003", tmp_ / "out").ok());
  EXPECT_EQ(ReadFile(tmp_ / "out"), "segment bytes");
}

TEST_F(WalArchiveTest, ArchivesAreListedAndRemovedWhole) {
  ASSERT_TRUE(WalArchive::Create(repo_, "pg2.ef01").ok());
  EXPECT_EQ(WalArchive::ListIds(repo_).value(), (std::vector<std::string>{"pg1.abcd", "pg2.ef01"}));
  ASSERT_TRUE(WalArchive::Remove(repo_, "pg1.abcd").ok());
  EXPECT_EQ(WalArchive::ListIds(repo_).value(), (std::vector<std::string>{"pg2.ef01"}));
  EXPECT_EQ(WalArchive::Open(repo_, "pg1.abcd").status().code(), StatusCode::kNotFound);
}

TEST_F(WalArchiveTest, PushFailureIsRecordedAndClearedBySuccess) {
  std::string status = tmp_ / "wal-push.status";
  EXPECT_FALSE(ReadArchivingFailure(status).has_value());
  ASSERT_TRUE(RecordArchivingFailure(status, "no space left\non device").ok());
  auto failure = ReadArchivingFailure(status);
  ASSERT_TRUE(failure.has_value());
  EXPECT_NE(failure->find("no space left on device"), std::string::npos) << *failure;
  ASSERT_TRUE(ClearArchivingFailure(status).ok());
  EXPECT_FALSE(ReadArchivingFailure(status).has_value());
}

}  // namespace
}  // namespace dbaas::storage
