// The service's Prometheus metrics (prometheus-cpp). Events (a backup or restore ended, a
// drill ran, an alert went out) update counters and histograms as they happen; what is a
// state (last good backup, repository and disk bytes, jobs in flight) is read when scraped
// and passed to Render().
//
// Thread-safety: every method may be called from any thread.
#pragma once

#include <cstdint>
#include <map>
#include <memory>
#include <optional>
#include <string>

namespace prometheus {
class Registry;
template <typename T>
class Family;
class Counter;
class Histogram;
class Gauge;
}  // namespace prometheus

namespace dbaas::control {

// The state part, read at scrape time.
struct MetricsState {
  struct PerInstance {
    double last_good_backup_unix = 0;  // 0: none
    uint64_t last_backup_bytes = 0;
    uint64_t last_backup_stored_bytes = 0;
    int backups = 0;
    int failed_drill_backups = 0;               // backups whose last drill failed
    double last_drill_rto_seconds = -1;         // -1: never drilled
    std::optional<uint64_t> volume_used_bytes;  // measured while it runs
    uint64_t volume_size_bytes = 0;             // its size; 0: none
    bool log_archiving_failing = false;         // its WAL/binlog cannot reach the repository
    int failovers = 0;                          // since it was made
    // Its standbys as last seen: streaming or not, lag behind the primary.
    struct Standby {
      bool streaming = false;
      uint64_t lag_bytes = 0;
      double lag_seconds = 0;
    };
    std::map<std::string, Standby> standbys;  // by member
  };
  std::map<std::string, PerInstance> instances;
  uint64_t repository_logical_bytes = 0;
  uint64_t repository_stored_bytes = 0;
  uint64_t data_root_used_bytes = 0;
  uint64_t data_root_total_bytes = 0;
  size_t jobs_in_flight = 0;
  size_t schedules = 0;
  struct PerRemote {
    double copy_lag_seconds = 0;  // since the oldest ready backup still waiting for its copy
    uint64_t bytes_sent = 0;
    uint64_t failures = 0;
    double last_success_unix = 0;  // 0: none since the daemon started
  };
  std::map<std::string, PerRemote> remotes;  // by repository name
};

class ServiceMetrics {
 public:
  ServiceMetrics();
  ~ServiceMetrics();
  ServiceMetrics(const ServiceMetrics&) = delete;
  ServiceMetrics& operator=(const ServiceMetrics&) = delete;

  void BackupEnded(const std::string& instance, bool ok, double seconds);
  void RestoreEnded(const std::string& source_instance, bool ok, double seconds);
  void DrillEnded(const std::string& instance, bool ok, double rto_seconds);
  void BackupsExpired(const std::string& instance, int count);
  void AlertEnded(const std::string& kind, bool delivered);

  // The text exposition format: the event metrics, then `state`.
  std::string Render(const MetricsState& state) const;

 private:
  std::shared_ptr<prometheus::Registry> registry_;
  prometheus::Family<prometheus::Counter>* backups_;
  prometheus::Family<prometheus::Counter>* restores_;
  prometheus::Family<prometheus::Counter>* drills_;
  prometheus::Family<prometheus::Counter>* expired_;
  prometheus::Family<prometheus::Counter>* alerts_;
  prometheus::Family<prometheus::Histogram>* backup_seconds_;
  prometheus::Family<prometheus::Histogram>* restore_seconds_;
  prometheus::Family<prometheus::Histogram>* drill_rto_seconds_;
};

}  // namespace dbaas::control
