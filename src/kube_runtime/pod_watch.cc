#include "kube_runtime/pod_watch.h"

#include <algorithm>

#include <fmt/format.h>
#include <spdlog/spdlog.h>

#include "kube/instance_objects.h"
#include "kube/json_fields.h"
#include "kube/resources.h"

namespace dbaas::kube_runtime {
namespace {

using nlohmann::json;

// A reason and its message as the cluster wrote them (a tenant's container may write its
// termination message: bounded).
std::string ReasonOf(const json& object) {
  constexpr size_t kMost = 300;
  std::string reason = kube::TextField(object, "reason");
  const std::string message = kube::TextField(object, "message");
  if (!message.empty()) reason += (reason.empty() ? "" : ": ") + message;
  if (reason.size() > kMost) reason = reason.substr(0, kMost) + "...";
  return reason;
}

std::string KeyOf(const std::string& ns, const std::string& name) { return ns + "/" + name; }

std::string KeyOf(const json& pod) {
  const json meta = kube::ObjectField(pod, "metadata");
  return KeyOf(kube::TextField(meta, "namespace"), kube::TextField(meta, "name"));
}

}  // namespace

PodView ViewOfPod(const json& pod) {
  PodView view;
  const json status = kube::ObjectField(pod, "status");
  view.phase = kube::TextField(status, "phase");
  view.ip = kube::TextField(status, "podIP");
  view.reason = ReasonOf(status);  // the pod's own: Evicted, NodeLost
  for (const json& condition : kube::ArrayField(status, "conditions")) {
    const std::string type = kube::TextField(condition, "type");
    const bool is_true = kube::TextField(condition, "status") == "True";
    if (type == "Ready") view.ready = is_true;
    if (type == "PodScheduled" && !is_true && view.reason.empty()) {
      view.reason = ReasonOf(condition);
    }
  }
  for (const json& container : kube::ArrayField(status, "containerStatuses")) {
    view.restarts +=
        static_cast<int>(std::max<int64_t>(0, kube::IntField(container, "restartCount")));
    if (!view.reason.empty()) continue;
    const json state = kube::ObjectField(container, "state");
    const json waiting = kube::ObjectField(state, "waiting");
    // ContainerCreating is the way to running, not a reason it does not run.
    if (!waiting.empty() && kube::TextField(waiting, "reason") != "ContainerCreating") {
      view.reason = ReasonOf(waiting);
      // Why the last run ended, for a container restarting again and again.
      const json last = kube::ObjectField(kube::ObjectField(container, "lastState"), "terminated");
      if (!last.empty()) {
        view.reason +=
            fmt::format(" (last exit {}: {})", kube::IntField(last, "exitCode"), ReasonOf(last));
      }
    }
  }
  return view;
}

std::string DescribePod(const std::string& ns, const std::string& name, const PodView& view) {
  std::string text =
      fmt::format("pod {}/{} is {}", ns, name, view.phase.empty() ? "Pending" : view.phase);
  if (view.phase == "Running" && !view.ready) text += ", not ready";
  if (!view.reason.empty()) text += fmt::format(" ({})", view.reason);
  return text;
}

PodWatch::PodWatch(kube::ApiClient& api, kube::WatcherOptions options) {
  kube::WatcherCallbacks callbacks;
  callbacks.on_sync = [this](const std::vector<json>& items) {
    std::lock_guard lock(mu_);
    pods_.clear();
    for (const json& pod : items) pods_[KeyOf(pod)] = ViewOfPod(pod);
    synced_ = true;
    Changed();
  };
  callbacks.on_event = [this](const kube::WatchEvent& event) {
    std::lock_guard lock(mu_);
    if (event.type == kube::WatchEvent::Type::kDeleted) {
      pods_.erase(KeyOf(event.object));
    } else {
      pods_[KeyOf(event.object)] = ViewOfPod(event.object);
    }
    Changed();
  };
  // Events may be missed until the next list: what it holds may be stale meanwhile.
  callbacks.on_error = [this](const Status& status) {
    std::lock_guard lock(mu_);
    // Said once per spell of failures: while it lasts, each state is asked of the API server.
    if (synced_ || !warned_) {
      spdlog::warn(
          "event=pod_watch_failed error=\"{}\" (the pods are asked one by one until "
          "the watch lists again)",
          status.ToString());
    }
    warned_ = true;
    synced_ = false;
    Changed();
  };
  watcher_ = std::make_unique<kube::Watcher>(api, kube::KnownKind("v1", "Pod"), "",
                                             fmt::format("{}=dbaas", kube::kManagedByLabel),
                                             std::move(callbacks), options);
}

PodWatch::~PodWatch() { watcher_->Stop(); }

void PodWatch::Changed() {
  ++changes_;
  changed_.notify_all();
}

bool PodWatch::synced() const {
  std::lock_guard lock(mu_);
  return synced_;
}

std::optional<PodView> PodWatch::Get(const std::string& ns, const std::string& name) const {
  std::lock_guard lock(mu_);
  auto it = pods_.find(KeyOf(ns, name));
  if (!synced_ || it == pods_.end()) return std::nullopt;
  return it->second;
}

uint64_t PodWatch::changes() const {
  std::lock_guard lock(mu_);
  return changes_;
}

void PodWatch::WaitForChange(uint64_t seen, std::chrono::steady_clock::time_point deadline) const {
  std::unique_lock lock(mu_);
  changed_.wait_until(lock, deadline, [&] { return changes_ != seen; });
}

}  // namespace dbaas::kube_runtime
