// A backup's facts (engines/backup_facts.h) as the catalog keeps them, in
// BackupRecord::info beside the instance's configuration ("config"). The keys are a storage
// format: rows written by earlier builds read the same (those a crash reconcile completed
// used the snapshot's snake_case names, read too).
#pragma once

#include <nlohmann/json.hpp>

#include "engines/backup_facts.h"

namespace dbaas::control {

// Writes `facts` into `info` (an object), leaving other keys (config) as they are.
void StoreFacts(const engines::BackupFacts& facts, nlohmann::json& info);
// The facts `info` holds; what is missing or of the wrong type stays unset.
engines::BackupFacts StoredFacts(const nlohmann::json& info);

}  // namespace dbaas::control
