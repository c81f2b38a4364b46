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
#include <optional>
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

// Retention with remote repositories (issue 16). A repository may have a retention of its
// own (days after the backup was made; pinned backups for ever); without one, its copies
// go with their backup. For each ready backup:
//   - the local rules above expire it, and no repository keeps a copy longer: it goes
//     whole (its local snapshot, every copy, its row);
//   - they expire it, and a repository keeps a copy longer: its local snapshot goes (and
//     the copies that go with it); the row stays, restored from that repository;
//   - a repository's own retention of a copy ended: that copy goes; a backup with no local
//     snapshot and no copy left goes whole.
struct CopyExpiry {
  std::string backup;
  std::string instance;
  std::string repository;
  std::string reason;
};
struct RetentionPlan {
  std::vector<Expiry> whole;
  std::vector<Expiry> local_only;
  std::vector<CopyExpiry> copies;  // also those of local_only's that go with them
};
// `remote_days`: every configured repository, with its retention of its own, if any.
RetentionPlan PlanRetention(const std::vector<catalog::BackupRecord>& backups,
                            const std::map<std::string, KeepRules>& keep_rules,
                            const std::set<std::string>& live_instances,
                            const std::map<std::string, std::optional<int>>& remote_days,
                            std::chrono::system_clock::time_point now);

// Ready, and not failed by its last restore drill.
bool IsGoodBackup(const catalog::BackupRecord& backup);

// `keep_rules`: by schedule id (a deleted schedule's backups fall back to their own
// retention). `live_instances`: the instances that exist now.
std::vector<Expiry> ExpiredBackups(const std::vector<catalog::BackupRecord>& backups,
                                   const std::map<std::string, KeepRules>& keep_rules,
                                   const std::set<std::string>& live_instances,
                                   std::chrono::system_clock::time_point now);

}  // namespace dbaas::control
