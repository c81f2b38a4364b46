#include "control/retention.h"

#include <cctz/civil_time.h>
#include <cctz/time_zone.h>
#include <fmt/format.h>

namespace dbaas::control {
namespace {

using Clock = std::chrono::system_clock;

Clock::time_point CreatedAt(const catalog::BackupRecord& b) {
  return catalog::TimePointOf(b.created_at);
}

// The backups a schedule's keep rules select: for each rule, the newest good backup of
// each of the last N periods that have one.
std::set<std::string> SelectedByRules(const std::vector<const catalog::BackupRecord*>& newest_first,
                                      const KeepRules& rules) {
  cctz::time_zone tz;
  if (!cctz::load_time_zone(rules.time_zone, &tz)) tz = cctz::utc_time_zone();
  std::set<std::string> kept;
  // A period's key: the first civil second of its day, week or month.
  auto keep_newest_per_period = [&](int n, auto period_of) {
    std::set<cctz::civil_second> periods;
    for (const catalog::BackupRecord* b : newest_first) {
      if (static_cast<int>(periods.size()) >= n) break;
      cctz::civil_second key = period_of(cctz::convert(CreatedAt(*b), tz));
      if (periods.insert(key).second) kept.insert(b->name);
    }
  };
  keep_newest_per_period(
      rules.daily, [](cctz::civil_second t) { return cctz::civil_second(cctz::civil_day(t)); });
  keep_newest_per_period(rules.weekly, [](cctz::civil_second t) {
    // The Monday on or before the day.
    cctz::civil_day monday = cctz::prev_weekday(cctz::civil_day(t) + 1, cctz::weekday::monday);
    return cctz::civil_second(monday);
  });
  keep_newest_per_period(
      rules.monthly, [](cctz::civil_second t) { return cctz::civil_second(cctz::civil_month(t)); });
  return kept;
}

}  // namespace

bool IsGoodBackup(const catalog::BackupRecord& backup) {
  bool drill_failed = backup.drill.is_object() && backup.drill.value("status", "") == "failed";
  return backup.status == catalog::BackupState::kReady && !drill_failed;
}

std::vector<Expiry> ExpiredBackups(const std::vector<catalog::BackupRecord>& backups,
                                   const std::map<std::string, KeepRules>& keep_rules,
                                   const std::set<std::string>& live_instances,
                                   Clock::time_point now) {
  std::vector<const catalog::BackupRecord*> newest_first;
  for (const auto& b : backups) newest_first.push_back(&b);
  std::stable_sort(newest_first.begin(), newest_first.end(),
                   [](const catalog::BackupRecord* a, const catalog::BackupRecord* b) {
                     return CreatedAt(*a) > CreatedAt(*b);
                   });
  std::set<std::string> protected_names;
  std::set<std::string> has_newest_good;
  std::map<std::string, std::vector<const catalog::BackupRecord*>> good_by_schedule;
  for (const catalog::BackupRecord* b : newest_first) {
    if (!IsGoodBackup(*b)) continue;
    if (live_instances.count(b->instance) && has_newest_good.insert(b->instance).second) {
      protected_names.insert(b->name);
    }
    if (!b->schedule_id.empty()) good_by_schedule[b->schedule_id].push_back(b);
  }
  for (const auto& [id, rules] : keep_rules) {
    if (!rules.any()) continue;
    auto it = good_by_schedule.find(id);
    if (it == good_by_schedule.end()) continue;
    std::set<std::string> kept = SelectedByRules(it->second, rules);
    protected_names.insert(kept.begin(), kept.end());
  }

  std::vector<Expiry> expired;
  for (const catalog::BackupRecord* b : newest_first) {
    if (b->status != catalog::BackupState::kReady || b->pinned || protected_names.count(b->name))
      continue;
    auto rules = keep_rules.find(b->schedule_id);
    bool ruled = !b->schedule_id.empty() && rules != keep_rules.end() && rules->second.any();
    std::string reason;
    if (!b->expires_at.empty()) {
      if (!catalog::ParseRfc3339(b->expires_at).ok()) continue;  // unreadable: keep it
      if (catalog::TimePointOf(b->expires_at) > now) continue;
      reason = fmt::format("its retention ({} days) ended at {}", b->retention_days.value_or(0),
                           b->expires_at);
    } else if (ruled) {
      reason = fmt::format("the keep rules of schedule {} do not select it", b->schedule_id);
    } else {
      continue;  // no retention and no rules: kept until deleted
    }
    expired.push_back({b->name, b->instance, std::move(reason)});
  }
  return expired;
}

RetentionPlan PlanRetention(const std::vector<catalog::BackupRecord>& backups,
                            const std::map<std::string, KeepRules>& keep_rules,
                            const std::set<std::string>& live_instances,
                            const std::map<std::string, std::optional<int>>& remote_days,
                            Clock::time_point now) {
  std::map<std::string, Expiry> expired_here;
  for (Expiry& e : ExpiredBackups(backups, keep_rules, live_instances, now))
    expired_here.emplace(e.backup, std::move(e));
  RetentionPlan plan;
  for (const catalog::BackupRecord& b : backups) {
    if (b.status != catalog::BackupState::kReady) continue;
    auto here = expired_here.find(b.name);
    const bool local_expired = here != expired_here.end();
    std::vector<CopyExpiry> going;
    bool kept_longer = false;  // a copy its repository keeps past the local expiry
    bool waiting = false;      // a copy still to be made where it would be kept
    size_t staying = 0;        // copies that stay
    const nlohmann::json copies = b.copies.is_object() ? b.copies : nlohmann::json::object();
    for (const auto& [repository, copy] : copies.items()) {
      auto days = remote_days.find(repository);
      if (days == remote_days.end()) {  // not configured: nothing here can remove it
        ++staying;
        continue;
      }
      const bool made = copy.is_object() && copy.value("state", "") == "copied";
      if (!made) {
        // Pending or failed (a bucket down): the local snapshot is what it will be made
        // from, kept while that repository would keep the copy.
        waiting =
            waiting || (days->second &&
                        (b.pinned || now < CreatedAt(b) + std::chrono::hours(24) * *days->second));
        continue;
      }
      if (!days->second) {  // goes with its backup
        if (local_expired) {
          going.push_back(CopyExpiry{b.name, b.instance, repository,
                                     "its backup expired: " + here->second.reason});
        } else {
          ++staying;
        }
        continue;
      }
      auto until = CreatedAt(b) + std::chrono::hours(24) * *days->second;
      if (b.pinned || now < until) {
        kept_longer = kept_longer || local_expired;
        ++staying;
      } else {
        going.push_back(CopyExpiry{b.name, b.instance, repository,
                                   fmt::format("the retention of repository '{}' ({} days) ended",
                                               repository, *days->second)});
      }
    }
    if (local_expired && waiting) continue;  // not before its copy is made
    if (local_expired && !kept_longer) {
      plan.whole.push_back(here->second);
      continue;
    }
    if (!local_expired && !b.local && staying == 0 && !going.empty()) {
      plan.whole.push_back({b.name, b.instance, "no copy of it is kept anywhere any longer"});
      continue;
    }
    if (local_expired && b.local) plan.local_only.push_back(here->second);
    for (CopyExpiry& c : going) plan.copies.push_back(std::move(c));
  }
  return plan;
}

}  // namespace dbaas::control
