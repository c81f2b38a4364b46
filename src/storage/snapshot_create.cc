#include "storage/snapshot_create.h"

#include <fcntl.h>
#include <malloc.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <filesystem>
#include <mutex>
#include <optional>
#include <unordered_map>
#include <unordered_set>

#include <fmt/format.h>
#include <spdlog/spdlog.h>

#include "base/clock.h"
#include "base/files.h"
#include "base/hex.h"
#include "base/parallel.h"
#include "storage/blob_codec.h"
#include "storage/chunk_list.h"
#include "storage/pack_writer.h"
#include "storage/page_patch.h"
#include "storage/reflink.h"

namespace dbaas::storage {
namespace {

// A unit of parallel work: one range of one file, a whole number of chunks long.
struct RangeTask {
  size_t file;  // index into the files being read
  uint64_t offset;
  uint64_t length;
};

// A chunk the change map names, to store as a page patch of the parent's chunk: the
// ranges of it that changed, relative to the chunk.
struct PatchPlan {
  size_t chunk;
  std::vector<PatchRange> ranges;
};

// A unit of parallel work: consecutive patch plans of one file.
struct PatchTask {
  size_t file;
  size_t first;
  size_t count;
};

// Per-file result slots, filled by whichever threads read the file's ranges.
struct FileWork {
  TreeEntry* entry;
  // One slot per chunk of the size seen by the scan: read, patched, or taken from the
  // parent where the change map says the chunk did not change. Made by the first read of
  // the file (or by the plan, for a file the change map names) and let go once the file's
  // chunk list is stored: a backup holds the slots of the files being read, not of the whole
  // tree (196,000 chunks at pgbench scale 700: 14 MB).
  std::vector<ChunkRef> chunks;
  size_t chunk_count = 0;
  std::once_flag chunks_made;
  // The file's range and patch tasks not done yet: the last to finish stores its list.
  std::atomic<size_t> tasks_left{0};
  bool listed = false;  // its chunk list is stored (or it has none to store)
  // The same file in the parent snapshot: its chunks are the delta bases of changed chunks.
  std::vector<ChunkRef> parent_chunks;
  std::optional<BlobId> parent_list;
  std::vector<PatchPlan> patches;
  // Where a read came up short: the file shrank while we read it, and ends there.
  std::atomic<uint64_t> cut{UINT64_MAX};
  std::atomic<bool> vanished{false};
};

// A delta at most 1/kDeltaGoodEnough of its chunk is stored without trying plain zstd.
constexpr size_t kDeltaGoodEnough = 32;
// A page patch holds at most 1/kPatchAtMost of its chunk; a chunk changed more is read
// whole (and stored as a delta of the parent's). Patches are cumulative, so this bounds
// what each incremental stores again of the changes before it.
constexpr uint64_t kPatchAtMost = 2;
// zstd's level for page patches as a backup stores them (compaction makes them deltas).
constexpr int kLoosePatchLevel = -5;
// Patch plans per task: one open of the file for many changed chunks.
constexpr size_t kPatchesPerTask = 64;

uint64_t RangeSize(uint32_t chunk_size) {
  uint64_t target = 4ull << 20;
  return std::max<uint64_t>(chunk_size, target / chunk_size * chunk_size);
}

// Writes blobs for one snapshot: decides which chunks are new (shared across threads),
// and gives each thread its own codec and pack writer.
class BlobSink {
 public:
  BlobSink(Repository& repo, unsigned threads) : repo_(repo) {
    for (unsigned t = 0; t < threads; ++t) {
      codecs_.push_back(std::make_unique<BlobCodec>());
      writers_.push_back(std::make_unique<PackWriter>(repo.path()));
      buffers_.emplace_back();
      delta_buffers_.emplace_back();
      base_buffers_.emplace_back();
    }
  }

  // Stores `data` under `id` unless the repository or this snapshot already has it.
  // `similar` names a stored blob that probably resembles `data` (the same chunk in the
  // parent snapshot): if a delta against it is smaller, the delta is stored.
  Status Put(unsigned thread, const BlobId& id, BlobType type, std::span<const uint8_t> data,
             const std::optional<BlobId>& similar = std::nullopt) {
    if (repo_.HasBlob(id)) return Status::Ok();
    {
      // Asked again under the lock: the pack that held the claim may have been indexed,
      // and its claims let go, since the first question.
      std::lock_guard lock(mutex_);
      if (claimed_.count(id) || repo_.HasBlob(id)) return Status::Ok();
      claimed_.insert(id);
    }
    std::vector<uint8_t>& stored = buffers_[thread];
    BlobCodec& codec = *codecs_[thread];
    // Page patches are compacted after the backup (the compression made now is undone
    // there): the fastest zstd level keeps the backup short.
    const int level =
        type == BlobType::kPagePatch ? kLoosePatchLevel : repo_.config().compression_level;
    // A changed chunk of a database file is mostly its parent's: the delta goes first, and
    // when it is a small fraction of the chunk no plain compression could beat it by enough
    // to matter, so none is made (it was half the cost of an incremental's changed chunks).
    // A chunk list is mostly SHA-256 ids, which plain zstd cannot shrink: a delta of the
    // parent's list that halves it is kept without trying (a 1 GiB file's list is 590 KB).
    bool delta = similar && *similar != id && repo_.HasBlob(*similar) &&
                 TryDelta(thread, *similar, data, data.size());
    const size_t good_enough = data.size() / (type == BlobType::kChunkList ? 2 : kDeltaGoodEnough);
    Compression c = Compression::kZstdDelta;
    if (delta && delta_buffers_[thread].size() <= good_enough) {
      stored.swap(delta_buffers_[thread]);
    } else {
      c = codec.Compress(data, level, stored);
      if (delta && delta_buffers_[thread].size() < stored.size()) {
        c = Compression::kZstdDelta;
        stored.swap(delta_buffers_[thread]);
      }
    }
    PackBlobEntry entry;
    entry.id = id;
    entry.type = type;
    entry.compression = c;
    entry.raw_size = static_cast<uint32_t>(data.size());
    PackWriter& writer = *writers_[thread];
    RETURN_IF_ERROR(writer.Add(entry, stored));
    if (writer.size() >= repo_.config().pack_target_size) return FinishPack(thread);
    return Status::Ok();
  }

