// Preflight against the fake API server: everything present passes; a missing verb, a
// missing VolumeSnapshot API, a StorageClass that does not exist and an unset image are
// each named with what to do; deploy/rbac.yaml grants exactly what dbaasd asks for.
#include "kube/preflight.h"

#include <gtest/gtest.h>
#include <yaml-cpp/yaml.h>

#include <set>
#include <tuple>

#include "kube/fake_kube_apiserver.h"
#include "test_util.h"

namespace dbaas::kube {
namespace {

using nlohmann::json;

json Class(const std::string& api_version, const std::string& kind, const std::string& name,
           const std::string& default_annotation) {
  json object = {{"apiVersion", api_version},
                 {"kind", kind},
                 {"metadata", {{"name", name}, {"annotations", {{default_annotation, "true"}}}}}};
  if (kind == "StorageClass") object["provisioner"] = "example.com/csi";
  if (kind == "VolumeSnapshotClass") {
    object["driver"] = "example.com/csi";
    object["deletionPolicy"] = "Delete";
  }
  return object;
}

class PreflightTest : public ::testing::Test {
 protected:
  void SetUp() override {
    auto server = testing::FakeKubeApiServer::Start(dir_.path());
    ASSERT_TRUE(server.ok()) << server.status().ToString();
    server_ = std::move(server).value();
    auto client = ApiClient::Create(server_->Access());
    ASSERT_TRUE(client.ok());
    client_ = std::move(client).value();
    settings_.image = "registry.example/dbaas:1";
  }

  void AddDefaults() {
    ASSERT_TRUE(client_
                    ->Apply(Class("storage.k8s.io/v1", "StorageClass", "standard",
                                  "storageclass.kubernetes.io/is-default-class"))
                    .ok());
    ASSERT_TRUE(client_
                    ->Apply(Class("snapshot.storage.k8s.io/v1", "VolumeSnapshotClass", "snaps",
                                  "snapshot.storage.kubernetes.io/is-default-class"))
                    .ok());
  }

  std::map<std::string, PreflightCheck> Run() {
    auto checks = Preflight(*client_, settings_);
    EXPECT_TRUE(checks.ok()) << checks.status().ToString();
    std::map<std::string, PreflightCheck> by_name;
    for (auto& c : checks.value_or({})) by_name[c.name] = c;
    return by_name;
  }

  testing::TempDir dir_;
  std::unique_ptr<testing::FakeKubeApiServer> server_;
  std::unique_ptr<ApiClient> client_;
  KubernetesSettings settings_;
};

TEST_F(PreflightTest, AClusterWithEverythingPasses) {
  AddDefaults();
  auto checks = Run();
  EXPECT_EQ(checks.size(), DaemonPermissions().size() + 5);
  for (const auto& [name, c] : checks) {
    EXPECT_TRUE(c.ok) << name << ": " << c.detail;
  }
  EXPECT_NE(checks["api server"].detail.find("v1.26.1"), std::string::npos);
  EXPECT_NE(checks["storage class"].detail.find("'standard'"), std::string::npos);
  EXPECT_NE(checks["volume snapshot class"].detail.find("'snaps'"), std::string::npos);
}

TEST_F(PreflightTest, WhatIsMissingIsNamedWithWhatToDo) {
  server_->Deny("apps", "statefulsets", "delete");
  server_->Deny("", "secrets", "patch");
  server_->SetSnapshotApi(false);
  settings_.storage_class = "fast";
  settings_.image.clear();
  auto checks = Run();
  const PreflightCheck& sts = checks["rbac: statefulsets.apps"];
  EXPECT_FALSE(sts.ok);
  EXPECT_EQ(sts.detail, "may not delete");
  EXPECT_NE(sts.hint.find("deploy/rbac.yaml"), std::string::npos);
  EXPECT_EQ(checks["rbac: secrets"].detail, "may not patch");
  EXPECT_TRUE(checks["rbac: configmaps"].ok);
  EXPECT_FALSE(checks["volume snapshot API"].ok);
  EXPECT_NE(checks["volume snapshot API"].hint.find("external-snapshotter"), std::string::npos);
  EXPECT_EQ(checks.count("volume snapshot class"), 0u);  // not asked without the API
  EXPECT_FALSE(checks["storage class"].ok);
  EXPECT_NE(checks["storage class"].detail.find("\"fast\" not found"), std::string::npos)
      << checks["storage class"].detail;
  EXPECT_FALSE(checks["instance image"].ok);
}

TEST_F(PreflightTest, NoDefaultClassIsAWarningNotAFailure) {
  auto checks = Run();
  EXPECT_FALSE(checks["storage class"].ok);
  EXPECT_TRUE(checks["storage class"].warning);
  EXPECT_NE(checks["storage class"].hint.find("kubernetes.storageClass"), std::string::npos);
  EXPECT_TRUE(checks["volume snapshot class"].warning);
}

TEST_F(PreflightTest, AnAccountWithNoRightsFailsEveryRbacCheck) {
  auto limited = ApiClient::Create(server_->Access(testing::FakeKubeApiServer::kLimitedToken));
  ASSERT_TRUE(limited.ok());
  auto checks = Preflight(**limited, settings_);
  ASSERT_TRUE(checks.ok()) << checks.status().ToString();
  size_t rbac_failed = 0;
  for (const auto& c : *checks) {
    if (c.name.rfind("rbac: ", 0) == 0 && !c.ok) ++rbac_failed;
  }
  EXPECT_EQ(rbac_failed, DaemonPermissions().size());
}

TEST(DeployRbacTest, GrantsExactlyWhatTheDaemonAsksFor) {
  using Triple = std::tuple<std::string, std::string, std::string>;
  std::set<Triple> needed, granted;
  for (const Permission& p : DaemonPermissions()) {
    for (const std::string& verb : p.verbs) needed.insert({p.group, p.resource, verb});
  }
  std::vector<YAML::Node> documents = YAML::LoadAllFromFile(DBAAS_DEPLOY_DIR "/rbac.yaml");
  bool found_role = false;
  for (const YAML::Node& doc : documents) {
    if (doc["kind"].as<std::string>() != "ClusterRole") continue;
    found_role = true;
    for (const YAML::Node& rule : doc["rules"]) {
      for (const YAML::Node& group : rule["apiGroups"]) {
        for (const YAML::Node& resource : rule["resources"]) {
          for (const YAML::Node& verb : rule["verbs"]) {
            granted.insert(
                {group.as<std::string>(), resource.as<std::string>(), verb.as<std::string>()});
          }
        }
      }
    }
  }
  ASSERT_TRUE(found_role);
  EXPECT_EQ(granted, needed);
}

}  // namespace
}  // namespace dbaas::kube
