#include "control/cron.h"

#include <string>

#include <cctz/civil_time.h>
#include <cctz/time_zone.h>
#include <gtest/gtest.h>

namespace dbaas::control {
namespace {

using std::chrono::system_clock;
using namespace std::chrono_literals;

system_clock::time_point Utc(int y, int mo, int d, int h = 0, int mi = 0, int s = 0) {
  return cctz::convert(cctz::civil_second(y, mo, d, h, mi, s), cctz::utc_time_zone());
}

std::string Format(system_clock::time_point tp) {
  return cctz::format("%Y-%m-%d %H:%M:%S", tp, cctz::utc_time_zone());
}

CronSchedule MustParse(std::string_view expr, std::string_view zone = "") {
  Result<CronSchedule> schedule = CronSchedule::Parse(expr, zone);
  EXPECT_TRUE(schedule.ok()) << expr << ": " << schedule.status().ToString();
  return std::move(schedule).value();
}

// The next fire time after `after` in UTC, "none" when there is none.
std::string Next(std::string_view expr, system_clock::time_point after,
                 std::string_view zone = "") {
  std::optional<system_clock::time_point> next = MustParse(expr, zone).NextAfter(after);
  return next ? Format(*next) : "none";
}

// The first `n` fire times after `after`, in UTC.
std::vector<std::string> Fires(const CronSchedule& schedule, system_clock::time_point after,
                               int n) {
  std::vector<std::string> fires;
  for (int i = 0; i < n; ++i) {
    std::optional<system_clock::time_point> next = schedule.NextAfter(after);
    if (!next) break;
    after = *next;
    fires.push_back(Format(after));
  }
  return fires;
}

// The parse error message, "" when the expression parses.
std::string ParseError(std::string_view expr, std::string_view zone = "") {
  Result<CronSchedule> schedule = CronSchedule::Parse(expr, zone);
  if (schedule.ok()) return "";
  EXPECT_EQ(schedule.status().code(), StatusCode::kInvalidArgument);
  EXPECT_FALSE(schedule.status().hint().empty());
  return schedule.status().message();
}

TEST(CronParseTest, RejectsEmpty) {
  EXPECT_EQ(ParseError(""), "cron expression is empty");
  EXPECT_EQ(ParseError("  \t "), "cron expression is empty");
}

TEST(CronParseTest, RejectsWrongFieldCount) {
  EXPECT_EQ(ParseError("* * * *"),
            "cron expression '* * * *': has 4 fields, expected 5 (minute hour day-of-month month "
            "day-of-week) or 6 (with a leading second)");
  EXPECT_NE(ParseError("0 0 * * * * *").find("has 7 fields"), std::string::npos);
}

TEST(CronParseTest, RejectsOutOfRangeNamingTheField) {
  EXPECT_EQ(ParseError("60 * * * *"),
            "cron expression '60 * * * *': minute field '60': 60 is out of range 0-59");
  EXPECT_EQ(ParseError("* 24 * * *"),
            "cron expression '* 24 * * *': hour field '24': 24 is out of range 0-23");
  EXPECT_NE(ParseError("* * 0 * *").find("day-of-month field '0': 0 is out of range 1-31"),
            std::string::npos);
  EXPECT_NE(ParseError("* * 32 * *").find("day-of-month field '32'"), std::string::npos);
  EXPECT_NE(ParseError("* * * 13 *").find("month field '13': 13 is out of range 1-12"),
            std::string::npos);
  EXPECT_NE(ParseError("* * * 0 *").find("month field '0'"), std::string::npos);
  EXPECT_NE(ParseError("* * * * 8").find("day-of-week field '8': 8 is out of range 0-7"),
            std::string::npos);
  EXPECT_NE(ParseError("60 * * * * *").find("second field '60'"), std::string::npos);
  EXPECT_NE(ParseError("1,99999999999 * * * *").find("minute field"), std::string::npos);
}

TEST(CronParseTest, RejectsReversedRangesAndBadSteps) {
  EXPECT_EQ(ParseError("5-2 * * * *"),
            "cron expression '5-2 * * * *': minute field '5-2': range 5-2 is reversed");
  EXPECT_NE(ParseError("* * * * fri-mon").find("day-of-week field 'fri-mon': range 5-1"),
            std::string::npos);
  EXPECT_EQ(ParseError("*/0 * * * *"),
            "cron expression '*/0 * * * *': minute field '*/0': step must be at least 1");
  EXPECT_NE(ParseError("* */25 * * *").find("hour field '*/25': step 25 is larger"),
            std::string::npos);
  EXPECT_NE(ParseError("* */ * * *").find("hour field '*/': missing step"), std::string::npos);
  EXPECT_NE(ParseError("* * 1/2/3 * *").find("day-of-month field"), std::string::npos);
}

TEST(CronParseTest, RejectsGarbage) {
  EXPECT_NE(ParseError("1a * * * *").find("minute field '1a'"), std::string::npos);
  EXPECT_NE(ParseError("* * * * x").find("day-of-week field 'x': 'x' is not a valid day-of-week"),
            std::string::npos);
  EXPECT_NE(ParseError("* mon * * *").find("hour field 'mon'"), std::string::npos);
  EXPECT_NE(ParseError("* * * mon *").find("month field 'mon'"), std::string::npos);
  EXPECT_NE(ParseError("1,,2 * * * *").find("minute field '1,,2': empty list item"),
            std::string::npos);
  EXPECT_NE(ParseError("1, * * * *").find("empty list item"), std::string::npos);
  EXPECT_NE(ParseError("1- * * * *").find("minute field '1-': missing value"), std::string::npos);
  EXPECT_NE(ParseError("-1 * * * *").find("minute field '-1': missing value"), std::string::npos);
  EXPECT_NE(ParseError("* * * * */mon").find("step 'mon' is not a number"), std::string::npos);
  EXPECT_NE(ParseError("0 3 * * *;").find("day-of-week field '*;'"), std::string::npos);
}

TEST(CronParseTest, RejectsTooLongInput) {
  std::string expr = "0 3 * * " + std::string(300, '1');
  EXPECT_EQ(ParseError(expr), "cron expression is too long (308 characters, at most 256)");
}

TEST(CronParseTest, RejectsUnknownTimeZone) {
  EXPECT_EQ(ParseError("0 3 * * *", "Mars/Olympus_Mons"),
            "cron time zone 'Mars/Olympus_Mons': unknown time zone");
  EXPECT_NE(ParseError("0 3 * * *", "../../etc/passwd").find("unknown time zone"),
            std::string::npos);
  EXPECT_NE(ParseError("0 3 * * *", "/etc/localtime").find("unknown time zone"), std::string::npos);
}

TEST(CronParseTest, RejectsUnknownMacros) {
  EXPECT_EQ(ParseError("@reboot"), "cron expression '@reboot': unknown macro");
  EXPECT_EQ(ParseError("@every 5m"), "cron expression '@every 5m': unknown macro");
}

TEST(CronParseTest, KeepsExpressionAndZone) {
  CronSchedule utc = MustParse("  0 3 * * *  ");
  EXPECT_EQ(utc.expression(), "0 3 * * *");
  EXPECT_EQ(utc.time_zone(), "UTC");
  EXPECT_FALSE(utc.has_seconds());
  CronSchedule paris = MustParse("*/5 * * * * *", "Europe/Paris");
  EXPECT_EQ(paris.time_zone(), "Europe/Paris");
  EXPECT_TRUE(paris.has_seconds());
  EXPECT_EQ(MustParse("@Daily").expression(), "@Daily");
}

TEST(CronNextTest, EveryFifteenMinutes) {
  EXPECT_EQ(Next("*/15 * * * *", Utc(2026, 1, 5, 10, 7, 30)), "2026-01-05 10:15:00");
  EXPECT_EQ(Next("*/15 * * * *", Utc(2026, 1, 5, 23, 45)), "2026-01-06 00:00:00");
  // Strictly after, including a fraction of a second past the slot.
  EXPECT_EQ(Next("*/15 * * * *", Utc(2026, 1, 5, 10, 15)), "2026-01-05 10:30:00");
  EXPECT_EQ(Next("*/15 * * * *", Utc(2026, 1, 5, 10, 14, 59) + 500ms), "2026-01-05 10:15:00");
}

TEST(CronNextTest, Daily) {
  EXPECT_EQ(Next("0 3 * * *", Utc(2026, 1, 5, 2, 59, 59)), "2026-01-05 03:00:00");
  EXPECT_EQ(Next("0 3 * * *", Utc(2026, 1, 5, 3)), "2026-01-06 03:00:00");
  EXPECT_EQ(Next("0 3 * * *", Utc(2026, 12, 31, 12)), "2027-01-01 03:00:00");
}

TEST(CronNextTest, SundayIsZeroAndSeven) {
  // 2026-01-05 is a Monday.
  EXPECT_EQ(Next("0 0 * * 0", Utc(2026, 1, 5)), "2026-01-11 00:00:00");
  EXPECT_EQ(Next("0 0 * * 7", Utc(2026, 1, 5)), "2026-01-11 00:00:00");
  EXPECT_EQ(Next("0 0 * * sun", Utc(2026, 1, 5)), "2026-01-11 00:00:00");
  EXPECT_EQ(Next("0 0 * * 6-7", Utc(2026, 1, 5)), "2026-01-10 00:00:00");
  EXPECT_EQ(Next("0 0 * * 6-7", Utc(2026, 1, 10)), "2026-01-11 00:00:00");
}

TEST(CronNextTest, MonthAndWeekdayNames) {
  // Friday 2026-01-30 after noon; Jan 31 is a Saturday, so July 1 (a Wednesday) is next.
  EXPECT_EQ(Next("0 12 * jan,jul mon-fri", Utc(2026, 1, 30, 13)), "2026-07-01 12:00:00");
  EXPECT_EQ(Next("0 12 * JAN,Jul MON-fri", Utc(2026, 1, 30, 11)), "2026-01-30 12:00:00");
  EXPECT_EQ(Next("0 12 * jan,jul mon-fri", Utc(2026, 7, 3, 13)), "2026-07-06 12:00:00");
}

TEST(CronNextTest, DayOfMonthOrDayOfWeekWhenBothRestricted) {
  // April 2026: Fridays are the 3rd, 10th, 17th; the 13th is a Monday.
  EXPECT_EQ(Fires(MustParse("0 0 13 * 5"), Utc(2026, 4, 1), 4),
            (std::vector<std::string>{"2026-04-03 00:00:00", "2026-04-10 00:00:00",
                                      "2026-04-13 00:00:00", "2026-04-17 00:00:00"}));
}

TEST(CronNextTest, StarPrefixedDayFieldNarrowsLikeVixie) {
  // "*/2" starts with '*', so both day fields must match: odd days that are Mondays.
  EXPECT_EQ(Next("0 0 */2 * mon", Utc(2026, 4, 1)), "2026-04-13 00:00:00");
  // "1-31/2" is restricted, so either matches: the 3rd is odd.
  EXPECT_EQ(Next("0 0 1-31/2 * mon", Utc(2026, 4, 1)), "2026-04-03 00:00:00");
}

TEST(CronNextTest, RangesListsAndSteps) {
  EXPECT_EQ(Next("10-50/20 * * * *", Utc(2026, 1, 5, 10, 31)), "2026-01-05 10:50:00");
  EXPECT_EQ(Next("10-50/20 * * * *", Utc(2026, 1, 5, 10, 50)), "2026-01-05 11:10:00");
  EXPECT_EQ(Next("45/5 * * * *", Utc(2026, 1, 5, 10, 56)), "2026-01-05 11:45:00");
  EXPECT_EQ(Next("0 1,13 * * *", Utc(2026, 1, 5, 2)), "2026-01-05 13:00:00");
}

TEST(CronNextTest, ThirtyFirstSkipsShortMonths) {
  EXPECT_EQ(Next("0 0 31 * *", Utc(2026, 4, 1)), "2026-05-31 00:00:00");
  EXPECT_EQ(Next("0 0 31 * *", Utc(2026, 5, 31)), "2026-07-31 00:00:00");
}

TEST(CronNextTest, LeapDay) {
  EXPECT_EQ(Next("0 0 29 2 *", Utc(2026, 3, 1)), "2028-02-29 00:00:00");
  // 2100 is not a leap year: eight years apart, still within the horizon.
  EXPECT_EQ(Next("0 0 29 2 *", Utc(2096, 3, 1)), "2104-02-29 00:00:00");
}

TEST(CronNextTest, NeverFires) {
  EXPECT_EQ(Next("0 0 30 2 *", Utc(2026, 1, 1)), "none");
  EXPECT_EQ(Next("0 0 31 4,6,9,11 *", Utc(2026, 1, 1)), "none");
}

TEST(CronNextTest, SecondsField) {
  EXPECT_EQ(Next("*/5 * * * * *", Utc(2026, 1, 5, 10, 7, 32)), "2026-01-05 10:07:35");
  EXPECT_EQ(Next("*/5 * * * * *", Utc(2026, 1, 5, 10, 7, 55)), "2026-01-05 10:08:00");
  EXPECT_EQ(Next("30 0 3 * * *", Utc(2026, 1, 5, 3)), "2026-01-05 03:00:30");
}

TEST(CronNextTest, Macros) {
  system_clock::time_point t = Utc(2026, 1, 5, 10, 7, 30);  // a Monday
  EXPECT_EQ(Next("@hourly", t), "2026-01-05 11:00:00");
  EXPECT_EQ(Next("@daily", t), "2026-01-06 00:00:00");
  EXPECT_EQ(Next("@midnight", t), "2026-01-06 00:00:00");
  EXPECT_EQ(Next("@weekly", t), "2026-01-11 00:00:00");
  EXPECT_EQ(Next("@monthly", t), "2026-02-01 00:00:00");
  EXPECT_EQ(Next("@yearly", t), "2027-01-01 00:00:00");
  EXPECT_EQ(Next("@annually", t), "2027-01-01 00:00:00");
  EXPECT_EQ(Next("@daily", t, "Europe/Paris"), "2026-01-05 23:00:00");
}

TEST(CronNextTest, SpringForwardRunsAtTheTransition) {
  // Paris 2026-03-29: 02:00 CET jumps to 03:00 CEST (01:00 UTC); 02:30 does not exist.
  CronSchedule s = MustParse("30 2 * * *", "Europe/Paris");
  std::optional<system_clock::time_point> t = s.NextAfter(Utc(2026, 3, 28, 12));
  ASSERT_TRUE(t.has_value());
  EXPECT_EQ(Format(*t), "2026-03-29 01:00:00");
  t = s.NextAfter(*t);
  ASSERT_TRUE(t.has_value());
  EXPECT_EQ(Format(*t), "2026-03-30 00:30:00");
  // Slots inside the gap and at its end merge into one run at the transition.
  CronSchedule quarter = MustParse("*/15 * * * *", "Europe/Paris");
  t = quarter.NextAfter(Utc(2026, 3, 29, 0, 50));
  EXPECT_EQ(Format(*t), "2026-03-29 01:00:00");
  t = quarter.NextAfter(*t);
  EXPECT_EQ(Format(*t), "2026-03-29 01:15:00");
}

TEST(CronNextTest, FallBackRunsOnce) {
  // Paris 2026-10-25: 03:00 CEST goes back to 02:00 CET (01:00 UTC); 02:30 happens at 00:30 and
  // 01:30 UTC. Only the first runs.
  CronSchedule s = MustParse("30 2 * * *", "Europe/Paris");
  std::optional<system_clock::time_point> t = s.NextAfter(Utc(2026, 10, 24, 12));
  ASSERT_TRUE(t.has_value());
  EXPECT_EQ(Format(*t), "2026-10-25 00:30:00");
  t = s.NextAfter(*t);
  ASSERT_TRUE(t.has_value());
  EXPECT_EQ(Format(*t), "2026-10-26 01:30:00");
  // From inside the repeated hour, the repeated 02:30 is not run either.
  EXPECT_EQ(Next("30 2 * * *", Utc(2026, 10, 25, 1, 10), "Europe/Paris"), "2026-10-26 01:30:00");
  // Hourly keeps going through the repeated hour without running 02:00 twice.
  // 02:00 CEST, then 03:00, 04:00 and 05:00 CET: 02:00 CET (01:00 UTC) is skipped.
  EXPECT_EQ(Fires(MustParse("0 * * * *", "Europe/Paris"), Utc(2026, 10, 24, 23, 30), 4),
            (std::vector<std::string>{"2026-10-25 00:00:00", "2026-10-25 02:00:00",
                                      "2026-10-25 03:00:00", "2026-10-25 04:00:00"}));
}

TEST(CronNextTest, NewYorkFollowsDaylightSaving) {
  EXPECT_EQ(Next("0 9 * * *", Utc(2026, 1, 15), "America/New_York"), "2026-01-15 14:00:00");
  EXPECT_EQ(Next("0 9 * * *", Utc(2026, 7, 15), "America/New_York"), "2026-07-15 13:00:00");
}

TEST(CronPeriodTest, LargestGap) {
  system_clock::time_point from = Utc(2026, 1, 5, 10, 7, 30);
  EXPECT_EQ(MustParse("0 3 * * *").Period(from), 24h);
  EXPECT_EQ(MustParse("0 0 * * 0").Period(from), 7 * 24h);
  EXPECT_EQ(MustParse("*/10 * * * * *").Period(from), 10s);
  EXPECT_EQ(MustParse("0 0 1 * *").Period(from), 31 * 24h);
  EXPECT_EQ(MustParse("0 1,13 * * *").Period(from), 12h);
  // Across a DST change the longer day counts.
  EXPECT_EQ(MustParse("0 3 * * *", "Europe/Paris").Period(Utc(2026, 10, 1)), 25h);
  EXPECT_EQ(MustParse("0 0 30 2 *").Period(from), 0s);
}

TEST(NextDueRunTest, MissedSlotsGiveOneRunAtTheLatest) {
  CronSchedule hourly = MustParse("0 * * * *");
  // Ten slots (01:00 .. 10:00) were missed.
  DueRun run = NextDueRun(hourly, Utc(2026, 1, 5), Utc(2026, 1, 5, 10, 30));
  EXPECT_TRUE(run.due);
  EXPECT_EQ(Format(run.slot), "2026-01-05 10:00:00");
  // Remembering that slot, nothing more is due until 11:00.
  DueRun again = NextDueRun(hourly, run.slot, Utc(2026, 1, 5, 10, 59, 59));
  EXPECT_FALSE(again.due);
  EXPECT_EQ(again.slot, run.slot);
}

TEST(NextDueRunTest, NotDueBeforeTheNextSlot) {
  CronSchedule daily = MustParse("0 3 * * *");
  DueRun run = NextDueRun(daily, Utc(2026, 1, 5, 3), Utc(2026, 1, 6, 2, 59, 59));
  EXPECT_FALSE(run.due);
  EXPECT_EQ(Format(run.slot), "2026-01-05 03:00:00");
  // A clock that went backwards is not a reason to run.
  EXPECT_FALSE(NextDueRun(daily, Utc(2026, 1, 5, 3), Utc(2026, 1, 1)).due);
}

TEST(NextDueRunTest, DueExactlyAtTheSlot) {
  CronSchedule daily = MustParse("0 3 * * *");
  DueRun run = NextDueRun(daily, Utc(2026, 1, 5, 3), Utc(2026, 1, 6, 3));
  EXPECT_TRUE(run.due);
  EXPECT_EQ(Format(run.slot), "2026-01-06 03:00:00");
}

TEST(NextDueRunTest, LongOutages) {
  // Three years of daily backups missed.
  DueRun daily = NextDueRun(MustParse("0 3 * * *"), Utc(2023, 1, 1), Utc(2026, 1, 5, 12));
  EXPECT_TRUE(daily.due);
  EXPECT_EQ(Format(daily.slot), "2026-01-05 03:00:00");
  // A month of every-second slots: far more than can be walked one by one.
  DueRun fast = NextDueRun(MustParse("* * * * * *"), Utc(2026, 1, 1), Utc(2026, 2, 1, 0, 0, 7));
  EXPECT_TRUE(fast.due);
  EXPECT_EQ(Format(fast.slot), "2026-02-01 00:00:07");
  // A schedule that never fires is never due.
  EXPECT_FALSE(NextDueRun(MustParse("0 0 30 2 *"), Utc(2026, 1, 1), Utc(2030, 1, 1)).due);
}

}  // namespace
}  // namespace dbaas::control