  // Compresses `data` against `similar` (or its base, when it is a delta itself) into
  // delta_buffers_[thread]; true when that is smaller than `plain_size`.
  bool TryDelta(unsigned thread, const BlobId& similar, std::span<const uint8_t> data,
                size_t plain_size) {
    auto base_of = repo_.DeltaBaseOf(similar);
    if (!base_of.ok()) return false;
    BlobId base_id = base_of->value_or(similar);
    std::vector<uint8_t>& base = base_buffers_[thread];
    // Only a dictionary: the delta's own checks catch a base that reads wrong later.
    if (!repo_.ReadBlob(base_id, *codecs_[thread], base, BlobCheck::kFrameChecksum).ok()) {
      return false;  // store plain
    }
    return codecs_[thread]->CompressDelta(data, base_id, base, repo_.config().compression_level,
                                          plain_size, delta_buffers_[thread]);
  }

  // A finished pack goes into the repository's index at once, and its blobs leave the
  // claims (indexed first, so that no moment finds a blob in neither): the claims hold the
  // blobs of the packs being written, not every new blob of the backup (12 MB at pgbench
  // scale 700 when they were held to the end).
  Status FinishPack(unsigned thread) {
    if (writers_[thread]->empty()) return Status::Ok();
    ASSIGN_OR_RETURN(FinishedPack pack, writers_[thread]->Finish());
    RETURN_IF_ERROR(repo_.AddPack(pack.name, pack.entries, pack.index_offset));
    std::lock_guard lock(mutex_);
    for (const PackBlobEntry& e : pack.entries) claimed_.erase(e.id);
    stored_blobs_ += pack.entries.size();
    stored_bytes_ += pack.bytes;
    return Status::Ok();
  }

  Status FinishAll() {
    for (unsigned t = 0; t < writers_.size(); ++t) RETURN_IF_ERROR(FinishPack(t));
    return Status::Ok();
  }

  // What the snapshot stored: (blobs, bytes), every pack finished and indexed.
  std::pair<uint64_t, uint64_t> Stored() const { return {stored_blobs_, stored_bytes_}; }

