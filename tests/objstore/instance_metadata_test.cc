// Credentials from the instance metadata service, against FakeInstanceMetadataServer: no
// cloud machine's service can run here, so a loopback server keeps IMDSv2's semantics as
// AWS documents them (a session token from PUT /latest/api/token, given its time to live;
// every GET refused with 401 without a valid token; the role listed, then its credentials
// as JSON with Code, AccessKeyId, SecretAccessKey, Token, Expiration). The credentials it
// hands out are the loopback S3 server's, so a client signs real requests with them.
#include "objstore/instance_metadata.h"

#include <gtest/gtest.h>
#include <httplib.h>

#include <atomic>
#include <optional>
#include <thread>

#include <fmt/format.h>

#include "objstore/s3_client.h"
#include "objstore/s3_test_server.h"
#include "storage/remote_spec.h"
#include "test_util.h"

namespace dbaas::objstore {
namespace {

using testing::S3TestServer;

class FakeInstanceMetadataServer {
 public:
  explicit FakeInstanceMetadataServer(std::chrono::seconds lifetime) : lifetime_(lifetime) {
    server_.Put("/latest/api/token", [this](const httplib::Request& req, httplib::Response& res) {
      auto ttl = req.get_header_value("X-aws-ec2-metadata-token-ttl-seconds");
      int seconds = ttl.empty() ? 0 : std::atoi(ttl.c_str());
      if (seconds < 1 || seconds > 21600) {
        res.status = 400;
        return;
      }
      token_ = fmt::format("token-{}", ++tokens_);
      res.set_content(token_, "text/plain");
    });
    server_.Get(
        "/latest/meta-data/iam/security-credentials/(.*)",
        [this](const httplib::Request& req, httplib::Response& res) {
          if (req.get_header_value("X-aws-ec2-metadata-token") != token_) {
            res.status = 401;
            return;
          }
          std::string role = req.matches[1];
          if (role.empty()) return res.set_content(role_ + "\n", "text/plain");
          if (role != role_) {
            res.status = 404;
            return;
          }
          ++credentials_served_;
          auto expires =
              std::chrono::system_clock::to_time_t(std::chrono::system_clock::now() + lifetime_);
          char when[32];
          std::strftime(when, sizeof when, "%Y-%m-%dT%H:%M:%SZ", std::gmtime(&expires));
          nlohmann::json answer = {{"Code", code_},
                                   {"LastUpdated", when},
                                   {"Type", "AWS-HMAC"},
                                   {"AccessKeyId", "S3RVER"},
                                   {"SecretAccessKey", "S3RVER"},
                                   {"Token", fmt::format("session-{}", credentials_served_.load())},
                                   {"Expiration", when}};
          res.set_content(answer.dump(), "application/json");
        });
    port_ = server_.bind_to_any_port("127.0.0.1");
    thread_ = std::thread([this] { server_.listen_after_bind(); });
    while (!server_.is_running()) std::this_thread::sleep_for(std::chrono::milliseconds(5));
  }
  ~FakeInstanceMetadataServer() {
    server_.stop();
    thread_.join();
  }
  std::string endpoint() const { return fmt::format("http://127.0.0.1:{}", port_); }
  int credentials_served() const { return credentials_served_; }
  void set_role(std::string role) { role_ = std::move(role); }
  void set_code(std::string code) { code_ = std::move(code); }

