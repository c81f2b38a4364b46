// Retention without a clock: every rule of control/retention.h on hand-made catalogs.
#include "control/retention.h"

#include <algorithm>

#include <fmt/format.h>
#include <gtest/gtest.h>

namespace dbaas::control {
namespace {

using Clock = std::chrono::system_clock;
using std::chrono::hours;

Clock::time_point At(const char* rfc3339) {
  return Clock::time_point(std::chrono::microseconds(catalog::ParseRfc3339(rfc3339).value()));
}

catalog::BackupRecord Backup(const std::string& name, const std::string& created_at,
                             const std::string& schedule = "", const std::string& expires_at = "") {
  catalog::BackupRecord b;
  b.name = name;
  b.instance = "db";
  b.status = catalog::BackupState::kReady;
  b.created_at = created_at;
  b.schedule_id = schedule;
  b.expires_at = expires_at;
  if (!expires_at.empty()) b.retention_days = 7;
  return b;
}

std::vector<std::string> Names(const std::vector<Expiry>& expired) {
  std::vector<std::string> names;
  for (const auto& e : expired) names.push_back(e.backup);
  std::sort(names.begin(), names.end());
  return names;
}

const std::set<std::string> kLive = {"db"};

TEST(RetentionTest, RetentionDaysExpireButTheNewestGoodBackupOfALiveInstanceStays) {
  std::vector<catalog::BackupRecord> backups = {
      Backup("a", "2026-11-01T00:00:00Z", "", "2026-11-08T00:00:00Z"),
      Backup("b", "2026-11-02T00:00:00Z", "", "2026-11-09T00:00:00Z"),
      Backup("c", "2026-11-03T00:00:00Z", "", "2026-11-10T00:00:00Z")};
  auto now = At("2026-11-09T12:00:00Z");
  EXPECT_EQ(Names(ExpiredBackups(backups, {}, kLive, now)), (std::vector<std::string>{"a", "b"}));
  // Long after all expired: the newest stays while the instance exists...
  auto later = At("2027-01-01T00:00:00Z");
  EXPECT_EQ(Names(ExpiredBackups(backups, {}, kLive, later)), (std::vector<std::string>{"a", "b"}));
  // ... and goes with it.
  EXPECT_EQ(Names(ExpiredBackups(backups, {}, {}, later)),
            (std::vector<std::string>{"a", "b", "c"}));
}

TEST(RetentionTest, PinnedAndUnretainedBackupsNeverExpire) {
  std::vector<catalog::BackupRecord> backups = {
      Backup("pinned", "2026-11-01T00:00:00Z", "", "2026-11-02T00:00:00Z"),
      Backup("forever", "2026-11-01T01:00:00Z"),
      Backup("newest", "2026-11-05T00:00:00Z", "", "2026-11-06T00:00:00Z")};
  backups[0].pinned = true;
  EXPECT_TRUE(ExpiredBackups(backups, {}, {}, At("2030-01-01T00:00:00Z")).size() == 1);
  EXPECT_EQ(ExpiredBackups(backups, {}, {}, At("2030-01-01T00:00:00Z"))[0].backup, "newest");
}

TEST(RetentionTest, AFailedDrillIsNotTheLastGoodBackup) {
  std::vector<catalog::BackupRecord> backups = {
      Backup("old", "2026-11-01T00:00:00Z", "", "2026-11-02T00:00:00Z"),
      Backup("broken", "2026-11-03T00:00:00Z", "", "2026-11-04T00:00:00Z")};
  backups[1].drill = {{"status", "failed"}};
  EXPECT_FALSE(IsGoodBackup(backups[1]));
  // The older, good one is the one kept; the broken one expires.
  EXPECT_EQ(Names(ExpiredBackups(backups, {}, kLive, At("2026-12-01T00:00:00Z"))),
            (std::vector<std::string>{"broken"}));
}

TEST(RetentionTest, BackupsInProgressAreNeverTouched) {
  std::vector<catalog::BackupRecord> backups = {
      Backup("making", "2026-11-01T00:00:00Z", "", "2026-11-02T00:00:00Z"),
      Backup("going", "2026-11-01T00:00:00Z", "", "2026-11-02T00:00:00Z")};
  backups[0].status = catalog::BackupState::kCreating;
  backups[1].status = catalog::BackupState::kDeleting;
  EXPECT_TRUE(ExpiredBackups(backups, {}, {}, At("2030-01-01T00:00:00Z")).empty());
}

TEST(RetentionTest, KeepRulesKeepTheNewestOfEachDayWeekAndMonth) {
  // Two backups a day at 01:00 and 13:00 UTC from Sunday 2026-10-25 to Tuesday 2026-11-10.
  std::vector<catalog::BackupRecord> backups;
  auto start = At("2026-10-25T01:00:00Z");
  for (int i = 0; i < 34; ++i) {
    auto t = start + hours(12) * i;
    backups.push_back(Backup(fmt::format("b{:02}", i), catalog::FormatRfc3339(t), "s1"));
  }
  auto now = At("2026-11-10T18:00:00Z");
  std::map<std::string, KeepRules> rules;
  rules["s1"] = KeepRules{3, 0, 0, "UTC"};
  auto expired = ExpiredBackups(backups, rules, kLive, now);
  // Kept: the 13:00 backups of Nov 10, 9 and 8 (b33, b31, b29).
  EXPECT_EQ(expired.size(), 31u);
  std::vector<std::string> names = Names(expired);
  for (const char* kept : {"b33", "b31", "b29"}) {
    EXPECT_EQ(std::count(names.begin(), names.end(), kept), 0) << kept;
  }
  EXPECT_NE(expired[0].reason.find("keep rules of schedule s1"), std::string::npos);

  // Weekly: the newest of the weeks from Monday Nov 9, Nov 2 and Oct 26 (b33, b29: Sunday
  // Nov 8 13:00, b15: Sunday Nov 1 13:00).
  rules["s1"] = KeepRules{0, 3, 0, "UTC"};
  names = Names(ExpiredBackups(backups, rules, kLive, now));
  EXPECT_EQ(names.size(), 31u);
  for (const char* kept : {"b33", "b29", "b15"}) {
    EXPECT_EQ(std::count(names.begin(), names.end(), kept), 0) << kept;
  }

  // Monthly: November's newest and October's newest (b13: Oct 31 13:00).
  rules["s1"] = KeepRules{0, 0, 2, "UTC"};
  names = Names(ExpiredBackups(backups, rules, kLive, now));
  EXPECT_EQ(names.size(), 32u);
  EXPECT_EQ(std::count(names.begin(), names.end(), "b13"), 0);

  // Days are the schedule's: in Los Angeles (UTC-8), 01:00 UTC is the evening before, so
  // the newest of Nov 9 there is b32 (Nov 10 01:00 UTC), not b31 as in UTC.
  rules["s1"] = KeepRules{2, 0, 0, "America/Los_Angeles"};
  names = Names(ExpiredBackups(backups, rules, kLive, now));
  EXPECT_EQ(names.size(), 32u);
  for (const char* kept : {"b33", "b32"}) {
    EXPECT_EQ(std::count(names.begin(), names.end(), kept), 0) << kept;
  }
}

TEST(RetentionTest, RulesAndRetentionDaysAreAUnion) {
  std::vector<catalog::BackupRecord> backups = {
      Backup("young", "2026-11-09T01:00:00Z", "s1", "2026-11-16T01:00:00Z"),
      Backup("newest", "2026-11-09T13:00:00Z", "s1", "2026-11-16T13:00:00Z"),
      Backup("old", "2026-11-01T01:00:00Z", "s1", "2026-11-08T01:00:00Z")};
  std::map<std::string, KeepRules> rules = {{"s1", KeepRules{1, 0, 0, "UTC"}}};
  // "young" is not selected by keepDaily 1 but its retention has not ended.
  EXPECT_EQ(Names(ExpiredBackups(backups, rules, kLive, At("2026-11-10T00:00:00Z"))),
            (std::vector<std::string>{"old"}));
  // A deleted schedule's backups fall back to their own retention only.
  backups.push_back(Backup("orphan", "2026-11-02T00:00:00Z", "gone"));
  EXPECT_EQ(Names(ExpiredBackups(backups, rules, kLive, At("2026-11-10T00:00:00Z"))),
            (std::vector<std::string>{"old"}));
}

// Remote repositories: "month" keeps its copies 30 days, "follow" has no retention of its
// own (its copies go with their backup).
const std::map<std::string, std::optional<int>> kRemotes = {{"month", 30}, {"follow", {}}};

catalog::BackupRecord CopiedTo(catalog::BackupRecord b, std::vector<std::string> repositories) {
  for (const auto& r : repositories) b.copies[r] = {{"state", "copied"}};
  return b;
}

std::vector<std::string> CopyNames(const RetentionPlan& plan) {
  std::vector<std::string> names;
  for (const auto& c : plan.copies) names.push_back(c.backup + "@" + c.repository);
  std::sort(names.begin(), names.end());
  return names;
}

TEST(RetentionTest, ABucketWithItsOwnRetentionKeepsACopyAfterTheLocalOneExpires) {
  std::vector<catalog::BackupRecord> backups = {
      CopiedTo(Backup("old", "2026-11-01T00:00:00Z", "", "2026-11-08T00:00:00Z"),
               {"month", "follow"}),
      CopiedTo(Backup("plain", "2026-11-02T00:00:00Z", "", "2026-11-09T00:00:00Z"), {"follow"}),
      Backup("newest", "2026-11-20T00:00:00Z", "", "2026-11-27T00:00:00Z")};
  auto plan = PlanRetention(backups, {}, kLive, kRemotes, At("2026-11-10T00:00:00Z"));
  EXPECT_EQ(Names(plan.whole), (std::vector<std::string>{"plain"})) << "nothing keeps it longer";
  EXPECT_EQ(Names(plan.local_only), (std::vector<std::string>{"old"}));
  EXPECT_EQ(CopyNames(plan), (std::vector<std::string>{"old@follow"}))
      << "the copy that follows its backup goes with the local one";

  // Thirty days on, "month" lets go too: the backup, no longer local, goes whole.
  backups[0].local = false;
  backups[0].copies.erase("follow");
  plan = PlanRetention(backups, {}, kLive, kRemotes, At("2026-12-02T00:00:00Z"));
  EXPECT_EQ(Names(plan.whole), (std::vector<std::string>{"old", "plain"}));
  EXPECT_TRUE(plan.local_only.empty());
}

TEST(RetentionTest, ABucketsRetentionEndsItsCopyWhileTheLocalBackupStays) {
  std::vector<catalog::BackupRecord> backups = {
      CopiedTo(Backup("kept", "2026-10-01T00:00:00Z"), {"month", "follow"}),
      CopiedTo(Backup("pinned", "2026-10-01T00:00:00Z"), {"month"}),
      CopiedTo(Backup("pending", "2026-10-01T00:00:00Z"), {}),
      CopiedTo(Backup("elsewhere", "2026-10-01T00:00:00Z"), {"unconfigured"})};
  backups[1].pinned = true;
  backups[2].copies["month"] = {{"state", "failed"}};
  auto plan = PlanRetention(backups, {}, kLive, kRemotes, At("2026-11-15T00:00:00Z"));
  EXPECT_TRUE(plan.whole.empty()) << Names(plan.whole).size();
  EXPECT_TRUE(plan.local_only.empty());
  EXPECT_EQ(CopyNames(plan), (std::vector<std::string>{"kept@month"}))
      << "pinned copies stay; a failed copy is not counted; one in an unconfigured "
         "repository cannot be removed from here";

  // A backup only in buckets whose last copy ends goes whole.
  backups[0].local = false;
  backups[0].copies.erase("follow");
  plan = PlanRetention({backups[0]}, {}, kLive, kRemotes, At("2026-11-15T00:00:00Z"));
  EXPECT_EQ(Names(plan.whole), (std::vector<std::string>{"kept"}));
  EXPECT_TRUE(plan.copies.empty());
}

TEST(RetentionTest, ACopyNotYetMadeHoldsTheLocalBackupBack) {
  std::vector<catalog::BackupRecord> backups = {
      Backup("waits", "2026-11-01T00:00:00Z", "", "2026-11-08T00:00:00Z"),
      Backup("newest", "2026-11-20T00:00:00Z")};
  backups[0].copies["month"] = {{"state", "failed"}};  // the bucket was down
  auto plan = PlanRetention(backups, {}, kLive, kRemotes, At("2026-11-10T00:00:00Z"));
  EXPECT_TRUE(plan.whole.empty() && plan.local_only.empty() && plan.copies.empty())
      << "expired here, but it is what its copy will be made from";
  // Past what the bucket would have kept: nothing to wait for.
  plan = PlanRetention(backups, {}, kLive, kRemotes, At("2026-12-05T00:00:00Z"));
  EXPECT_EQ(Names(plan.whole), (std::vector<std::string>{"waits"}));
}

}  // namespace
}  // namespace dbaas::control
