// The WAL spool: archive_command's side (spool a file, durable, never rebound to other
// bytes) and the daemon's (drain into the root-only archive, taking nothing a server
// would not write, keeping in the spool whatever could not be stored).
#include "storage/wal_spool.h"

#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/time.h>
#include <unistd.h>

#include <filesystem>

#include <fmt/format.h>
#include <fmt/ranges.h>
#include <gtest/gtest.h>

#include "base/files.h"
#include "test_util.h"

namespace dbaas::storage {
namespace {

using testing::ReadFile;
using testing::TempDir;
using testing::WriteFile;

const char kSeg1[] = "000000010000000000000001";
const char kSeg2[] = "000000010000000000000002";
const char kSeg3[] = "000000010000000000000003";
constexpr size_t kSegSize = 1 << 20;  // the smallest wal_segment_size

class WalSpoolTest : public ::testing::Test {
 protected:
  void SetUp() override {
    ASSERT_TRUE(MakeDirs(spool_).ok());
    ASSERT_TRUE(WalArchive::Create(repo_, "pg1.abcd").ok());
    archive_.emplace(std::move(WalArchive::Open(repo_, "pg1.abcd").value()));
  }

  // A segment-sized file in pg_wal/ (outside the spool), as archive_command gets it.
  std::string Segment(const std::string& name, unsigned seed) {
    std::string path = tmp_ / ("pg_wal/" + name);
    (void)MakeDirs(tmp_ / "pg_wal");
    WriteFile(path, testing::RandomBytes(kSegSize, seed));
    return path;
  }

  std::vector<std::string> SpoolEntries() {
    std::vector<std::string> names;
    for (const auto& e : std::filesystem::directory_iterator(spool_)) {
      names.push_back(e.path().filename());
    }
    std::sort(names.begin(), names.end());
    return names;
  }

