// The schedules' side of the scheduler: which schedules are due at a given time (and their
// backups started through the service), and the alert conditions that are states (the data
// root's disk filling up, a schedule without a recent good backup), each alerted once while
// it holds (AlertLatch). The clock is the caller's: the service's Ticker passes the time,
// tests pass their own. Retention stays with the backups (Service::ApplyRetention).
//
// Thread-safety: one caller at a time (the service's scheduler thread).
#pragma once

#include <chrono>
#include <functional>
#include <string>

#include "base/status.h"
#include "catalog/catalog.h"
#include "control/alert_latch.h"
#include "control/alerts.h"
#include "control/requests.h"

namespace dbaas::control {

class Scheduler {
 public:
  struct Hooks {
    // Starts a scheduled backup (Service::CreateBackup): its job, or why it did not start.
    std::function<Result<catalog::JobRecord>(const BackupRequest&)> start_backup;
    // A scheduled backup that could not start (counted as a failed backup).
    std::function<void(const std::string& instance)> backup_not_started;
    // Records the alert as an event and sends it (Service::RaiseAlert).
    std::function<void(Alert)> send_alert;
  };
  struct Options {
    std::string data_root;        // whose filesystem's usage is watched
    int disk_alert_percent = 85;  // this full: alert
  };
  Scheduler(catalog::Catalog& catalog, Hooks hooks, Options options);

  // Starts the backup of every schedule with a slot in (its last handled slot, now]: one
  // run for any number of missed slots. The slot is recorded before the backup starts.
  void RunDue(std::chrono::system_clock::time_point now);
  // Alerts on the conditions that hold at `now`, once each until they clear.
  void CheckConditions(std::chrono::system_clock::time_point now);

 private:
  void CheckDisk();
  void NotStarted(catalog::ScheduleRecord& s, const Status& why);

  catalog::Catalog& catalog_;
  const Hooks hooks_;
  const Options options_;
  AlertLatch alerting_;
};

}  // namespace dbaas::control