 private:
  httplib::Server server_;
  std::thread thread_;
  int port_ = 0;
  std::chrono::seconds lifetime_;
  std::string token_ = "never-given";
  std::string role_ = "dbaas-backups";
  std::string code_ = "Success";
  int tokens_ = 0;
  std::atomic<int> credentials_served_{0};
};

InstanceMetadataOptions At(const FakeInstanceMetadataServer& fake) {
  InstanceMetadataOptions options;
  options.endpoint = fake.endpoint();
  options.timeout = std::chrono::milliseconds(500);
  return options;
}

TEST(InstanceMetadataTest, CredentialsComeThroughASessionTokenAndAreKeptUntilNearExpiry) {
  FakeInstanceMetadataServer fake(std::chrono::hours(6));
  InstanceMetadataCredentials source(At(fake));
  auto first = source.Current();
  ASSERT_TRUE(first.ok()) << first.status().ToString();
  EXPECT_EQ(first->access_key_id, "S3RVER");
  EXPECT_EQ(first->session_token, "session-1");
  auto again = source.Current();
  ASSERT_TRUE(again.ok());
  EXPECT_EQ(again->session_token, "session-1") << "kept: six hours left";
  EXPECT_EQ(fake.credentials_served(), 1);
}

TEST(InstanceMetadataTest, CredentialsThatExpireWithinTheMarginAreFetchedAgain) {
  FakeInstanceMetadataServer fake(std::chrono::minutes(4));  // under the 5 minute margin
  InstanceMetadataCredentials source(At(fake));
  ASSERT_EQ(source.Current()->session_token, "session-1");
  ASSERT_EQ(source.Current()->session_token, "session-2");
  EXPECT_EQ(source.fetches(), 2);
}

TEST(InstanceMetadataTest, CredentialsStillValidSignWhileTheServiceIsDown) {
  InstanceMetadataOptions options;
  std::optional<FakeInstanceMetadataServer> fake(std::chrono::minutes(4));  // always due
  options = At(*fake);
  InstanceMetadataCredentials source(options);
  ASSERT_EQ(source.Current()->session_token, "session-1");
  fake.reset();  // the service goes away
  auto during = source.Current();
  ASSERT_TRUE(during.ok()) << during.status().ToString();
  EXPECT_EQ(during->session_token, "session-1") << "four minutes left: still signs";
  auto started = std::chrono::steady_clock::now();
  EXPECT_EQ(source.Current()->session_token, "session-1");
  EXPECT_LT(std::chrono::steady_clock::now() - started, std::chrono::milliseconds(100))
      << "a failed fetch is not tried again at once";
  EXPECT_EQ(source.fetches(), 1);
}

TEST(InstanceMetadataTest, AMissingServiceRoleOrAnswerIsAClearError) {
  InstanceMetadataOptions nowhere;
  nowhere.endpoint = "http://127.0.0.1:1";
  nowhere.timeout = std::chrono::milliseconds(300);
  auto none = InstanceMetadataCredentials(nowhere).Current();
  ASSERT_FALSE(none.ok());
  EXPECT_NE(none.status().message().find("instance metadata service at http://127.0.0.1:1"),
            std::string::npos)
      << none.status().ToString();

  FakeInstanceMetadataServer fake(std::chrono::hours(1));
  fake.set_role("../../latest/api/token");  // a name that would change the path
  auto bad_role = InstanceMetadataCredentials(At(fake)).Current();
  EXPECT_EQ(bad_role.status().code(), StatusCode::kFailedPrecondition)
      << bad_role.status().ToString();
  EXPECT_NE(bad_role.status().message().find("names no IAM role"), std::string::npos);
  fake.set_role("dbaas-backups");
  fake.set_code("Failure");
  auto failed = InstanceMetadataCredentials(At(fake)).Current();
  EXPECT_NE(failed.status().message().find("Code 'Failure'"), std::string::npos)
      << failed.status().ToString();
}

TEST(InstanceMetadataTest, AClientSignsWithTheServicesCredentialsAndItsSessionToken) {
  testing::TempDir dir;
  auto s3 = S3TestServer::Start(dir / "s3", "backups");
  ASSERT_TRUE(s3.ok()) << s3.status().ToString();
  FakeInstanceMetadataServer fake(std::chrono::hours(6));
  // As a repository's configuration names it.
  auto spec = storage::ParseRemoteSpec({{"name", "offsite"},
                                        {"endpoint", s3->endpoint()},
                                        {"bucket", "backups"},
                                        {"credentials", "instanceMetadata"},
                                        {"metadataEndpoint", fake.endpoint()}});
  ASSERT_TRUE(spec.ok()) << spec.status().ToString();
  auto client = storage::ConnectRemote(*spec);
  ASSERT_TRUE(client.ok()) << client.status().ToString();
  ASSERT_TRUE((*client)->Put("k", std::vector<uint8_t>{1, 2, 3}).ok());
  EXPECT_EQ((*client)->Get("k").value_or(std::vector<uint8_t>{}), (std::vector<uint8_t>{1, 2, 3}));
  EXPECT_EQ(fake.credentials_served(), 1);

  // The configuration is checked before anything is asked.
  for (const nlohmann::json& bad :
       {nlohmann::json{{"credentials", "instanceMetadata"}, {"credentialsFile", "/etc/x"}},
        nlohmann::json{{"credentials", "vault"}},
        nlohmann::json{{"metadataEndpoint", "http://127.0.0.1:1"}},
        nlohmann::json{{"credentials", "instanceMetadata"}, {"metadataEndpoint", "file:///x"}}}) {
    nlohmann::json entry = {{"name", "offsite"}, {"endpoint", s3->endpoint()}, {"bucket", "b1"}};
    entry.update(bad);
    EXPECT_EQ(storage::ParseRemoteSpec(entry).status().code(), StatusCode::kInvalidArgument)
        << bad.dump();
  }
}

}  // namespace
}  // namespace dbaas::objstore
