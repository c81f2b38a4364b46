#include "kube/watcher.h"

#include <algorithm>

namespace dbaas::kube {

Watcher::Watcher(ApiClient& client, const ResourceKind& kind, std::string namespace_name,
                 std::string label_selector, WatcherCallbacks callbacks, WatcherOptions options)
    : client_(client),
      kind_(kind),
      namespace_(std::move(namespace_name)),
      selector_(std::move(label_selector)),
      callbacks_(std::move(callbacks)),
      options_(options),
      thread_([this] { Run(); }) {}

Watcher::~Watcher() { Stop(); }

void Watcher::Stop() {
  {
    std::lock_guard lock(mu_);
    stopping_ = true;
  }
  wake_.notify_all();
  if (thread_.joinable()) thread_.join();
}

bool Watcher::Sleep(std::chrono::milliseconds delay) {
  std::unique_lock lock(mu_);
  return !wake_.wait_for(lock, delay, [this] { return stopping_.load(); });
}

void Watcher::Run() {
  auto backoff = options_.first_backoff;
  auto failed = [&](const Status& status) {
    if (callbacks_.on_error) callbacks_.on_error(status);
    bool go_on = Sleep(backoff);
    backoff = std::min(backoff * 2, options_.max_backoff);
    return go_on;
  };
  while (!stopping_) {
    auto list = client_.List(kind_, namespace_, selector_);
    ++lists_;
    if (!list.ok()) {
      if (!failed(list.status())) return;
      continue;
    }
    if (callbacks_.on_sync) callbacks_.on_sync(list->items);
    std::string version = list->resource_version;
    // Watch on from the last version seen until it expires or something fails.
    while (!stopping_) {
      ++watches_;
      auto end = client_.Watch(
          kind_, namespace_, selector_, version, options_.watch_timeout,
          [this](const WatchEvent& event) {
            if (event.type != WatchEvent::Type::kBookmark && callbacks_.on_event) {
              callbacks_.on_event(event);
            }
            return !stopping_;
          },
          [this] { return stopping_.load(); });
      if (!end.ok()) {
        if (!failed(end.status())) return;
        break;  // list again: events may have been missed
      }
      backoff = options_.first_backoff;
      version = end->resource_version;
      if (end->reason == WatchEnd::Reason::kExpired) break;  // list again
      if (end->reason == WatchEnd::Reason::kStopped) return;
    }
  }
}

}  // namespace dbaas::kube
