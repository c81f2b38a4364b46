// The job runner with a real catalog and no servers: what a job records as it runs and
// ends, the bound on concurrent work, live progress, and a shutdown that cancels what never
// started (and undoes its reservation) while it waits for what runs.
#include "control/job_runner.h"

#include <atomic>
#include <condition_variable>
#include <mutex>
#include <thread>

#include <gtest/gtest.h>

#include "test_util.h"

namespace dbaas::control {
namespace {

using catalog::JobState;
using std::chrono::milliseconds;
using std::chrono::seconds;

// Work that waits until the test lets it go, counting how many wait at once.
class Latch {
 public:
  void Release() {
    std::lock_guard lock(mu_);
    open_ = true;
    cv_.notify_all();
  }
  void Pass() {
    std::unique_lock lock(mu_);
    ++waiting_;
    peak_ = std::max(peak_, waiting_);
    cv_.notify_all();
    cv_.wait(lock, [&] { return open_; });
    --waiting_;
  }
  bool WaitForWaiting(int n) {
    std::unique_lock lock(mu_);
    return cv_.wait_for(lock, seconds(10), [&] { return waiting_ >= n; });
  }
  int peak() {
    std::lock_guard lock(mu_);
    return peak_;
  }

 private:
  std::mutex mu_;
  std::condition_variable cv_;
  bool open_ = false;
  int waiting_ = 0, peak_ = 0;
};

class JobRunnerTest : public ::testing::Test {
 protected:
  void SetUp() override {
    auto opened = catalog::Catalog::Open(dir_ / "catalog.db");
    ASSERT_TRUE(opened.ok()) << opened.status().ToString();
    catalog_ = std::move(opened.value());
  }
  testing::TempDir dir_;
  std::unique_ptr<catalog::Catalog> catalog_;
};

TEST_F(JobRunnerTest, AJobIsRecordedQueuedRunningAndEndedWithItsResultOrError) {
  JobRunner jobs(*catalog_, 2);
  auto ok = jobs.Submit(
      "backup", "db", {{"backupName", "b1"}},
      [](JobContext&) {
        return Result<nlohmann::json>(nlohmann::json{{"n", 1}});
      },
      nullptr);
  ASSERT_TRUE(ok.ok()) << ok.status().ToString();
  auto done = jobs.Wait(ok->id, seconds(10));
  ASSERT_TRUE(done.ok());
  EXPECT_EQ(done->status, JobState::kSucceeded);
  EXPECT_EQ(done->result["n"], 1);
  EXPECT_FALSE(done->finished_at.empty());
  EXPECT_EQ(catalog_->GetJob(ok->id)->status, JobState::kSucceeded) << "in the catalog too";

  auto bad = jobs.Submit(
      "restore", "db", {},
      [](JobContext&) -> Result<nlohmann::json> {
        return Status::InvalidArgument("the server refused a setting", "correct it");
      },
      nullptr);
  ASSERT_TRUE(bad.ok());
  done = jobs.Wait(bad->id, seconds(10));
  EXPECT_EQ(done->status, JobState::kFailed);
  EXPECT_EQ(done->error_code, StatusCode::kInvalidArgument);
  EXPECT_EQ(done->error_message, "the server refused a setting");
  EXPECT_EQ(done->result.value("hint", ""), "correct it");
}

TEST_F(JobRunnerTest, NoMoreRunAtOnceThanThereAreWorkersAndProgressIsLive) {
  JobRunner jobs(*catalog_, 2);
  Latch latch;
  std::vector<std::string> ids;
  for (int i = 0; i < 4; ++i) {
    auto job = jobs.Submit(
        "backup", "db" + std::to_string(i), {},
        [&](JobContext& ctx) {
          ctx.progress.total_bytes = 100;
          ctx.progress.done_bytes = 50;
          latch.Pass();
          return Result<nlohmann::json>(nlohmann::json::object());
        },
        nullptr);
    ASSERT_TRUE(job.ok());
    ids.push_back(job->id);
  }
  ASSERT_TRUE(latch.WaitForWaiting(2));
  std::this_thread::sleep_for(milliseconds(100));  // a third worker would have arrived
  EXPECT_EQ(jobs.in_flight(), 4u);
  int running = 0;
  for (const auto& id : ids) {
    auto j = jobs.Get(id);
    if (j->status == JobState::kRunning) {
      ++running;
      EXPECT_DOUBLE_EQ(j->progress, 0.5) << "read live from the storage counters";
    }
  }
  EXPECT_EQ(running, 2);
  latch.Release();
  for (const auto& id : ids) EXPECT_EQ(jobs.Wait(id, seconds(10))->status, JobState::kSucceeded);
  EXPECT_EQ(latch.peak(), 2);
  EXPECT_EQ(jobs.in_flight(), 0u);
}

TEST_F(JobRunnerTest, ShutdownCancelsWhatNeverStartedAndWaitsForWhatRuns) {
  auto jobs = std::make_unique<JobRunner>(*catalog_, 1);
  Latch latch;
  std::atomic<bool> finished{false};
  auto running = jobs->Submit(
      "backup", "a", {},
      [&](JobContext&) {
        latch.Pass();
        finished = true;
        return Result<nlohmann::json>(nlohmann::json::object());
      },
      nullptr);
  ASSERT_TRUE(running.ok());
  ASSERT_TRUE(latch.WaitForWaiting(1));
  std::atomic<int> undone{0};
  auto queued = jobs->Submit(
      "restore", "b", {},
      [](JobContext&) {
        ADD_FAILURE() << "a job queued at shutdown ran";
        return Result<nlohmann::json>(nlohmann::json::object());
      },
      [&](const Status&) { ++undone; });
  ASSERT_TRUE(queued.ok());
  std::thread shutdown([&] { jobs->Shutdown(); });
  std::this_thread::sleep_for(milliseconds(100));
  EXPECT_FALSE(finished) << "the running job is still running";
  latch.Release();
  shutdown.join();
  EXPECT_TRUE(finished) << "shutdown waited for it";
  EXPECT_EQ(undone, 1) << "the queued job's reservation was undone";
  EXPECT_EQ(catalog_->GetJob(running->id)->status, JobState::kSucceeded);
  auto cancelled = catalog_->GetJob(queued->id);
  ASSERT_TRUE(cancelled.ok());
  EXPECT_EQ(cancelled->status, JobState::kCancelled);
  EXPECT_FALSE(jobs->Submit("backup", "c", {}, nullptr, nullptr).ok()) << "none after shutdown";
}

}  // namespace
}  // namespace dbaas::control
