#include "storage/repo_maintenance.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <filesystem>
#include <functional>
#include <limits>
#include <mutex>
#include <unordered_map>
#include <unordered_set>

#include <fmt/format.h>

#include "base/files.h"
#include "base/hex.h"
#include "base/log.h"
#include "base/parallel.h"
#include "storage/chunk_list.h"
#include "storage/pack_writer.h"
#include "storage/page_patch.h"

namespace dbaas::storage {
namespace {

std::vector<std::string> ListPackNames(const std::string& repo_path) {
  std::vector<std::string> names;
  std::error_code ec;
  for (auto it = std::filesystem::recursive_directory_iterator(JoinPath(repo_path, "packs"), ec);
       !ec && it != std::filesystem::recursive_directory_iterator(); it.increment(ec)) {
    if (it->path().extension() == ".pack") names.push_back(it->path().stem().string());
  }
  std::sort(names.begin(), names.end());
  return names;
}

// Reads a whole pack and checks every blob in it.
Status VerifyPack(const std::string& pack_path, BlobCodec& codec, BlobSet& good,
                  std::vector<BlobId>& deltas, std::mutex& good_mutex, VerifyReport& report,
                  std::mutex& report_mutex) {
  ASSIGN_OR_RETURN(auto entries, ReadPackIndex(pack_path));
  ASSIGN_OR_RETURN(std::string data, ReadFileToString(pack_path, 1ull << 32));
  std::vector<uint8_t> out;
  std::vector<BlobId> ok_ids, delta_ids;
  std::vector<std::string> errors;
  for (const PackBlobEntry& e : entries) {
    if (e.compression == Compression::kZstdDelta) {  // needs its base: checked afterwards
      delta_ids.push_back(e.id);
      continue;
    }
    std::span<const uint8_t> stored(reinterpret_cast<const uint8_t*>(data.data()) + e.offset,
                                    e.stored_size);
    Status st = codec.Decode(e, stored, out);
    if (st.ok()) {
      ok_ids.push_back(e.id);
    } else {
      errors.push_back(fmt::format("pack '{}': {}", pack_path, st.message()));
    }
  }
  {
    std::lock_guard lock(good_mutex);
    good.insert(ok_ids.begin(), ok_ids.end());
    deltas.insert(deltas.end(), delta_ids.begin(), delta_ids.end());
  }
  std::lock_guard lock(report_mutex);
  report.blobs += entries.size();
  report.bytes += data.size();
  report.errors.insert(report.errors.end(), errors.begin(), errors.end());
  return Status::Ok();
}

// Checks one snapshot's references against the blobs that verified.
// Page patches already found to patch the chunk (id, length) a list names them over:
// snapshots share them.
using PatchesOk = std::unordered_map<BlobId, std::pair<BlobId, uint32_t>, Sha256DigestHash>;

// `patches_ok`: what was checked before, and what this adds.
void VerifySnapshot(const std::string& repo_path, const Manifest& m, const BlobSet& good,
                    const Repository* repo, BlobCodec& codec, PatchesOk& patches_ok,
                    VerifyReport& report) {
  auto fail = [&](const std::string& what) {
    report.errors.push_back(fmt::format("snapshot {}: {}", m.id, what));
  };
  for (const TreeEntry& e : m.entries) {
    if (e.type != EntryType::kFile) continue;
    if (m.kind == SnapshotKind::kThin) {
      std::string path = JoinPath(JoinPath(JoinPath(repo_path, "thin"), m.id), e.path);
      struct stat st;
      if (::stat(path.c_str(), &st) != 0 || static_cast<uint64_t>(st.st_size) != e.size) {
        fail(fmt::format("cloned file '{}' is missing or has the wrong size", e.path));
      }
      continue;
    }
    if (!e.chunks) continue;
    if (!good.count(*e.chunks) || !repo) {
      fail(fmt::format("chunk list of '{}' ({}) is missing or damaged", e.path, e.chunks->Hex()));
      continue;
    }
    auto list = repo->ReadChunkList(*e.chunks, codec);
    if (!list.ok()) {
      fail(fmt::format("chunk list of '{}': {}", e.path, list.status().message()));
      continue;
    }
    uint64_t total = 0;
    for (const ChunkRef& c : list.value()) {
      total += c.length;
      if (!good.count(c.id)) {
        fail(fmt::format("chunk {} of '{}' is missing or damaged", c.id.Hex(), e.path));
        break;
      }
      if (!c.patch) continue;
      if (auto ok = patches_ok.find(*c.patch);
          ok != patches_ok.end() && ok->second == std::pair(c.id, c.length)) {
        continue;
      }
      if (!good.count(*c.patch)) {
        fail(fmt::format("page patch {} of '{}' is missing or damaged", c.patch->Hex(), e.path));
        break;
      }
      if (auto patch = repo->ReadPagePatch(c, codec); !patch.ok()) {
        fail(fmt::format("page patch of '{}': {}", e.path, patch.status().message()));
        break;
      }
      patches_ok.emplace(*c.patch, std::pair(c.id, c.length));
    }
    if (total != e.size) fail(fmt::format("chunks of '{}' do not add up to its size", e.path));
  }
}

}  // namespace

Result<VerifyReport> VerifyRepository(const std::string& path, unsigned threads,
                                      Progress* progress) {
  if (!PathExists(JoinPath(path, "config.json"))) {
    return Status::NotFound(fmt::format("'{}' is not a repository (no config.json)", path));
  }
  VerifyReport report;
  std::vector<std::string> names = ListPackNames(path);
  report.packs = names.size();
  if (progress) progress->total_files = names.size();
  BlobSet good;
  std::vector<BlobId> deltas;
  std::mutex good_mutex, report_mutex;
  threads = ResolveThreads(threads);
  std::vector<std::unique_ptr<BlobCodec>> codecs;
  for (unsigned t = 0; t < threads; ++t) codecs.push_back(std::make_unique<BlobCodec>());
  RETURN_IF_ERROR(ParallelFor(names.size(), threads, [&](size_t i, unsigned t) -> Status {
    std::string pack_path = PackPath(path, names[i]);
    Status st = VerifyPack(pack_path, *codecs[t], good, deltas, good_mutex, report, report_mutex);
    if (!st.ok()) {
      std::lock_guard lock(report_mutex);
      report.errors.push_back(st.message());
    }
    if (progress) progress->done_files++;
    return Status::Ok();  // keep going: report everything
  }));
  // Blob reads for chunk lists need an index; a repository whose index does not load
  // still gets its snapshots checked against the blobs that verified.
  auto repo = Repository::Open(path);
  const Repository* r = repo.ok() ? repo->get() : nullptr;
  std::vector<uint8_t> scratch;
  for (const BlobId& id : deltas) {
    Status st = r ? r->ReadBlob(id, *codecs[0], scratch)
                  : Status::Corruption("the repository index does not load");
    if (st.ok()) {
      good.insert(id);
    } else {
      report.errors.push_back(fmt::format("delta blob {}: {}", id.Hex(), st.message()));
    }
  }
  PatchesOk patches_ok;
  auto manifests = ListManifestFiles(path);
  if (!manifests.ok()) {
    report.errors.push_back(fmt::format("snapshots: {}", manifests.status().message()));
    manifests = std::vector<std::pair<std::string, std::string>>();
  }
  for (const auto& [id, manifest_path] : *manifests) {
    ++report.snapshots;
    auto text = ReadFileToString(manifest_path, 1ull << 30);
    if (!text.ok()) {
      report.errors.push_back(fmt::format("snapshot {}: {}", id, text.status().message()));
      continue;
    }
    auto m = ParseManifest(text.value());
    if (!m.ok()) {
      report.errors.push_back(fmt::format("snapshot {}: {}", id, m.status().message()));
      continue;
    }
    VerifySnapshot(path, m.value(), good, r, *codecs[0], patches_ok, report);
  }
  std::sort(report.errors.begin(), report.errors.end());
  return report;
}

namespace {

// Collects every blob a repository snapshot references.
Status MarkReferenced(const Repository& repo, BlobSet& live, std::unordered_set<std::string>& ids) {
  ASSIGN_OR_RETURN(auto snapshots, repo.ListSnapshots());
  BlobCodec codec;
  for (const Manifest& m : snapshots) {
    ids.insert(m.id);
    RETURN_IF_ERROR(AddReferencedBlobs(repo, m, live, codec));
  }
  return AddDeltaBases(repo, live);
}

// Stores page patches again as zstd deltas of their base chunk (or of that chunk's base,
// when it is a delta itself: a base is never a delta), as the incremental that wrote them
// did not, to stay fast. The patch's id and content stay what they were.
class PatchCompactor {
 public:
  explicit PatchCompactor(const Repository& repo) : repo_(repo) {}

