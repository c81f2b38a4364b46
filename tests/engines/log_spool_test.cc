// Draining a log spool as the daemon does every second: what it cannot take is recorded
// once for the instance's status (not rewritten, and synced, every second), and cleared by
// a drain that takes everything.
#include "engines/log_spool.h"

#include <sys/stat.h>

#include <gtest/gtest.h>

#include "base/files.h"
#include "engines/postgres/pg_wal_summary.h"
#include "test_util.h"

namespace dbaas::engines {
namespace {

TEST(LogSpoolTest, AFailureIsRecordedOnceAndClearedBySuccess) {
  testing::TempDir tmp;
  LogSpool spool{"db",
                 tmp / "spool",
                 tmp / "repo",
                 "db.00000001",
                 tmp / "spool.status",
                 tmp / "push.status",
                 {},
                 {}};
  ASSERT_TRUE(MakeDirs(spool.dir).ok());
  ASSERT_TRUE(storage::WalArchive::Create(spool.repo_path, spool.archive_id).ok());
  testing::WriteFile(spool.dir + "/notes.txt", "not WAL");

  ASSERT_TRUE(DrainLogSpool(spool).ok());
  EXPECT_NE(LogSpoolNote(spool).find("notes.txt: not a WAL file name"), std::string::npos)
      << LogSpoolNote(spool);
  struct stat first, second;
  ASSERT_EQ(::stat(spool.status_path.c_str(), &first), 0);
  ASSERT_TRUE(DrainLogSpool(spool).ok());
  ASSERT_EQ(::stat(spool.status_path.c_str(), &second), 0);
  EXPECT_EQ(first.st_ino, second.st_ino) << "the same failure was written again";

  // wal-push's own failure comes first in the status.
  testing::WriteFile(spool.push_status_path, "2026-11-29T00:00:00Z No space left on device\n");
  EXPECT_NE(LogSpoolNote(spool).find("WAL archiving is failing"), std::string::npos);
  ASSERT_TRUE(UnlinkPath(spool.push_status_path).ok());

  ASSERT_TRUE(UnlinkPath(spool.dir + "/notes.txt").ok());
  ASSERT_TRUE(DrainLogSpool(spool).ok());
  EXPECT_EQ(LogSpoolNote(spool), "");
  EXPECT_FALSE(PathExists(spool.status_path));
}

// What is not WAL a server wrote (here: segment-sized noise) is archived all the same, as the
// spool's bytes are; its summary cannot be made, which is logged and does not fail the drain
// (backups scan such segments, and refuse them).
TEST(LogSpoolTest, ASegmentThatCannotBeSummarizedIsStillDrained) {
  testing::TempDir tmp;
  LogSpool spool{"db",
                 tmp / "spool",
                 tmp / "repo",
                 "db.00000001",
                 tmp / "spool.status",
                 tmp / "push.status",
                 SummarizeBeforeStoredSegment,
                 {}};
  ASSERT_TRUE(MakeDirs(spool.dir).ok());
  ASSERT_TRUE(storage::WalArchive::Create(spool.repo_path, spool.archive_id).ok());
  const char* names[] = {"000000010000000000000001", "000000010000000000000002"};
  for (unsigned i = 0; i < 2; ++i) {
    testing::WriteFile(spool.dir + "/" + names[i], testing::RandomBytes(1 << 20, 50 + i));
  }
  auto drained = DrainLogSpool(spool);
  ASSERT_TRUE(drained.ok()) << drained.status().ToString();
  EXPECT_EQ(drained->files, 2u);
  EXPECT_EQ(LogSpoolNote(spool), "");
  auto archive = storage::WalArchive::Open(spool.repo_path, spool.archive_id);
  ASSERT_TRUE(archive.ok());
  for (const char* name : names) {
    EXPECT_TRUE(archive->RawSize(name).ok()) << name;
    EXPECT_FALSE(archive->HasSummary(name)) << name;
  }
}

}  // namespace
}  // namespace dbaas::engines
