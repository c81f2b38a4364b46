#include "control/log_spool_drainer.h"

#include <spdlog/spdlog.h>

#include "engines/log_spool.h"

namespace dbaas::control {

LogSpoolDrainer::LogSpoolDrainer(SpoolLister list, std::chrono::milliseconds interval)
    : list_(std::move(list)), interval_(interval), thread_([this] { Loop(); }) {}

LogSpoolDrainer::~LogSpoolDrainer() { Stop(); }

void LogSpoolDrainer::Stop() {
  {
    std::lock_guard lock(mu_);
    stop_ = true;
  }
  cv_.notify_all();
  if (thread_.joinable()) thread_.join();
}

void LogSpoolDrainer::Loop() {
  while (true) {
    {
      std::unique_lock lock(mu_);
      cv_.wait_for(lock, interval_, [&] { return stop_; });
      if (stop_) return;
    }
    DrainAll();
  }
}

void LogSpoolDrainer::DrainAll() {
  for (const engines::LogSpool& spool : list_()) {
    auto drained = engines::DrainLogSpool(spool);
    // The instance's status shows the failure (DrainLogSpool records it); the log gets it
    // once, not every second.
    auto logged = failing_.find(spool.instance);
    if (drained.ok()) {
      if (logged != failing_.end()) {
        spdlog::info("event=spool_drain_recovered instance={}", spool.instance);
        failing_.erase(logged);
      }
      continue;
    }
    std::string error = drained.status().ToString();
    if (logged == failing_.end() || logged->second != error) {
      spdlog::warn("event=spool_drain_failed instance={} error=\"{}\"", spool.instance, error);
      failing_[spool.instance] = error;
    }
  }
}

}  // namespace dbaas::control
