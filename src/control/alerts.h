// Alerts: JSON POSTed to webhooks (--alert-webhook) when something needs a person: a backup
// failed, a restore drill failed, an instance has no good backup within twice its schedule's
// period, the data root's disk is filling up.
//
// Delivery is off the caller's thread: Send() queues and returns. Each webhook has a queue
// and a thread of its own, so a dead or slow receiver delays only itself; each alert is
// retried (1 s, 2 s, 4 s) on a connection error or a 5xx answer; what still fails is logged
// and counted. A queue holds at most 1,000 alerts (a receiver down for long loses the
// oldest, logged), never blocks the service. Body:
//   {"kind": "drill_failed", "instance": "db1", "backup": "b1", "message": "...",
//    "at": "2026-11-25T10:00:00.000Z", "details": {...}}
//
// Thread-safety: every method may be called from any thread.
#pragma once

#include <atomic>
#include <condition_variable>
#include <deque>
#include <functional>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include <nlohmann/json.hpp>

#include "base/status.h"

namespace dbaas::control {

struct Alert {
  // backup_failed, drill_failed, no_recent_backup, disk_usage_high, volume_usage_high,
  // copy_behind, archiving_failed
  std::string kind;
  std::string instance;
  std::string backup;
  std::string message;
  nlohmann::json details = nlohmann::json::object();
};

// An http:// or https:// URL with a host; kInvalidArgument otherwise.
Status ValidateWebhookUrl(const std::string& url);

class AlertSender {
 public:
  // `on_result(kind, delivered)` is called once per alert and webhook, after its last try.
  AlertSender(std::vector<std::string> webhooks,
              std::function<void(const std::string&, bool)> on_result = {});
  ~AlertSender();  // gives queued alerts a few seconds, then drops them
  AlertSender(const AlertSender&) = delete;
  AlertSender& operator=(const AlertSender&) = delete;

  void Send(Alert alert);

 private:
  // One receiver: its queue of (kind, body) and the thread that delivers it.
  struct Webhook {
    std::string url;
    std::deque<std::pair<std::string, std::string>> queue;  // guarded by mu_
    std::thread worker;
  };
  void Run(Webhook& hook);
  bool Deliver(const std::string& url, const std::string& body) const;

  std::function<void(const std::string&, bool)> on_result_;
  std::mutex mu_;
  std::condition_variable cv_;
  bool stopping_ = false;           // guarded by mu_
  std::atomic<bool> hurry_{false};  // stopping: no more retries
  std::vector<std::unique_ptr<Webhook>> webhooks_;
};

}  // namespace dbaas::control
