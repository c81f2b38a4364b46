#include "control/cron.h"

#include <algorithm>
#include <array>
#include <cctype>
#include <vector>

#include <fmt/format.h>

namespace dbaas::control {
namespace {

using std::chrono::system_clock;

constexpr size_t kMaxExpressionLength = 256;
constexpr size_t kMaxTimeZoneLength = 128;
// Feb 29 can be 8 years apart (2096 -> 2104); anything rarer never fires.
constexpr cctz::year_t kSearchYears = 8;
constexpr int kPeriodSample = 50;
constexpr int kMaxDueSteps = 100000;

constexpr std::string_view kSyntaxHint =
    "a cron expression is five fields 'minute hour day-of-month month day-of-week' as in "
    "crontab(5) (e.g. '0 3 * * *'), optionally preceded by a seconds field, or one of @hourly "
    "@daily @midnight @weekly @monthly @yearly @annually; a field is '*', a number, a range "
    "'a-b', a list 'a,b', or a step '*/n', 'a-b/n' or 'a/n'; months and weekdays may be named "
    "(jan..dec, sun..sat)";

constexpr std::array<std::string_view, 12> kMonthNames = {"jan", "feb", "mar", "apr", "may", "jun",
                                                          "jul", "aug", "sep", "oct", "nov", "dec"};
constexpr std::array<std::string_view, 7> kWeekdayNames = {"sun", "mon", "tue", "wed",
                                                           "thu", "fri", "sat"};

struct FieldSpec {
  std::string_view name;
  int min;
  int max;
  const std::string_view* names = nullptr;  // names[i] stands for min + i
  size_t name_count = 0;
};

constexpr FieldSpec kSecond{"second", 0, 59};
constexpr FieldSpec kMinute{"minute", 0, 59};
constexpr FieldSpec kHour{"hour", 0, 23};
constexpr FieldSpec kDayOfMonth{"day-of-month", 1, 31};
constexpr FieldSpec kMonth{"month", 1, 12, kMonthNames.data(), kMonthNames.size()};
constexpr FieldSpec kDayOfWeek{"day-of-week", 0, 7, kWeekdayNames.data(), kWeekdayNames.size()};

struct Macro {
  std::string_view name;
  std::string_view expansion;
};
constexpr Macro kMacros[] = {
    {"@hourly", "0 * * * *"},   {"@daily", "0 0 * * *"},   {"@midnight", "0 0 * * *"},
    {"@weekly", "0 0 * * 0"},   {"@monthly", "0 0 1 * *"}, {"@yearly", "0 0 1 1 *"},
    {"@annually", "0 0 1 1 *"},
};

bool IsSpace(char c) { return c == ' ' || c == '\t'; }

std::string Lower(std::string_view s) {
  std::string out(s);
  for (char& c : out) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return out;
}

std::vector<std::string_view> Split(std::string_view s, char sep) {
  std::vector<std::string_view> parts;
  size_t start = 0;
  for (;;) {
    size_t pos = s.find(sep, start);
    parts.push_back(s.substr(start, pos == std::string_view::npos ? pos : pos - start));
    if (pos == std::string_view::npos) return parts;
    start = pos + 1;
  }
}

// Parses one field into a bit set, with errors that quote the whole expression and the field.
class FieldParser {
 public:
  FieldParser(std::string_view expr, const FieldSpec& spec, std::string_view text)
      : expr_(expr), spec_(spec), text_(text) {}

  Result<uint64_t> Parse() const {
    uint64_t bits = 0;
    for (std::string_view item : Split(text_, ',')) {
      if (item.empty()) return Error("empty list item");
      std::vector<std::string_view> parts = Split(item, '/');
      if (parts.size() > 2) return Error(fmt::format("'{}' has more than one '/'", item));
      std::string_view range = parts[0];
      int lo = spec_.min;
      int hi = spec_.max;
      if (range != "*") {
        size_t dash = range.find('-');
        if (dash == std::string_view::npos) {
          ASSIGN_OR_RETURN(lo, Value(range));
          // "a/n" means a to the maximum; a bare "a" is just a.
          hi = parts.size() == 2 ? spec_.max : lo;
        } else {
          ASSIGN_OR_RETURN(lo, Value(range.substr(0, dash)));
          ASSIGN_OR_RETURN(hi, Value(range.substr(dash + 1)));
          if (lo > hi) return Error(fmt::format("range {}-{} is reversed", lo, hi));
        }
      }
      int step = 1;
      if (parts.size() == 2) {
        ASSIGN_OR_RETURN(step, Step(parts[1]));
      }
      for (int v = lo; v <= hi; v += step) bits |= uint64_t{1} << v;
    }
    return bits;
  }

