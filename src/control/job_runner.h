// Runs the service's long operations (create, delete, backup, restore) as jobs on a few
// worker threads. A job is recorded in the catalog when submitted (queued), when it starts
// (running) and when it ends (succeeded, failed or cancelled); while it runs its progress
// is read live from the storage layer's counters, so the catalog is not written per chunk.
//
// Thread-safety: every method may be called from any thread.
#pragma once

#include <condition_variable>
#include <deque>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include <nlohmann/json.hpp>

#include "base/status.h"
#include "catalog/catalog.h"
#include "storage/progress.h"

namespace dbaas::control {

// What a running job may report.
struct JobContext {
  std::string id;
  storage::Progress progress;  // bytes done of total, filled by the storage layer
};

class JobRunner {
 public:
  // The work returns the job's result (stored as JSON) or its error.
  using Work = std::function<Result<nlohmann::json>(JobContext&)>;
  // Undoes the reservation a job made when it was submitted, if it never runs.
  using Cancel = std::function<void(const Status& why)>;

  JobRunner(catalog::Catalog& catalog, unsigned workers);
  ~JobRunner();
  JobRunner(const JobRunner&) = delete;
  JobRunner& operator=(const JobRunner&) = delete;

  // Records the job (kind, instance, request) as queued and schedules it. Fails (and runs
  // nothing) once shutdown has begun.
  Result<catalog::JobRecord> Submit(const std::string& kind, const std::string& instance,
                                    const nlohmann::json& request, Work work, Cancel cancel);
  // The job's record, with live progress while it runs.
  Result<catalog::JobRecord> Get(const std::string& id) const;
  // Waits until the job has ended (or `timeout`, then returns it as it is).
  Result<catalog::JobRecord> Wait(const std::string& id, std::chrono::milliseconds timeout) const;
  size_t in_flight() const;

  // Stops taking jobs, cancels the queued ones, and waits for the running ones to end.
  void Shutdown();

 private:
  struct Entry {
    catalog::JobRecord record;
    Work work;
    Cancel cancel;
    std::unique_ptr<JobContext> context;
    bool done = false;
  };

  void WorkerLoop();
  void Finish(Entry& entry, const Result<nlohmann::json>& outcome);

  catalog::Catalog& catalog_;
  mutable std::mutex mu_;
  mutable std::condition_variable changed_;
  std::deque<std::string> queue_;
  std::map<std::string, std::shared_ptr<Entry>> live_;  // queued and running jobs
  bool shutting_down_ = false;
  std::vector<std::thread> workers_;
};

}  // namespace dbaas::control
