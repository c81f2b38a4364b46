// Kill points: each has one name that parses back, a hold is armed only by a well-formed
// NAME=MS, and a point holds only while armed.
#include "base/kill_points.h"

#include <chrono>
#include <set>

#include <gtest/gtest.h>

namespace dbaas {
namespace {

using std::chrono::milliseconds;
using std::chrono::steady_clock;

TEST(KillPointsTest, EachPointHasOneNameThatParsesBack) {
  std::set<std::string_view> names;
  for (KillPoint p : AllKillPoints()) {
    EXPECT_TRUE(names.insert(KillPointName(p)).second) << KillPointName(p);
    EXPECT_EQ(ParseKillPoint(KillPointName(p)), p);
  }
  EXPECT_EQ(names.size(), 4u);
  EXPECT_FALSE(ParseKillPoint("backup_mode").has_value());
}

TEST(KillPointsTest, OnlyAWellFormedSpecArmsAndAnArmedPointHolds) {
  for (const char* bad : {"backup-mode", "backup-mode=", "backup-mode=-1", "backup-mode=1s",
                          "nowhere=10", "=10", ""}) {
    Status armed = ArmKillPointFromSpec(bad);
    EXPECT_EQ(armed.code(), StatusCode::kInvalidArgument) << bad;
    EXPECT_NE(armed.hint().find("restore-filled"), std::string::npos) << armed.ToString();
  }
  auto started = steady_clock::now();
  ReachKillPoint(KillPoint::kRestoreFilled);
  EXPECT_LT(steady_clock::now() - started, milliseconds(50)) << "not armed: no hold";
  ASSERT_TRUE(ArmKillPointFromSpec("restore-filled=200").ok());
  started = steady_clock::now();
  ReachKillPoint(KillPoint::kRestoreFilled);
  EXPECT_GE(steady_clock::now() - started, milliseconds(200));
  ArmKillPoint(KillPoint::kRestoreFilled, milliseconds(0));
  started = steady_clock::now();
  ReachKillPoint(KillPoint::kRestoreFilled);
  EXPECT_LT(steady_clock::now() - started, milliseconds(50)) << "disarmed";
}

}  // namespace
}  // namespace dbaas