  static bool Wants(const PackBlobEntry& e) {
    return e.type == BlobType::kPagePatch && e.compression != Compression::kZstdDelta;
  }

  // `stored` (the blob of `entry` as it is in its pack) becomes the delta, and `entry` says
  // so; on an error (the patch or its base does not read) both are as they were.
  Status Compact(PackBlobEntry& entry, std::vector<uint8_t>& stored) {
    RETURN_IF_ERROR(codec_.Decode(entry, stored, raw_));
    auto patch = ParsePagePatch(raw_);
    if (!patch.ok()) return patch.status().WithContext(fmt::format("blob {}", entry.id.Hex()));
    ASSIGN_OR_RETURN(auto base_of, repo_.DeltaBaseOf(patch->base));
    BlobId base_id = base_of.value_or(patch->base);
    RETURN_IF_ERROR(repo_.ReadBlob(base_id, codec_, base_));
    // Stored as a delta even in the rare case it is no smaller (random bytes), so that the
    // next gc does not rewrite its pack again.
    if (!codec_.CompressDelta(raw_, base_id, base_, repo_.config().compression_level,
                              std::numeric_limits<size_t>::max(), delta_)) {
      return Status::Internal(fmt::format("zstd could not compress page patch {}", entry.id.Hex()));
    }
    if (delta_.size() < stored.size()) saved_ += stored.size() - delta_.size();
    ++compacted_;
    stored.swap(delta_);
    entry.compression = Compression::kZstdDelta;
    return Status::Ok();
  }