 private:
  Status Error(std::string_view reason) const {
    return Status::InvalidArgument(
        fmt::format("cron expression '{}': {} field '{}': {}", expr_, spec_.name, text_, reason),
        std::string(kSyntaxHint));
  }

  // Digits only, at most 3 of them so the int cannot overflow.
  static std::optional<int> Number(std::string_view s) {
    if (s.empty() || s.size() > 3) return std::nullopt;
    int n = 0;
    for (char c : s) {
      if (c < '0' || c > '9') return std::nullopt;
      n = n * 10 + (c - '0');
    }
    return n;
  }

  static bool AllDigits(std::string_view s) {
    return std::all_of(s.begin(), s.end(), [](char c) { return c >= '0' && c <= '9'; });
  }

  Result<int> Value(std::string_view s) const {
    if (s.empty()) return Error("missing value");
    if (AllDigits(s)) {
      std::optional<int> n = Number(s);
      if (!n || *n < spec_.min || *n > spec_.max) {
        return Error(fmt::format("{} is out of range {}-{}", s, spec_.min, spec_.max));
      }
      return *n;
    }
    if (spec_.names != nullptr) {
      std::string lower = Lower(s);
      for (size_t i = 0; i < spec_.name_count; ++i) {
        if (spec_.names[i] == lower) return spec_.min + static_cast<int>(i);
      }
    }
    return Error(fmt::format("'{}' is not a valid {}", s, spec_.name));
  }

  Result<int> Step(std::string_view s) const {
    if (s.empty()) return Error("missing step after '/'");
    if (!AllDigits(s)) return Error(fmt::format("step '{}' is not a number", s));
    std::optional<int> n = Number(s);
    int span = spec_.max - spec_.min + 1;
    if (n && *n == 0) return Error("step must be at least 1");
    if (!n || *n > span) return Error(fmt::format("step {} is larger than the range {}", s, span));
    return *n;
  }

