#include "progress_bar.h"

#include <unistd.h>

#include <chrono>
#include <cstdio>

#include <fmt/format.h>

#include "output.h"

namespace dbaas::cli {

ProgressBar::ProgressBar(std::string label, const storage::Progress& progress, bool enabled)
    : label_(std::move(label)), progress_(progress) {
  if (!enabled || !::isatty(STDERR_FILENO)) return;
  thread_ = std::thread([this] {
    while (!stop_.load()) {
      Draw();
      std::this_thread::sleep_for(std::chrono::milliseconds(100));
    }
  });
}

ProgressBar::~ProgressBar() {
  if (!thread_.joinable()) return;
  stop_ = true;
  thread_.join();
  std::fprintf(stderr, "\r\033[K");
  std::fflush(stderr);
}

void ProgressBar::Draw() const {
  constexpr int kWidth = 30;
  uint64_t total = progress_.total_bytes.load();
  uint64_t done = std::min(progress_.done_bytes.load(), total);
  double fraction = total == 0 ? 0.0 : double(done) / double(total);
  int filled = static_cast<int>(fraction * kWidth);
  std::string bar = std::string(filled, '#') + std::string(kWidth - filled, '-');
  std::string line = fmt::format("\r{} [{}] {:3.0f}% {} / {}", label_, bar, fraction * 100,
                                 HumanBytes(done), HumanBytes(total));
  std::fputs(line.c_str(), stderr);
  std::fflush(stderr);
}

}  // namespace dbaas::cli
