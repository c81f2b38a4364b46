// The scheduler with its clock in the test's hands: which slots run, once; what a backup
// that cannot start records; alert conditions alerted once while they hold. A real catalog
// (SQLite in a temporary directory); the service is two callbacks.
#include "control/scheduler.h"

#include <gtest/gtest.h>

#include "test_util.h"

namespace dbaas::control {
namespace {

using std::chrono::hours;
using std::chrono::minutes;
using std::chrono::seconds;
using Clock = std::chrono::system_clock;

class SchedulerTest : public ::testing::Test {
 protected:
  void SetUp() override {
    auto opened = catalog::Catalog::Open(dir_ / "catalog.db");
    ASSERT_TRUE(opened.ok()) << opened.status().ToString();
    catalog_ = std::move(opened.value());
    catalog::InstanceRecord inst;
    inst.name = "db";
    inst.type = "postgresql";
    inst.status = catalog::InstanceState::kRunning;
    inst.created_at = inst.updated_at = catalog::FormatRfc3339(t0_);
    ASSERT_TRUE(catalog_->InsertInstance(inst).ok());
    Scheduler::Hooks hooks;
    hooks.start_backup = [this](const BackupRequest& r) -> Result<catalog::JobRecord> {
      started_.push_back(r);
      if (!refuse_.ok()) return refuse_;
      catalog::JobRecord job;
      job.id = "0123456789abcdef";
      return job;
    };
    hooks.backup_not_started = [this](const std::string&) { ++not_started_; };
    hooks.send_alert = [this](Alert a) { alerts_.push_back(std::move(a)); };
    // 100%: the disk is never "too full" here; the stale-schedule alert is under test.
    scheduler_ =
        std::make_unique<Scheduler>(*catalog_, hooks, Scheduler::Options{dir_.path(), 100});
  }

  catalog::ScheduleRecord AddSchedule(const std::string& cron) {
    catalog::ScheduleRecord s;
    s.id = "s00000001";
    s.instance = "db";
    s.cron = cron;
    s.time_zone = "UTC";
    s.retention_days = 7;
    s.repositories = {"offsite", "second"};
    s.created_at = s.last_slot_at = catalog::FormatRfc3339(t0_);
    EXPECT_TRUE(catalog_->InsertSchedule(s).ok());
    return s;
  }

  testing::TempDir dir_;
  // 2026-12-01 10:00:00 UTC, on the hour.
  const Clock::time_point t0_ = Clock::time_point(seconds(1796119200));
  std::unique_ptr<catalog::Catalog> catalog_;
  std::unique_ptr<Scheduler> scheduler_;
  std::vector<BackupRequest> started_;
  Status refuse_ = Status::Ok();
  int not_started_ = 0;
  std::vector<Alert> alerts_;
};

TEST_F(SchedulerTest, EachSlotRunsOnceAndMissedSlotsRunOnce) {
  AddSchedule("0 * * * *");  // hourly, on the hour
  scheduler_->RunDue(t0_ + minutes(30));
  EXPECT_TRUE(started_.empty()) << "no slot in (10:00, 10:30]";
  scheduler_->RunDue(t0_ + hours(1) + seconds(1));
  ASSERT_EQ(started_.size(), 1u);
  EXPECT_EQ(started_[0].instance, "db");
  EXPECT_EQ(started_[0].schedule_id, "s00000001");
  EXPECT_EQ(started_[0].retention_days, 7);
  EXPECT_EQ(started_[0].repositories, (std::vector<std::string>{"offsite", "second"}))
      << "the schedule's copies, read back from the catalog";
  auto s = catalog_->GetSchedule("s00000001");
  ASSERT_TRUE(s.ok());
  EXPECT_EQ(s->last_slot_at, catalog::FormatRfc3339(t0_ + hours(1)));
  EXPECT_EQ(s->last_status, "started");
  scheduler_->RunDue(t0_ + hours(1) + seconds(30));
  EXPECT_EQ(started_.size(), 1u) << "the 11:00 slot ran already";
  // The daemon was down from 11:00 to 15:10: four slots missed, one run.
  scheduler_->RunDue(t0_ + hours(5) + minutes(10));
  EXPECT_EQ(started_.size(), 2u);
  EXPECT_EQ(catalog_->GetSchedule("s00000001")->last_slot_at,
            catalog::FormatRfc3339(t0_ + hours(5)));
}

TEST_F(SchedulerTest, ABackupThatCannotStartIsRecordedCountedAndAlerted) {
  AddSchedule("0 * * * *");
  refuse_ = Status::FailedPrecondition("instance 'db' is failed, not running");
  scheduler_->RunDue(t0_ + hours(1));
  ASSERT_EQ(started_.size(), 1u);
  auto s = catalog_->GetSchedule("s00000001");
  EXPECT_EQ(s->last_status, "skipped");
  EXPECT_NE(s->last_message.find("not running"), std::string::npos) << s->last_message;
  EXPECT_EQ(not_started_, 1);
  ASSERT_EQ(alerts_.size(), 1u);
  EXPECT_EQ(alerts_[0].kind, "backup_failed");
  EXPECT_EQ(alerts_[0].instance, "db");
}

TEST_F(SchedulerTest, AStaleScheduleIsAlertedOnceUntilAGoodBackupClearsIt) {
  AddSchedule("0 * * * *");
  scheduler_->CheckConditions(t0_ + hours(1));
  EXPECT_TRUE(alerts_.empty()) << "within twice the period";
  scheduler_->CheckConditions(t0_ + hours(2) + seconds(1));
  ASSERT_EQ(alerts_.size(), 1u);
  EXPECT_EQ(alerts_[0].kind, "no_recent_backup");
  scheduler_->CheckConditions(t0_ + hours(3));
  EXPECT_EQ(alerts_.size(), 1u) << "still stale: alerted already";
  catalog::BackupRecord b;
  b.name = "good";
  b.instance = "db";
  b.instance_type = "postgresql";
  b.status = catalog::BackupState::kReady;
  b.created_at = catalog::FormatRfc3339(t0_ + hours(3));
  ASSERT_TRUE(catalog_->InsertBackup(b).ok());
  scheduler_->CheckConditions(t0_ + hours(3) + minutes(1));
  EXPECT_EQ(alerts_.size(), 1u) << "a good backup clears it";
  scheduler_->CheckConditions(t0_ + hours(5) + minutes(1));
  EXPECT_EQ(alerts_.size(), 2u) << "stale again: alerted again";
}

}  // namespace
}  // namespace dbaas::control
