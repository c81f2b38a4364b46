// Pieces every engine's backup and restore use: files a snapshot gets from the engine, and
// a new instance's data directory filled from a snapshot.
#pragma once

#include <optional>
#include <string>

#include "base/process.h"
#include "base/status.h"
#include "storage/progress.h"
#include "storage/repository.h"
#include "storage/snapshot_create.h"

namespace dbaas::engines {

// An extra snapshot file at `path`, owned by the server's user (none: ourselves), as the
// server would have made it.
storage::ExtraFile ServerOwnedFile(const std::optional<UserIds>& owner, std::string path);

// Restores `snapshot` into `data_dir` and syncs it (one syncfs: the server then finds
// nothing left to write back when it fsyncs the directory at start; docs/BENCHMARKS.md). Kill point
// KillPoint::kRestoreFilled: a half-made restore (files in place, no server yet).
Status FillFromSnapshot(const storage::Repository& repo, const storage::Manifest& snapshot,
                        const std::string& data_dir, storage::Progress* progress);

}  // namespace dbaas::engines
