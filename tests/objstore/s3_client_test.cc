// The S3 client against a real S3 API server on loopback (s3rver, which checks every
// signature), with faults injected by the test front: retries, throttling, slow answers,
// bad credentials, a bucket that disappears, an endpoint that does not answer.
#include "objstore/s3_client.h"

#include <gtest/gtest.h>

#include <filesystem>

#include "objstore/s3_test_server.h"
#include "test_util.h"

namespace dbaas::objstore {
namespace {

using testing::S3TestServer;

std::vector<uint8_t> Bytes(const std::string& text) { return {text.begin(), text.end()}; }

class S3ClientTest : public ::testing::Test {
 protected:
  void SetUp() override {
    auto server = S3TestServer::Start(dir_.path(), "dbaas-test");
    ASSERT_TRUE(server.ok()) << server.status().ToString();
    server_.emplace(std::move(server).value());
  }

  std::unique_ptr<S3Client> Client(S3Options options = FastRetries(),
                                   Credentials credentials = S3TestServer::GoodCredentials(),
                                   std::string bucket = "dbaas-test") {
    auto client = S3Client::Create(server_->Location(bucket), credentials, options);
    EXPECT_TRUE(client.ok()) << client.status().ToString();
    return client.ok() ? std::move(client).value() : nullptr;
  }

  static S3Options FastRetries() {
    S3Options options;
    options.first_backoff = std::chrono::milliseconds(10);
    options.max_backoff = std::chrono::milliseconds(50);
    options.max_attempts = 4;
    return options;
  }

