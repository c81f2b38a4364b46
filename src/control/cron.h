// Cron schedules: crontab(5) expressions evaluated in an IANA time zone.
#pragma once

#include <chrono>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

#include <cctz/civil_time.h>
#include <cctz/time_zone.h>

#include "base/status.h"

namespace dbaas::control {

// A cron expression: five fields "minute hour day-of-month month day-of-week" as in crontab(5),
// or six with a leading seconds field (an extension, for fast cadences in tests), or a macro
// (@hourly @daily @midnight @weekly @monthly @yearly @annually), evaluated in a time zone
// (IANA name, default "UTC").
//
// Fields take numbers, '*', ranges 'a-b', lists 'a,b', steps '*/n', 'a-b/n' and 'a/n' (a to the
// field's maximum), month names jan..dec and weekday names sun..sat (any case); day-of-week 0 and
// 7 are both Sunday. As in Vixie cron, when both day fields are restricted (neither starts with
// '*') a day matches if either matches; otherwise both must.
//
// Daylight saving: a civil time that does not exist (spring forward) fires at the transition, so
// the slots inside the gap and the one at its end merge into one run; a civil time that happens
// twice (fall back) fires only at its first occurrence.
class CronSchedule {
 public:
  // Parses `expr` in `time_zone` ("" = UTC). Errors: kInvalidArgument naming the bad field and
  // value, with a hint giving the accepted syntax.
  static Result<CronSchedule> Parse(std::string_view expr, std::string_view time_zone = "");

  // The first matching time strictly after `after` (whole seconds). std::nullopt when none
  // within 8 years (e.g. "0 0 30 2 *"); 8 so that Feb 29 is found across a skipped leap year
  // such as 2100.
  std::optional<std::chrono::system_clock::time_point> NextAfter(
      std::chrono::system_clock::time_point after) const;

  // The nominal spacing between runs, used to decide "no good backup within twice the period":
  // the largest gap between consecutive fire times among the first 50 after `from`. Zero when
  // the schedule fires fewer than twice.
  std::chrono::seconds Period(std::chrono::system_clock::time_point from) const;

  const std::string& expression() const { return expression_; }
  const std::string& time_zone() const { return time_zone_name_; }  // "UTC" when none given
  bool has_seconds() const { return has_seconds_; }

 private:
  CronSchedule() = default;

  bool DayMatches(const cctz::civil_day& day) const;
  // The first civil time >= `from` matching every field, in a year <= `last_year`.
  std::optional<cctz::civil_second> NextCivilMatch(cctz::civil_second from,
                                                   cctz::year_t last_year) const;

  std::string expression_;
  std::string time_zone_name_;
  cctz::time_zone zone_;
  bool has_seconds_ = false;
  // Bit i set = value i matches. Day-of-week uses 0-6 (7 is folded into 0).
  uint64_t seconds_ = 0;
  uint64_t minutes_ = 0;
  uint64_t hours_ = 0;
  uint64_t days_of_month_ = 0;
  uint64_t months_ = 0;
  uint64_t days_of_week_ = 0;
  bool day_of_month_star_ = false;
  bool day_of_week_star_ = false;
};

// What a scheduler does at `now` for a schedule whose last handled slot was `last_slot` (or its
// creation time).
struct DueRun {
  bool due = false;
  // The slot to remember: when due, the latest fire time <= now (`now` itself if there are too
  // many to walk); otherwise `last_slot` unchanged.
  std::chrono::system_clock::time_point slot;
};

// Due iff a fire time lies in (last_slot, now]. Several missed slots (the daemon was down) give
// ONE run, and the remembered slot is the latest one <= now so the others do not run again.
DueRun NextDueRun(const CronSchedule& schedule, std::chrono::system_clock::time_point last_slot,
                  std::chrono::system_clock::time_point now);

}  // namespace dbaas::control
