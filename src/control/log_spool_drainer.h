// Drains every archiving instance's log spool into the repository (engines/log_spool.h)
// once per interval, on a thread of its own: a slow or failing drain (a full repository)
// holds no lock the API needs, and no tenant file is read under a lock shared with other
// instances (the list of spools is taken under the caller's lock, as values).
#pragma once

#include <chrono>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include "control/ticker.h"
#include "engines/instance.h"

namespace dbaas::control {

class LogSpoolDrainer {
 public:
  using SpoolLister = std::function<std::vector<engines::LogSpool>()>;
  // `started_failing(instance, failure)` hears of each instance whose drain begins to fail
  // (once, until a drain of it succeeds again): the service's alert.
  using FailureListener = std::function<void(const std::string& instance, const std::string&)>;
  LogSpoolDrainer(SpoolLister list, std::chrono::milliseconds interval,
                  FailureListener started_failing = {});
  ~LogSpoolDrainer();  // Stop()
  LogSpoolDrainer(const LogSpoolDrainer&) = delete;
  LogSpoolDrainer& operator=(const LogSpoolDrainer&) = delete;

  // Ends the thread after the drain under way, if any.
  void Stop();
  // Returns once a drain under way, which may have listed an instance the caller has just
  // taken out of the lister's view, has ended: its directory may go (a drain writes its
  // status file there). Not under the lock the lister takes.
  void Quiesce();

  // What the last drain of `instance` found wrong, as its status says it ("" if nothing):
  // kept here so that a GET reads no file for it.
  std::string NoteOf(const std::string& instance) const;
  // The instances whose last drain failed.
  std::vector<std::string> Failing() const;

 private:
  void DrainAll();

  SpoolLister list_;
  FailureListener started_failing_;
  std::mutex drain_mu_;  // held for a whole drain
  mutable std::mutex notes_mu_;
  std::map<std::string, std::string> failing_;  // instance -> failure; guarded by notes_mu_
  std::unique_ptr<Ticker> ticker_;              // last: ticks once the rest is set
};

}  // namespace dbaas::control
