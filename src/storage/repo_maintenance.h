// Whole-repository operations: verify, gc and stats.
#pragma once

#include <functional>
#include <string>
#include <unordered_set>
#include <vector>

#include "base/status.h"
#include "storage/progress.h"
#include "storage/repository.h"

namespace dbaas::storage {

using BlobSet = std::unordered_set<BlobId, Sha256DigestHash>;

// Adds to `live` the blobs `manifest` names: its chunk lists, their chunks and page
// patches. A chunk list already in `live` is taken to be read already (so a caller adding
// many snapshots reads each list once): call AddDeltaBases only after the last manifest,
// since the base of a delta is often a list that a later manifest still has to read.
Status AddReferencedBlobs(const Repository& repo, const Manifest& manifest, BlobSet& live,
                          BlobCodec& codec);
// Adds the base of every blob in `live` that is stored as a delta.
Status AddDeltaBases(const Repository& repo, BlobSet& live);

struct VerifyReport {
  uint64_t packs = 0;
  uint64_t blobs = 0;
  uint64_t bytes = 0;  // stored bytes read and checked
  uint64_t snapshots = 0;
  std::vector<std::string> errors;  // one line each, naming the object
  bool ok() const { return errors.empty(); }
};

// Re-reads every pack and checks every blob's hash, then checks that every snapshot's
// references resolve (thin snapshots: that each cloned file exists with its size). Works
// on a damaged repository and reports all it finds; fails only if the repository cannot
// be read at all.
Result<VerifyReport> VerifyRepository(const std::string& path, unsigned threads = 0,
                                      Progress* progress = nullptr);

struct GcReport {
  uint64_t packs_deleted = 0;
  uint64_t packs_rewritten = 0;
  uint64_t bytes_freed = 0;
  uint64_t temp_files_removed = 0;
  uint64_t thin_trees_removed = 0;
  uint64_t patches_compacted = 0;  // page patches stored again as deltas of their base
  uint64_t patch_bytes_saved = 0;  // what that saved
};

// Removes what no snapshot references: whole packs, and the dead part of packs that are
// mostly dead (their live blobs are copied to new packs first, which are made durable
// before anything is deleted), temporary files of crashed writers, orphaned thin trees.
// Compacts what backups stored in haste: a pack holding page patches compressed on their
// own (an incremental does not read their base chunks, to stay fast) is rewritten with
// each patch stored as a zstd delta of its base chunk, several times smaller.
// Takes the writer lock.
Result<GcReport> CollectGarbage(Repository& repo);

// Only the compaction of CollectGarbage: every pack holding a page patch stored on its own
// is rewritten with its patches as deltas of their base chunks. Reads no manifest, so it
// costs what the packs of the last incrementals hold, not what the repository does: what
// dbaasd runs after each backup that stored patches. Takes the writer lock. The new packs
// are written and made durable while readers may go on (they find each blob in the old
// pack or the new one: either does); `before_deleting`, when given, runs before the old
// packs are deleted, for the caller to wait until no reader may still be using them.
Result<GcReport> CompactPagePatches(Repository& repo,
                                    const std::function<void()>& before_deleting = {});

struct RepoStats {
  uint64_t snapshots = 0;
  uint64_t packs = 0;
  uint64_t blobs = 0;
  uint64_t logical_bytes = 0;    // sum over snapshots of their file sizes
  uint64_t unique_bytes = 0;     // sum of blob sizes before compression
  uint64_t stored_bytes = 0;     // sum of pack file sizes
  double dedup_ratio = 0;        // logical / unique
  double compression_ratio = 0;  // unique / stored
};

Result<RepoStats> ComputeStats(const Repository& repo);

}  // namespace dbaas::storage
