#include "storage/remote_spec.h"

#include <fmt/format.h>

#include <set>

#include "base/files.h"
#include "base/names.h"
#include "objstore/credentials.h"
#include "objstore/instance_metadata.h"

namespace dbaas::storage {

Result<RemoteSpec> ParseRemoteSpec(const nlohmann::json& spec) {
  if (!spec.is_object()) return Status::InvalidArgument("a repository must be a JSON object");
  static const std::set<std::string> kKnown = {"name",
                                               "type",
                                               "endpoint",
                                               "bucket",
                                               "region",
                                               "pathStyle",
                                               "credentialsFile",
                                               "profile",
                                               "credentials",
                                               "metadataEndpoint",
                                               "caFile",
                                               "encryption",
                                               "retentionDays"};
  for (const auto& [field, value] : spec.items()) {
    if (!kKnown.count(field))
      return Status::InvalidArgument(fmt::format("repository: unknown field '{}'", field));
  }
  auto text = [&](const char* field, std::string fallback = "") -> Result<std::string> {
    if (!spec.contains(field)) return fallback;
    if (!spec[field].is_string())
      return Status::InvalidArgument(fmt::format("repository: '{}' must be a string", field));
    return spec[field].get<std::string>();
  };
  RemoteSpec out;
  ASSIGN_OR_RETURN(out.name, text("name"));
  RETURN_IF_ERROR(ValidateName("repository name", out.name));
  ASSIGN_OR_RETURN(std::string type, text("type", "s3"));
  if (type != "s3") {
    return Status::InvalidArgument(
        fmt::format("repository '{}': type '{}' is not one this build knows", out.name, type),
        "type s3 (the local repository is the daemon's --repo)");
  }
  ASSIGN_OR_RETURN(out.location.endpoint, text("endpoint"));
  ASSIGN_OR_RETURN(out.location.bucket, text("bucket"));
  ASSIGN_OR_RETURN(out.location.region, text("region", "us-east-1"));
  if (spec.contains("pathStyle")) {
    if (!spec["pathStyle"].is_boolean())
      return Status::InvalidArgument("repository: 'pathStyle' must be true or false");
    out.location.path_style = spec["pathStyle"].get<bool>();
  }
  ASSIGN_OR_RETURN(out.credentials_file, text("credentialsFile"));
  ASSIGN_OR_RETURN(out.profile, text("profile"));
  ASSIGN_OR_RETURN(out.ca_file, text("caFile"));
  if (!out.ca_file.empty() && out.ca_file[0] != '/') {
    return Status::InvalidArgument(
        fmt::format("repository '{}': caFile must be an absolute path", out.name));
  }
  if (!out.credentials_file.empty() && out.credentials_file[0] != '/') {
    return Status::InvalidArgument(
        fmt::format("repository '{}': credentialsFile must be an absolute path", out.name));
  }
  ASSIGN_OR_RETURN(std::string credentials, text("credentials", "static"));
  if (credentials != "static" && credentials != "instanceMetadata") {
    return Status::InvalidArgument(
        fmt::format("repository '{}': credentials '{}' is not a source this build knows", out.name,
                    credentials),
        "instanceMetadata, or leave it out (credentialsFile, else the environment)");
  }
  out.instance_metadata = credentials == "instanceMetadata";
  ASSIGN_OR_RETURN(out.metadata_endpoint, text("metadataEndpoint"));
  if (out.instance_metadata && (!out.credentials_file.empty() || !out.profile.empty())) {
    return Status::InvalidArgument(fmt::format(
        "repository '{}': credentials from instanceMetadata take no credentialsFile or profile",
        out.name));
  }
  if (!out.metadata_endpoint.empty() &&
      (!out.instance_metadata || !out.metadata_endpoint.starts_with("http://"))) {
    return Status::InvalidArgument(
        fmt::format("repository '{}': metadataEndpoint is an http:// address, with credentials "
                    "instanceMetadata",
                    out.name));
  }
  if (spec.contains("encryption") && !spec["encryption"].is_null()) {
    const auto& encryption = spec["encryption"];
    bool key_file = encryption.is_object() && encryption.contains("keyFile");
    bool passphrase = encryption.is_object() && encryption.contains("passphraseFile");
    if (key_file == passphrase || encryption.size() != 1) {
      return Status::InvalidArgument(fmt::format(
          "repository '{}': encryption takes one of keyFile or passphraseFile", out.name));
    }
    const auto& path = encryption.begin().value();
    if (!path.is_string() || path.get<std::string>().empty() || path.get<std::string>()[0] != '/') {
      return Status::InvalidArgument(
          fmt::format("repository '{}': the key's path must be absolute", out.name));
    }
    out.key = {key_file ? RemoteKeySpec::Kind::kKeyFile : RemoteKeySpec::Kind::kPassphraseFile,
               path.get<std::string>()};
  }
  if (spec.contains("retentionDays")) {
    const auto& days = spec["retentionDays"];
    if (!days.is_number_integer() || days.get<int64_t>() < 1 || days.get<int64_t>() > 36500) {
      return Status::InvalidArgument(
          fmt::format("repository '{}': retentionDays must be 1 to 36500 days", out.name));
    }
    out.retention_days = days.get<int>();
  }
  // The endpoint, bucket and region are checked as the client checks them.
  auto client = objstore::S3Client::Create(out.location, {"check", "check", ""});
  if (!client.ok()) return client.status().WithContext(fmt::format("repository '{}'", out.name));
  return out;
}

Result<RemoteSpec> LoadRemoteSpec(const std::string& path) {
  // The operator's own file (a link or a pipe is fine): no tenant writes where it is.
  ASSIGN_OR_RETURN(std::string text, ReadFileFollowingLinks(path, 1 << 20));
  auto spec = nlohmann::json::parse(text, nullptr, false);
  if (spec.is_discarded()) return Status::InvalidArgument(fmt::format("'{}' is not JSON", path));
  return ParseRemoteSpec(spec);
}

Result<std::unique_ptr<objstore::S3Client>> ConnectRemote(const RemoteSpec& spec,
                                                          objstore::S3Options options) {
  if (!spec.ca_file.empty()) options.ca_file = spec.ca_file;
  if (spec.instance_metadata) {
    objstore::InstanceMetadataOptions metadata;
    metadata.endpoint = spec.metadata_endpoint;
    return objstore::S3Client::Create(
        spec.location, std::make_shared<objstore::InstanceMetadataCredentials>(metadata), options);
  }
  ASSIGN_OR_RETURN(auto credentials,
                   objstore::LoadCredentials(spec.credentials_file, spec.profile));
  return objstore::S3Client::Create(spec.location, credentials, options);
}

}  // namespace dbaas::storage
