// The pods of dbaas's instances as the API server has them, kept current by one watch
// (kube/watcher.h) of the pods labelled app.kubernetes.io/managed-by=dbaas in every
// namespace, rather than a GET per instance every 2 s: the instances' state threads, the
// waits for a pod to run and the reasons a pod does not run (the scheduler's, its
// containers' waiting states) read it, and a wait wakes at the change. Until its first list
// has come, and from a failed list or watch until the next list, it knows nothing and says
// so (synced() false): callers then ask the API server themselves.
#pragma once

#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <string>

#include <nlohmann/json.hpp>

#include "kube/api_client.h"
#include "kube/watcher.h"

namespace dbaas::kube_runtime {

struct PodView {
  std::string phase;   // Pending, Running, Succeeded, Failed, Unknown; "" before any status
  std::string ip;      // status.podIP
  bool ready = false;  // the Ready condition is True
  int restarts = 0;    // the containers' restartCount, summed
  // Why it does not run or is not ready, "" if nothing says: the pod's reason (Evicted),
  // the scheduler's (PodScheduled False), a container's waiting state (CrashLoopBackOff,
  // ImagePullBackOff, ...) or its last termination; each "Reason: message", bounded.
  std::string reason;
};

// What a Pod object says (an API server's answer: read with the type-checked getters).
PodView ViewOfPod(const nlohmann::json& pod);
// "pod <ns>/<name> is Pending (Unschedulable: 0/3 nodes are available: ...)", for errors
// and an instance's note.
std::string DescribePod(const std::string& ns, const std::string& name, const PodView& view);

class PodWatch {
 public:
  // Watches with `api` (which it must not outlive) from a thread of its own.
  explicit PodWatch(kube::ApiClient& api, kube::WatcherOptions options = {});
  ~PodWatch();
  PodWatch(const PodWatch&) = delete;
  PodWatch& operator=(const PodWatch&) = delete;

  // Whether what it holds is the cluster's as of its last event (see above).
  bool synced() const;
  // Pod `ns`/`name` as last seen; nullopt when there is no such pod (or not synced).
  std::optional<PodView> Get(const std::string& ns, const std::string& name) const;
  // Waits until something changes after `seen` (a value of changes()) or `deadline`.
  uint64_t changes() const;
  void WaitForChange(uint64_t seen, std::chrono::steady_clock::time_point deadline) const;

 private:
  void Changed();  // mu_ held

  mutable std::mutex mu_;
  mutable std::condition_variable changed_;
  bool synced_ = false;                     // guarded by mu_
  bool warned_ = false;                     // guarded by mu_: a failure was logged
  uint64_t changes_ = 0;                    // guarded by mu_
  std::map<std::string, PodView> pods_;     // guarded by mu_: by "<ns>/<name>"
  std::unique_ptr<kube::Watcher> watcher_;  // last: stopped before the rest goes
};

}  // namespace dbaas::kube_runtime
