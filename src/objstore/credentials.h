// Where S3 credentials come from, in the order the AWS tools use: a credentials file given
// by name (the AWS shared credentials format: [profile] with aws_access_key_id,
// aws_secret_access_key, aws_session_token; it must be ours alone, 0600), else the
// environment (AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY, AWS_SESSION_TOKEN); or the
// machine's instance metadata service (instance_metadata.h), asked again as they expire.
#pragma once

#include <memory>
#include <string>

#include "base/status.h"
#include "objstore/sigv4.h"

namespace dbaas::objstore {

// What a client asks for credentials before each request.
class CredentialsSource {
 public:
  virtual ~CredentialsSource() = default;
  virtual Result<Credentials> Current() = 0;
  virtual std::string Describe() const = 0;  // where they come from, for errors
};

// The same credentials every time (a file's, the environment's).
std::shared_ptr<CredentialsSource> FixedCredentials(Credentials credentials);

// `file` empty: the environment. `profile` empty: "default".
Result<Credentials> LoadCredentials(const std::string& file, const std::string& profile = "");

// Parses the shared credentials format (for tests; LoadCredentials reads the file).
Result<Credentials> ParseCredentialsFile(std::string_view text, const std::string& profile,
                                         const std::string& file_name);

}  // namespace dbaas::objstore
