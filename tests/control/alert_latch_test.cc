#include "control/alert_latch.h"

#include <gtest/gtest.h>

namespace dbaas::control {
namespace {

TEST(AlertLatchTest, AlertsOnceUntilTheConditionClears) {
  AlertLatch latch;
  EXPECT_FALSE(latch.Observe("disk", false));
  EXPECT_TRUE(latch.Observe("disk", true)) << "it just became true";
  EXPECT_FALSE(latch.Observe("disk", true)) << "still true: alerted already";
  EXPECT_TRUE(latch.Observe("stale:s1", true)) << "conditions are separate";
  EXPECT_FALSE(latch.Observe("disk", false));
  EXPECT_TRUE(latch.Observe("disk", true)) << "true again after it cleared";
}

}  // namespace
}  // namespace dbaas::control