  testing::TempDir dir_;
  std::optional<S3TestServer> server_;
};

TEST_F(S3ClientTest, ObjectsRoundTripUnderKeysThatNeedEncoding) {
  auto client = Client();
  // The server checks each signature over the key as it decodes it: a key encoded one way
  // and signed another fails there.
  for (std::string key : {"plain", "dir/sub/file.pack", "a key with spaces+plus=equals",
                          "ünïcødé/ß", "odd!'()*&$@,;:chars"}) {
    std::vector<uint8_t> body = Bytes("content of " + key);
    ASSERT_TRUE(client->Put(key, body).ok()) << key;
    auto got = client->Get(key);
    ASSERT_TRUE(got.ok()) << key << ": " << got.status().ToString();
    EXPECT_EQ(*got, body) << key;
    auto head = client->Head(key);
    ASSERT_TRUE(head.ok() && head->has_value()) << key;
    EXPECT_EQ((*head)->size, body.size());
  }
  auto range = client->GetRange("plain", 3, 4);
  ASSERT_TRUE(range.ok()) << range.status().ToString();
  EXPECT_EQ(*range, Bytes("tent"));

  ASSERT_TRUE(client->Delete("plain").ok());
  auto missing = client->Get("plain");
  EXPECT_EQ(missing.status().code(), StatusCode::kNotFound) << missing.status().ToString();
  EXPECT_NE(missing.status().message().find("NoSuchKey"), std::string::npos);
  auto head = client->Head("plain");
  ASSERT_TRUE(head.ok());
  EXPECT_FALSE(head->has_value());
  EXPECT_TRUE(client->Delete("plain").ok()) << "deleting what is gone succeeds";
}

TEST_F(S3ClientTest, LargeBodiesGoInPartsInParallel) {
  S3Options options = FastRetries();
  options.part_size = 5ull << 20;
  options.multipart_threshold = 5ull << 20;
  auto client = Client(options);
  std::string text = testing::RandomBytes((13ull << 20) + 12345, 7);
  std::vector<uint8_t> body(text.begin(), text.end());
  uint64_t requests_before = client->counters().requests;
  ASSERT_TRUE(client->Put("big.pack", body).ok());
  // Create, three parts, complete.
  EXPECT_EQ(client->counters().requests - requests_before, 5u);
  auto got = client->Get("big.pack");
  ASSERT_TRUE(got.ok()) << got.status().ToString();
  EXPECT_TRUE(*got == body);
  auto tail = client->GetRange("big.pack", body.size() - 10, 10);
  ASSERT_TRUE(tail.ok());
  EXPECT_TRUE(std::equal(tail->begin(), tail->end(), body.end() - 10));
}

TEST_F(S3ClientTest, ListingFollowsContinuationTokens) {
  S3Options options = FastRetries();
  options.list_page_size = 7;
  auto client = Client(options);
  for (int i = 0; i < 20; ++i)
    ASSERT_TRUE(client->Put("p/" + std::to_string(100 + i), Bytes("x")).ok());
  ASSERT_TRUE(client->Put("q/other", Bytes("y")).ok());
  uint64_t requests_before = client->counters().requests;
  auto listed = client->List("p/");
  ASSERT_TRUE(listed.ok()) << listed.status().ToString();
  EXPECT_EQ(client->counters().requests - requests_before, 3u) << "20 keys in pages of 7";
  ASSERT_EQ(listed->size(), 20u);
  for (int i = 0; i < 20; ++i) EXPECT_EQ((*listed)[i].key, "p/" + std::to_string(100 + i));
  EXPECT_EQ((*listed)[0].size, 1u);
  auto now = std::chrono::duration_cast<std::chrono::seconds>(
                 std::chrono::system_clock::now().time_since_epoch())
                 .count();
  EXPECT_NEAR(static_cast<double>((*listed)[0].modified_unix), static_cast<double>(now), 120.0);
}

TEST_F(S3ClientTest, ServerErrorsAndThrottlingAreRetried) {
  auto client = Client();
  ASSERT_TRUE(
      server_->InjectFault(R"({"method":"PUT","status":503,"code":"SlowDown","count":2})").ok());
  ASSERT_TRUE(server_->InjectFault(R"({"method":"GET","status":500,"count":1})").ok());
  ASSERT_TRUE(client->Put("k", Bytes("v")).ok());
  auto got = client->Get("k");
  ASSERT_TRUE(got.ok()) << got.status().ToString();
  EXPECT_EQ(*got, Bytes("v"));
  EXPECT_EQ(client->counters().retries.load(), 3u);

  // More failures than attempts: the error says what, how often, and what to do.
  ASSERT_TRUE(
      server_->InjectFault(R"({"method":"PUT","status":503,"code":"SlowDown","count":10})").ok());
  Status failed = client->Put("k2", Bytes("v2"));
  EXPECT_EQ(failed.code(), StatusCode::kIoError);
  EXPECT_NE(failed.message().find("HTTP 503 SlowDown"), std::string::npos) << failed.ToString();
  EXPECT_NE(failed.message().find("after 4 attempts"), std::string::npos) << failed.ToString();
  EXPECT_NE(failed.message().find("'dbaas-test/k2'"), std::string::npos) << failed.ToString();
  ASSERT_TRUE(server_->ClearFaults().ok());
  EXPECT_EQ(client->Get("k2").status().code(), StatusCode::kNotFound) << "nothing half-written";
}

TEST_F(S3ClientTest, AnAnswerSlowerThanTheTimeoutIsRetried) {
  S3Options options = FastRetries();
  options.request_timeout = std::chrono::milliseconds(500);
  auto client = Client(options);
  ASSERT_TRUE(client->Put("k", Bytes("v")).ok());
  ASSERT_TRUE(server_->InjectFault(R"({"method":"GET","delayMs":3000,"count":1})").ok());
  auto got = client->Get("k");
  ASSERT_TRUE(got.ok()) << got.status().ToString();
  EXPECT_EQ(client->counters().retries.load(), 1u);
}

TEST_F(S3ClientTest, AFailedMultipartUploadLeavesNoObject) {
  S3Options options = FastRetries();
  options.part_size = 5ull << 20;
  options.multipart_threshold = 5ull << 20;
  auto client = Client(options);
  ASSERT_TRUE(
      server_
          ->InjectFault(R"({"method":"PUT","pathContains":"partNumber=2","status":500,"count":10})")
          .ok());
  std::vector<uint8_t> body(11u << 20, 0x5a);
  Status failed = client->Put("big", body);
  EXPECT_EQ(failed.code(), StatusCode::kIoError) << failed.ToString();
  ASSERT_TRUE(server_->ClearFaults().ok());
  auto head = client->Head("big");
  ASSERT_TRUE(head.ok());
  EXPECT_FALSE(head->has_value());
}

TEST_F(S3ClientTest, WrongCredentialsAreRefusedNotRetried) {
  auto client = Client(FastRetries(), {"S3RVER", "not-the-secret", ""});
  Status refused = client->Put("k", Bytes("v"));
  EXPECT_EQ(refused.code(), StatusCode::kFailedPrecondition) << refused.ToString();
  EXPECT_NE(refused.message().find("SignatureDoesNotMatch"), std::string::npos)
      << refused.ToString();
  EXPECT_NE(refused.hint().find("credentials"), std::string::npos);
  EXPECT_EQ(client->counters().requests.load(), 1u);
}

TEST_F(S3ClientTest, ABucketThatDisappearsIsReportedByName) {
  auto client = Client();
  ASSERT_TRUE(client->Put("k", Bytes("v")).ok());
  std::filesystem::remove_all(server_->BucketDir("dbaas-test"));
  auto got = client->Get("k");
  EXPECT_EQ(got.status().code(), StatusCode::kNotFound);
  EXPECT_NE(got.status().message().find("NoSuchBucket"), std::string::npos)
      << got.status().ToString();
  auto listed = client->List("");
  EXPECT_FALSE(listed.ok());
  // Made again, it works again.
  ASSERT_TRUE(client->CreateBucket().ok());
  EXPECT_TRUE(client->CreateBucket().ok()) << "creating a bucket we own is not an error";
  EXPECT_TRUE(client->Put("k", Bytes("v")).ok());
}

TEST_F(S3ClientTest, AnEndpointThatDoesNotAnswerFailsAfterItsAttempts) {
  S3Location nowhere{"http://127.0.0.1:1", "dbaas-test", "us-east-1", true};
  auto client = S3Client::Create(nowhere, S3TestServer::GoodCredentials(), FastRetries());
  ASSERT_TRUE(client.ok());
  Status failed = (*client)->Put("k", Bytes("v"));
  EXPECT_EQ(failed.code(), StatusCode::kIoError);
  EXPECT_NE(failed.message().find("after 4 attempts"), std::string::npos) << failed.ToString();
  EXPECT_NE(failed.hint().find("http://127.0.0.1:1"), std::string::npos) << failed.ToString();
}

TEST(S3ClientCreateTest, RefusesWhatS3WouldRefuse) {
  Credentials credentials{"id", "secret", ""};
  for (std::string endpoint :
       {"127.0.0.1:9000", "ftp://x", "http://", "http://host/path", "http://a b"}) {
    auto client = S3Client::Create({endpoint, "bucket", "us-east-1", true}, credentials);
    EXPECT_EQ(client.status().code(), StatusCode::kInvalidArgument) << endpoint;
  }
  for (std::string bucket :
       {std::string(), std::string("ab"), std::string("Upper"), std::string("-start"),
        std::string("end-"), std::string("a..b"), std::string("192.168.1.1"),
        std::string("under_score"), std::string(64, 'a')}) {
    EXPECT_FALSE(IsValidBucketName(bucket)) << bucket;
  }
  for (std::string bucket :
       {std::string("abc"), std::string("my.bucket-1"), std::string(63, 'a')}) {
    EXPECT_TRUE(IsValidBucketName(bucket)) << bucket;
  }
  EXPECT_FALSE(S3Client::Create({"http://h", "bucket", "us-east-1", true}, {"", "", ""}).ok());
  EXPECT_FALSE(S3Client::Create({"http://h", "bucket", "Bad Region", true}, credentials).ok());
  EXPECT_TRUE(
      S3Client::Create({"https://s3.amazonaws.com/", "bucket", "eu-west-1", false}, credentials)
          .ok());
}

}  // namespace
}  // namespace dbaas::objstore
