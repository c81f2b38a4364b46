// The fake API server answers as the real one did: each case makes the request recorded
// from a real kube-apiserver v1.26 (tests/kube/data/README.md) of the fake and requires the
// same body.
#include <gtest/gtest.h>
#include <httplib.h>

#include <regex>

#include <nlohmann/json.hpp>

#include "base/files.h"
#include "kube/fake_kube_apiserver.h"
#include "test_util.h"

namespace dbaas::testing {
namespace {

using nlohmann::json;

class FakeFidelityTest : public ::testing::Test {
 protected:
  void SetUp() override {
    auto server = FakeKubeApiServer::Start(dir_.path());
    ASSERT_TRUE(server.ok()) << server.status().ToString();
    server_ = std::move(server).value();
    ASSERT_EQ(Send("POST", "/api/v1/namespaces", Namespace()).status, 201);
    ASSERT_EQ(Send("POST", "/api/v1/namespaces/kr-verify/configmaps", ConfigMap("cm1")).status,
              201);
  }

  static std::string Namespace() {
    return json(
               {{"apiVersion", "v1"}, {"kind", "Namespace"}, {"metadata", {{"name", "kr-verify"}}}})
        .dump();
  }
  static std::string ConfigMap(const std::string& name, const std::string& version = {}) {
    json object = {{"apiVersion", "v1"},
                   {"kind", "ConfigMap"},
                   {"metadata", {{"name", name}}},
                   {"data", {{"a", "1"}}}};
    if (!version.empty()) object["metadata"]["resourceVersion"] = version;
    return object.dump();
  }

  struct Answer {
    int status = 0;
    std::string body;
  };

  Answer Send(const std::string& method, const std::string& path, const std::string& body = {},
              const std::string& token = FakeKubeApiServer::kAdminToken) {
    kube::ClusterAccess access = server_->Access(token);
    httplib::SSLClient client("127.0.0.1",
                              std::stoi(access.server.substr(access.server.rfind(':') + 1)));
    client.set_ca_cert_path((dir_.path() + "/ca.crt").c_str());
    client.enable_server_certificate_verification(true);
    httplib::Headers headers = {{"Authorization", "Bearer " + token}};
    httplib::Result result = method == "GET" ? client.Get(path.c_str(), headers)
                             : method == "POST"
                                 ? client.Post(path.c_str(), headers, body, "application/json")
                                 : client.Put(path.c_str(), headers, body, "application/json");
    EXPECT_TRUE(result) << "no answer to " << method << " " << path;
    return result ? Answer{result->status, result->body} : Answer{};
  }

  static json Recorded(const std::string& file) {
    auto text = ReadFileToString(std::string(DBAAS_KUBE_DATA_DIR) + "/" + file);
    EXPECT_TRUE(text.ok()) << file;
    return json::parse(text.value_or("null"));
  }

  void ExpectSame(const std::string& file, const Answer& answer) {
    json expected = Recorded(file);
    EXPECT_EQ(answer.status, expected.value("code", 0)) << file;
    EXPECT_EQ(json::parse(answer.body, nullptr, false), expected)
        << file << "\nfake: " << answer.body;
  }

  TempDir dir_;
  std::unique_ptr<FakeKubeApiServer> server_;
};

TEST_F(FakeFidelityTest, AuthenticationAndRbacRefusals) {
  ExpectSame("401-unauthorized.json",
             Send("GET", "/api/v1/namespaces/kr-verify/configmaps", {}, "unknown-token"));
  ExpectSame("403-forbidden.json", Send("GET", "/api/v1/namespaces/kr-verify/configmaps/cm1", {},
                                        FakeKubeApiServer::kLimitedToken));
  ExpectSame("403-forbidden-list.json", Send("GET", "/api/v1/namespaces/kr-verify/configmaps", {},
                                             FakeKubeApiServer::kLimitedToken));
  ExpectSame("403-volumesnapshot-limited.json",
             Send("GET", "/apis/snapshot.storage.k8s.io/v1/namespaces/kr-verify/volumesnapshots",
                  {}, FakeKubeApiServer::kLimitedToken));
}

TEST_F(FakeFidelityTest, NotFoundConflictsAndInvalidNames) {
  ExpectSame("404-notfound.json",
             Send("GET", "/api/v1/namespaces/kr-verify/configmaps/does-not-exist"));
  ExpectSame("404-namespace-notfound.json", Send("GET", "/api/v1/namespaces/does-not-exist-ns"));
  ExpectSame("409-namespace-alreadyexists.json", Send("POST", "/api/v1/namespaces", Namespace()));
  json stored = json::parse(Send("GET", "/api/v1/namespaces/kr-verify/configmaps/cm1").body);
  std::string version = stored["metadata"]["resourceVersion"];
  ASSERT_EQ(
      Send("PUT", "/api/v1/namespaces/kr-verify/configmaps/cm1", ConfigMap("cm1", version)).status,
      200);
  ExpectSame("409-conflict.json",
             Send("PUT", "/api/v1/namespaces/kr-verify/configmaps/cm1", ConfigMap("cm1", version)));
  ExpectSame("422-invalid.json",
             Send("POST", "/api/v1/namespaces/kr-verify/configmaps", ConfigMap("Bad_Name!")));
}

TEST_F(FakeFidelityTest, AWatchFromACompactedVersionIsAnExpiredErrorEvent) {
  server_->Compact();
  Answer answer = Send(
      "GET", "/api/v1/namespaces/kr-verify/configmaps?watch=1&resourceVersion=1&timeoutSeconds=5");
  EXPECT_EQ(answer.status, 200);
  auto text = ReadFileToString(std::string(DBAAS_KUBE_DATA_DIR) + "/410-gone-watch.jsonl");
  ASSERT_TRUE(text.ok());
  // The versions in the message are the servers' own: compare the rest.
  std::regex versions(R"(too old resource version: \d+ \(\d+\))");
  auto normal = [&](const std::string& body) {
    return std::regex_replace(body.substr(0, body.find('\n')), versions,
                              "too old resource version: N (M)");
  };
  EXPECT_EQ(json::parse(normal(answer.body)), json::parse(normal(*text))) << answer.body;
}

}  // namespace
}  // namespace dbaas::testing
