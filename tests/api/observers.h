// What the API tests watch a daemon through besides its answers: /metrics, and the alerts
// it posts to a webhook.
#pragma once

#include <chrono>
#include <map>
#include <mutex>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include <httplib.h>
#include <nlohmann/json.hpp>

namespace dbaas::testing {

// /metrics as "name{labels}" -> value. Fails the test on a line that is not the text
// exposition format.
std::map<std::string, double> ParseMetrics(const std::string& text);

// A webhook receiver on loopback that keeps what it is sent.
class WebhookReceiver {
 public:
  WebhookReceiver();
  ~WebhookReceiver();
  std::string url() const;
  // Waits up to `timeout` for an alert of `kind`.
  std::optional<nlohmann::json> WaitFor(const std::string& kind, std::chrono::seconds timeout);
  int Count(const std::string& kind);

 private:
  httplib::Server server_;
  int port_ = 0;
  std::thread thread_;
  std::mutex mu_;
  std::vector<nlohmann::json> bodies_;
};

}  // namespace dbaas::testing
