#include "objstore/credentials.h"

#include <fmt/format.h>

#include <cstdlib>
#include <sstream>

#include "objstore/object_cipher.h"

namespace dbaas::objstore {
namespace {

std::string Trim(std::string_view text) {
  size_t begin = text.find_first_not_of(" \t\r");
  if (begin == std::string_view::npos) return "";
  size_t end = text.find_last_not_of(" \t\r");
  return std::string(text.substr(begin, end - begin + 1));
}

class Fixed final : public CredentialsSource {
 public:
  explicit Fixed(Credentials credentials) : credentials_(std::move(credentials)) {}
  Result<Credentials> Current() override { return credentials_; }
  std::string Describe() const override { return "fixed credentials"; }

 private:
  const Credentials credentials_;
};

}  // namespace

std::shared_ptr<CredentialsSource> FixedCredentials(Credentials credentials) {
  return std::make_shared<Fixed>(std::move(credentials));
}

Result<Credentials> ParseCredentialsFile(std::string_view text, const std::string& profile,
                                         const std::string& file_name) {
  std::string wanted = profile.empty() ? "default" : profile;
  std::istringstream lines{std::string(text)};
  std::string line, section;
  Credentials credentials;
  bool found = false;
  while (std::getline(lines, line)) {
    std::string trimmed = Trim(line);
    if (trimmed.empty() || trimmed[0] == '#' || trimmed[0] == ';') continue;
    if (trimmed.front() == '[' && trimmed.back() == ']') {
      section = Trim(std::string_view(trimmed).substr(1, trimmed.size() - 2));
      found = found || section == wanted;
      continue;
    }
    if (section != wanted) continue;
    size_t eq = trimmed.find('=');
    if (eq == std::string::npos) continue;
    std::string name = Trim(std::string_view(trimmed).substr(0, eq));
    std::string value = Trim(std::string_view(trimmed).substr(eq + 1));
    if (name == "aws_access_key_id") credentials.access_key_id = value;
    if (name == "aws_secret_access_key") credentials.secret_access_key = value;
    if (name == "aws_session_token") credentials.session_token = value;
  }
  if (!found) {
    return Status::InvalidArgument(
        fmt::format("credentials file '{}' has no [{}] profile", file_name, wanted));
  }
  if (credentials.access_key_id.empty() || credentials.secret_access_key.empty()) {
    return Status::InvalidArgument(
        fmt::format("credentials file '{}', profile [{}]: aws_access_key_id and "
                    "aws_secret_access_key are needed",
                    file_name, wanted));
  }
  return credentials;
}

Result<Credentials> LoadCredentials(const std::string& file, const std::string& profile) {
  if (!file.empty()) {
    ASSIGN_OR_RETURN(std::string text, ReadSecretFile(file));
    return ParseCredentialsFile(text, profile, file);
  }
  const char* id = std::getenv("AWS_ACCESS_KEY_ID");
  const char* secret = std::getenv("AWS_SECRET_ACCESS_KEY");
  const char* token = std::getenv("AWS_SESSION_TOKEN");
  if (id == nullptr || secret == nullptr || *id == '\0' || *secret == '\0') {
    return Status::InvalidArgument(
        "no S3 credentials: no credentials file given, and "
        "AWS_ACCESS_KEY_ID / AWS_SECRET_ACCESS_KEY are not set",
        "give credentialsFile (0600, AWS shared credentials format) or set them");
  }
  return Credentials{id, secret, token != nullptr ? token : ""};
}

}  // namespace dbaas::objstore
