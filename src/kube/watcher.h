// Keeps a view of a collection current, as a controller's informer does: lists it, then
// watches from the list's version; a watch the server closed (its timeout) is watched again
// from the last version seen (events and bookmarks); an expired version (410) is listed
// again; an error waits (capped exponential back-off) and lists again. The daemon's
// reconcile builds on it: what a crash left is found on the first list, what changes after
// arrives as events.
//
// Runs on a thread of its own until Stop (or destruction), which returns within about a
// second even while no event comes.
#pragma once

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <functional>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "kube/api_client.h"

namespace dbaas::kube {

struct WatcherOptions {
  std::chrono::seconds watch_timeout{300};  // each watch's timeoutSeconds
  std::chrono::milliseconds first_backoff{500};
  std::chrono::milliseconds max_backoff{30000};
};

struct WatcherCallbacks {
  // The whole collection, after each list (the first, and after an expiry or an error).
  std::function<void(const std::vector<nlohmann::json>& items)> on_sync;
  // Each change between lists (bookmarks are not passed on).
  std::function<void(const WatchEvent& event)> on_event;
  // A failed list or watch; the watcher goes on after its back-off.
  std::function<void(const Status& status)> on_error;
};

class Watcher {
 public:
  Watcher(ApiClient& client, const ResourceKind& kind, std::string namespace_name,
          std::string label_selector, WatcherCallbacks callbacks, WatcherOptions options = {});
  ~Watcher();
  Watcher(const Watcher&) = delete;
  Watcher& operator=(const Watcher&) = delete;

  void Stop();
  uint64_t lists() const { return lists_; }      // lists made so far
  uint64_t watches() const { return watches_; }  // watches made so far

 private:
  void Run();
  // Waits `delay` unless stopped first; false when stopped.
  bool Sleep(std::chrono::milliseconds delay);

  ApiClient& client_;
  const ResourceKind& kind_;
  const std::string namespace_;
  const std::string selector_;
  const WatcherCallbacks callbacks_;
  const WatcherOptions options_;
  std::atomic<bool> stopping_{false};
  std::atomic<uint64_t> lists_{0};
  std::atomic<uint64_t> watches_{0};
  std::mutex mu_;
  std::condition_variable wake_;
  std::thread thread_;
};

}  // namespace dbaas::kube
