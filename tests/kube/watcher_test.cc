// The watcher against the fake API server: the first list, the changes after it, watching
// on across the server's timeouts, listing again after an expired version, errors reported
// and retried, and a stop that does not wait for an idle watch to end.
#include "kube/watcher.h"

#include <gtest/gtest.h>

#include <set>

#include "kube/fake_kube_apiserver.h"
#include "test_util.h"

namespace dbaas::kube {
namespace {

using nlohmann::json;
using Clock = std::chrono::steady_clock;

json ConfigMap(const std::string& name, const std::string& app) {
  return {{"apiVersion", "v1"},
          {"kind", "ConfigMap"},
          {"metadata", {{"name", name}, {"namespace", "tenant"}, {"labels", {{"app", app}}}}},
          {"data", {{"k", "v"}}}};
}

// What the watcher has seen: the names present, by its lists and events.
struct View {
  std::mutex mu;
  std::set<std::string> names;
  int syncs = 0;
  std::vector<Status> errors;

  WatcherCallbacks Callbacks() {
    return {[this](const std::vector<json>& items) {
              std::lock_guard lock(mu);
              names.clear();
              for (const auto& item : items)
                names.insert(item["metadata"]["name"].get<std::string>());
              ++syncs;
            },
            [this](const WatchEvent& event) {
              std::lock_guard lock(mu);
              std::string name = event.object["metadata"]["name"];
              if (event.type == WatchEvent::Type::kDeleted) {
                names.erase(name);
              } else {
                names.insert(name);
              }
            },
            [this](const Status& status) {
              std::lock_guard lock(mu);
              errors.push_back(status);
            }};
  }

  // Waits (up to 20 s) until `done` holds of the view.
  bool WaitFor(const std::function<bool(View&)>& done) {
    auto deadline = Clock::now() + std::chrono::seconds(20);
    while (Clock::now() < deadline) {
      {
        std::lock_guard lock(mu);
        if (done(*this)) return true;
      }
      std::this_thread::sleep_for(std::chrono::milliseconds(20));
    }
    return false;
  }
};

class WatcherTest : public ::testing::Test {
 protected:
  void SetUp() override {
    auto server = testing::FakeKubeApiServer::Start(dir_.path());
    ASSERT_TRUE(server.ok()) << server.status().ToString();
    server_ = std::move(server).value();
    client_ = Client(testing::FakeKubeApiServer::kAdminToken);
    json ns = {{"apiVersion", "v1"}, {"kind", "Namespace"}, {"metadata", {{"name", "tenant"}}}};
    ASSERT_TRUE(client_->Apply(ns).ok());
  }

  std::unique_ptr<ApiClient> Client(const std::string& token) {
    auto client = ApiClient::Create(server_->Access(token));
    EXPECT_TRUE(client.ok());
    return std::move(client).value();
  }

  static WatcherOptions Quick() {
    WatcherOptions options;
    options.watch_timeout = std::chrono::seconds(1);
    options.first_backoff = std::chrono::milliseconds(20);
    options.max_backoff = std::chrono::milliseconds(100);
    return options;
  }

  const ResourceKind& ConfigMaps() { return KnownKind("v1", "ConfigMap"); }

  testing::TempDir dir_;
  std::unique_ptr<testing::FakeKubeApiServer> server_;
  std::unique_ptr<ApiClient> client_;
};

TEST_F(WatcherTest, SeesTheCollectionThenItsChangesAcrossTheServersTimeouts) {
  ASSERT_TRUE(client_->Apply(ConfigMap("a", "db")).ok());
  ASSERT_TRUE(client_->Apply(ConfigMap("web", "web")).ok());
  View view;
  Watcher watcher(*client_, ConfigMaps(), "tenant", "app=db", view.Callbacks(), Quick());
  ASSERT_TRUE(view.WaitFor([](View& v) { return v.syncs == 1; }));
  EXPECT_EQ(view.names, (std::set<std::string>{"a"}));
  ASSERT_TRUE(client_->Apply(ConfigMap("b", "db")).ok());
  ASSERT_TRUE(client_->Delete({&ConfigMaps(), "tenant", "a"}).ok());
  ASSERT_TRUE(view.WaitFor([](View& v) { return v.names == std::set<std::string>{"b"}; }));
  // Past a watch's end (1 s): the next watch goes on from the last version seen.
  std::this_thread::sleep_for(std::chrono::milliseconds(1500));
  ASSERT_TRUE(client_->Apply(ConfigMap("c", "db")).ok());
  ASSERT_TRUE(view.WaitFor([](View& v) { return v.names.count("c") == 1; }));
  EXPECT_GE(watcher.watches(), 2u);
  EXPECT_EQ(watcher.lists(), 1u);
  EXPECT_EQ(view.syncs, 1);
  EXPECT_TRUE(view.errors.empty());
}

TEST_F(WatcherTest, AnExpiredVersionIsListedAgain) {
  ASSERT_TRUE(client_->Apply(ConfigMap("a", "db")).ok());
  View view;
  Watcher watcher(*client_, ConfigMaps(), "tenant", "app=db", view.Callbacks(), Quick());
  ASSERT_TRUE(view.WaitFor([](View& v) { return v.syncs == 1; }));
  // Writes elsewhere move the server's version on; compacted, the watcher's last version
  // is gone: its next watch expires, and it lists again.
  json other = {{"apiVersion", "v1"},
                {"kind", "Secret"},
                {"metadata", {{"name", "s"}, {"namespace", "tenant"}}}};
  ASSERT_TRUE(client_->Apply(other).ok());
  server_->Compact();
  ASSERT_TRUE(view.WaitFor([](View& v) { return v.syncs == 2; }));
  EXPECT_EQ(watcher.lists(), 2u);
  ASSERT_TRUE(client_->Apply(ConfigMap("b", "db")).ok());
  ASSERT_TRUE(view.WaitFor([](View& v) { return v.names.count("b") == 1; }));
}

TEST_F(WatcherTest, ErrorsAreReportedAndTriedAgain) {
  auto limited = Client(testing::FakeKubeApiServer::kLimitedToken);
  View view;
  Watcher watcher(*limited, ConfigMaps(), "tenant", "", view.Callbacks(), Quick());
  ASSERT_TRUE(view.WaitFor([](View& v) { return v.errors.size() >= 3; }));
  EXPECT_EQ(view.errors[0].code(), StatusCode::kFailedPrecondition);
  EXPECT_NE(view.errors[0].message().find("forbidden"), std::string::npos);
  EXPECT_EQ(view.syncs, 0);
}

TEST_F(WatcherTest, StopDoesNotWaitForAnIdleWatchToEnd) {
  View view;
  WatcherOptions options = Quick();
  options.watch_timeout = std::chrono::seconds(300);
  auto watcher =
      std::make_unique<Watcher>(*client_, ConfigMaps(), "tenant", "", view.Callbacks(), options);
  ASSERT_TRUE(view.WaitFor([](View& v) { return v.syncs == 1; }));
  std::this_thread::sleep_for(std::chrono::milliseconds(300));  // in its watch now
  auto start = Clock::now();
  watcher.reset();
  // Not the watch's 300 s: the progress check ends it (about a second; generous here).
  EXPECT_LT(Clock::now() - start, std::chrono::seconds(30));
}

}  // namespace
}  // namespace dbaas::kube