  uint64_t compacted() const { return compacted_; }
  uint64_t saved() const { return saved_; }

 private:
  const Repository& repo_;
  BlobCodec codec_;
  std::vector<uint8_t> raw_, base_, delta_;
  uint64_t compacted_ = 0, saved_ = 0;
};

Status RemoveFileDurable(const std::string& path) {
  Status removed = UnlinkPath(path);
  return removed.code() == StatusCode::kNotFound ? Status::Ok() : removed;
}

// Copies packs' blobs into new packs (a blob that `keep` refuses, or already copied, is
// left behind), compacting the page patches stored on their own as it goes, then deletes
// the old packs once the new ones are durable. One pack at a time: memory is one pack's
// blobs, whatever the repository holds.
class PackRewriter {
 public:
  PackRewriter(const Repository& repo, GcReport& report)
      : repo_(repo), report_(report), writer_(repo.path()), threads_(ResolveThreads(0)) {
    for (unsigned t = 0; t < threads_; ++t) {
      compactors_.push_back(std::make_unique<PatchCompactor>(repo));
    }
  }

  Status Rewrite(const std::string& pack_path, const std::vector<PackBlobEntry>& entries,
                 const std::function<bool(const BlobId&)>& keep) {
    std::vector<Blob> blobs;
    for (const PackBlobEntry& e : entries) {
      if (keep(e.id) && copied_.insert(e.id).second) blobs.push_back({e, {}});
    }
    if (!blobs.empty()) {
      ASSIGN_OR_RETURN(UniqueFd fd, OpenFile(pack_path, O_RDONLY));
      for (Blob& b : blobs) {
        b.stored.resize(b.entry.stored_size);
        ASSIGN_OR_RETURN(size_t n, PreadFull(fd.get(), b.stored.data(), b.stored.size(),
                                             b.entry.offset, pack_path));
        if (n != b.stored.size()) {
          return Status::Corruption(fmt::format("pack '{}' is short", pack_path));
        }
      }
      // This pack's own copy is what is compacted (another pack may hold the same patch,
      // already compacted, when a gc was cut short); a patch that does not compact (its
      // base damaged) is copied as it is: `repo verify` names it, the gc goes on.
      RETURN_IF_ERROR(ParallelFor(blobs.size(), threads_, [&](size_t i, unsigned t) {
        Blob& b = blobs[i];
        if (!PatchCompactor::Wants(b.entry)) return Status::Ok();
        if (Status st = compactors_[t]->Compact(b.entry, b.stored); !st.ok()) {
          spdlog::warn("page patch {} stays as it is: {}", b.entry.id.Hex(), st.ToString());
        }
        b.stored.shrink_to_fit();  // the delta's size, not zstd's bound
        return Status::Ok();
      }));
      for (const Blob& b : blobs) {
        RETURN_IF_ERROR(writer_.Add(b.entry, b.stored));
        if (writer_.size() >= repo_.config().pack_target_size) {
          ASSIGN_OR_RETURN(FinishedPack p, writer_.Finish());
          new_packs_.push_back(std::move(p));
        }
      }
      ++report_.packs_rewritten;
    }
    old_packs_.push_back(pack_path);
    return Status::Ok();
  }

