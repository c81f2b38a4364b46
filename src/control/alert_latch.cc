#include "control/alert_latch.h"

namespace dbaas::control {

bool AlertLatch::Observe(const std::string& key, bool condition) {
  std::lock_guard lock(mu_);
  if (!condition) {
    raised_.erase(key);
    return false;
  }
  return raised_.insert(key).second;
}

}  // namespace dbaas::control
