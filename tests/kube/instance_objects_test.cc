// The objects of an instance on Kubernetes: names, labels, tenancy settings, refusals; and
// that the fake API server takes all of them (the real one's dry run: docs/KUBERNETES.md).
#include "kube/instance_objects.h"

#include <gtest/gtest.h>

#include <cstdlib>
#include <thread>

#include "base/base64.h"
#include "base/hex.h"
#include "kube/api_client.h"
#include "kube/cluster_access.h"
#include "kube/fake_kube_apiserver.h"
#include "kube/resources.h"
#include "test_util.h"

namespace dbaas::kube {
namespace {

using nlohmann::json;

KubernetesSettings Settings() {
  KubernetesSettings settings;
  settings.image = "registry.example/dbaas-instance:1";
  settings.storage_class = "fast";
  return settings;
}

InstanceObjectsSpec Spec(const std::string& name = "orders") {
  InstanceObjectsSpec spec;
  spec.name = name;
  spec.engine = "postgresql";
  spec.size_bytes = 10ull << 30;
  spec.resources = {"500m", "1Gi", "2", "2Gi"};
  spec.settings = {{"work_mem", "8MB"}};
  spec.secrets = {{"superuser-password", "s3cret"}};
  return spec;
}

const json& OfKind(const std::vector<json>& objects, const std::string& kind,
                   const std::string& name = {}) {
  for (const auto& o : objects) {
    if (o["kind"] == kind && (name.empty() || o["metadata"]["name"] == name)) return o;
  }
  static const json none;
  ADD_FAILURE() << "no " << kind << " " << name;
  return none;
}

TEST(InstanceObjectsTest, AreTheOriginalDesignsLayoutInANamespaceOfTheirOwn) {
  auto objects = InstanceObjects(Spec(), Settings());
  ASSERT_TRUE(objects.ok()) << objects.status().ToString();
  ASSERT_EQ((*objects)[0]["kind"], "Namespace");  // applied first
  EXPECT_EQ((*objects)[0]["metadata"]["name"], "dbaas-orders");
  for (const auto& o : *objects) {
    EXPECT_EQ(o["metadata"]["labels"][kManagedByLabel], "dbaas") << o.dump();
    EXPECT_EQ(o["metadata"]["labels"][kInstanceLabel], "orders");
    if (o["kind"] != "Namespace") {
      EXPECT_EQ(o["metadata"]["namespace"], "dbaas-orders");
    }
  }
  const json& sts = OfKind(*objects, "StatefulSet");
  EXPECT_EQ(sts["metadata"]["name"], "orders-postgresql-local");
  EXPECT_EQ(DataClaimName("orders", "postgresql"), "data-orders-postgresql-local-0");
  EXPECT_EQ(sts["spec"]["volumeClaimTemplates"][0]["metadata"]["name"], "data");
  EXPECT_EQ(sts["spec"]["volumeClaimTemplates"][0]["spec"]["resources"]["requests"]["storage"],
            "10Gi");
  EXPECT_EQ(sts["spec"]["volumeClaimTemplates"][0]["spec"]["storageClassName"], "fast");
  const json& container = sts["spec"]["template"]["spec"]["containers"][0];
  EXPECT_EQ(container["image"], "registry.example/dbaas-instance:1");
  EXPECT_EQ(container["resources"]["limits"]["memory"], "2Gi");
  EXPECT_EQ(container["resources"]["requests"]["cpu"], "500m");
  EXPECT_EQ(sts["spec"]["selector"]["matchLabels"],
            json({{kInstanceLabel, "orders"}, {"app.kubernetes.io/name", "postgresql"}}));
  const json& secret = OfKind(*objects, "Secret");
  EXPECT_EQ(Base64Decode(secret["data"]["superuser-password"].get<std::string>()).value(),
            "s3cret");
  EXPECT_EQ(OfKind(*objects, "ConfigMap")["data"]["settings.json"], R"({"work_mem":"8MB"})");
  EXPECT_EQ(OfKind(*objects, "Service", "orders")["spec"]["ports"][0]["port"], 5432);
  EXPECT_EQ(OfKind(*objects, "Service", "orders-hl")["spec"]["clusterIP"], "None");
}

TEST(InstanceObjectsTest, TheTenantsPodIsRestrictedAndOnlyTheDaemonReachesItsAgent) {
  auto objects = InstanceObjects(Spec(), Settings());
  ASSERT_TRUE(objects.ok());
  EXPECT_EQ((*objects)[0]["metadata"]["labels"]["pod-security.kubernetes.io/enforce"],
            "restricted");
  const json& pod = OfKind(*objects, "StatefulSet")["spec"]["template"]["spec"];
  EXPECT_EQ(pod["automountServiceAccountToken"], false);
  EXPECT_EQ(pod["securityContext"]["runAsNonRoot"], true);
  EXPECT_NE(pod["securityContext"]["runAsUser"], 0);
  const json& container = pod["containers"][0];
  EXPECT_EQ(container["securityContext"]["allowPrivilegeEscalation"], false);
  EXPECT_EQ(container["securityContext"]["capabilities"]["drop"], json({"ALL"}));
  EXPECT_EQ(pod["volumes"][1]["secret"]["defaultMode"], 0400);

  const json& policy = OfKind(*objects, "NetworkPolicy")["spec"];
  ASSERT_EQ(policy["ingress"].size(), 2u);
  EXPECT_FALSE(policy["ingress"][0].contains("from"));  // the database port: anyone
  EXPECT_EQ(policy["ingress"][0]["ports"][0]["port"], 5432);
  EXPECT_EQ(policy["ingress"][1]["ports"][0]["port"], kAgentPort);  // the agent: the daemon
  EXPECT_EQ(policy["ingress"][1]["from"][0]["namespaceSelector"]["matchLabels"]
                  ["kubernetes.io/metadata.name"],
            "dbaas-system");
}

TEST(InstanceObjectsTest, ASettingsChangeRollsThePod) {
  auto before = InstanceObjects(Spec(), Settings());
  InstanceObjectsSpec changed = Spec();
  changed.settings["work_mem"] = "16MB";
  auto after = InstanceObjects(changed, Settings());
  ASSERT_TRUE(before.ok() && after.ok());
  EXPECT_NE(OfKind(*before, "StatefulSet")["spec"]["template"],
            OfKind(*after, "StatefulSet")["spec"]["template"]);
}

TEST(InstanceObjectsTest, RefusesWhatTheClusterWouldRefuseWithTheReason) {
  struct Case {
    InstanceObjectsSpec spec;
    KubernetesSettings settings;
    std::string expected;
  };
  std::vector<Case> cases;
  cases.push_back({Spec(std::string(36, 'a')), Settings(), "has 36 characters"});
  cases.push_back({Spec("1orders"), Settings(), "starting with a letter"});
  cases.push_back({Spec("Orders"), Settings(), "cannot be used on the Kubernetes runtime"});
  InstanceObjectsSpec no_size = Spec();
  no_size.size_bytes = 0;
  cases.push_back({no_size, Settings(), "no size"});
  InstanceObjectsSpec bad_cpu = Spec();
  bad_cpu.resources.cpu_limit = "two";
  cases.push_back({bad_cpu, Settings(), "cpu limit 'two' is not a Kubernetes quantity"});
  InstanceObjectsSpec bad_engine = Spec();
  bad_engine.engine = "oracle";
  cases.push_back({bad_engine, Settings(), "unknown engine"});
  KubernetesSettings no_image = Settings();
  no_image.image.clear();
  cases.push_back({Spec(), no_image, "kubernetes.image"});
  for (const auto& c : cases) {
    auto objects = InstanceObjects(c.spec, c.settings);
    ASSERT_FALSE(objects.ok()) << c.expected;
    EXPECT_EQ(objects.status().code(), StatusCode::kInvalidArgument);
    EXPECT_NE(objects.status().ToString().find(c.expected), std::string::npos)
        << objects.status().ToString();
  }
  EXPECT_TRUE(InstanceObjects(Spec(std::string(35, 'a')), Settings()).ok());
  EXPECT_EQ(StatefulSetName(std::string(35, 'a'), "postgresql").size(), 52u);
}

TEST(InstanceObjectsTest, QuantitiesAreTheApiServersGrammar) {
  for (const char* good : {"1", "500m", "1.5", "2Gi", "512Mi", "1e3", "+1", ".5", "100k"}) {
    EXPECT_TRUE(IsKubernetesQuantity(good)) << good;
  }
  for (const char* bad : {"", "two", "1GB", "1 Gi", "1.2.3", "Gi", "-", "1ii"}) {
    EXPECT_FALSE(IsKubernetesQuantity(bad)) << bad;
  }
  EXPECT_EQ(BytesQuantity(10ull << 30), "10Gi");
  EXPECT_EQ(BytesQuantity(1536ull << 20), "1536Mi");
  EXPECT_EQ(BytesQuantity(1000), "1000");
}

TEST(InstanceObjectsTest, BackupAndRestoreObjectsCarryTheirProvenance) {
  json snapshot = VolumeSnapshotObject(Settings(), "orders", "postgresql", "nightly-1");
  EXPECT_EQ(snapshot["metadata"]["namespace"], "dbaas-orders");
  EXPECT_EQ(snapshot["metadata"]["labels"][kBackupSourceLabel], "orders");
  EXPECT_EQ(snapshot["spec"]["source"]["persistentVolumeClaimName"],
            "data-orders-postgresql-local-0");
  EXPECT_FALSE(snapshot["spec"].contains("volumeSnapshotClassName"));  // the cluster default
  json claim =
      RestoredClaimObject(Settings(), "orders", "postgresql", 10ull << 30, "nightly-1", "orders");
  EXPECT_EQ(claim["metadata"]["name"], "data-orders-postgresql-local-0");
  EXPECT_EQ(claim["metadata"]["labels"][kRestoredFromLabel], "orders");
  EXPECT_EQ(claim["spec"]["dataSource"]["kind"], "VolumeSnapshot");
  EXPECT_EQ(claim["spec"]["dataSource"]["name"], "nightly-1");
}

// Against the fake, or, by hand, a real API server (DBAAS_TEST_KUBECONFIG): there the dry
// run validates every object against the real schemas, the StatefulSet's pod template
// against the namespace's "restricted" Pod Security level (a violation is a warning on the
// StatefulSet and a refused pod), and the StatefulSet controller makes the pod.
TEST(InstanceObjectsTest, TheApiServerTakesThemAllWithoutWarningsAndOneNamespaceDeleteRemovesThem) {
  const char* real = std::getenv("DBAAS_TEST_KUBECONFIG");
  testing::TempDir dir;
  std::unique_ptr<testing::FakeKubeApiServer> fake;
  ClusterAccess access;
  if (real != nullptr) {
    auto loaded = LoadKubeconfig(real);
    ASSERT_TRUE(loaded.ok()) << loaded.status().ToString();
    access = *loaded;
  } else {
    auto server = testing::FakeKubeApiServer::Start(dir.path());
    ASSERT_TRUE(server.ok()) << server.status().ToString();
    fake = std::move(server).value();
    fake->SetNamespaceTerminationMs(0);
    access = fake->Access();
  }
  std::vector<std::string> warnings;
  ApiOptions options;
  options.on_warning = [&](const std::string& warning) { warnings.push_back(warning); };
  auto client = ApiClient::Create(access, options);
  ASSERT_TRUE(client.ok());
  const std::string name = real != nullptr ? "t" + RandomHex(3) : "orders";
  auto objects = InstanceObjects(Spec(name), Settings());
  ASSERT_TRUE(objects.ok());
  auto ns = (*client)->Apply((*objects)[0]);  // the namespace: dry runs need it
  ASSERT_TRUE(ns.ok()) << ns.status().ToString();
  for (const auto& o : *objects) {
    auto checked = (*client)->Apply(o, /*dry_run=*/true);
    ASSERT_TRUE(checked.ok()) << checked.status().ToString();
  }
  for (const auto& o : *objects) {
    auto applied = (*client)->Apply(o);
    ASSERT_TRUE(applied.ok()) << applied.status().ToString();
  }
  json snapshot = VolumeSnapshotObject(Settings(), name, "postgresql", "nightly-1");
  auto snapshotted = (*client)->Apply(snapshot);
  ASSERT_TRUE(snapshotted.ok()) << snapshotted.status().ToString();
  EXPECT_TRUE(warnings.empty()) << warnings.front();
  std::string selector = std::string(kManagedByLabel) + "=dbaas," + kInstanceLabel + "=" + name;
  auto managed = (*client)->List(KnownKind("apps/v1", "StatefulSet"), "", selector);
  ASSERT_TRUE(managed.ok());
  ASSERT_EQ(managed->items.size(), 1u);
  if (real != nullptr) {
    // The StatefulSet controller's pod, admitted under "restricted" (Pending: no node).
    auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(30);
    size_t pods = 0;
    while (pods == 0 && std::chrono::steady_clock::now() < deadline) {
      std::this_thread::sleep_for(std::chrono::milliseconds(200));
      auto listed =
          (*client)->List(KnownKind("v1", "Pod"), InstanceNamespace(Settings(), name), selector);
      ASSERT_TRUE(listed.ok()) << listed.status().ToString();
      pods = listed->items.size();
    }
    EXPECT_EQ(pods, 1u) << "no pod: see kubectl get events -n dbaas-" << name;
    // The control: a template that would violate "restricted" is warned about.
    json privileged = (*objects).back();
    ASSERT_EQ(privileged["kind"], "StatefulSet");
    privileged["spec"]["template"]["spec"]["containers"][0].erase("securityContext");
    ASSERT_TRUE((*client)->Apply(privileged, /*dry_run=*/true).ok());
    ASSERT_FALSE(warnings.empty());
    EXPECT_NE(warnings.front().find("restricted"), std::string::npos) << warnings.front();
  }
  ASSERT_TRUE((*client)->Delete({&KnownKind("v1", "Namespace"), "", "dbaas-" + name}).ok());
  auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(real ? 90 : 2);
  while ((*client)->Get({&KnownKind("v1", "Namespace"), "", "dbaas-" + name}).ok() &&
         std::chrono::steady_clock::now() < deadline) {
    std::this_thread::sleep_for(std::chrono::milliseconds(200));
  }
  for (const auto& o : *objects) {
    auto ref = RefOf(o);
    ASSERT_TRUE(ref.ok());
    EXPECT_EQ((*client)->Get(*ref).status().code(), StatusCode::kNotFound) << ref->Describe();
  }
}

}  // namespace
}  // namespace dbaas::kube
