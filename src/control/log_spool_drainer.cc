#include "control/log_spool_drainer.h"

#include <spdlog/spdlog.h>

#include "engines/log_spool.h"

namespace dbaas::control {

LogSpoolDrainer::LogSpoolDrainer(SpoolLister list, std::chrono::milliseconds interval,
                                 FailureListener started_failing)
    : list_(std::move(list)),
      started_failing_(std::move(started_failing)),
      ticker_(std::make_unique<Ticker>(interval, [this] { DrainAll(); })) {}

LogSpoolDrainer::~LogSpoolDrainer() { Stop(); }

void LogSpoolDrainer::Stop() { ticker_->Stop(); }

void LogSpoolDrainer::Quiesce() { std::lock_guard drain(drain_mu_); }

void LogSpoolDrainer::DrainAll() {
  std::lock_guard drain(drain_mu_);
  std::vector<engines::LogSpool> spools = list_();
  std::map<std::string, std::string> failing;
  for (const engines::LogSpool& spool : spools) {
    std::string failure = engines::DrainFailure(spool, engines::DrainLogSpool(spool));
    // The log gets a failure once, not every second.
    std::string before = NoteOf(spool.instance);
    if (!failure.empty() && engines::DrainNote(failure) != before) {
      spdlog::warn("event=spool_drain_failed instance={} error=\"{}\"", spool.instance, failure);
      if (before.empty() && started_failing_) started_failing_(spool.instance, failure);
    } else if (failure.empty() && !before.empty()) {
      spdlog::info("event=spool_drain_recovered instance={}", spool.instance);
    }
    if (!failure.empty()) failing[spool.instance] = std::move(failure);
  }
  std::lock_guard lock(notes_mu_);
  failing_ = std::move(failing);  // instances gone since are forgotten
}

std::vector<std::string> LogSpoolDrainer::Failing() const {
  std::lock_guard lock(notes_mu_);
  std::vector<std::string> names;
  for (const auto& [name, failure] : failing_) names.push_back(name);
  return names;
}

std::string LogSpoolDrainer::NoteOf(const std::string& instance) const {
  std::lock_guard lock(notes_mu_);
  auto it = failing_.find(instance);
  return it == failing_.end() ? "" : engines::DrainNote(it->second);
}

}  // namespace dbaas::control
