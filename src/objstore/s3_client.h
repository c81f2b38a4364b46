// A client for the S3 API over libcurl: put (multipart above a size), get (whole or a
// range), head, delete, list (paginated), bucket creation. Requests are signed with SigV4
// (sigv4.h) with the payload's SHA-256, retried with capped exponential back-off and full
// jitter on transport errors, 5xx and 429 (throttling), and bounded by a connect timeout
// and a whole-request timeout.
//
// Addressing: path-style (endpoint/bucket/key), which every S3-compatible server takes, or
// virtual-hosted (bucket.endpoint-host/key), which AWS prefers.
//
// Thread-safety: every method may be called from many threads at once; each request takes
// a curl handle from a pool (connections are reused).
#pragma once

#include <atomic>
#include <chrono>
#include <cstdint>
#include <memory>
#include <mutex>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "base/status.h"
#include "objstore/credentials.h"
#include "objstore/object_store.h"
#include "objstore/sigv4.h"

namespace dbaas::net {
class CurlHandlePool;
}

namespace dbaas::objstore {

struct S3Location {
  std::string endpoint;  // "https://s3.eu-west-1.amazonaws.com", "http://127.0.0.1:9000"
  std::string bucket;
  std::string region = "us-east-1";
  bool path_style = true;
};

struct S3Options {
  int max_attempts = 6;  // a request is sent at most this many times
  std::chrono::milliseconds first_backoff{100};
  std::chrono::milliseconds max_backoff{5000};
  std::chrono::milliseconds connect_timeout{10000};
  std::chrono::milliseconds request_timeout{15 * 60 * 1000};  // one attempt, all of it
  uint64_t multipart_threshold = 64ull << 20;                 // bodies this large go in parts
  uint64_t part_size = 16ull << 20;  // S3's minimum is 5 MiB (the last part excepted)
  unsigned parallel_parts = 4;
  unsigned list_page_size = 1000;  // keys per listing request (S3's maximum)
  std::string ca_file;             // a CA to trust besides the system's (a loopback server's own)
};

// What the client has done since it was made: for /metrics and job progress.
struct S3Counters {
  std::atomic<uint64_t> requests{0};
  std::atomic<uint64_t> retries{0};
  std::atomic<uint64_t> failures{0};  // requests that failed after their last attempt
  std::atomic<uint64_t> bytes_sent{0};
  std::atomic<uint64_t> bytes_received{0};
};

class S3Client final : public ObjectStore {
 public:
  // Checks the location (an http(s) endpoint, a bucket name S3 accepts, a region); makes no
  // request.
  static Result<std::unique_ptr<S3Client>> Create(S3Location location, Credentials credentials,
                                                  S3Options options = {});
  // Credentials asked of `credentials` before each request (temporary ones that expire).
  static Result<std::unique_ptr<S3Client>> Create(S3Location location,
                                                  std::shared_ptr<CredentialsSource> credentials,
                                                  S3Options options = {});
  ~S3Client() override;
  S3Client(const S3Client&) = delete;
  S3Client& operator=(const S3Client&) = delete;

  // Writes an object whole: readers see the old object or the new one, never a part.
  Status Put(std::string_view key, std::span<const uint8_t> body) override;
  // kNotFound when the object does not exist.
  Result<std::vector<uint8_t>> Get(std::string_view key) override;
  Result<std::vector<uint8_t>> GetRange(std::string_view key, uint64_t offset, uint64_t length);
  // nullopt when the object does not exist.
  Result<std::optional<ObjectInfo>> Head(std::string_view key);
  // Deleting an object that does not exist succeeds (S3's semantics).
  Status Delete(std::string_view key) override;
  // Every object whose key starts with `prefix`, in key order (all pages).
  Result<std::vector<ObjectInfo>> List(std::string_view prefix) override;
  // Creates the bucket; succeeds when it exists already and is ours.
  Status CreateBucket();
  std::string Describe() const override;

  const S3Location& location() const { return location_; }
  const S3Counters& counters() const { return counters_; }

 private:
  struct Request;
  struct Response;

  S3Client(S3Location location, std::shared_ptr<CredentialsSource> credentials, S3Options options,
           std::string host, std::string base_url);
  // One attempt.
  Result<Response> SendOnce(const Request& request);
  // Attempts until success, a failure not worth retrying, or max_attempts.
  Result<Response> Send(const Request& request);
  Status PutMultipart(std::string_view key, std::span<const uint8_t> body);
  std::string Describe(const Request& request) const;

  S3Location location_;
  std::shared_ptr<CredentialsSource> credentials_;
  S3Options options_;
  std::string host_;      // the Host header: the endpoint's host[:port], or bucket.host
  std::string base_url_;  // scheme://host[:port] (and /bucket when path-style)
  std::unique_ptr<net::CurlHandlePool> handles_;
  S3Counters counters_;
};

// Whether S3 would accept `name` as a bucket name (3-63 of a-z 0-9 . -, starting and ending
// with a letter or digit, not an IPv4 address).
bool IsValidBucketName(std::string_view name);

}  // namespace dbaas::objstore
