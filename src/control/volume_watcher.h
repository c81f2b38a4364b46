// How full each running instance's volume is: measured once per interval on a thread of its
// own (on the local runtime a walk of the instance's files, so never on a GET), kept for the
// instance's status and /metrics, and alerted on when an instance uses `alert_percent` of
// its size (once, until it drops below: AlertLatch).
//
// Thread-safety: every method may be called from any thread; the readings' lock is a leaf.
#pragma once

#include <chrono>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <vector>

#include "control/alert_latch.h"
#include "control/alerts.h"
#include "control/ticker.h"
#include "engines/instance.h"

namespace dbaas::control {

struct VolumeReading {
  uint64_t used_bytes = 0;
  uint64_t size_bytes = 0;       // the instance's size; 0: none
  bool enforced = false;         // whether the runtime holds the instance to its size
  uint64_t exclusive_bytes = 0;  // of used_bytes, shared with no other file (clones, thin backups)
};

class VolumeWatcher {
 public:
  // What to measure: listed by the service as values (no instance is held while measuring).
  struct Probe {
    std::string instance;
    uint64_t size_bytes = 0;
    engines::VolumeProbe measure;
  };
  using ProbeLister = std::function<std::vector<Probe>()>;

  VolumeWatcher(ProbeLister list, std::function<void(Alert)> send_alert, int alert_percent,
                std::chrono::milliseconds interval);
  ~VolumeWatcher();  // Stop()
  VolumeWatcher(const VolumeWatcher&) = delete;
  VolumeWatcher& operator=(const VolumeWatcher&) = delete;

  void Stop();
  // Measures now, on the caller's thread.
  void MeasureAll();
  std::optional<VolumeReading> Get(const std::string& instance) const;
  std::map<std::string, VolumeReading> All() const;

 private:
  ProbeLister list_;
  std::function<void(Alert)> send_alert_;
  const int alert_percent_;
  AlertLatch alerting_;
  mutable std::mutex mu_;
  std::map<std::string, VolumeReading> readings_;  // guarded by mu_
  std::unique_ptr<Ticker> ticker_;                 // last: ticks once the rest is set
};

}  // namespace dbaas::control
