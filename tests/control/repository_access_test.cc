// The repository's holds: readers beside the writer, one writer at a time, gc alone; and
// the sizes /metrics shows, which follow the snapshots and never wait for a gc.
#include "control/repository_access.h"

#include <atomic>
#include <future>
#include <thread>

#include <gtest/gtest.h>

#include "base/files.h"
#include "storage/snapshot_create.h"
#include "test_util.h"

namespace dbaas::control {
namespace {

using std::chrono::milliseconds;

// Whether `take` got its hold within `wait` (it runs on a thread of its own; a hold it
// gets is released at once). When it did not, `still_waiting` is how the caller waits for
// it; without one it is waited for here.
template <typename Take>
bool GetsHoldWithin(Take take, milliseconds wait, std::future<void>* still_waiting = nullptr) {
  auto done = std::make_shared<std::promise<void>>();
  std::future<void> got = done->get_future();
  std::thread([take, done] {
    auto hold = take();
    done->set_value();
  }).detach();
  bool in_time = got.wait_for(wait) == std::future_status::ready;
  if (!in_time) {
    if (still_waiting) {
      *still_waiting = std::move(got);
    } else {
      got.wait();  // a failure: the thread must not outlive what it holds
    }
  }
  return in_time;
}

class RepositoryAccessTest : public ::testing::Test {
 protected:
  void SetUp() override { ASSERT_TRUE(storage::Repository::Init(tmp_ / "repo", {}).ok()); }
  testing::TempDir tmp_;
  RepositoryAccess access_{tmp_ / "repo"};
};

TEST_F(RepositoryAccessTest, ReadersRunBesideTheWriterAndGcRunsAlone) {
  {
    auto writing = access_.HoldForWrite();
    EXPECT_TRUE(GetsHoldWithin([&] { return access_.HoldForRead(); }, milliseconds(2000)))
        << "a restore waits for a backup";
    std::future<void> second;
    EXPECT_FALSE(GetsHoldWithin([&] { return access_.HoldForWrite(); }, milliseconds(200), &second))
        << "two writers at once";
    writing = {};  // the first writer ends
    EXPECT_EQ(second.wait_for(milliseconds(2000)), std::future_status::ready)
        << "the second writer goes on when the first ends";
  }
  {
    auto reading = access_.HoldForRead();
    std::future<void> gc;
    EXPECT_FALSE(GetsHoldWithin([&] { return access_.HoldExclusive(); }, milliseconds(200), &gc))
        << "gc deleted packs under a reader";
    EXPECT_TRUE(GetsHoldWithin([&] { return access_.HoldForRead(); }, milliseconds(2000)));
    reading = {};
    EXPECT_EQ(gc.wait_for(milliseconds(2000)), std::future_status::ready);
  }
  {
    auto collecting = access_.HoldExclusive();
    std::future<void> reader;
    EXPECT_FALSE(GetsHoldWithin([&] { return access_.HoldForRead(); }, milliseconds(200), &reader));
    std::future<void> writer;
    EXPECT_FALSE(
        GetsHoldWithin([&] { return access_.HoldWriterOnly(); }, milliseconds(200), &writer));
    collecting = {};
    EXPECT_EQ(reader.wait_for(milliseconds(2000)), std::future_status::ready);
    EXPECT_EQ(writer.wait_for(milliseconds(2000)), std::future_status::ready);
  }
}

// The compaction after a backup: a writer's hold, readers beside it, then made exclusive
// (waiting for the readers there are) without letting another writer in between. The
// writer's side runs on a thread of its own, as a job does (a lock is released by the
// thread that took it).
TEST_F(RepositoryAccessTest, AWriterMadeExclusiveWaitsForReadersAndKeepsOtherWritersOut) {
  std::promise<void> writing, made_exclusive, release, upgrade;
  std::future<void> upgrade_now = upgrade.get_future(), release_now = release.get_future();
  std::thread job([&] {
    auto hold = access_.HoldForWrite();
    writing.set_value();
    upgrade_now.wait();
    auto exclusive = access_.MakeExclusive(std::move(hold));
    made_exclusive.set_value();
    release_now.wait();
  });
  writing.get_future().wait();
  auto reading = std::make_unique<RepositoryAccess::ReadHold>(access_.HoldForRead());
  std::future<void> other_writer;
  EXPECT_FALSE(
      GetsHoldWithin([&] { return access_.HoldForWrite(); }, milliseconds(200), &other_writer))
      << "two writers at once";
  std::future<void> exclusive = made_exclusive.get_future();
  upgrade.set_value();
  EXPECT_EQ(exclusive.wait_for(milliseconds(200)), std::future_status::timeout)
      << "made exclusive while a reader still holds";
  reading.reset();  // the reader ends
  EXPECT_EQ(exclusive.wait_for(milliseconds(2000)), std::future_status::ready);
  EXPECT_EQ(other_writer.wait_for(milliseconds(200)), std::future_status::timeout)
      << "another writer got in while the hold was made exclusive";
  std::future<void> reader;
  EXPECT_FALSE(GetsHoldWithin([&] { return access_.HoldForRead(); }, milliseconds(200), &reader))
      << "a reader while exclusive";
  release.set_value();
  job.join();
  EXPECT_EQ(other_writer.wait_for(milliseconds(2000)), std::future_status::ready)
      << "the other writer goes on once the exclusive hold ends";
  EXPECT_EQ(reader.wait_for(milliseconds(2000)), std::future_status::ready);
}

TEST_F(RepositoryAccessTest, SizesFollowTheSnapshotsAndNeverWaitForAGc) {
  RepositoryAccess::Sizes empty = access_.CurrentSizes();
  EXPECT_TRUE(empty.valid);
  EXPECT_EQ(empty.logical_bytes, 0u);
  ASSERT_TRUE(MakeDirs(tmp_ / "src").ok());
  testing::WriteFile(tmp_ / "src/a", testing::RandomBytes(1 << 20, 3));
  {
    auto hold = access_.HoldForWrite();
    auto repo = access_.Open();
    ASSERT_TRUE(repo.ok());
    storage::CreateOptions o;
    o.source = tmp_ / "src";
    o.mode = storage::SnapshotMode::kRepository;
    ASSERT_TRUE(storage::CreateSnapshot(**repo, o).ok());
  }
  RepositoryAccess::Sizes one = access_.CurrentSizes();
  EXPECT_EQ(one.logical_bytes, 1u << 20);
  EXPECT_GT(one.stored_bytes, 1u << 19);
  // During a gc a scrape gets the last sizes at once.
  auto collecting = access_.HoldExclusive();
  auto started = std::chrono::steady_clock::now();
  RepositoryAccess::Sizes during = access_.CurrentSizes();
  EXPECT_LT(std::chrono::steady_clock::now() - started, milliseconds(500));
  EXPECT_EQ(during.logical_bytes, one.logical_bytes);
}

}  // namespace
}  // namespace dbaas::control