  // The copies are made durable (Finish syncs them); only then do the old packs go,
  // after `before_deleting` (when given) has run.
  Status Finish(const std::function<void()>& before_deleting = {}) {
    if (!writer_.empty()) {
      ASSIGN_OR_RETURN(FinishedPack p, writer_.Finish());
      new_packs_.push_back(std::move(p));
    }
    if (before_deleting && !old_packs_.empty()) before_deleting();
    uint64_t new_bytes = 0;
    for (const FinishedPack& p : new_packs_) new_bytes += p.bytes;
    uint64_t old_bytes = 0;
    for (const std::string& path : old_packs_) {
      struct stat st;
      if (::stat(path.c_str(), &st) == 0) old_bytes += static_cast<uint64_t>(st.st_size);
      RETURN_IF_ERROR(RemoveFileDurable(path));
      RETURN_IF_ERROR(FsyncDir(DirName(path)));
    }
    report_.packs_deleted = old_packs_.size() - report_.packs_rewritten;
    report_.bytes_freed = old_bytes > new_bytes ? old_bytes - new_bytes : 0;
    for (const auto& c : compactors_) {
      report_.patches_compacted += c->compacted();
      report_.patch_bytes_saved += c->saved();
    }
    return Status::Ok();
  }

 private:
  struct Blob {
    PackBlobEntry entry;
    std::vector<uint8_t> stored;
  };

