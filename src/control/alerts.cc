#include "control/alerts.h"

#include <fmt/format.h>
#include <httplib.h>
#include <spdlog/spdlog.h>

#include "catalog/catalog.h"

namespace dbaas::control {
namespace {

struct SplitUrl {
  std::string origin;  // scheme://host[:port]
  std::string path;    // from the first '/' after the host, "/" when none
};

Result<SplitUrl> Split(const std::string& url) {
  size_t scheme_end = url.find("://");
  std::string scheme = scheme_end == std::string::npos ? "" : url.substr(0, scheme_end);
  if (scheme != "http" && scheme != "https") {
    return Status::InvalidArgument(fmt::format("webhook '{}' is not an http(s) URL", url),
                                   "give http://host[:port]/path or https://...");
  }
  size_t host_start = scheme_end + 3;
  size_t path_start = url.find('/', host_start);
  std::string host = url.substr(
      host_start, path_start == std::string::npos ? std::string::npos : path_start - host_start);
  if (host.empty() || host.find_first_of(" \t\r\n@") != std::string::npos) {
    return Status::InvalidArgument(fmt::format("webhook '{}' has no usable host", url),
                                   "give http://host[:port]/path or https://...");
  }
  return SplitUrl{scheme + "://" + host,
                  path_start == std::string::npos ? "/" : url.substr(path_start)};
}

constexpr size_t kMaxQueued = 1000;

}  // namespace

Status ValidateWebhookUrl(const std::string& url) { return Split(url).status(); }

AlertSender::AlertSender(std::vector<std::string> webhooks,
                         std::function<void(const std::string&, bool)> on_result)
    : on_result_(std::move(on_result)) {
  for (std::string& url : webhooks) {
    webhooks_.push_back(std::make_unique<Webhook>());
    webhooks_.back()->url = std::move(url);
  }
  for (auto& hook : webhooks_) {
    Webhook* h = hook.get();
    h->worker = std::thread([this, h] { Run(*h); });
  }
}

AlertSender::~AlertSender() {
  {
    std::lock_guard lock(mu_);
    stopping_ = true;
  }
  cv_.notify_all();
  for (auto& hook : webhooks_) hook->worker.join();
}

void AlertSender::Send(Alert alert) {
  spdlog::warn("event=alert kind={} instance={} backup={} message=\"{}\"", alert.kind,
               alert.instance, alert.backup, alert.message);
  if (webhooks_.empty()) return;
  nlohmann::json body = {{"kind", alert.kind},          {"instance", alert.instance},
                         {"backup", alert.backup},      {"message", alert.message},
                         {"at", catalog::NowRfc3339()}, {"details", alert.details}};
  std::string text = body.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
  {
    std::lock_guard lock(mu_);
    if (stopping_) return;
    for (auto& hook : webhooks_) {
      if (hook->queue.size() >= kMaxQueued) {
        spdlog::error("event=alert_dropped kind={} webhook={} reason=\"{} alerts queued\"",
                      hook->queue.front().first, hook->url, kMaxQueued);
        if (on_result_) on_result_(hook->queue.front().first, false);
        hook->queue.pop_front();
      }
      hook->queue.emplace_back(alert.kind, text);
    }
  }
  cv_.notify_all();
}

void AlertSender::Run(Webhook& hook) {
  auto stop_by = std::chrono::steady_clock::time_point::max();
  while (true) {
    std::pair<std::string, std::string> next;
    {
      std::unique_lock lock(mu_);
      cv_.wait(lock, [&] { return stopping_ || !hook.queue.empty(); });
      if (stopping_ && stop_by == std::chrono::steady_clock::time_point::max()) {
        stop_by = std::chrono::steady_clock::now() + std::chrono::seconds(5);
        hurry_ = true;
      }
      if (hook.queue.empty() || std::chrono::steady_clock::now() > stop_by) return;
      next = std::move(hook.queue.front());
      hook.queue.pop_front();
    }
    bool delivered = Deliver(hook.url, next.second);
    if (!delivered)
      spdlog::error("event=alert_undelivered kind={} webhook={}", next.first, hook.url);
    if (on_result_) on_result_(next.first, delivered);
  }
}

bool AlertSender::Deliver(const std::string& url, const std::string& body) const {
  auto split = Split(url);
  if (!split.ok()) return false;
  httplib::Client client(split->origin);
  client.set_connection_timeout(std::chrono::seconds(5));
  client.set_read_timeout(std::chrono::seconds(10));
  client.set_write_timeout(std::chrono::seconds(10));
  for (int attempt = 0; attempt < 4; ++attempt) {
    if (attempt > 0) {
      if (hurry_) return false;
      std::this_thread::sleep_for(std::chrono::seconds(1 << (attempt - 1)));
    }
    auto res = client.Post(split->path, body, "application/json");
    if (res && res->status < 300) return true;
    // A 4xx will not get better by asking again.
    if (res && res->status < 500) return false;
  }
  return false;
}

}  // namespace dbaas::control
