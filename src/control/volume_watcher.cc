#include "control/volume_watcher.h"

#include <fmt/format.h>
#include <spdlog/spdlog.h>

namespace dbaas::control {

VolumeWatcher::VolumeWatcher(ProbeLister list, std::function<void(Alert)> send_alert,
                             int alert_percent, std::chrono::milliseconds interval)
    : list_(std::move(list)),
      send_alert_(std::move(send_alert)),
      alert_percent_(alert_percent),
      ticker_(std::make_unique<Ticker>(interval, [this] { MeasureAll(); })) {}

VolumeWatcher::~VolumeWatcher() { Stop(); }

void VolumeWatcher::Stop() { ticker_->Stop(); }

void VolumeWatcher::MeasureAll() {
  std::map<std::string, VolumeReading> readings;
  for (const Probe& probe : list_()) {
    if (!probe.measure) continue;
    auto stats = probe.measure();
    if (!stats.ok()) {
      spdlog::warn("event=volume_usage_failed instance={} error=\"{}\"", probe.instance,
                   stats.status().ToString());
      continue;
    }
    VolumeReading r{stats->used_bytes, probe.size_bytes, stats->capacity_bytes > 0,
                    stats->exclusive_bytes};
    readings[probe.instance] = r;
    bool full = r.size_bytes > 0 &&
                r.used_bytes * 100 >= r.size_bytes * static_cast<uint64_t>(alert_percent_);
    if (!alerting_.Observe("volume:" + probe.instance, full)) continue;
    send_alert_({"volume_usage_high",
                 probe.instance,
                 "",
                 fmt::format("instance '{}' uses {} of its {} bytes ({}% or more){}",
                             probe.instance, r.used_bytes, r.size_bytes, alert_percent_,
                             r.enforced ? "" : "; its size is not enforced on this runtime"),
                 {{"usedBytes", r.used_bytes},
                  {"sizeBytes", r.size_bytes},
                  {"enforced", r.enforced},
                  {"thresholdPercent", alert_percent_}}});
  }
  std::lock_guard lock(mu_);
  readings_ = std::move(readings);
}

std::optional<VolumeReading> VolumeWatcher::Get(const std::string& instance) const {
  std::lock_guard lock(mu_);
  auto it = readings_.find(instance);
  if (it == readings_.end()) return std::nullopt;
  return it->second;
}

std::map<std::string, VolumeReading> VolumeWatcher::All() const {
  std::lock_guard lock(mu_);
  return readings_;
}

}  // namespace dbaas::control
