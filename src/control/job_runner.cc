#include "control/job_runner.h"

#include <chrono>

#include <fmt/format.h>
#include <spdlog/spdlog.h>

#include "base/hex.h"
#include "base/log.h"

namespace dbaas::control {

JobRunner::JobRunner(catalog::Catalog& catalog, unsigned workers) : catalog_(catalog) {
  for (unsigned i = 0; i < std::max(1u, workers); ++i) {
    workers_.emplace_back([this] { WorkerLoop(); });
  }
}

JobRunner::~JobRunner() { Shutdown(); }

Result<catalog::JobRecord> JobRunner::Submit(const std::string& kind, const std::string& instance,
                                             const nlohmann::json& request, Work work,
                                             Cancel cancel) {
  auto entry = std::make_shared<Entry>();
  entry->record.id = RandomHex(8);
  entry->record.kind = kind;
  entry->record.instance = instance;
  entry->record.status = catalog::JobState::kQueued;
  entry->record.request = request;
  entry->record.created_at = catalog::NowRfc3339();
  entry->work = std::move(work);
  entry->cancel = std::move(cancel);
  entry->context = std::make_unique<JobContext>();
  entry->context->id = entry->record.id;
  std::lock_guard lock(mu_);
  if (shutting_down_) {
    return Status::FailedPrecondition("dbaasd is shutting down and takes no new work",
                                      "try again once it has restarted");
  }
  RETURN_IF_ERROR(catalog_.InsertJob(entry->record));
  live_[entry->record.id] = entry;
  queue_.push_back(entry->record.id);
  changed_.notify_all();
  return entry->record;
}

void JobRunner::WorkerLoop() {
  while (true) {
    std::shared_ptr<Entry> entry;
    {
      std::unique_lock lock(mu_);
      changed_.wait(lock, [&] { return shutting_down_ || !queue_.empty(); });
      if (queue_.empty()) return;  // shutting down, nothing left
      entry = live_[queue_.front()];
      queue_.pop_front();
      entry->record.status = catalog::JobState::kRunning;
      entry->record.started_at = catalog::NowRfc3339();
      WarnIfError(catalog_.UpdateJob(entry->record), "record the job's state in the catalog");
    }
    auto started = std::chrono::steady_clock::now();
    spdlog::info("event=job_started job={} kind={} instance={}", entry->record.id,
                 entry->record.kind, entry->record.instance);
    Result<nlohmann::json> outcome = Status::Internal("job threw");
    try {
      outcome = entry->work(*entry->context);
    } catch (const std::exception& e) {
      outcome = Status::Internal(fmt::format("job {} failed: {}", entry->record.id, e.what()));
    }
    double secs = std::chrono::duration<double>(std::chrono::steady_clock::now() - started).count();
    if (outcome.ok()) {
      spdlog::info("event=job_succeeded job={} kind={} instance={} duration_ms={:.0f}",
                   entry->record.id, entry->record.kind, entry->record.instance, secs * 1000);
    } else {
      spdlog::error("event=job_failed job={} kind={} instance={} duration_ms={:.0f} error=\"{}\"",
                    entry->record.id, entry->record.kind, entry->record.instance, secs * 1000,
                    outcome.status().ToString());
    }
    std::lock_guard lock(mu_);
    Finish(*entry, outcome);
  }
}

// Called with mu_ held.
void JobRunner::Finish(Entry& entry, const Result<nlohmann::json>& outcome) {
  catalog::JobRecord& r = entry.record;
  r.finished_at = catalog::NowRfc3339();
  if (outcome.ok()) {
    r.status = catalog::JobState::kSucceeded;
    r.progress = 1;
    r.result = outcome.value();
  } else {
    r.status = r.status == catalog::JobState::kQueued ? catalog::JobState::kCancelled
                                                      : catalog::JobState::kFailed;
    r.error_code = outcome.status().code();
    r.error_message = outcome.status().message();
    if (!outcome.status().hint().empty()) r.result = {{"hint", outcome.status().hint()}};
  }
  Status saved = catalog_.UpdateJob(r);
  if (!saved.ok()) spdlog::error("job {}: recording its end: {}", r.id, saved.ToString());
  WarnIfError(
      catalog_.AddEvent(outcome.ok() ? "info" : "error", r.instance, r.id,
                        outcome.ok() ? fmt::format("{} succeeded", r.kind)
                                     : fmt::format("{} {}: {}", r.kind, catalog::NameOf(r.status),
                                                   outcome.status().ToString())),
      "record an event in the catalog");
  entry.done = true;
  live_.erase(r.id);
  changed_.notify_all();
}

Result<catalog::JobRecord> JobRunner::Get(const std::string& id) const {
  {
    std::lock_guard lock(mu_);
    auto it = live_.find(id);
    if (it != live_.end()) {
      catalog::JobRecord r = it->second->record;
      const storage::Progress& p = it->second->context->progress;
      uint64_t total = p.total_bytes.load();
      if (total > 0) {
        r.progress = std::min(0.99, static_cast<double>(p.done_bytes.load()) / total);
      }
      return r;
    }
  }
  return catalog_.GetJob(id);
}

Result<catalog::JobRecord> JobRunner::Wait(const std::string& id,
                                           std::chrono::milliseconds timeout) const {
  {
    std::unique_lock lock(mu_);
    changed_.wait_for(lock, timeout, [&] { return live_.find(id) == live_.end(); });
  }
  return Get(id);
}

size_t JobRunner::in_flight() const {
  std::lock_guard lock(mu_);
  return live_.size();
}

void JobRunner::Shutdown() {
  std::vector<std::shared_ptr<Entry>> cancelled;
  {
    std::lock_guard lock(mu_);
    if (shutting_down_ && workers_.empty()) return;
    shutting_down_ = true;
    for (const std::string& id : queue_) cancelled.push_back(live_[id]);
    queue_.clear();
    changed_.notify_all();
  }
  Status why = Status::FailedPrecondition("cancelled: dbaasd shut down before the job started");
  for (auto& entry : cancelled) {
    if (entry->cancel) entry->cancel(why);
    std::lock_guard lock(mu_);
    Finish(*entry, why);
  }
  for (auto& t : workers_) {
    if (t.joinable()) t.join();
  }
  workers_.clear();
}

}  // namespace dbaas::control
