// A remote repository as configured (the daemon's `repositories` entries, the CLI's
// --remote file): where it is, how to authenticate, how it is encrypted.
//
//   {"name": "offsite", "type": "s3", "endpoint": "https://s3.eu-west-1.amazonaws.com",
//    "bucket": "acme-db-backups", "region": "eu-west-1", "pathStyle": false,
//    "credentialsFile": "/etc/dbaas/s3.credentials", "profile": "default",
//    "caFile": "/etc/dbaas/minio-ca.pem",
//    "encryption": {"keyFile": "/etc/dbaas/offsite.key"},
//    "retentionDays": 90}
//
// caFile: a CA to trust instead of the system's. encryption: keyFile or passphraseFile.
// retentionDays: how long this repository keeps copies, whatever the local one keeps.
//
// Credentials: the credentialsFile's profile, else the environment (AWS_ACCESS_KEY_ID, ...);
// or, with "credentials": "instanceMetadata", temporary ones from the machine's instance
// metadata service (objstore/instance_metadata.h; "metadataEndpoint" to name another than
// http://169.254.169.254).
#pragma once

#include <memory>
#include <optional>
#include <string>

#include <nlohmann/json.hpp>

#include "base/status.h"
#include "objstore/s3_client.h"
#include "storage/remote_repository.h"

namespace dbaas::storage {

struct RemoteSpec {
  std::string name;
  objstore::S3Location location;
  std::string credentials_file;  // empty: the environment
  std::string profile;
  bool instance_metadata = false;  // credentials from the instance metadata service
  std::string metadata_endpoint;   // empty: the service's usual address
  std::string ca_file;             // empty: the system's CAs
  // Retention of its own: copies here are kept this many days after their backup was made
  // (pinned ones for ever), however long the local repository keeps them. None: they go
  // with their backup.
  std::optional<int> retention_days;
  RemoteKeySpec key;
};

// Checks every field (names, endpoint, bucket, absolute secret paths); reads no file.
Result<RemoteSpec> ParseRemoteSpec(const nlohmann::json& spec);
// Reads a spec from a JSON file.
Result<RemoteSpec> LoadRemoteSpec(const std::string& path);
// The S3 client for `spec`, its credentials loaded.
Result<std::unique_ptr<objstore::S3Client>> ConnectRemote(const RemoteSpec& spec,
                                                          objstore::S3Options options = {});

}  // namespace dbaas::storage
