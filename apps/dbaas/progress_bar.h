// A progress bar on stderr, drawn from a storage::Progress by a background thread every
// 100 ms, only when stderr is a terminal (scripts and logs get no control characters).
#pragma once

#include <atomic>
#include <string>
#include <thread>

#include "storage/progress.h"

namespace dbaas::cli {

class ProgressBar {
 public:
  // Draws nothing unless `enabled` and stderr is a terminal.
  ProgressBar(std::string label, const storage::Progress& progress, bool enabled);
  ~ProgressBar();  // erases the bar
  ProgressBar(const ProgressBar&) = delete;
  ProgressBar& operator=(const ProgressBar&) = delete;

 private:
  void Draw() const;

  std::string label_;
  const storage::Progress& progress_;
  std::atomic<bool> stop_{false};
  std::thread thread_;
};

}  // namespace dbaas::cli
