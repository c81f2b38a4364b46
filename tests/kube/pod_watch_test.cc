// The daemon's view of its pods (kube_runtime/pod_watch.h): what a Pod object says, read
// as the cluster writes it (the scheduler's condition, a container's waiting state, the
// pod's own reason), and one watch of dbaas's pods against the FAKE API SERVER
// (kube/fake_kube_apiserver.h): pods seen as they change, a wait woken by the change, a pod
// not dbaas's never seen, and a watch that fails saying it knows nothing.
#include "kube_runtime/pod_watch.h"

#include <chrono>
#include <functional>
#include <memory>
#include <string>
#include <thread>

#include <gtest/gtest.h>

#include <nlohmann/json.hpp>

#include "kube/fake_kube_apiserver.h"
#include "kube/resources.h"
#include "test_util.h"

namespace dbaas::testing {
namespace {

using kube_runtime::PodView;
using kube_runtime::ViewOfPod;
using nlohmann::json;
using std::chrono::seconds;
using std::chrono::steady_clock;

TEST(ViewOfPodTest, SaysWhyAPodDoesNotRunAsTheClusterWroteIt) {
  const PodView running = ViewOfPod({{"status",
                                      {{"phase", "Running"},
                                       {"podIP", "10.1.2.3"},
                                       {"conditions",
                                        {{{"type", "PodScheduled"}, {"status", "True"}},
                                         {{"type", "Ready"}, {"status", "True"}}}},
                                       {"containerStatuses",
                                        {{{"name", "server"},
                                          {"restartCount", 2},
                                          {"state", {{"running", json::object()}}}}}}}}});
  EXPECT_EQ(running.phase, "Running");
  EXPECT_EQ(running.ip, "10.1.2.3");
  EXPECT_TRUE(running.ready);
  EXPECT_EQ(running.restarts, 2);
  EXPECT_EQ(running.reason, "");

  const PodView unschedulable =
      ViewOfPod({{"status",
                  {{"phase", "Pending"},
                   {"conditions",
                    {{{"type", "PodScheduled"},
                      {"status", "False"},
                      {"reason", "Unschedulable"},
                      {"message", "0/3 nodes are available: 3 Insufficient memory."}}}}}}});
  EXPECT_EQ(unschedulable.reason, "Unschedulable: 0/3 nodes are available: 3 Insufficient memory.");
  EXPECT_EQ(kube_runtime::DescribePod("dbaas-a", "a-postgresql-local-0", unschedulable),
            "pod dbaas-a/a-postgresql-local-0 is Pending (Unschedulable: 0/3 nodes are "
            "available: 3 Insufficient memory.)");

  const PodView crashing = ViewOfPod(
      {{"status",
        {{"phase", "Running"},
         {"podIP", "10.1.2.4"},
         {"conditions", {{{"type", "Ready"}, {"status", "False"}}}},
         {"containerStatuses",
          {{{"restartCount", 5},
            {"state",
             {{"waiting",
               {{"reason", "CrashLoopBackOff"},
                {"message", "back-off 2m40s restarting failed container"}}}}},
            {"lastState", {{"terminated", {{"exitCode", 1}, {"reason", "Error"}}}}}}}}}}});
  EXPECT_FALSE(crashing.ready);
  EXPECT_EQ(crashing.reason,
            "CrashLoopBackOff: back-off 2m40s restarting failed container (last exit 1: Error)");
  EXPECT_EQ(kube_runtime::DescribePod("n", "p", crashing),
            "pod n/p is Running, not ready (CrashLoopBackOff: back-off 2m40s restarting failed "
            "container (last exit 1: Error))");

  // On its way: no reason. The pod's own reason first (an eviction).
  EXPECT_EQ(ViewOfPod({{"status",
                        {{"phase", "Pending"},
                         {"containerStatuses",
                          {{{"state", {{"waiting", {{"reason", "ContainerCreating"}}}}}}}}}}})
                .reason,
            "");
  EXPECT_EQ(ViewOfPod({{"status",
                        {{"phase", "Failed"},
                         {"reason", "Evicted"},
                         {"message", "The node was low on resource: ephemeral-storage."}}}})
                .reason,
            "Evicted: The node was low on resource: ephemeral-storage.");
  // A tenant's container writes its termination message: bounded. Fields of the wrong type
  // read as absent.
  const PodView long_message = ViewOfPod(
      {{"status",
        {{"containerStatuses",
          {{{"state", {{"waiting", {{"reason", "X"}, {"message", std::string(5000, 'm')}}}}}}}}}}});
  EXPECT_LE(long_message.reason.size(), 310u);
  const PodView junk = ViewOfPod({{"status", {{"phase", 7}, {"podIP", json::array()}}}});
  EXPECT_EQ(junk.phase, "");
  EXPECT_EQ(junk.ip, "");
}

class PodWatchTest : public ::testing::Test {
 protected:
  void SetUp() override {
    auto server = FakeKubeApiServer::Start(dir_.path());
    ASSERT_TRUE(server.ok()) << server.status().ToString();
    server_ = std::move(server).value();
    auto client = kube::ApiClient::Create(server_->Access());
    ASSERT_TRUE(client.ok()) << client.status().ToString();
    client_ = std::move(client).value();
    json ns = {{"apiVersion", "v1"}, {"kind", "Namespace"}, {"metadata", {{"name", "dbaas-a"}}}};
    ASSERT_TRUE(client_->Apply(ns).ok());
  }