  const Repository& repo_;
  GcReport& report_;
  PackWriter writer_;
  unsigned threads_;
  std::vector<std::unique_ptr<PatchCompactor>> compactors_;
  BlobSet copied_;
  std::vector<FinishedPack> new_packs_;
  std::vector<std::string> old_packs_;
};

}  // namespace

Status AddReferencedBlobs(const Repository& repo, const Manifest& manifest, BlobSet& live,
                          BlobCodec& codec) {
  for (const TreeEntry& e : manifest.entries) {
    if (!e.chunks || !live.insert(*e.chunks).second) continue;
    ASSIGN_OR_RETURN(auto list, repo.ReadChunkList(*e.chunks, codec));
    for (const ChunkRef& c : list) {
      live.insert(c.id);
      if (c.patch) live.insert(*c.patch);
    }
  }
  return Status::Ok();
}

Status AddDeltaBases(const Repository& repo, BlobSet& live) {
  // Bases are never deltas: one pass suffices.
  std::vector<BlobId> bases;
  for (const BlobId& id : live) {
    ASSIGN_OR_RETURN(auto base, repo.DeltaBaseOf(id));
    if (base) bases.push_back(*base);
  }
  live.insert(bases.begin(), bases.end());
  return Status::Ok();
}

Result<GcReport> CollectGarbage(Repository& repo) {
  ASSIGN_OR_RETURN(WriteLock lock, repo.LockForWrite());
  GcReport report;
  // Temporary files belong to writers that died (we hold the lock: none is running).
  std::error_code ec;
  for (const auto& f : std::filesystem::directory_iterator(repo.TmpDir(), ec)) {
    RETURN_IF_ERROR(RemoveTree(f.path().string()));
    ++report.temp_files_removed;
  }
  BlobSet live;
  std::unordered_set<std::string> snapshot_ids;
  RETURN_IF_ERROR(MarkReferenced(repo, live, snapshot_ids));
  for (const auto& d : std::filesystem::directory_iterator(JoinPath(repo.path(), "thin"), ec)) {
    if (!snapshot_ids.count(d.path().filename().string())) {
      RETURN_IF_ERROR(RemoveTree(d.path().string()));
      ++report.thin_trees_removed;
    }
  }

  // Per pack: how much of it is live. The in-memory index maps each id to one pack, so
  // judge by each pack's own index.
  PackRewriter rewriter(repo, report);
  for (const std::string& name : repo.pack_names()) {
    std::string pack_path = PackPath(repo.path(), name);
    ASSIGN_OR_RETURN(auto entries, ReadPackIndex(pack_path));
    uint64_t live_bytes = 0, all_bytes = 0;
    bool loose_patches = false;
    for (const PackBlobEntry& e : entries) {
      all_bytes += e.stored_size;
      if (!live.count(e.id)) continue;
      live_bytes += e.stored_size;
      loose_patches |= PatchCompactor::Wants(e);
    }
    if (live_bytes * 2 > all_bytes && !loose_patches) continue;  // keep as is
    RETURN_IF_ERROR(
        rewriter.Rewrite(pack_path, entries, [&](const BlobId& id) { return live.count(id) > 0; }));
  }
  RETURN_IF_ERROR(rewriter.Finish());
  return report;
}

Result<GcReport> CompactPagePatches(Repository& repo,
                                    const std::function<void()>& before_deleting) {
  ASSIGN_OR_RETURN(WriteLock lock, repo.LockForWrite());
  GcReport report;
  PackRewriter rewriter(repo, report);
  for (const std::string& name : repo.pack_names()) {
    std::string pack_path = PackPath(repo.path(), name);
    ASSIGN_OR_RETURN(auto entries, ReadPackIndex(pack_path));
    if (std::none_of(entries.begin(), entries.end(), PatchCompactor::Wants)) continue;
    RETURN_IF_ERROR(rewriter.Rewrite(pack_path, entries, [](const BlobId&) { return true; }));
  }
  RETURN_IF_ERROR(rewriter.Finish(before_deleting));
  return report;
}

Result<RepoStats> ComputeStats(const Repository& repo) {
  RepoStats s;
  ASSIGN_OR_RETURN(auto snapshots, repo.ListSnapshotHeaders());
  s.snapshots = snapshots.size();
  for (const Manifest& m : snapshots) {
    if (m.kind == SnapshotKind::kRepository) s.logical_bytes += m.stats.logical_bytes;
  }
  s.packs = repo.pack_names().size();
  s.blobs = repo.blob_count();
  RETURN_IF_ERROR(repo.ForEachBlob([&s](const BlobLocation& loc) {
    s.unique_bytes += loc.entry.raw_size;
    return Status::Ok();
  }));
  for (const std::string& name : repo.pack_names()) {
    struct stat st;
    std::string path = PackPath(repo.path(), name);
    if (::stat(path.c_str(), &st) != 0) return ErrnoStatus("stat", path, errno);
    s.stored_bytes += static_cast<uint64_t>(st.st_size);
  }
  if (s.unique_bytes > 0) s.dedup_ratio = double(s.logical_bytes) / double(s.unique_bytes);
  if (s.stored_bytes > 0) s.compression_ratio = double(s.unique_bytes) / double(s.stored_bytes);
  return s;
}

}  // namespace dbaas::storage
