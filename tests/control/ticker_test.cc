#include "control/ticker.h"

#include <atomic>
#include <thread>

#include <gtest/gtest.h>

namespace dbaas::control {
namespace {

using std::chrono::milliseconds;

bool WaitFor(const std::atomic<int>& n, int at_least, milliseconds timeout) {
  auto deadline = std::chrono::steady_clock::now() + timeout;
  while (n.load() < at_least && std::chrono::steady_clock::now() < deadline) {
    std::this_thread::sleep_for(milliseconds(5));
  }
  return n.load() >= at_least;
}

TEST(TickerTest, TicksEachPeriodAndNotAfterStop) {
  std::atomic<int> ticks{0};
  Ticker ticker(milliseconds(20), [&] { ++ticks; });
  EXPECT_TRUE(WaitFor(ticks, 3, milliseconds(5000)));
  ticker.Stop();
  int stopped_at = ticks.load();
  std::this_thread::sleep_for(milliseconds(100));
  EXPECT_EQ(ticks.load(), stopped_at) << "no tick after Stop";
}

TEST(TickerTest, WakeTicksAtOnceAndStopDoesNotWaitForThePeriod) {
  std::atomic<int> ticks{0};
  auto started = std::chrono::steady_clock::now();
  {
    Ticker ticker(std::chrono::hours(1), [&] { ++ticks; });
    ticker.Wake();
    EXPECT_TRUE(WaitFor(ticks, 1, milliseconds(5000))) << "a woken ticker ticks now";
  }  // destroyed: stops without waiting the hour
  EXPECT_EQ(ticks.load(), 1);
  EXPECT_LT(std::chrono::steady_clock::now() - started, std::chrono::seconds(30));
}

}  // namespace
}  // namespace dbaas::control
