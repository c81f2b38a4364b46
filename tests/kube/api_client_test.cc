// The Kubernetes API client against the fake API server (tests/kube/fake_kube_apiserver.h):
// apply, create, replace with conflicts, errors with their meaning, TLS pinning, namespace
// deletion, watches with bookmarks and expiry.
#include "kube/api_client.h"

#include <gtest/gtest.h>

#include <atomic>
#include <cstdlib>
#include <thread>

#include "base/files.h"
#include "base/hex.h"
#include "kube/fake_kube_apiserver.h"
#include "test_util.h"

namespace dbaas::kube {
namespace {

using nlohmann::json;
using testing::FakeKubeApiServer;

json ConfigMap(const std::string& ns, const std::string& name, json data,
               json labels = json::object()) {
  return {{"apiVersion", "v1"},
          {"kind", "ConfigMap"},
          {"metadata", {{"name", name}, {"namespace", ns}, {"labels", labels}}},
          {"data", data}};
}

json Namespace(const std::string& name) {
  return {{"apiVersion", "v1"}, {"kind", "Namespace"}, {"metadata", {{"name", name}}}};
}

const ResourceKind& ConfigMaps() { return KnownKind("v1", "ConfigMap"); }

// Against the fake, or, by hand, against a real API server: DBAAS_TEST_KUBECONFIG (an
// account that may do anything) and DBAAS_TEST_LIMITED_KUBECONFIG (one that may do nothing)
// name its kubeconfigs (docs/KUBERNETES.md).
class ApiClientTest : public ::testing::Test {
 protected:
  enum class Who { kAdmin, kLimited, kUnknown };

  static const char* RealKubeconfig() { return std::getenv("DBAAS_TEST_KUBECONFIG"); }
  static bool Real() { return RealKubeconfig() != nullptr; }

  void SetUp() override {
    if (!Real()) {
      auto server = FakeKubeApiServer::Start(dir_.path());
      ASSERT_TRUE(server.ok()) << server.status().ToString();
      server_ = std::move(server).value();
    }
    ns_ = Real() ? "dbaas-test-" + RandomHex(4) : "tenant";
    client_ = Client(Who::kAdmin);
    auto ns = client_->Apply(Namespace(ns_));
    ASSERT_TRUE(ns.ok()) << ns.status().ToString();
  }

  void TearDown() override {
    if (Real()) (void)client_->Delete({&KnownKind("v1", "Namespace"), "", ns_});
  }

  ClusterAccess Access(Who who) {
    if (!Real()) {
      return server_->Access(who == Who::kAdmin     ? FakeKubeApiServer::kAdminToken
                             : who == Who::kLimited ? FakeKubeApiServer::kLimitedToken
                                                    : "not-a-token");
    }
    const char* limited = std::getenv("DBAAS_TEST_LIMITED_KUBECONFIG");
    auto access =
        LoadKubeconfig(who == Who::kLimited && limited != nullptr ? limited : RealKubeconfig());
    EXPECT_TRUE(access.ok()) << access.status().ToString();
    if (who == Who::kUnknown) access->token = "not-a-token";
    return *access;
  }

  std::unique_ptr<ApiClient> Client(Who who) {
    ApiOptions options;
    options.first_backoff = std::chrono::milliseconds(1);
    auto client = ApiClient::Create(Access(who), options);
    EXPECT_TRUE(client.ok()) << client.status().ToString();
    return std::move(client).value();
  }