  static json Pod(const std::string& name, bool ours) {
    json labels = json::object();
    if (ours) labels["app.kubernetes.io/managed-by"] = "dbaas";
    return {{"apiVersion", "v1"},
            {"kind", "Pod"},
            {"metadata", {{"name", name}, {"namespace", "dbaas-a"}, {"labels", labels}}},
            {"spec", {{"containers", {{{"name", "server"}, {"image", "x"}}}}}}};
  }

  // Waits up to 20 s for `done`.
  static bool Eventually(const std::function<bool()>& done) {
    const auto deadline = steady_clock::now() + seconds(20);
    while (steady_clock::now() < deadline) {
      if (done()) return true;
      std::this_thread::sleep_for(std::chrono::milliseconds(20));
    }
    return false;
  }

  static kube::WatcherOptions Quick() {
    kube::WatcherOptions options;
    options.watch_timeout = seconds(1);
    options.first_backoff = std::chrono::milliseconds(20);
    options.max_backoff = std::chrono::milliseconds(100);
    return options;
  }

  TempDir dir_;
  std::unique_ptr<FakeKubeApiServer> server_;
  std::unique_ptr<kube::ApiClient> client_;
};

TEST_F(PodWatchTest, HoldsDbaasPodsAsTheyChangeAndWakesAWaitAtTheChange) {
  ASSERT_TRUE(client_->Apply(Pod("a-postgresql-local-0", true)).ok());
  ASSERT_TRUE(client_->Apply(Pod("someone-elses", false)).ok());
  kube_runtime::PodWatch watch(*client_, Quick());
  ASSERT_TRUE(Eventually([&] { return watch.synced(); }));
  ASSERT_TRUE(watch.Get("dbaas-a", "a-postgresql-local-0").has_value());
  EXPECT_EQ(watch.Get("dbaas-a", "a-postgresql-local-0")->phase, "");
  EXPECT_FALSE(watch.Get("dbaas-a", "someone-elses").has_value()) << "not dbaas's";

  // Its status written (as the kubelet writes it): a wait for the change wakes at once.
  const uint64_t seen = watch.changes();
  auto pod = client_->Get({&kube::KnownKind("v1", "Pod"), "dbaas-a", "a-postgresql-local-0"});
  ASSERT_TRUE(pod.ok()) << pod.status().ToString();
  (*pod)["status"] = {{"phase", "Running"},
                      {"podIP", "10.9.8.7"},
                      {"conditions", {{{"type", "Ready"}, {"status", "True"}}}}};
  ASSERT_TRUE(client_->ReplaceStatus(*pod).ok());
  const auto asked = steady_clock::now();
  watch.WaitForChange(seen, asked + seconds(20));
  EXPECT_LT(steady_clock::now() - asked, seconds(5)) << "the wait was not woken by the change";
  ASSERT_TRUE(Eventually([&] {
    auto view = watch.Get("dbaas-a", "a-postgresql-local-0");
    return view && view->ip == "10.9.8.7" && view->ready;
  }));
  // A later pod appears, a deleted one goes.
  ASSERT_TRUE(client_->Apply(Pod("b-mariadb-local-0", true)).ok());
  ASSERT_TRUE(
      client_->Delete({&kube::KnownKind("v1", "Pod"), "dbaas-a", "a-postgresql-local-0"}).ok());
  EXPECT_TRUE(Eventually([&] {
    return watch.Get("dbaas-a", "b-mariadb-local-0").has_value() &&
           !watch.Get("dbaas-a", "a-postgresql-local-0").has_value();
  }));
}

TEST_F(PodWatchTest, AWatchThatFailsKnowsNothingUntilItListsAgain) {
  ASSERT_TRUE(client_->Apply(Pod("a-postgresql-local-0", true)).ok());
  server_->Deny("", "pods", "list");
  kube_runtime::PodWatch watch(*client_, Quick());
  std::this_thread::sleep_for(std::chrono::milliseconds(500));
  EXPECT_FALSE(watch.synced()) << "synced without a list";
  EXPECT_FALSE(watch.Get("dbaas-a", "a-postgresql-local-0").has_value());
}

}  // namespace
}  // namespace dbaas::testing
