#include "control/ticker.h"

namespace dbaas::control {

Ticker::Ticker(std::chrono::milliseconds period, std::function<void()> tick)
    : period_(period), tick_(std::move(tick)), thread_([this] { Loop(); }) {}

Ticker::~Ticker() { Stop(); }

void Ticker::Wake() {
  {
    std::lock_guard lock(mu_);
    woken_ = true;
  }
  cv_.notify_all();
}

void Ticker::Stop() {
  {
    std::lock_guard lock(mu_);
    stop_ = true;
  }
  cv_.notify_all();
  if (thread_.joinable()) thread_.join();
}

void Ticker::Loop() {
  while (true) {
    {
      std::unique_lock lock(mu_);
      cv_.wait_for(lock, period_, [&] { return stop_ || woken_; });
      if (stop_) return;
      woken_ = false;
    }
    tick_();
  }
}

}  // namespace dbaas::control
