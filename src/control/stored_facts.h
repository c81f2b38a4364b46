// A backup's facts (engines/backup_facts.h) as the catalog keeps them, in
// BackupRecord::info beside the instance's configuration ("config"). The keys are a storage
// format: rows written by earlier builds read the same (those a crash reconcile completed
// used the snapshot's snake_case names, read too).
#pragma once

#include <nlohmann/json.hpp>

#include "catalog/catalog.h"
#include "engines/backup_facts.h"

namespace dbaas::control {

// Writes `facts` into `info` (an object), leaving other keys (config) as they are.
void StoreFacts(const engines::BackupFacts& facts, nlohmann::json& info);
// The facts `info` holds; what is missing or of the wrong type stays unset.
engines::BackupFacts StoredFacts(const nlohmann::json& info);

// The volume size of the instance the backup was taken of (a quantity: "10Gi"), kept in
// info as "volumeSize". Backups from before it was kept: the whole GiB above their data.
std::string BackupVolumeSize(const catalog::BackupRecord& backup);

}  // namespace dbaas::control
