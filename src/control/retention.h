// Backup retention: which backups have expired. A pure function of the catalog's backups,
// the schedules' keep rules and the time, so that every rule is tested without a clock.
//
// A ready backup is kept when any of these holds, and expires otherwise:
//   - it is pinned;
//   - it is the newest good backup (ready, no failed drill) of an instance that exists;
//   - its own retention has not ended (expiresAt in the future);
//   - it has no retention of its own and no keep rules apply to it (asked-for backups
//     without retentionDays are kept until deleted);
//   - its schedule's keep rules select it: keepDaily N keeps the newest good backup of each
//     of the last N days that have one (weekly: ISO weeks from Monday; monthly: calendar
//     months), days read in the schedule's time zone.
// Backups that are not ready (being made or deleted) are never touched.
#pragma once

#include <chrono>
#include <map>
#include <set>
#include <string>
#include <vector>

#include "catalog/catalog.h"

namespace dbaas::control {

struct KeepRules {
  int daily = 0;
  int weekly = 0;
  int monthly = 0;
  std::string time_zone = "UTC";  // loadable by cctz (the schedule was validated)
  bool any() const { return daily > 0 || weekly > 0 || monthly > 0; }
};

struct Expiry {
  std::string backup;
  std::string instance;
  std::string reason;  // why it goes, for the event log
};

// Ready, and not failed by its last restore drill.
bool IsGoodBackup(const catalog::BackupRecord& backup);

// `keep_rules`: by schedule id (a deleted schedule's backups fall back to their own
// retention). `live_instances`: the instances that exist now.
std::vector<Expiry> ExpiredBackups(const std::vector<catalog::BackupRecord>& backups,
                                   const std::map<std::string, KeepRules>& keep_rules,
                                   const std::set<std::string>& live_instances,
                                   std::chrono::system_clock::time_point now);

}  // namespace dbaas::control