  testing::TempDir dir_;
  std::unique_ptr<FakeKubeApiServer> server_;
  std::string ns_;
  std::unique_ptr<ApiClient> client_;
};

TEST_F(ApiClientTest, ApplyCreatesThenMakesTheObjectSayWhatTheLastApplySaid) {
  auto created = client_->Apply(ConfigMap(ns_, "settings", {{"a", "1"}, {"b", "2"}}));
  ASSERT_TRUE(created.ok()) << created.status().ToString();
  std::string first_version = (*created)["metadata"]["resourceVersion"];

  auto applied = client_->Apply(ConfigMap(ns_, "settings", {{"a", "3"}}));
  ASSERT_TRUE(applied.ok()) << applied.status().ToString();
  EXPECT_NE((*applied)["metadata"]["resourceVersion"], first_version);

  auto read = client_->Get({&ConfigMaps(), ns_, "settings"});
  ASSERT_TRUE(read.ok()) << read.status().ToString();
  EXPECT_EQ((*read)["data"], json({{"a", "3"}}));  // b was ours and left out: gone
  EXPECT_EQ((*read)["metadata"]["uid"], (*created)["metadata"]["uid"]);
}

TEST_F(ApiClientTest, ADryRunApplyStoresNothing) {
  auto answer = client_->Apply(ConfigMap(ns_, "dry", {{"a", "1"}}), /*dry_run=*/true);
  ASSERT_TRUE(answer.ok()) << answer.status().ToString();
  if (!Real()) {
    EXPECT_TRUE(server_->Stored("/api/v1/namespaces/tenant/configmaps/dry").is_null());
  }
  EXPECT_EQ(client_->Get({&ConfigMaps(), ns_, "dry"}).status().code(), StatusCode::kNotFound);
}

TEST_F(ApiClientTest, CreatingATakenNameIsAlreadyExists) {
  ASSERT_TRUE(client_->Create(ConfigMap(ns_, "once", {{"a", "1"}})).ok());
  auto again = client_->Create(ConfigMap(ns_, "once", {{"a", "2"}}));
  EXPECT_EQ(again.status().code(), StatusCode::kAlreadyExists) << again.status().ToString();
  EXPECT_NE(again.status().message().find("configmaps \"once\" already exists"), std::string::npos);
}

TEST_F(ApiClientTest, AReplaceOfAStaleReadIsAConflictAndUpdateRetriesFromAFreshRead) {
  auto created = client_->Create(ConfigMap(ns_, "counter", {{"n", "0"}}));
  ASSERT_TRUE(created.ok());
  json stale = *created;
  ASSERT_TRUE(client_->Apply(ConfigMap(ns_, "counter", {{"n", "1"}})).ok());
  stale["data"]["n"] = "stale";
  auto replaced = client_->Replace(stale);
  EXPECT_EQ(replaced.status().code(), StatusCode::kBusy) << replaced.status().ToString();
  EXPECT_NE(replaced.status().message().find("the object has been modified"), std::string::npos);

  // Another writer comes between Update's read and its write, once.
  int rounds = 0;
  auto other = Client(Who::kAdmin);
  auto updated = client_->Update({&ConfigMaps(), ns_, "counter"}, [&](json& object) {
    if (++rounds == 1) {
      json theirs = object;
      theirs["data"]["other"] = "x";
      EXPECT_TRUE(other->Replace(theirs).ok());
    }
    object["data"]["n"] = "2";
    return Status::Ok();
  });
  ASSERT_TRUE(updated.ok()) << updated.status().ToString();
  EXPECT_EQ(rounds, 2);
  EXPECT_EQ((*updated)["data"]["n"], "2");
  EXPECT_EQ((*updated)["data"]["other"], "x");  // the other writer's change survived
}

TEST_F(ApiClientTest, AnInvalidNameIsInvalidArgumentNamingTheField) {
  // The server's own check: a namespace's name is a label (no dots).
  auto bad = client_->Create(Namespace("dotted.name"));
  EXPECT_EQ(bad.status().code(), StatusCode::kInvalidArgument) << bad.status().ToString();
  EXPECT_NE(bad.status().message().find("metadata.name"), std::string::npos);
  EXPECT_NE(bad.status().message().find("RFC 1123 label"), std::string::npos);
  // What is no name at all is refused before it is sent: it could change the request's path.
  for (const std::string name : {"Not_A_Name", "../../api/v1/secrets", "x?watch=1", "a/b", ""}) {
    auto refused = client_->Create(ConfigMap(ns_, name, {{"a", "1"}}));
    EXPECT_EQ(refused.status().code(), StatusCode::kInvalidArgument) << name;
    EXPECT_EQ(client_->Get({&ConfigMaps(), ns_, name}).status().code(),
              StatusCode::kInvalidArgument)
        << name;
  }
  EXPECT_EQ(client_->Get({&ConfigMaps(), "../x", "a"}).status().code(),
            StatusCode::kInvalidArgument);
  EXPECT_EQ(client_->List(ConfigMaps(), "a/b", "").status().code(), StatusCode::kInvalidArgument);
}

TEST_F(ApiClientTest, MissingThingsAreNotFound) {
  EXPECT_EQ(client_->Get({&ConfigMaps(), ns_, "nothing"}).status().code(), StatusCode::kNotFound);
  EXPECT_EQ(client_->Delete({&ConfigMaps(), ns_, "nothing"}).code(), StatusCode::kNotFound);
  auto no_namespace = client_->Create(ConfigMap("elsewhere", "x", {{"a", "1"}}));
  EXPECT_EQ(no_namespace.status().code(), StatusCode::kNotFound);
  EXPECT_NE(no_namespace.status().message().find("namespaces \"elsewhere\" not found"),
            std::string::npos);
}

TEST_F(ApiClientTest, ForbiddenNamesTheVerbAndResourceToGrant) {
  auto limited = Client(Who::kLimited);
  auto ns = limited->Create(Namespace("nope"));
  ASSERT_EQ(ns.status().code(), StatusCode::kFailedPrecondition) << ns.status().ToString();
  EXPECT_NE(ns.status().message().find("cannot create resource \"namespaces\""), std::string::npos);
  EXPECT_NE(ns.status().hint().find("'create' on 'namespaces'"), std::string::npos)
      << ns.status().hint();

  json statefulset = {{"apiVersion", "apps/v1"},
                      {"kind", "StatefulSet"},
                      {"metadata", {{"name", "s"}, {"namespace", ns_}}}};
  auto sts = limited->Apply(statefulset);
  EXPECT_NE(sts.status().hint().find("'patch' on 'statefulsets.apps'"), std::string::npos)
      << sts.status().ToString();
}

TEST_F(ApiClientTest, UnknownCredentialsAreRefused) {
  auto client = Client(Who::kUnknown);
  auto got = client->Get({&ConfigMaps(), ns_, "x"});
  EXPECT_EQ(got.status().code(), StatusCode::kFailedPrecondition);
  EXPECT_NE(got.status().message().find("401"), std::string::npos) << got.status().ToString();
}

TEST_F(ApiClientTest, AServerNotSignedByTheGivenCaIsRefusedBeforeTheTokenIsSent) {
  ClusterAccess access = Access(Who::kAdmin);
  // Another CA: the fake's certificate does not chain to it.
  testing::TempDir other;
  auto other_server = FakeKubeApiServer::Start(other.path());
  ASSERT_TRUE(other_server.ok());
  access.ca_pem = (*other_server)->Access().ca_pem;
  auto client = ApiClient::Create(access);
  ASSERT_TRUE(client.ok());
  auto got = (*client)->Get({&ConfigMaps(), ns_, "x"});
  EXPECT_EQ(got.status().code(), StatusCode::kIoError) << got.status().ToString();
  EXPECT_NE(got.status().hint().find("certificate"), std::string::npos);
  ClusterAccess plain;
  plain.server = "http://127.0.0.1:1";
  EXPECT_FALSE(ApiClient::Create(plain).ok());
}

// Reads are asked again after a server error; a create only when the server said it did
// nothing (429, 503: and after the Retry-After it gave), as asking again after a lost
// answer would find its own object.
TEST_F(ApiClientTest, FailuresAreRetriedOnlyWhereAskingAgainIsSafe) {
  if (Real()) GTEST_SKIP() << "faults are the fake's";
  ASSERT_TRUE(client_->Apply(ConfigMap(ns_, "kept", {{"a", "1"}})).ok());
  server_->FailNext("GET", 500, 2);
  EXPECT_TRUE(client_->Get({&ConfigMaps(), ns_, "kept"}).ok());

  server_->FailNext("POST", 500, 1);
  auto failed = client_->Create(ConfigMap(ns_, "once", {{"a", "1"}}));
  EXPECT_EQ(failed.status().code(), StatusCode::kIoError) << failed.status().ToString();
  EXPECT_NE(failed.status().message().find("HTTP 500"), std::string::npos);
  EXPECT_EQ(client_->Get({&ConfigMaps(), ns_, "once"}).status().code(), StatusCode::kNotFound);

  server_->FailNext("POST", 429, 1);
  auto start = std::chrono::steady_clock::now();
  auto throttled = client_->Create(ConfigMap(ns_, "once", {{"a", "1"}}));
  EXPECT_TRUE(throttled.ok()) << throttled.status().ToString();
  EXPECT_GE(std::chrono::steady_clock::now() - start, std::chrono::milliseconds(900))
      << "the Retry-After of 1 s was not waited for";

  // Past the attempts (two here): throttling, not a conflict.
  ApiOptions two_attempts;
  two_attempts.max_attempts = 2;
  auto impatient = ApiClient::Create(Access(Who::kAdmin), two_attempts);
  ASSERT_TRUE(impatient.ok());
  server_->FailNext("DELETE", 429, 2);
  auto gave_up = (*impatient)->Delete({&ConfigMaps(), ns_, "once"});
  EXPECT_EQ(gave_up.code(), StatusCode::kIoError) << gave_up.ToString();
  EXPECT_NE(gave_up.message().find("throttling"), std::string::npos);
}

TEST_F(ApiClientTest, ListSelectsByLabel) {
  ASSERT_TRUE(client_->Apply(ConfigMap(ns_, "a", {}, {{"app", "db"}, {"tier", "1"}})).ok());
  ASSERT_TRUE(client_->Apply(ConfigMap(ns_, "b", {}, {{"app", "db"}})).ok());
  ASSERT_TRUE(client_->Apply(ConfigMap(ns_, "c", {}, {{"app", "web"}})).ok());
  auto names = [&](const std::string& selector) {
    std::vector<std::string> out;
    auto list = client_->List(ConfigMaps(), ns_, selector);
    EXPECT_TRUE(list.ok()) << list.status().ToString();
    for (const auto& item : list->items) out.push_back(item["metadata"]["name"]);
    return out;
  };
  EXPECT_EQ(names("app=db"), (std::vector<std::string>{"a", "b"}));
  EXPECT_EQ(names("app=db,tier!=1"), (std::vector<std::string>{"b"}));
  EXPECT_EQ(names("tier"), (std::vector<std::string>{"a"}));
  EXPECT_EQ(names("!tier,app"), (std::vector<std::string>{"b", "c"}));
}

TEST_F(ApiClientTest, DeletingANamespaceTakesItsContentAndRefusesNewContentUntilItIsGone) {
  if (!Real()) server_->SetNamespaceTerminationMs(400);
  ASSERT_TRUE(client_->Apply(ConfigMap(ns_, "x", {{"a", "1"}})).ok());
  ASSERT_TRUE(client_->Delete({&KnownKind("v1", "Namespace"), "", ns_}).ok());
  auto during = client_->Create(ConfigMap(ns_, "y", {{"a", "1"}}));
  EXPECT_EQ(during.status().code(), StatusCode::kFailedPrecondition);
  EXPECT_NE(during.status().message().find("being terminated"), std::string::npos)
      << during.status().ToString();
  auto ns = client_->Get({&KnownKind("v1", "Namespace"), "", ns_});
  ASSERT_TRUE(ns.ok());
  EXPECT_EQ((*ns)["status"]["phase"], "Terminating");
  // The real one's namespace controller (kube-controller-manager) takes a few seconds.
  auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(Real() ? 60 : 2);
  while (client_->Get({&KnownKind("v1", "Namespace"), "", ns_}).ok() &&
         std::chrono::steady_clock::now() < deadline) {
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
  }
  EXPECT_EQ(client_->Get({&KnownKind("v1", "Namespace"), "", ns_}).status().code(),
            StatusCode::kNotFound);
  EXPECT_EQ(client_->Get({&ConfigMaps(), ns_, "x"}).status().code(), StatusCode::kNotFound);
}

TEST_F(ApiClientTest, AWatchSeesChangesAfterTheListAndBookmarks) {
  ASSERT_TRUE(client_->Apply(ConfigMap(ns_, "before", {}, {{"app", "db"}})).ok());
  auto list = client_->List(ConfigMaps(), ns_, "app=db");
  ASSERT_TRUE(list.ok());
  ASSERT_EQ(list->items.size(), 1u);

  std::thread writer([&] {
    std::this_thread::sleep_for(std::chrono::milliseconds(200));
    EXPECT_TRUE(client_->Apply(ConfigMap(ns_, "other", {}, {{"app", "web"}})).ok());
    EXPECT_TRUE(client_->Apply(ConfigMap(ns_, "after", {}, {{"app", "db"}})).ok());
    EXPECT_TRUE(client_->Delete({&ConfigMaps(), ns_, "before"}).ok());
  });
  std::vector<std::string> seen;
  bool bookmark = false;
  auto watcher = Client(Who::kAdmin);
  auto end = watcher->Watch(
      ConfigMaps(), ns_, "app=db", list->resource_version, std::chrono::seconds(10),
      [&](const WatchEvent& event) {
        if (event.type == WatchEvent::Type::kBookmark) {
          bookmark = true;
        } else {
          seen.push_back(std::string(event.type == WatchEvent::Type::kAdded ? "+" : "-") +
                         event.object["metadata"]["name"].get<std::string>());
        }
        return seen.size() < 2 || !bookmark;
      });
  writer.join();
  ASSERT_TRUE(end.ok()) << end.status().ToString();
  EXPECT_EQ(end->reason, WatchEnd::Reason::kStopped);
  EXPECT_EQ(seen, (std::vector<std::string>{"+after", "-before"}));
  EXPECT_TRUE(bookmark);
  EXPECT_GT(std::stoll(end->resource_version), std::stoll(list->resource_version));
}

TEST_F(ApiClientTest, AWatchFromACompactedVersionExpiresAndOneFromNowEndsAtItsTimeout) {
  auto list = client_->List(ConfigMaps(), ns_, "");
  ASSERT_TRUE(list.ok());
  ASSERT_TRUE(client_->Apply(ConfigMap(ns_, "x", {})).ok());
  // The real server has compacted its first versions long since.
  if (!Real()) server_->Compact();
  auto on_event = [](const WatchEvent&) { return true; };
  auto expired = client_->Watch(ConfigMaps(), ns_, "", Real() ? "1" : list->resource_version,
                                std::chrono::seconds(5), on_event);
  ASSERT_TRUE(expired.ok()) << expired.status().ToString();
  EXPECT_EQ(expired->reason, WatchEnd::Reason::kExpired);

  auto relisted = client_->List(ConfigMaps(), ns_, "");
  ASSERT_TRUE(relisted.ok());
  auto closed = client_->Watch(ConfigMaps(), ns_, "", relisted->resource_version,
                               std::chrono::seconds(1), on_event);
  ASSERT_TRUE(closed.ok()) << closed.status().ToString();
  EXPECT_EQ(closed->reason, WatchEnd::Reason::kClosed);
}

TEST_F(ApiClientTest, AWatchTheAccountMayNotMakeIsForbidden) {
  auto limited = Client(Who::kLimited);
  auto end = limited->Watch(ConfigMaps(), ns_, "", "", std::chrono::seconds(1),
                            [](const WatchEvent&) { return true; });
  EXPECT_EQ(end.status().code(), StatusCode::kFailedPrecondition) << end.status().ToString();
  EXPECT_NE(end.status().message().find("cannot watch resource"), std::string::npos);
}

}  // namespace
}  // namespace dbaas::kube
