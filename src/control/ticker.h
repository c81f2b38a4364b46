// A thread of its own that calls `tick` once per period until stopped: the scheduler's and
// the log spool drainer's clock. A tick runs with no lock of the ticker held, so a slow one
// (a full repository, a long retention pass) delays only the next tick.
#pragma once

#include <chrono>
#include <condition_variable>
#include <functional>
#include <mutex>
#include <thread>

namespace dbaas::control {

class Ticker {
 public:
  // Starts the thread; the first tick comes one period from now.
  Ticker(std::chrono::milliseconds period, std::function<void()> tick);
  ~Ticker();  // Stop()
  Ticker(const Ticker&) = delete;
  Ticker& operator=(const Ticker&) = delete;

  // The next tick now rather than at the end of the period (a new schedule is looked at
  // at once).
  void Wake();
  // Ends the thread after the tick under way, if any; no tick runs after it returns.
  void Stop();

 private:
  void Loop();

  const std::chrono::milliseconds period_;
  const std::function<void()> tick_;
  std::mutex mu_;
  std::condition_variable cv_;
  bool stop_ = false;   // guarded by mu_
  bool woken_ = false;  // guarded by mu_
  std::thread thread_;  // last: starts once the rest is set
};

}  // namespace dbaas::control
