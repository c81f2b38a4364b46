// Starts the loopback S3-compatible server of the tests (tests/s3server/server.js: s3rver
// from npm behind a fault-injecting front) in a temporary directory, and stops it.
#pragma once

#include <string>

#include "base/process.h"
#include "base/status.h"
#include "objstore/s3_client.h"

namespace dbaas::testing {

class S3TestServer {
 public:
  // s3rver's own credentials: it checks every signature against them.
  static objstore::Credentials GoodCredentials() { return {"S3RVER", "S3RVER", ""}; }

  // `bucket` is created at start.
  static Result<S3TestServer> Start(const std::string& data_dir, const std::string& bucket);

  std::string endpoint() const { return "http://127.0.0.1:" + std::to_string(port_); }
  objstore::S3Location Location(const std::string& bucket) const {
    return {endpoint(), bucket, "us-east-1", true};
  }
  // Adds a fault (server.js's JSON: method, pathContains, status, code, delayMs, count).
  Status InjectFault(const std::string& fault_json) const;
  Status ClearFaults() const;
  // Where s3rver keeps the bucket's objects (remove it and the bucket is gone).
  std::string BucketDir(const std::string& bucket) const { return data_dir_ + "/" + bucket; }

 private:
  S3TestServer(Process process, int port, std::string data_dir)
      : process_(std::move(process)), port_(port), data_dir_(std::move(data_dir)) {}
  Status Control(const std::string& method, const std::string& body) const;

  Process process_;
  int port_ = 0;
  std::string data_dir_;
};

}  // namespace dbaas::testing
