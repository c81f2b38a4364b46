// A backup's catalog record as a remote repository keeps it beside the backup's snapshot
// (snapshots/<id>.record): what a daemon on another host needs to list the bucket's
// backups and restore them after this host is lost (docs/formats/remote.md).
//
// The superuser password inside the copy is kept only in an encrypted repository, sealed
// like the data: a bucket that is not encrypted holds no password. Without one a daemon
// cannot reach a restored server, so such a backup is listed but not imported.
#pragma once

#include <cstdint>
#include <span>
#include <string>
#include <vector>

#include "base/status.h"
#include "catalog/catalog.h"

namespace dbaas::control {

// The record of `backup` (ready, with its snapshot) as it is now, with its secret when
// `encrypted` (the repository's objects are sealed) and it has one. Its restore drills
// are not part of it: a drill belongs to the host that ran it.
std::vector<uint8_t> EncodeBucketRecord(const catalog::BackupRecord& backup, bool encrypted);

// The backup a record describes, as the catalog of the daemon that reads it will hold it:
// ready, of snapshot `snapshot_id`, made by no schedule here, never drilled. What a reader
// later uses is checked (kCorruption naming what is wrong): names, type, times, sizes, the
// WAL archive id, the volume size, and that a repository that is not `encrypted` holds no
// secret (a record anyone with the bucket could write would otherwise be importable). The
// engine checks the configuration. The secret is empty when the record has none.
Result<catalog::BackupRecord> DecodeBucketRecord(std::span<const uint8_t> record,
                                                 const std::string& snapshot_id,
                                                 const std::string& repository, bool encrypted);

}  // namespace dbaas::control