  std::string_view expr_;
  const FieldSpec& spec_;
  std::string_view text_;
};

// The lowest set bit >= from (up to max), or -1.
int NextBit(uint64_t bits, int from, int max) {
  for (int i = from; i <= max; ++i) {
    if (bits & (uint64_t{1} << i)) return i;
  }
  return -1;
}

// Cron numbers weekdays from Sunday = 0; cctz from Monday.
int CronWeekday(const cctz::civil_day& day) {
  switch (cctz::get_weekday(day)) {
    case cctz::weekday::sunday:
      return 0;
    case cctz::weekday::monday:
      return 1;
    case cctz::weekday::tuesday:
      return 2;
    case cctz::weekday::wednesday:
      return 3;
    case cctz::weekday::thursday:
      return 4;
    case cctz::weekday::friday:
      return 5;
    case cctz::weekday::saturday:
      return 6;
  }
  return 0;
}

// The name becomes a file path under the zoneinfo directory: keep it to IANA-shaped names.
bool PlausibleZoneName(std::string_view name) {
  if (name.empty() || name.size() > kMaxTimeZoneLength || name.front() == '/') return false;
  if (name.find("..") != std::string_view::npos) return false;
  return std::all_of(name.begin(), name.end(), [](char c) {
    return std::isalnum(static_cast<unsigned char>(c)) || c == '/' || c == '_' || c == '-' ||
           c == '+';
  });
}

std::string_view Trim(std::string_view s) {
  while (!s.empty() && IsSpace(s.front())) s.remove_prefix(1);
  while (!s.empty() && IsSpace(s.back())) s.remove_suffix(1);
  return s;
}

}  // namespace

Result<CronSchedule> CronSchedule::Parse(std::string_view expr, std::string_view time_zone) {
  if (expr.size() > kMaxExpressionLength) {
    return Status::InvalidArgument(fmt::format("cron expression is too long ({} characters, at "
                                               "most {})",
                                               expr.size(), kMaxExpressionLength),
                                   std::string(kSyntaxHint));
  }
  std::string_view trimmed = Trim(expr);
  if (trimmed.empty()) {
    return Status::InvalidArgument("cron expression is empty", std::string(kSyntaxHint));
  }

  CronSchedule schedule;
  schedule.expression_ = std::string(trimmed);
  schedule.time_zone_name_ = time_zone.empty() ? "UTC" : std::string(time_zone);
  if (!PlausibleZoneName(schedule.time_zone_name_) ||
      !cctz::load_time_zone(schedule.time_zone_name_, &schedule.zone_)) {
    return Status::InvalidArgument(
        fmt::format("cron time zone '{}': unknown time zone", schedule.time_zone_name_),
        "use an IANA time zone name such as 'UTC' or 'Europe/Paris'");
  }

  std::string_view fields_text = trimmed;
  if (trimmed.front() == '@') {
    std::string name = Lower(trimmed);
    auto macro = std::find_if(std::begin(kMacros), std::end(kMacros),
                              [&](const Macro& m) { return m.name == name; });
    if (macro == std::end(kMacros)) {
      return Status::InvalidArgument(fmt::format("cron expression '{}': unknown macro", trimmed),
                                     std::string(kSyntaxHint));
    }
    fields_text = macro->expansion;
  }

  std::vector<std::string_view> fields;
  for (size_t i = 0; i < fields_text.size();) {
    if (IsSpace(fields_text[i])) {
      ++i;
      continue;
    }
    size_t end = i;
    while (end < fields_text.size() && !IsSpace(fields_text[end])) ++end;
    fields.push_back(fields_text.substr(i, end - i));
    i = end;
  }
  if (fields.size() != 5 && fields.size() != 6) {
    return Status::InvalidArgument(
        fmt::format("cron expression '{}': has {} fields, expected 5 (minute hour day-of-month "
                    "month day-of-week) or 6 (with a leading second)",
                    trimmed, fields.size()),
        std::string(kSyntaxHint));
  }
  schedule.has_seconds_ = fields.size() == 6;
  size_t i = 0;
  if (schedule.has_seconds_) {
    ASSIGN_OR_RETURN(schedule.seconds_, FieldParser(trimmed, kSecond, fields[i++]).Parse());
  } else {
    schedule.seconds_ = 1;  // second 0
  }
  ASSIGN_OR_RETURN(schedule.minutes_, FieldParser(trimmed, kMinute, fields[i++]).Parse());
  ASSIGN_OR_RETURN(schedule.hours_, FieldParser(trimmed, kHour, fields[i++]).Parse());
  schedule.day_of_month_star_ = fields[i].front() == '*';
  ASSIGN_OR_RETURN(schedule.days_of_month_, FieldParser(trimmed, kDayOfMonth, fields[i++]).Parse());
  ASSIGN_OR_RETURN(schedule.months_, FieldParser(trimmed, kMonth, fields[i++]).Parse());
  schedule.day_of_week_star_ = fields[i].front() == '*';
  ASSIGN_OR_RETURN(uint64_t weekdays, FieldParser(trimmed, kDayOfWeek, fields[i++]).Parse());
  // 7 is another name for Sunday.
  if (weekdays & (uint64_t{1} << 7)) weekdays = (weekdays | 1) & ~(uint64_t{1} << 7);
  schedule.days_of_week_ = weekdays;
  return schedule;
}

bool CronSchedule::DayMatches(const cctz::civil_day& day) const {
  bool dom = days_of_month_ & (uint64_t{1} << day.day());
  bool dow = days_of_week_ & (uint64_t{1} << CronWeekday(day));
  // Vixie cron: two restricted day fields are alternatives; a '*' field only narrows by the other.
  if (day_of_month_star_ || day_of_week_star_) return dom && dow;
  return dom || dow;
}

std::optional<cctz::civil_second> CronSchedule::NextCivilMatch(cctz::civil_second t,
                                                               cctz::year_t last_year) const {
  // Each step jumps to the start of the next candidate month, day, hour, minute or second, so
  // a search over years costs at most a few thousand steps.
  while (t.year() <= last_year) {
    int month = NextBit(months_, t.month(), 12);
    if (month < 0) {
      t = cctz::civil_second(cctz::civil_year(t) + 1);
      continue;
    }
    if (month != t.month()) {
      t = cctz::civil_second(t.year(), month, 1, 0, 0, 0);
      continue;
    }
    if (!DayMatches(cctz::civil_day(t))) {
      t = cctz::civil_second(cctz::civil_day(t) + 1);
      continue;
    }
    int hour = NextBit(hours_, t.hour(), 23);
    if (hour < 0) {
      t = cctz::civil_second(cctz::civil_day(t) + 1);
      continue;
    }
    if (hour != t.hour()) {
      t = cctz::civil_second(t.year(), t.month(), t.day(), hour, 0, 0);
      continue;
    }
    int minute = NextBit(minutes_, t.minute(), 59);
    if (minute < 0) {
      t = cctz::civil_second(cctz::civil_hour(t) + 1);
      continue;
    }
    if (minute != t.minute()) {
      t = cctz::civil_second(t.year(), t.month(), t.day(), t.hour(), minute, 0);
      continue;
    }
    int second = NextBit(seconds_, t.second(), 59);
    if (second < 0) {
      t = cctz::civil_second(cctz::civil_minute(t) + 1);
      continue;
    }
    return cctz::civil_second(t.year(), t.month(), t.day(), t.hour(), t.minute(), second);
  }
  return std::nullopt;
}

std::optional<system_clock::time_point> CronSchedule::NextAfter(
    system_clock::time_point after) const {
  const auto start = std::chrono::floor<std::chrono::seconds>(after);
  const cctz::civil_second civil_start = zone_.lookup(start).cs;
  const cctz::year_t last_year = civil_start.year() + kSearchYears;
  cctz::civil_second t = civil_start + 1;
  // Civil order and absolute order disagree around fall-back, so a match can map to an instant
  // <= after; skip those. t grows every round, so this ends.
  for (;;) {
    std::optional<cctz::civil_second> match = NextCivilMatch(t, last_year);
    if (!match) return std::nullopt;
    const cctz::time_zone::civil_lookup cl = zone_.lookup(*match);
    // A skipped time runs at the transition; a repeated one at its first occurrence.
    const auto when = cl.kind == cctz::time_zone::civil_lookup::SKIPPED ? cl.trans : cl.pre;
    if (when > start) return system_clock::time_point(when);
    t = *match + 1;
  }
}

std::chrono::seconds CronSchedule::Period(system_clock::time_point from) const {
  std::chrono::seconds largest{0};
  std::optional<system_clock::time_point> prev = NextAfter(from);
  for (int i = 1; prev && i < kPeriodSample; ++i) {
    std::optional<system_clock::time_point> next = NextAfter(*prev);
    if (!next) break;
    largest = std::max(largest, std::chrono::duration_cast<std::chrono::seconds>(*next - *prev));
    prev = next;
  }
  return largest;
}

DueRun NextDueRun(const CronSchedule& schedule, system_clock::time_point last_slot,
                  system_clock::time_point now) {
  std::optional<system_clock::time_point> first = schedule.NextAfter(last_slot);
  if (!first || *first > now) return {false, last_slot};

  // Start the walk from the narrowest recent window holding a slot, so a long outage with a
  // fast cadence does not walk every missed slot.
  using namespace std::chrono_literals;
  const std::chrono::seconds windows[] = {1min, 1h, 24h, 32 * 24h, 400 * 24h};
  system_clock::time_point slot = *first;
  for (std::chrono::seconds window : windows) {
    if (now - window <= *first) break;
    std::optional<system_clock::time_point> recent = schedule.NextAfter(now - window);
    if (recent && *recent <= now) {
      slot = *recent;
      break;
    }
  }
  for (int steps = 0;; ++steps) {
    if (steps == kMaxDueSteps) return {true, now};
    std::optional<system_clock::time_point> next = schedule.NextAfter(slot);
    if (!next || *next > now) return {true, slot};
    slot = *next;
  }
}

}  // namespace dbaas::control
