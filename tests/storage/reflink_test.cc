// Thin snapshots on a reflink-capable filesystem: a loop-mounted XFS image (reflink=1).
// Needs root (mount) and mkfs.xfs; otherwise skipped with the reason.
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cstdlib>
#include <filesystem>

#include <gtest/gtest.h>

#include "base/bytes.h"
#include "base/files.h"
#include "storage/reflink.h"
#include "storage/repo_maintenance.h"
#include "storage/repository.h"
#include "storage/snapshot_create.h"
#include "storage/snapshot_restore.h"
#include "test_util.h"

namespace dbaas::storage {
namespace {

using testing::TempDir;
using testing::XfsMount;

// Tests on an XFS (reflink=1) image of their own, skipped where one cannot be made.
class XfsReflinkTest : public ::testing::Test {
 protected:
  void SetUp() override {
    std::string why = xfs_.Make();
    if (!why.empty()) GTEST_SKIP() << why;
  }

  TempDir tmp_;
  XfsMount xfs_{tmp_.path()};
};

TEST_F(XfsReflinkTest, ThinSnapshotAndRestoreAreClones) {
  std::string source = xfs_.path() + "/src";
  for (int i = 0; i < 4; ++i) {
    testing::WriteFile(source + "/base/" + std::to_string(i), testing::RandomBytes(8 << 20, i));
  }
  std::filesystem::create_symlink("base/0", source + "/link");
  std::string repo_path = xfs_.path() + "/repo";
  ASSERT_TRUE(Repository::Init(repo_path, RepoConfig{}).ok());
  auto repo = Repository::Open(repo_path);
  ASSERT_TRUE(repo.ok());
  CreateOptions o;
  o.source = source;
  auto m = CreateSnapshot(*repo.value(), o);
  ASSERT_TRUE(m.ok()) << m.status().ToString();
  EXPECT_EQ(m->kind, SnapshotKind::kThin);
  EXPECT_EQ(repo.value()->pack_names().size(), 0u);  // nothing went into packs

  // The source changes after the snapshot; the snapshot must not.
  std::string original = testing::ReadFile(source + "/base/1");
  testing::WriteFile(source + "/base/1", "overwritten");
  RestoreOptions r;
  r.target = xfs_.path() + "/out";
  auto stats = RestoreSnapshot(*repo.value(), m.value(), r);
  ASSERT_TRUE(stats.ok()) << stats.status().ToString();
  EXPECT_EQ(stats->files_cloned, 4u);
  EXPECT_EQ(testing::ReadFile(r.target + "/base/1"), original);
  EXPECT_EQ(std::filesystem::read_symlink(r.target + "/link"), "base/0");

  // A restore onto another filesystem falls back to copying.
  RestoreOptions other;
  other.target = tmp_ / "copy";
  auto copied = RestoreSnapshot(*repo.value(), m.value(), other);
  ASSERT_TRUE(copied.ok()) << copied.status().ToString();
  EXPECT_EQ(copied->files_cloned, 0u);
  EXPECT_EQ(testing::ReadFile(other.target + "/base/1"), original);

  auto verify = VerifyRepository(repo_path);
  ASSERT_TRUE(verify.ok());
  EXPECT_TRUE(verify->ok());

  ASSERT_TRUE(repo.value()->RemoveSnapshot(m->id).ok());
  EXPECT_FALSE(std::filesystem::exists(repo.value()->ThinTreePath(m->id)));
}

// An extra file the caller gives away (MariaDB's patched redo-log clone) is moved into a
// thin snapshot, not written again; one on another filesystem is copied and left in place.
TEST_F(XfsReflinkTest, ATakenExtraFileIsMovedIntoAThinSnapshot) {
  std::string source = xfs_.path() + "/src";
  testing::WriteFile(source + "/data", testing::RandomBytes(1 << 20, 1));
  testing::WriteFile(source + "/log", "the live log");
  std::string repo_path = xfs_.path() + "/repo";
  ASSERT_TRUE(Repository::Init(repo_path, RepoConfig{}).ok());
  auto repo = Repository::Open(repo_path);
  ASSERT_TRUE(repo.ok());
  std::string given = repo.value()->TmpDir() + "/log.given";
  std::string kept = tmp_ / "log.elsewhere";
  testing::WriteFile(given, std::string(3 << 20, 'g'));
  testing::WriteFile(kept, "copied");
  CreateOptions o;
  o.source = source;
  o.mode = SnapshotMode::kThin;
  o.before_commit = [&](const std::vector<TreeEntry>&) -> Result<BeforeCommitResult> {
    ExtraFile moved, copied;
    moved.path = "log";
    moved.source_path = given;
    copied.path = "other";
    copied.source_path = kept;
    moved.take_source = copied.take_source = true;
    return BeforeCommitResult{{moved, copied}, {}};
  };
  auto m = CreateSnapshot(*repo.value(), o);
  ASSERT_TRUE(m.ok()) << m.status().ToString();
  EXPECT_FALSE(std::filesystem::exists(given)) << "moved, not copied";
  EXPECT_TRUE(std::filesystem::exists(kept)) << "another filesystem: copied";
  RestoreOptions r;
  r.target = xfs_.path() + "/out";
  ASSERT_TRUE(RestoreSnapshot(*repo.value(), m.value(), r).ok());
  EXPECT_EQ(testing::ReadFile(r.target + "/log"), std::string(3 << 20, 'g'));
  EXPECT_EQ(testing::ReadFile(r.target + "/other"), "copied");
  auto verify = VerifyRepository(repo_path);
  ASSERT_TRUE(verify.ok());
  EXPECT_TRUE(verify->ok());
}

TEST(ReflinkTest, ForcedThinFailsCleanlyWhereClonesDoNotWork) {
  TempDir tmp;
  testing::WriteFile(tmp / "src/a", "data");
  ASSERT_TRUE(Repository::Init(tmp / "repo", RepoConfig{}).ok());
  auto repo = Repository::Open(tmp / "repo");
  ASSERT_TRUE(repo.ok());
  CreateOptions o;
  o.source = tmp / "src";
  o.mode = SnapshotMode::kThin;
  auto m = CreateSnapshot(*repo.value(), o);
  if (m.ok()) GTEST_SKIP() << "this filesystem supports reflinks; nothing to fall back from";
  EXPECT_EQ(m.status().code(), StatusCode::kFailedPrecondition);
  EXPECT_TRUE(repo.value()->ListSnapshots()->empty());
  o.mode = SnapshotMode::kAuto;  // auto falls back to the repository
  auto fallback = CreateSnapshot(*repo.value(), o);
  ASSERT_TRUE(fallback.ok());
  EXPECT_EQ(fallback->kind, SnapshotKind::kRepository);
}

// What a clone shares is not its own until either file writes it; a copy owns everything.
TEST_F(XfsReflinkTest, UnsharedBytesCountsWhatAWriteUnshared) {
  std::string a = xfs_.path() + "/a", b = xfs_.path() + "/b", c = xfs_.path() + "/c";
  testing::WriteFile(a, testing::RandomBytes(8 << 20, 7));
  ASSERT_TRUE(ClonePath(a, b).ok());
  auto unshared = [](const std::string& path) -> uint64_t {
    ::sync();  // delayed allocation: the extents exist once written back
    auto fd = OpenFile(path, O_RDONLY);
    EXPECT_TRUE(fd.ok());
    auto n = UnsharedBytes(fd->get(), path);
    EXPECT_TRUE(n.ok()) << n.status().ToString();
    return n.value_or(~uint64_t{0});
  };
  EXPECT_EQ(unshared(a), 0u);
  EXPECT_EQ(unshared(b), 0u);
  {
    auto fd = OpenFile(b, O_WRONLY);
    ASSERT_TRUE(fd.ok());
    std::string mib(1 << 20, 'x');
    ASSERT_TRUE(PwriteAll(fd->get(), AsBytes(mib), 2 << 20, b).ok());
  }
  EXPECT_EQ(unshared(b), 1u << 20) << "the clone owns what it rewrote";
  EXPECT_EQ(unshared(a), 1u << 20) << "and so does its source: no one shares that range now";
  testing::WriteFile(c, testing::RandomBytes(3 << 20, 8));
  EXPECT_EQ(unshared(c), 3u << 20) << "a file of its own owns all of it";
}

}  // namespace
}  // namespace dbaas::storage
