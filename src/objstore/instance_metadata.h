// Temporary S3 credentials from the cloud machine's instance metadata service, as the AWS
// SDKs read them (EC2's IMDSv2): a session token first (PUT /latest/api/token with its
// time to live), then with it the role attached to the machine (GET
// /latest/meta-data/iam/security-credentials/) and that role's credentials (GET .../ROLE:
// AccessKeyId, SecretAccessKey, Token, Expiration). They are kept until five minutes before
// they expire, then fetched again; nothing is written to disk.
//
// The endpoint is http://169.254.169.254 unless configured (or AWS_EC2_METADATA_SERVICE_ENDPOINT
// is set, as for the SDKs). The service answers only on the machine itself, so a
// request that does not connect within a second or two means there is none.
//
// Thread-safety: Current() may be called from many threads. One of them fetches at a time;
// while credentials still valid are at hand, the others sign with those instead of
// waiting, and a fetch that failed is not tried again for 30 s.
// AWS_EC2_METADATA_DISABLED=true turns the service off, as for the SDKs.
#pragma once

#include <chrono>
#include <condition_variable>
#include <memory>
#include <mutex>
#include <string>

#include "base/status.h"
#include "objstore/credentials.h"

namespace dbaas::objstore {

struct InstanceMetadataOptions {
  std::string endpoint;  // empty: $AWS_EC2_METADATA_SERVICE_ENDPOINT, else http://169.254.169.254
  std::chrono::milliseconds timeout{2000};  // per request
  int attempts = 3;                         // per fetch, with a short pause between
  std::chrono::seconds refresh_before{300};
  std::chrono::seconds token_ttl{21600};  // the session token's life (IMDSv2's maximum)
};

class InstanceMetadataCredentials final : public CredentialsSource {
 public:
  explicit InstanceMetadataCredentials(InstanceMetadataOptions options);
  Result<Credentials> Current() override;
  std::string Describe() const override;
  // How many times credentials were fetched (for tests and logs).
  int fetches() const;

 private:
  // One attempt: token, role, credentials.
  Result<Credentials> Fetch(std::chrono::system_clock::time_point& expires);
  // Attempts as configured (transport errors only are tried again).
  Result<Credentials> FetchWithRetries(std::chrono::system_clock::time_point& expires);

  InstanceMetadataOptions options_;
  mutable std::mutex mu_;
  std::condition_variable fetched_;
  Credentials cached_;                                   // guarded by mu_
  std::chrono::system_clock::time_point expires_{};      // guarded by mu_
  std::chrono::steady_clock::time_point retry_after_{};  // guarded by mu_
  bool fetching_ = false;                                // guarded by mu_
  Status last_failure_;                                  // guarded by mu_
  int fetches_ = 0;                                      // guarded by mu_
};

}  // namespace dbaas::objstore