 private:
  Repository& repo_;
  std::mutex mutex_;
  std::unordered_set<BlobId, Sha256DigestHash> claimed_;
  std::vector<std::unique_ptr<BlobCodec>> codecs_;
  std::vector<std::unique_ptr<PackWriter>> writers_;
  std::vector<std::vector<uint8_t>> buffers_, delta_buffers_, base_buffers_;
  uint64_t stored_blobs_ = 0, stored_bytes_ = 0;
};

// Opens a file of the source; null, and the file marked vanished, when it was deleted
// since the tree was scanned.
Result<std::unique_ptr<SourceFile>> OpenSource(SourceTree& tree, FileWork& work) {
  auto file = tree.Open(work.entry->path);
  if (file.ok()) return std::move(file).value();
  if (file.status().code() != StatusCode::kNotFound) return file.status();
  work.vanished = true;
  return std::unique_ptr<SourceFile>();
}

// A read of a source file. A file gone since the scan, which a tree served from elsewhere
// finds at a read rather than at its open, is marked vanished: nothing read.
Result<size_t> ReadSource(SourceFile& file, FileWork& work, uint8_t* data, size_t length,
                          uint64_t offset) {
  auto n = file.Read(data, length, offset);
  if (n.ok() || n.status().code() != StatusCode::kNotFound) return n;
  work.vanished = true;
  return size_t{0};
}

// What every range read of one snapshot shares.
struct ReadContext {
  const Repository& repo;
  SourceTree& tree;
  uint32_t chunk_size;
  BlobSink& sink;
  Progress* progress;
  std::atomic<uint64_t> read_bytes{0};
  std::atomic<uint64_t> patched_chunks{0};
};

Status ReadRange(ReadContext& ctx, FileWork& work, const RangeTask& task, unsigned thread,
                 std::vector<uint8_t>& buffer) {
  if (work.vanished.load()) return Status::Ok();
  ASSIGN_OR_RETURN(std::unique_ptr<SourceFile> file, OpenSource(ctx.tree, work));
  if (!file) return Status::Ok();
  buffer.resize(task.length);
  ASSIGN_OR_RETURN(size_t n, ReadSource(*file, work, buffer.data(), task.length, task.offset));
  if (n < task.length) {
    uint64_t end = task.offset + n, cut = work.cut.load();
    while (end < cut && !work.cut.compare_exchange_weak(cut, end)) {
    }
  }
  const uint32_t chunk_size = ctx.chunk_size;
  std::call_once(work.chunks_made, [&] {
    if (work.chunks.empty()) work.chunks.resize(work.chunk_count);
  });
  size_t first_chunk = task.offset / chunk_size;
  for (size_t pos = 0, i = first_chunk; pos < n; pos += chunk_size, ++i) {
    size_t len = std::min<size_t>(chunk_size, n - pos);
    std::span<const uint8_t> data(buffer.data() + pos, len);
    BlobId id = Sha256(data);
    std::optional<BlobId> similar;
    if (i < work.parent_chunks.size()) similar = work.parent_chunks[i].id;
    RETURN_IF_ERROR(ctx.sink.Put(thread, id, BlobType::kData, data, similar));
    work.chunks[i] = ChunkRef{id, static_cast<uint32_t>(len), std::nullopt};
  }
  ctx.read_bytes += n;
  ReportBytes(ctx.progress, task.length);
  return Status::Ok();
}

// What one thread keeps between patches.
struct PatchBuffers {
  BlobCodec codec;
  std::vector<uint8_t> data;
  std::vector<uint8_t> whole;
};

uint64_t PatchedBytes(const std::vector<PatchRange>& ranges, const PagePatch* older) {
  std::vector<PatchRange> all = ranges;
  if (older) all.insert(all.end(), older->ranges.begin(), older->ranges.end());
  uint64_t total = 0;
  for (const PatchRange& r : MergeRanges(std::move(all))) total += r.length;
  return total;
}

// Stores a chunk the map names as a page patch of the parent's chunk: reads only the
// ranges that changed and lays them over the parent's patch, if it has one. A chunk whose
// patch would grow past 1/kPatchAtMost of it, whose parent patch does not read, or that
// the file no longer holds whole is read whole instead.
Status ReadPatch(ReadContext& ctx, FileWork& work, const PatchPlan& plan, SourceFile& file,
                 unsigned thread, PatchBuffers& b) {
  const ChunkRef& parent = work.parent_chunks[plan.chunk];
  const uint64_t chunk_offset = uint64_t{plan.chunk} * ctx.chunk_size;
  auto whole = [&] {
    if (ctx.progress) {  // planned were the ranges; the whole chunk is read instead
      uint64_t planned = 0;
      for (const PatchRange& r : plan.ranges) planned += r.length;
      ctx.progress->total_bytes += parent.length - planned;
    }
    return ReadRange(ctx, work, {0, chunk_offset, parent.length}, thread, b.whole);
  };
  std::optional<PagePatch> older;
  if (parent.patch) {
    auto read = ctx.repo.ReadPagePatch(parent, b.codec);
    if (!read.ok()) return whole();
    older = std::move(read.value());
  }
  if (PatchedBytes(plan.ranges, older ? &*older : nullptr) * kPatchAtMost > parent.length) {
    return whole();
  }
  size_t total = 0;
  for (const PatchRange& r : plan.ranges) total += r.length;
  b.data.resize(total);
  size_t pos = 0;
  for (const PatchRange& r : plan.ranges) {
    ASSIGN_OR_RETURN(
        size_t n, ReadSource(file, work, b.data.data() + pos, r.length, chunk_offset + r.offset));
    if (n < r.length) return whole();  // the file shrank: the whole read finds its end
    pos += r.length;
  }
  PagePatch patch =
      OverlayPatch(older ? &*older : nullptr, parent.id, parent.length, plan.ranges, b.data);
  std::string encoded = EncodePagePatch(patch);
  std::span<const uint8_t> bytes(reinterpret_cast<const uint8_t*>(encoded.data()), encoded.size());
  BlobId id = Sha256(bytes);
  RETURN_IF_ERROR(ctx.sink.Put(thread, id, BlobType::kPagePatch, bytes));
  work.chunks[plan.chunk] = ChunkRef{parent.id, parent.length, id};
  ctx.read_bytes += total;
  ++ctx.patched_chunks;
  ReportBytes(ctx.progress, total);
  return Status::Ok();
}

Status ReadPatches(ReadContext& ctx, FileWork& work, const PatchTask& task, unsigned thread,
                   PatchBuffers& b) {
  if (work.vanished.load()) return Status::Ok();
  ASSIGN_OR_RETURN(std::unique_ptr<SourceFile> file, OpenSource(ctx.tree, work));
  if (!file) return Status::Ok();
  for (size_t i = task.first; i < task.first + task.count; ++i) {
    RETURN_IF_ERROR(ReadPatch(ctx, work, work.patches[i], *file, thread, b));
  }
  return Status::Ok();
}

// Takes a file's filled slots as its chunk list, cut where a read came up short.
std::vector<ChunkRef> CollectChunks(FileWork& work, uint32_t chunk_size) {
  uint64_t size = std::min(work.entry->size, work.cut.load());
  size_t count = (size + chunk_size - 1) / chunk_size;
  work.entry->size = size;
  work.chunks.resize(std::min(count, work.chunks.size()));
  return std::move(work.chunks);
}

Result<std::optional<Manifest>> FindParent(const Repository& repo, const CreateOptions& o,
                                           const std::string& source) {
  if (!o.parent.empty()) {
    ASSIGN_OR_RETURN(Manifest m, repo.FindSnapshot(o.parent));
    return std::optional<Manifest>(std::move(m));
  }
  ASSIGN_OR_RETURN(auto all, repo.ListSnapshotHeaders());
  for (const Manifest& m : all) {  // newest first
    if (m.source == source && m.kind == SnapshotKind::kRepository) {
      ASSIGN_OR_RETURN(Manifest parent, repo.LoadSnapshot(m.id));
      return std::optional<Manifest>(std::move(parent));
    }
  }
  return std::optional<Manifest>();
}

bool SameFile(const TreeEntry& a, const TreeEntry& b) {
  return a.type == EntryType::kFile && b.type == EntryType::kFile && a.size == b.size &&
         a.mtime_ns == b.mtime_ns && a.ctime_ns == b.ctime_ns && a.inode == b.inode;
}

void CountEntries(Manifest& m) {
  m.stats.files = m.stats.directories = m.stats.symlinks = m.stats.logical_bytes = 0;
  for (const TreeEntry& e : m.entries) {
    if (e.type == EntryType::kFile) {
      ++m.stats.files;
      m.stats.logical_bytes += e.size;
    } else if (e.type == EntryType::kDirectory) {
      ++m.stats.directories;
    } else {
      ++m.stats.symlinks;
    }
  }
}

void DropEntries(std::vector<TreeEntry>& entries, const std::unordered_set<std::string>& gone) {
  if (gone.empty()) return;
  std::erase_if(entries, [&](const TreeEntry& e) { return gone.count(e.path) > 0; });
}

// Validates and places extra files into the manifest (replacing entries of the same path).
Result<std::vector<TreeEntry*>> MergeExtraFiles(Manifest& m, const std::vector<ExtraFile>& extras) {
  std::unordered_map<std::string, size_t> index;
  for (size_t i = 0; i < m.entries.size(); ++i) index.emplace(m.entries[i].path, i);
  int64_t now = NowUnixNs();
  for (const ExtraFile& x : extras) {
    if (!IsSafeRelativePath(x.path) || x.path == ".") {
      return Status::InvalidArgument(fmt::format("extra file path '{}' is not safe", x.path));
    }
    auto slash = x.path.rfind('/');
    std::string parent = slash == std::string::npos ? "." : x.path.substr(0, slash);
    auto p = index.find(parent);
    if (p == index.end() || m.entries[p->second].type != EntryType::kDirectory) {
      return Status::InvalidArgument(
          fmt::format("extra file '{}' has no parent directory in the snapshot", x.path));
    }
    TreeEntry e;
    e.path = x.path;
    e.type = EntryType::kFile;
    e.mode = x.mode;
    e.uid = x.uid;
    e.gid = x.gid;
    e.mtime_ns = e.ctime_ns = now;
    auto it = index.find(x.path);
    if (it != index.end()) {
      m.entries[it->second] = std::move(e);
    } else {
      index.emplace(x.path, m.entries.size());
      m.entries.push_back(std::move(e));
    }
  }
  std::sort(m.entries.begin(), m.entries.end(),
            [](const TreeEntry& a, const TreeEntry& b) { return EntryPathLess(a.path, b.path); });
  std::vector<TreeEntry*> placed;
  for (const ExtraFile& x : extras) {
    auto it = std::lower_bound(
        m.entries.begin(), m.entries.end(), x.path,
        [](const TreeEntry& e, const std::string& path) { return EntryPathLess(e.path, path); });
    placed.push_back(&*it);
  }
  return placed;
}

// An extra file read from a path the tenant can write (a WAL segment) is at most this.
constexpr uint64_t kMaxExtraFileBytes = 1ull << 32;

Result<std::string> ExtraFileContent(const ExtraFile& x) {
  if (x.source_path.empty()) return x.content;
  return ReadFileToString(x.source_path, kMaxExtraFileBytes);
}

// Stores extra files' content in the repository and completes their entries. A WAL
// segment is 16 MiB written after the backup's stop: its chunks are read, hashed and
// stored on every core, each into its thread's buffer (no copy of the whole file).
Status StoreExtraFiles(Repository& repo, BlobSink& sink, Manifest& m,
                       const std::vector<ExtraFile>& extras, unsigned threads) {
  ASSIGN_OR_RETURN(std::vector<TreeEntry*> placed, MergeExtraFiles(m, extras));
  const uint32_t chunk_size = repo.config().chunk_size;
  std::vector<std::vector<uint8_t>> buffers(threads);
  for (size_t i = 0; i < extras.size(); ++i) {
    const ExtraFile& x = extras[i];
    std::optional<UniqueFd> source;
    uint64_t size = x.content.size();
    if (!x.source_path.empty()) {
      ASSIGN_OR_RETURN(source, OpenFile(x.source_path, O_RDONLY));
      struct stat st;
      if (::fstat(source->get(), &st) != 0) return ErrnoStatus("stat", x.source_path, errno);
      if (!S_ISREG(st.st_mode)) {
        return Status::InvalidArgument(fmt::format("'{}' is not a regular file", x.source_path));
      }
      size = static_cast<uint64_t>(st.st_size);
      if (size > kMaxExtraFileBytes) {
        return Status::InvalidArgument(
            fmt::format("'{}' is {} bytes, more than the {} an extra file may hold", x.source_path,
                        size, kMaxExtraFileBytes));
      }
    }
    TreeEntry& e = *placed[i];
    e.size = size;
    if (size == 0) continue;
    std::vector<ChunkRef> chunks((size + chunk_size - 1) / chunk_size);
    RETURN_IF_ERROR(ParallelFor(chunks.size(), threads, [&](size_t c, unsigned t) -> Status {
      uint64_t pos = uint64_t{c} * chunk_size;
      size_t len = static_cast<size_t>(std::min<uint64_t>(chunk_size, size - pos));
      std::span<const uint8_t> data;
      if (source) {
        buffers[t].resize(len);
        ASSIGN_OR_RETURN(size_t n,
                         PreadFull(source->get(), buffers[t].data(), len, pos, x.source_path));
        if (n != len) {
          return Status::FailedPrecondition(
              fmt::format("'{}' shrank while it was stored", x.source_path));
        }
        data = buffers[t];
      } else {
        data = {reinterpret_cast<const uint8_t*>(x.content.data()) + pos, len};
      }
      chunks[c] = {Sha256(data), static_cast<uint32_t>(len), std::nullopt};
      return sink.Put(t, chunks[c].id, BlobType::kData, data);
    }));
    std::string list = EncodeChunkList(chunks);
    std::span<const uint8_t> bytes(reinterpret_cast<const uint8_t*>(list.data()), list.size());
    BlobId id = Sha256(bytes);
    RETURN_IF_ERROR(sink.Put(0, id, BlobType::kChunkList, bytes));
    e.chunks = id;
  }
  return Status::Ok();
}

// What to do with each chunk of a changed file when the change map names `ranges`: the
// chunks the parent does not have whole (the file grew or shrank there) are read whole
// (true); the chunks the ranges touch get a patch plan in `work.patches`; every other slot
// of `work` gets the parent's chunk.
std::vector<bool> PlanChunks(const std::vector<ByteRange>& ranges, FileWork& work,
                             uint32_t chunk_size) {
  const uint64_t size = work.entry->size;
  const size_t count = work.chunks.size();
  std::vector<std::vector<PatchRange>> touched(count);
  for (const ByteRange& r : ranges) {
    uint64_t end = std::min<uint64_t>(r.offset + r.length, size);
    for (uint64_t at = r.offset; at < end;) {
      uint64_t c = at / chunk_size, chunk_end = std::min<uint64_t>((c + 1) * chunk_size, end);
      touched[c].push_back(
          {static_cast<uint32_t>(at - c * chunk_size), static_cast<uint32_t>(chunk_end - at)});
      at = chunk_end;
    }
  }
  std::vector<bool> read(count, false);
  for (size_t c = 0; c < count; ++c) {
    uint32_t length = static_cast<uint32_t>(std::min<uint64_t>(chunk_size, size - c * chunk_size));
    if (c >= work.parent_chunks.size() || work.parent_chunks[c].length != length) {
      read[c] = true;
    } else if (!touched[c].empty()) {
      work.patches.push_back({c, MergeRanges(std::move(touched[c]))});
    } else {
      work.chunks[c] = work.parent_chunks[c];
    }
  }
  return read;
}

// The checking mode: every chunk of a file read by the map, as the snapshot stores it,
// against the source now; a difference is explained by the map (changed after the
// snapshot began) or a miss, returned as a warning.
Status CheckAgainstSource(const Repository& repo, SourceTree& tree, const ChangeMap& map,
                          const TreeEntry& e, std::mutex& mutex, std::vector<std::string>& misses) {
  auto file = tree.Open(e.path);
  if (!file.ok() || !e.chunks) return Status::Ok();  // gone since: the database's log says why
  BlobCodec codec;
  ASSIGN_OR_RETURN(std::vector<ChunkRef> chunks, repo.ReadChunkList(*e.chunks, codec));
  std::vector<uint8_t> stored, now;
  uint64_t offset = 0;
  for (const ChunkRef& c : chunks) {
    // What was just stored does not read back: the repository's damage, not the map's.
    RETURN_IF_ERROR(repo.ReadChunk(c, codec, stored)
                        .WithContext(fmt::format("checking '{}' at offset {}", e.path, offset)));
    now.resize(c.length);
    ASSIGN_OR_RETURN(size_t n, (*file)->Read(now.data(), c.length, offset));
    now.resize(n);
    if (now != stored && !map.DifferenceExplained(e.path, offset, stored, now)) {
      std::lock_guard lock(mutex);
      misses.push_back(
          fmt::format("the change map left out a change to '{}' at offset {}", e.path, offset));
    }
    offset += c.length;
  }
  return Status::Ok();
}

// Runs CheckAgainstSource on the `checked` files of `m` (made and published), counting the
// misses in its stats and warnings. Reads the repository's new blobs: after FinishAll.
Status CheckChangeMap(const Repository& repo, SourceTree& tree, const ChangeMap& map,
                      const std::vector<std::string>& checked, unsigned threads, Manifest& m) {
  std::unordered_set<std::string> wanted(checked.begin(), checked.end());
  std::vector<const TreeEntry*> entries;
  for (const TreeEntry& e : m.entries) {
    if (wanted.count(e.path)) entries.push_back(&e);
  }
  std::mutex mutex;
  std::vector<std::string> misses;
  RETURN_IF_ERROR(ParallelFor(entries.size(), threads, [&](size_t i, unsigned) {
    return CheckAgainstSource(repo, tree, map, *entries[i], mutex, misses);
  }));
  std::sort(misses.begin(), misses.end());
  m.stats.change_map_misses = misses.size();
  for (std::string& miss : misses) m.warnings.push_back(std::move(miss));
  return Status::Ok();
}

Status CreateRepositorySnapshot(Repository& repo, SourceTree& tree, const CreateOptions& o,
                                Manifest& m) {
  const uint32_t chunk_size = repo.config().chunk_size;
  const uint64_t range_size = RangeSize(chunk_size);
  unsigned threads = ResolveThreads(o.threads);
  ASSIGN_OR_RETURN(auto parent, FindParent(repo, o, m.source));
  std::unordered_map<std::string, const TreeEntry*> parent_files;
  if (parent) {
    m.parent = parent->id;
    for (const TreeEntry& e : parent->entries) {
      if (e.type == EntryType::kFile) parent_files.emplace(e.path, &e);
    }
  }

  std::unique_ptr<ChangeMap> map;
  if (parent && o.change_map) {
    ChangeMapOffer offer = o.change_map(*parent);
    map = std::move(offer.map);
    if (!map && !offer.why_not.empty()) {
      m.warnings.push_back("changed files were read whole: " + offer.why_not);
    }
  }

  std::vector<std::unique_ptr<FileWork>> files;
  std::vector<RangeTask> tasks;
  std::vector<PatchTask> patch_tasks;
  std::vector<std::string> checked;       // check_change_map: the files the map was asked for
  uint64_t planned = 0;                   // bytes to read
  std::vector<const TreeEntry*> befores;  // per changed file: its entry in the parent
  for (TreeEntry& e : m.entries) {
    if (e.type != EntryType::kFile || e.size == 0) continue;
    auto it = parent_files.find(e.path);
    const TreeEntry* before = it == parent_files.end() ? nullptr : it->second;
    if (!o.full_read && before && SameFile(*before, e) && before->chunks &&
        repo.HasBlob(*before->chunks)) {
      e.chunks = before->chunks;
      ++m.stats.reused_files;
      continue;
    }
    files.push_back(std::make_unique<FileWork>());
    files.back()->entry = &e;
    befores.push_back(before);
  }
  // The parents' chunk lists, on every core (a 1 GiB file's is 590 KB): the delta bases of
  // the changed chunks; without them chunks are stored whole.
  std::vector<BlobCodec> codecs(threads);
  RETURN_IF_ERROR(ParallelFor(files.size(), threads, [&](size_t i, unsigned t) {
    if (!befores[i] || !befores[i]->chunks) return Status::Ok();
    auto list = repo.ReadChunkList(*befores[i]->chunks, codecs[t]);
    if (list.ok()) {
      files[i]->parent_chunks = std::move(list.value());
      files[i]->parent_list = befores[i]->chunks;
    }
    return Status::Ok();
  }));
  for (size_t f = 0; f < files.size(); ++f) {
    FileWork* work = files[f].get();
    const TreeEntry& e = *work->entry;
    const TreeEntry* before = befores[f];
    const size_t count = (e.size + chunk_size - 1) / chunk_size;
    work->chunk_count = count;
    std::vector<bool> read(count, true);
    const size_t tasks_before = tasks.size(), patch_tasks_before = patch_tasks.size();
    // The map names byte ranges, and PlanChunks finds their chunks by offset: only in a
    // parent list of this repository's chunk size (one kept from a snapshot pulled from a
    // repository of another size is read whole).
    if (map && !o.full_read && OfChunkSize(work->parent_chunks, chunk_size)) {
      if (auto ranges = map->ChangedRanges(e, *before)) {
        work->chunks.resize(count);  // PlanChunks fills the unchanged chunks' slots
        read = PlanChunks(*ranges, *work, chunk_size);
        ++m.stats.partial_files;
        if (o.check_change_map) checked.push_back(e.path);
        for (size_t p = 0; p < work->patches.size(); p += kPatchesPerTask) {
          patch_tasks.push_back({f, p, std::min(kPatchesPerTask, work->patches.size() - p)});
        }
        for (const PatchPlan& plan : work->patches) {
          for (const PatchRange& r : plan.ranges) planned += r.length;
        }
      }
    }
    // Runs of chunks to read, cut into ranges of at most range_size.
    for (size_t c = 0; c < count;) {
      if (!read[c]) {
        ++c;
        continue;
      }
      size_t end = c;
      while (end < count && read[end] && (end - c + 1) * chunk_size <= range_size) ++end;
      uint64_t off = uint64_t{c} * chunk_size;
      uint64_t length = std::min<uint64_t>(uint64_t{end} * chunk_size, e.size) - off;
      tasks.push_back({f, off, length});
      planned += length;
      c = end;
    }
    work->tasks_left = (tasks.size() - tasks_before) + (patch_tasks.size() - patch_tasks_before);
  }
  if (o.progress) o.progress->total_bytes = planned;

  BlobSink sink(repo, threads);
  std::vector<std::vector<uint8_t>> buffers(threads);
  ReadContext ctx{repo, tree, chunk_size, sink, o.progress};
  // A file's chunk list, stored as soon as the file is read (by the thread that read its
  // last part) or, for a file with nothing to read, at the end: a large file's is encoded,
  // hashed and stored as a delta of its parent's.
  auto store_list = [&](FileWork& work, unsigned t) -> Status {
    work.listed = true;
    std::vector<ChunkRef> chunks = CollectChunks(work, chunk_size);  // takes the slots
    std::vector<ChunkRef>().swap(work.parent_chunks);
    // A vanished file is dropped from the snapshot; one truncated to nothing has no list.
    if (work.vanished || chunks.empty()) return Status::Ok();
    std::string list = EncodeChunkList(chunks);
    std::span<const uint8_t> bytes(reinterpret_cast<const uint8_t*>(list.data()), list.size());
    BlobId id = Sha256(bytes);
    RETURN_IF_ERROR(sink.Put(t, id, BlobType::kChunkList, bytes, work.parent_list));
    work.entry->chunks = id;
    return Status::Ok();
  };
  auto list_file = [&](FileWork& work, unsigned t) -> Status {
    const bool large = work.chunk_count >= kLargeListChunks;
    Status st = store_list(work, t);
    // A large file's slots, list and its encodings are freed by now (chunk_list.h).
    if (large) ::malloc_trim(0);
    return st;
  };
  auto task_done = [&](FileWork& work, unsigned t) -> Status {
    return work.tasks_left.fetch_sub(1) == 1 ? list_file(work, t) : Status::Ok();
  };
  RETURN_IF_ERROR(ParallelFor(tasks.size(), threads, [&](size_t i, unsigned t) {
    const RangeTask& task = tasks[i];
    RETURN_IF_ERROR(ReadRange(ctx, *files[task.file], task, t, buffers[t]));
    return task_done(*files[task.file], t);
  }));
  std::vector<std::unique_ptr<PatchBuffers>> patch_buffers;
  for (unsigned t = 0; t < threads; ++t) patch_buffers.push_back(std::make_unique<PatchBuffers>());
  RETURN_IF_ERROR(ParallelFor(patch_tasks.size(), threads, [&](size_t i, unsigned t) {
    const PatchTask& task = patch_tasks[i];
    RETURN_IF_ERROR(ReadPatches(ctx, *files[task.file], task, t, *patch_buffers[t]));
    return task_done(*files[task.file], t);
  }));
  m.stats.read_bytes = ctx.read_bytes.load();
  m.stats.patched_chunks = ctx.patched_chunks.load();

  // The files with nothing read (every chunk taken from the parent), on every core.
  RETURN_IF_ERROR(ParallelFor(files.size(), threads, [&](size_t i, unsigned t) -> Status {
    return files[i]->listed ? Status::Ok() : list_file(*files[i], t);
  }));
  std::unordered_set<std::string> vanished;
  for (auto& work : files) {
    if (!work->vanished) continue;
    vanished.insert(work->entry->path);
    m.warnings.push_back(fmt::format("file '{}' vanished during the snapshot", work->entry->path));
  }
  DropEntries(m.entries, vanished);  // before the pointers into entries go stale
  files.clear();
  if (o.before_commit) {
    ASSIGN_OR_RETURN(BeforeCommitResult extra, o.before_commit(m.entries));
    m.annotations = std::move(extra.annotations);
    RETURN_IF_ERROR(StoreExtraFiles(repo, sink, m, extra.files, threads));
  }
  RETURN_IF_ERROR(sink.FinishAll());
  auto [blobs, bytes] = sink.Stored();
  m.stats.new_blobs = blobs;
  m.stats.stored_bytes = bytes;
  if (!checked.empty()) RETURN_IF_ERROR(CheckChangeMap(repo, tree, *map, checked, threads, m));
  return Status::Ok();
}

Status CreateThinSnapshot(Repository& repo, const std::string& source, const CreateOptions& o,
                          Manifest& m) {
  std::string final_tree = repo.ThinTreePath(m.id);
  std::string tree = final_tree + ".tmp";
  RETURN_IF_ERROR(MakeDirs(tree));
  for (const TreeEntry& e : m.entries) {
    if (e.type == EntryType::kDirectory && e.path != ".") {
      RETURN_IF_ERROR(MakeDirs(JoinPath(tree, e.path)));
    }
  }
  std::vector<TreeEntry*> files;
  for (TreeEntry& e : m.entries) {
    if (e.type == EntryType::kFile) files.push_back(&e);
  }
  if (o.progress) o.progress->total_bytes = m.stats.logical_bytes;
  std::mutex gone_mutex;
  std::unordered_set<std::string> vanished;
  RETURN_IF_ERROR(ParallelFor(files.size(), o.threads, [&](size_t i, unsigned) -> Status {
    TreeEntry& e = *files[i];
    std::string src = JoinPath(source, e.path);
    std::string dst = JoinPath(tree, e.path);
    auto in = OpenForReading(src);
    if (!in.ok() && in.status().code() == StatusCode::kNotFound) {
      std::lock_guard lock(gone_mutex);
      vanished.insert(e.path);
      return Status::Ok();
    }
    if (!in.ok()) return in.status();
    ASSIGN_OR_RETURN(UniqueFd out, OpenFile(dst, O_WRONLY | O_CREAT | O_EXCL, 0600));
    RETURN_IF_ERROR(CloneFile(in->get(), out.get(), dst));
    struct stat st;  // the clone is what the snapshot holds, whatever the scan saw
    if (::fstat(out.get(), &st) != 0) return ErrnoStatus("stat", dst, errno);
    e.size = static_cast<uint64_t>(st.st_size);
    ReportBytes(o.progress, e.size);
    return Status::Ok();
  }));
  for (const std::string& path : vanished) {
    m.warnings.push_back(fmt::format("file '{}' vanished during the snapshot", path));
  }
  DropEntries(m.entries, vanished);
  if (o.before_commit) {
    ASSIGN_OR_RETURN(BeforeCommitResult extra, o.before_commit(m.entries));
    m.annotations = std::move(extra.annotations);
    const std::vector<ExtraFile>& extras = extra.files;
    ASSIGN_OR_RETURN(std::vector<TreeEntry*> placed, MergeExtraFiles(m, extras));
    for (size_t i = 0; i < extras.size(); ++i) {
      const ExtraFile& x = extras[i];
      std::string dst = JoinPath(tree, x.path);
      ::unlink(dst.c_str());  // a clone of the same path is replaced
      if (x.take_source && !x.source_path.empty()) {
        struct stat st;
        if (::lstat(x.source_path.c_str(), &st) == 0 && S_ISREG(st.st_mode) &&
            ::rename(x.source_path.c_str(), dst.c_str()) == 0) {
          placed[i]->size = static_cast<uint64_t>(st.st_size);
          continue;
        }
        // Another filesystem (EXDEV) or gone: copied below, or the read fails clearly.
      }
      ASSIGN_OR_RETURN(std::string content, ExtraFileContent(x));
      placed[i]->size = content.size();
      ASSIGN_OR_RETURN(UniqueFd out, OpenFile(dst, O_WRONLY | O_CREAT | O_EXCL, 0600));
      RETURN_IF_ERROR(WriteAll(out.get(), content, dst));
    }
  }
  // One syncfs makes every clone durable; then the tree gets its final name.
  ASSIGN_OR_RETURN(UniqueFd dir, OpenFile(tree, O_RDONLY | O_DIRECTORY));
  if (::syncfs(dir.get()) != 0) return ErrnoStatus("syncfs", tree, errno);
  if (::rename(tree.c_str(), final_tree.c_str()) != 0) {
    return ErrnoStatus("rename", tree, errno);
  }
  return FsyncDir(DirName(final_tree));
}

bool ThinPossible(const Repository& repo, const std::string& source,
                  const std::vector<TreeEntry>& entries) {
  for (const TreeEntry& e : entries) {
    if (e.type == EntryType::kFile && e.size > 0) {
      return ReflinkWorks(JoinPath(source, e.path), repo.TmpDir());
    }
  }
  return false;  // nothing to clone: a repository snapshot costs nothing either
}

}  // namespace

Result<Manifest> CreateSnapshot(Repository& repo, const CreateOptions& o) {
  auto start = std::chrono::steady_clock::now();
  ASSIGN_OR_RETURN(WriteLock lock, repo.LockForWrite());
  std::optional<LocalSourceTree> local;
  if (!o.tree) {
    std::error_code ec;
    std::string source = std::filesystem::absolute(o.source, ec).lexically_normal().string();
    if (ec || source.empty()) return Status::InvalidArgument("bad source path '" + o.source + "'");
    if (source.size() > 1 && source.back() == '/') source.pop_back();
    local.emplace(std::move(source));
  }
  SourceTree& tree = o.tree ? *o.tree : *local;
  const std::string source = tree.local_root();
  if (source.empty() && o.check_change_map) {
    // The check reads the source after before_commit, which ends what served it.
    return Status::InvalidArgument("a change map is checked against a local source only");
  }

  Manifest m;
  m.id = RandomHex(8);
  m.name = o.name;
  m.source = tree.identity();
  m.chunk_size = repo.config().chunk_size;
  ASSIGN_OR_RETURN(ScanResult scan, tree.Scan(o.filter));
  m.entries = std::move(scan.entries);
  m.warnings = std::move(scan.warnings);
  CountEntries(m);
  if (o.progress) o.progress->total_files = m.stats.files;

  bool thin = false;
  if (o.mode != SnapshotMode::kRepository && !source.empty()) {
    thin = ThinPossible(repo, source, m.entries);
  }
  if (o.mode == SnapshotMode::kThin && !thin) {
    return Status::FailedPrecondition(
        fmt::format("reflink clones from '{}' into '{}' do not work", m.source, repo.path()),
        "put the repository on the same XFS (reflink=1) or btrfs filesystem as the source, "
        "or use --mode repository");
  }
  if (thin) {
    m.kind = SnapshotKind::kThin;
    RETURN_IF_ERROR(CreateThinSnapshot(repo, source, o, m));
  } else {
    RETURN_IF_ERROR(CreateRepositorySnapshot(repo, tree, o, m));
  }
  CountEntries(m);
  m.created_unix_ns = NowUnixNs();
  m.stats.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  RETURN_IF_ERROR(repo.CommitSnapshot(m));
  for (const std::string& w : m.warnings) spdlog::warn("snapshot {}: {}", m.id, w);
  return m;
}

}  // namespace dbaas::storage