  TempDir tmp_;
  std::string spool_ = tmp_ / "spool";
  std::string repo_ = tmp_ / "repo";
  std::optional<WalArchive> archive_;
};

TEST_F(WalSpoolTest, SpooledFilesAreDrainedIntoTheArchiveOnceAndLeaveTheSpool) {
  std::string seg1 = Segment(kSeg1, 1);
  ASSERT_TRUE(SpoolWalFile(spool_, seg1, kSeg1).ok());
  ASSERT_TRUE(SpoolWalFile(spool_, seg1, kSeg1).ok()) << "re-archiving after a crash";
  ASSERT_TRUE(SpoolWalFile(spool_, Segment(kSeg2, 2), kSeg2).ok());
  const std::string history = "1\t0/3000000\tno recovery target specified\n";
  WriteFile(tmp_ / "history", history);
  ASSERT_TRUE(SpoolWalFile(spool_, tmp_ / "history", "00000002.history").ok());
  // The same name with other bytes is refused and the first kept.
  WriteFile(tmp_ / "other", testing::RandomBytes(kSegSize, 9));
  Status clash = SpoolWalFile(spool_, tmp_ / "other", kSeg1);
  EXPECT_EQ(clash.code(), StatusCode::kAlreadyExists) << clash.ToString();
  EXPECT_EQ(ReadFile(JoinPath(spool_, kSeg1)), testing::RandomBytes(kSegSize, 1));
  EXPECT_EQ(SpoolEntries(), (std::vector<std::string>{kSeg1, kSeg2, "00000002.history"}))
      << "no temporary file stays behind";

  auto drained = DrainWalSpool(spool_, *archive_);
  ASSERT_TRUE(drained.ok()) << drained.status().ToString();
  EXPECT_EQ(drained->files, 3u);
  EXPECT_EQ(drained->raw_bytes, 2 * kSegSize + history.size());
  EXPECT_TRUE(drained->refused.empty());
  EXPECT_TRUE(SpoolEntries().empty());
  ASSERT_TRUE(archive_->Fetch(kSeg2, tmp_ / "fetched").ok());
  EXPECT_EQ(ReadFile(tmp_ / "fetched"), testing::RandomBytes(kSegSize, 2));

  // PostgreSQL re-archives a segment already drained: the spool takes it, the drain finds
  // it stored with the same bytes and removes it.
  ASSERT_TRUE(SpoolWalFile(spool_, seg1, kSeg1).ok());
  drained = DrainWalSpool(spool_, *archive_);
  ASSERT_TRUE(drained.ok()) << drained.status().ToString();
  EXPECT_EQ(drained->files, 1u);
  EXPECT_TRUE(SpoolEntries().empty());
}

TEST_F(WalSpoolTest, TheDrainTakesNothingAServerWouldNotWrite) {
  // Planted by a hostile server user: a link to a root-only file, a FIFO, a directory, a
  // file of no WAL size, a name that is not a WAL file's, under names the drain looks at.
  WriteFile(tmp_ / "secret", std::string(kSegSize, 's'));
  ASSERT_EQ(::chmod((tmp_ / "secret").c_str(), 0600), 0);
  ASSERT_EQ(::symlink((tmp_ / "secret").c_str(), JoinPath(spool_, kSeg1).c_str()), 0);
  ASSERT_EQ(::mkfifo(JoinPath(spool_, kSeg2).c_str(), 0600), 0);
  ASSERT_EQ(::mkdir(JoinPath(spool_, "00000002.history").c_str(), 0700), 0);
  WriteFile(JoinPath(spool_, kSeg3), "short");
  WriteFile(JoinPath(spool_, "notes.txt"), "x");
  // A wal-push that died long ago left a temporary file; one running now has a fresh one.
  std::string stale = JoinPath(spool_, std::string(".tmp.") + kSeg3 + ".aaaaaa");
  std::string fresh = JoinPath(spool_, std::string(".tmp.") + kSeg3 + ".bbbbbb");
  WriteFile(stale, "x");
  WriteFile(fresh, "x");
  struct timeval old[2] = {{::time(nullptr) - 3600, 0}, {::time(nullptr) - 3600, 0}};
  ASSERT_EQ(::utimes(stale.c_str(), old), 0);
  // And one good segment, which is taken.
  std::string good = "000000010000000000000004";
  ASSERT_TRUE(SpoolWalFile(spool_, Segment(good, 4), good).ok());

  auto drained = DrainWalSpool(spool_, *archive_);  // returns: the FIFO held nothing up
  ASSERT_TRUE(drained.ok()) << drained.status().ToString();
  EXPECT_EQ(drained->files, 1u);
  ASSERT_EQ(drained->refused.size(), 5u) << fmt::format("{}", fmt::join(drained->refused, "; "));
  auto listed = archive_->List();
  ASSERT_TRUE(listed.ok());
  ASSERT_EQ(listed->size(), 1u);
  EXPECT_EQ(listed->at(0).name, good) << "no planted entry reached the archive";
  EXPECT_FALSE(PathExists(stale));
  EXPECT_TRUE(PathExists(fresh));
  EXPECT_TRUE(PathExists(JoinPath(spool_, kSeg2))) << "what is refused stays for its owner";
}

TEST_F(WalSpoolTest, AFileTheArchiveCannotTakeStaysInTheSpool) {
  // The archive holds this name with other bytes already (two servers, one archive).
  const std::string first = testing::RandomBytes(kSegSize, 1);
  ASSERT_TRUE(
      archive_->Store({reinterpret_cast<const uint8_t*>(first.data()), first.size()}, kSeg1).ok());
  ASSERT_TRUE(SpoolWalFile(spool_, Segment(kSeg1, 2), kSeg1).ok());
  auto drained = DrainWalSpool(spool_, *archive_);
  ASSERT_FALSE(drained.ok());
  EXPECT_EQ(drained.status().code(), StatusCode::kAlreadyExists) << drained.status().ToString();
  EXPECT_NE(drained.status().message().find(kSeg1), std::string::npos);
  EXPECT_EQ(ReadFile(JoinPath(spool_, kSeg1)), testing::RandomBytes(kSegSize, 2));
}

TEST_F(WalSpoolTest, AFullArchiveKeepsTheSpoolAndLeavesNoPartOfTheFile) {
  if (::geteuid() != 0) GTEST_SKIP() << "mounting a small tmpfs needs root";
  // The archive on a 1 MiB tmpfs: a 1 MiB segment of random bytes does not fit compressed.
  ASSERT_EQ(::mount("tmpfs", archive_->dir().c_str(), "tmpfs", 0, "size=1m,mode=0700"), 0)
      << strerror(errno);
  struct Unmount {
    std::string dir;
    ~Unmount() { ::umount2(dir.c_str(), MNT_DETACH); }
  } unmount{archive_->dir()};
  ASSERT_TRUE(SpoolWalFile(spool_, Segment(kSeg1, 1), kSeg1).ok());
  auto drained = DrainWalSpool(spool_, *archive_);
  ASSERT_FALSE(drained.ok());
  EXPECT_NE(drained.status().message().find("No space left"), std::string::npos)
      << drained.status().ToString();
  EXPECT_EQ(SpoolEntries(), std::vector<std::string>{kSeg1});
  EXPECT_TRUE(std::filesystem::is_empty(archive_->dir())) << "no temporary file stays behind";
}

}  // namespace
}  // namespace dbaas::storage
