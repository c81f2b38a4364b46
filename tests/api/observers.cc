#include "observers.h"

#include <regex>
#include <sstream>

#include <fmt/format.h>
#include <gtest/gtest.h>

namespace dbaas::testing {

using nlohmann::json;

std::map<std::string, double> ParseMetrics(const std::string& text) {
  static const std::regex kSample(R"(^([a-zA-Z_:][a-zA-Z0-9_:]*(\{[^}]*\})?) (\S+)$)");
  std::map<std::string, double> samples;
  std::istringstream lines(text);
  std::string line;
  while (std::getline(lines, line)) {
    if (line.empty() || line.starts_with("# HELP ") || line.starts_with("# TYPE ")) continue;
    std::smatch m;
    EXPECT_TRUE(std::regex_match(line, m, kSample)) << "not a sample: " << line;
    if (m.size() == 4) samples[m[1]] = std::stod(m[3]);
  }
  return samples;
}

WebhookReceiver::WebhookReceiver() {
  server_.Post("/hook", [this](const httplib::Request& req, httplib::Response& res) {
    std::lock_guard lock(mu_);
    bodies_.push_back(json::parse(req.body, nullptr, false));
    res.status = 200;
  });
  port_ = server_.bind_to_any_port("127.0.0.1");
  thread_ = std::thread([this] { server_.listen_after_bind(); });
}

WebhookReceiver::~WebhookReceiver() {
  server_.stop();
  thread_.join();
}

std::string WebhookReceiver::url() const { return fmt::format("http://127.0.0.1:{}/hook", port_); }

std::optional<json> WebhookReceiver::WaitFor(const std::string& kind,
                                             std::chrono::seconds timeout) {
  auto deadline = std::chrono::steady_clock::now() + timeout;
  while (std::chrono::steady_clock::now() < deadline) {
    {
      std::lock_guard lock(mu_);
      for (const json& b : bodies_) {
        if (b.is_object() && b.value("kind", "") == kind) return b;
      }
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
  }
  return std::nullopt;
}

int WebhookReceiver::Count(const std::string& kind) {
  std::lock_guard lock(mu_);
  int n = 0;
  for (const json& b : bodies_) n += b.is_object() && b.value("kind", "") == kind;
  return n;
}

}  // namespace dbaas::testing
