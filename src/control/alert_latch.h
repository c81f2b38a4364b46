// Which alert conditions have been alerted on: an alert goes out when its condition becomes
// true, once, and again only after the condition was seen false (the disk filling up is one
// alert, not one every check). Its own lock; a leaf in the lock order.
#pragma once

#include <mutex>
#include <set>
#include <string>

namespace dbaas::control {

class AlertLatch {
 public:
  // Records `condition` for `key`; true when an alert is to be sent now (it just became
  // true).
  bool Observe(const std::string& key, bool condition);

 private:
  std::mutex mu_;
  std::set<std::string> raised_;  // guarded by mu_
};

}  // namespace dbaas::control
