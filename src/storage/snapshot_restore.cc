#include "storage/snapshot_restore.h"

#include <fcntl.h>
#include <malloc.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <filesystem>
#include <memory>
#include <mutex>
#include <unordered_map>

#include <fmt/format.h>

#include "base/aligned_buffer.h"
#include "base/files.h"
#include "base/log.h"
#include "base/parallel.h"
#include "storage/blob_codec.h"
#include "storage/chunk_list.h"
#include "storage/reflink.h"
#include "storage/tree_scan.h"

namespace dbaas::storage {
namespace {

constexpr uint64_t kRangeBytes = 4ull << 20;
// Files at least this large are written with O_DIRECT when the restore is to be durable;
// smaller ones (most of a data directory's files, few of its bytes) go through the page
// cache, where one syncfs at the end writes them together.
constexpr uint64_t kDirectAtLeast = 1ull << 20;

// A file's chunk list and where each chunk starts. Every chunk but a file's last has the
// chunk size of the snapshot that made the list, usually this snapshot's; a list kept from
// a parent made with another chunk size (a snapshot pulled from elsewhere) has its own, and
// its chunks are then found by their offsets.
struct FileChunks {
  std::vector<ChunkRef> chunks;
  std::vector<uint64_t> starts;  // each chunk's offset; empty when all are of `uniform` size
  uint64_t uniform = 0;

  // The first chunk that starts at or after `offset`.
  size_t FirstAtOrAfter(uint64_t offset) const {
    if (starts.empty()) return static_cast<size_t>((offset + uniform - 1) / uniform);
    return static_cast<size_t>(std::lower_bound(starts.begin(), starts.end(), offset) -
                               starts.begin());
  }
  uint64_t StartOf(size_t c) const { return starts.empty() ? c * uniform : starts[c]; }
};

struct FileTask {
  const TreeEntry* entry;
  bool direct = false;  // written with O_DIRECT
  // Writes into one file are serialized by the filesystem anyway (ext4 takes the inode's
  // lock for each buffered write); waiting here sleeps where the kernel's lock spun, a
  // fifth of a restore's CPU, so the other thread decodes its next range meanwhile.
  std::shared_ptr<std::mutex> write_mutex = std::make_shared<std::mutex>();
  // The file's chunk list, read by the first of its ranges to be written and let go by the
  // last: a restore holds the lists of the files being written, not of the whole tree (at
  // pgbench scale 700, 196,000 chunks: 14 MB held for the whole restore).
  std::shared_ptr<std::mutex> list_mutex = std::make_shared<std::mutex>();
  std::shared_ptr<const FileChunks> chunks;
  uint64_t range_count = 0;  // its ranges (0: nothing to write)
  std::shared_ptr<std::atomic<uint64_t>> ranges_left = std::make_shared<std::atomic<uint64_t>>(0);
};

// A range of one file: the chunks that start in [offset, end), about kRangeBytes.
struct ChunkRange {
  size_t file;
  uint64_t offset;
  uint64_t end;
};

struct ThreadState {
  BlobCodec codec;
  std::vector<uint8_t> blob;
  AlignedBuffer range;
  std::vector<uint8_t> existing;
};

class Restorer {
 public:
  Restorer(const Repository& repo, const Manifest& m, const RestoreOptions& o)
      : repo_(repo), m_(m), o_(o), threads_(ResolveThreads(o.threads)) {
    for (unsigned t = 0; t < threads_; ++t) state_.push_back(std::make_unique<ThreadState>());
  }

  Status Run() {
    if (m_.kind != SnapshotKind::kThin) RETURN_IF_ERROR(CheckLists());
    if (o_.delta) RETURN_IF_ERROR(RemoveExtraneous());
    RETURN_IF_ERROR(MakeDirectories());
    if (m_.kind == SnapshotKind::kThin) {
      RETURN_IF_ERROR(CloneFiles());
    } else {
      RETURN_IF_ERROR(WriteFiles());
    }
    RETURN_IF_ERROR(MakeSymlinks());
    RETURN_IF_ERROR(ApplyMetadata());
    if (o_.sync) {
      ASSIGN_OR_RETURN(UniqueFd dir, OpenFile(o_.target, O_RDONLY | O_DIRECTORY));
      if (::syncfs(dir.get()) != 0) return ErrnoStatus("syncfs", o_.target, errno);
    }
    return Status::Ok();
  }

  RestoreStats stats() const {
    RestoreStats s = stats_;
    s.bytes_written = written_.load();
    s.bytes_direct = direct_written_.load();
    s.bytes_unchanged = unchanged_.load();
    s.files_cloned = cloned_.load();
    return s;
  }

 private:
  std::string Target(const std::string& rel) const {
    return rel == "." ? o_.target : JoinPath(o_.target, rel);
  }

  Status RemoveExtraneous() {
    std::unordered_map<std::string, EntryType> wanted;
    for (const TreeEntry& e : m_.entries) wanted.emplace(e.path, e.type);
    ASSIGN_OR_RETURN(ScanResult existing, ScanTree(o_.target));
    // Children before parents; symlinks always go (they are recreated), so nothing is ever
    // written through a link that was in the target.
    for (auto it = existing.entries.rbegin(); it != existing.entries.rend(); ++it) {
      if (it->path == ".") continue;
      auto w = wanted.find(it->path);
      if (w != wanted.end() && w->second == it->type && it->type != EntryType::kSymlink) {
        continue;
      }
      RETURN_IF_ERROR(RemoveTree(Target(it->path)));
      ++stats_.entries_removed;
    }
    return Status::Ok();
  }

  Status MakeDirectories() {
    for (const TreeEntry& e : m_.entries) {
      if (e.type != EntryType::kDirectory || e.path == ".") continue;
      std::string path = Target(e.path);
      if (::mkdir(path.c_str(), 0700) != 0 && !(o_.delta && errno == EEXIST)) {
        return ErrnoStatus("mkdir", path, errno);
      }
    }
    return Status::Ok();
  }

  // Creates (or, delta, opens) a target file; a delta restore also gives it its final size.
  Result<UniqueFd> OpenTarget(const TreeEntry& e, int flags) {
    std::string path = Target(e.path);
    int create = o_.delta ? O_CREAT : (O_CREAT | O_EXCL);
    ASSIGN_OR_RETURN(UniqueFd fd, OpenFile(path, flags | create | O_NOFOLLOW, 0600));
    // A new file grows as its chunks are written (pre-sizing it made ext4 work harder on
    // every write); an existing one (delta) is cut or extended to its final size.
    if (o_.delta && ::ftruncate(fd.get(), static_cast<off_t>(e.size)) != 0) {
      return ErrnoStatus("truncate", path, errno);
    }
    return fd;
  }

  // Before anything in the target changes: a chunk size, and every file with bytes has a
  // chunk list the repository holds (each list's content is checked as it is read).
  Status CheckLists() const {
    if (m_.chunk_size == 0) {
      return Status::Corruption(fmt::format("snapshot {} has no chunk size", m_.id));
    }
    for (const TreeEntry& e : m_.entries) {
      if (e.type != EntryType::kFile) continue;
      if (e.size > 0 && !e.chunks) {
        return Status::Corruption(fmt::format("'{}' has {} bytes but no chunk list in snapshot {}",
                                              e.path, e.size, m_.id));
      }
      if (!e.chunks) continue;
      auto list = repo_.FindBlob(*e.chunks);
      if (!list.ok()) return list.status().WithContext(fmt::format("'{}'", e.path));
      if (!list->has_value()) {
        return Status::Corruption(fmt::format(
            "the chunk list of '{}' ({}) is not in the repository", e.path, e.chunks->Hex()));
      }
    }
    return Status::Ok();
  }

  Status WriteFiles() {
    std::vector<FileTask> files;
    for (const TreeEntry& e : m_.entries) {
      if (e.type == EntryType::kFile) {
        FileTask f;
        f.entry = &e;
        f.direct = o_.sync && !o_.delta && e.size >= kDirectAtLeast;
        files.push_back(std::move(f));
      }
    }
    stats_.files = files.size();
    const uint64_t chunk_size = m_.chunk_size;
    // Ranges cut from the files' sizes, counted rather than listed (a range is found from its
    // number): large files' first, then small files', so that the data of the large files is
    // written while the files are being created (see CreateFiles).
    const uint64_t range_bytes = std::max<uint64_t>(1, kRangeBytes / chunk_size) * chunk_size;
    std::vector<size_t> order;
    for (size_t i = 0; i < files.size(); ++i) {
      if (files[i].entry->size > kRangeBytes) order.push_back(i);
    }
    for (size_t i = 0; i < files.size(); ++i) {
      if (files[i].entry->size <= kRangeBytes) order.push_back(i);
    }
    std::vector<uint64_t> first_item(order.size() + 1, 0);  // of each file in `order`
    uint64_t total_bytes = 0;
    for (size_t k = 0; k < order.size(); ++k) {
      FileTask& f = files[order[k]];
      f.range_count = (f.entry->size + range_bytes - 1) / range_bytes;
      *f.ranges_left = f.range_count;
      // An empty file is one item: it is created, nothing written.
      first_item[k + 1] = first_item[k] + std::max<uint64_t>(1, f.range_count);
      total_bytes += f.entry->size;
    }
    if (o_.progress) o_.progress->total_bytes = total_bytes;
    // Item 0 creates the files; the others are the ranges, each waiting for its file.
    FileStates states(files.size());
    return ParallelFor(first_item.back() + 1, threads_, [&](size_t i, unsigned t) -> Status {
      if (i == 0) return CreateFiles(files, order, states);
      const uint64_t item = i - 1;
      const size_t k = static_cast<size_t>(
          std::upper_bound(first_item.begin(), first_item.end(), item) - first_item.begin() - 1);
      const size_t file = order[k];
      const uint64_t offset = (item - first_item[k]) * range_bytes;
      const ChunkRange r{file, offset, std::min(offset + range_bytes, files[file].entry->size)};
      states.Wait(r.file);
      if (states.Failed(r.file)) return Status::Ok();  // CreateFiles or a writer says why
      Status written = WriteRange(files[r.file], r, *state_[t]);
      if (!written.ok()) states.Abandon();
      return written;
    });
  }

  // The chunk list of `f`, read by the first range to ask for it, and checked: its chunks
  // add up to the file's size; where each starts is kept unless all but the last have the
  // snapshot's chunk size.
  Result<std::shared_ptr<const FileChunks>> ChunksOf(FileTask& f, ThreadState& st) {
    std::lock_guard lock(*f.list_mutex);
    if (f.chunks) return f.chunks;
    auto fc = std::make_shared<FileChunks>();
    ASSIGN_OR_RETURN(fc->chunks, repo_.ReadChunkList(*f.entry->chunks, st.codec));
    const std::vector<ChunkRef>& chunks = fc->chunks;
    uint64_t total = 0;
    for (const ChunkRef& c : chunks) total += c.length;
    if (total != f.entry->size) {
      return Status::Corruption(fmt::format("chunks of '{}' add up to {} bytes, not {}",
                                            f.entry->path, total, f.entry->size));
    }
    fc->uniform = m_.chunk_size;
    if (!OfChunkSize(chunks, m_.chunk_size)) {
      fc->starts.reserve(chunks.size());
      uint64_t at = 0;
      for (const ChunkRef& c : chunks) {
        fc->starts.push_back(at);
        at += c.length;
      }
    }
    f.chunks = std::move(fc);
    return f.chunks;
  }

  // After a range of `f` is written: the last one lets the file's chunk list go.
  static void RangeDone(FileTask& f) {
    if (f.ranges_left->fetch_sub(1) != 1) return;
    bool large = false;
    {
      std::lock_guard lock(*f.list_mutex);
      large = f.chunks && f.chunks->chunks.size() >= kLargeListChunks;
      f.chunks.reset();
    }
    // As a backup does (snapshot_create.cc): a large file's list given back to the system
    // rather than kept in malloc's heap, where the next one may not fit.
    if (large) ::malloc_trim(0);
  }

  // Whether each file exists yet. One thread creates the files, in the order their ranges
  // will be written, while the others write: creating a file holds its directory's lock
  // (on ext4 without a journal, right after many deletes, for up to a millisecond), so
  // threads creating files side by side would only wait on each other.
  class FileStates {
   public:
    explicit FileStates(size_t count) : states_(count) {}
    void Set(size_t file, uint8_t state) {
      states_[file].store(state);
      states_[file].notify_all();
    }
    void Wait(size_t file) const { states_[file].wait(kPending); }
    bool Created(size_t file) const { return states_[file].load() == kCreated; }
    bool Failed(size_t file) const { return states_[file].load() == kFailed; }
    // A writer failed: the files not created yet will not be (the restore stops).
    void Abandon() { abandoned_ = true; }
    bool abandoned() const { return abandoned_.load(); }
    static constexpr uint8_t kPending = 0, kCreated = 1, kFailed = 2;

   private:
    std::vector<std::atomic<uint8_t>> states_;
    std::atomic<bool> abandoned_{false};
  };

  // Creates the files in `order`, the order their ranges are handed out.
  Status CreateFiles(const std::vector<FileTask>& files, const std::vector<size_t>& order,
                     FileStates& states) {
    Status failed;
    for (size_t file : order) {
      if (failed.ok() && !states.abandoned()) {
        auto fd = OpenTarget(*files[file].entry, O_WRONLY);
        if (!fd.ok()) failed = fd.status();
      }
      bool created = failed.ok() && !states.abandoned();
      states.Set(file, created ? FileStates::kCreated : FileStates::kFailed);
    }
    return failed;
  }

  // Opens a created file to write a range of it. `direct` says whether O_DIRECT is wanted,
  // and is cleared where it does not work.
  Result<UniqueFd> OpenForWrite(const FileTask& f, bool& direct) {
    std::string path = Target(f.entry->path);
    ASSIGN_OR_RETURN(UniqueFd fd, OpenFile(path, (o_.delta ? O_RDWR : O_WRONLY) | O_NOFOLLOW));
    direct = direct && !direct_refused_.load();
    if (direct && !SetDirect(fd.get(), true)) {
      direct_refused_ = true;  // a filesystem without direct I/O: the page cache then
      direct = false;
    }
    return fd;
  }

  static bool SetDirect(int fd, bool on) {
    int flags = ::fcntl(fd, F_GETFL);
    if (flags < 0) return false;
    return ::fcntl(fd, F_SETFL, on ? (flags | O_DIRECT) : (flags & ~O_DIRECT)) == 0;
  }

  // Writes one range. A direct write is padded to the block size at the file's end and the
  // file cut back to its size. Where the filesystem refuses it (EINVAL: alignment it does
  // not allow; EOPNOTSUPP), or the range cannot be written directly, the same bytes go
  // through the page cache; any other error (EIO, ENOSPC) is the restore's.
  Status WriteOut(int fd, bool& direct, const FileTask& f, ThreadState& st, uint64_t offset,
                  const std::string& path) {
    const uint64_t length = st.range.size();
    std::lock_guard lock(*f.write_mutex);
    if (direct && offset % AlignedBuffer::kAlignment == 0 &&
        (length % AlignedBuffer::kAlignment == 0 || offset + length == f.entry->size)) {
      st.range.PadToAlignment();
      int err = PwriteDirect(fd, st.range.span(), offset);
      if (err == 0) {
        direct_written_ += length;
        return CutTo(fd, st.range.size() != length, offset + length, path);
      }
      if (err != EINVAL && err != EOPNOTSUPP) return ErrnoStatus("direct write", path, err);
      direct_refused_ = true;
    }
    if (direct) {
      direct = false;
      if (!SetDirect(fd, false)) return ErrnoStatus("fcntl (O_DIRECT off)", path, errno);
    }
    RETURN_IF_ERROR(PwriteAll(fd, st.range.span(), offset, path));
    return CutTo(fd, st.range.size() != length, offset + length, path);
  }

  // Writes all of `data` at `offset`: 0, or the errno that stopped it.
  static int PwriteDirect(int fd, std::span<const uint8_t> data, uint64_t offset) {
    size_t done = 0;
    while (done < data.size()) {
      ssize_t n =
          ::pwrite(fd, data.data() + done, data.size() - done, static_cast<off_t>(offset + done));
      if (n < 0 && errno == EINTR) continue;
      if (n < 0) return errno;
      if (n == 0) return EIO;
      done += static_cast<size_t>(n);
    }
    return 0;
  }

  // After a padded tail: the file cut back to its size.
  static Status CutTo(int fd, bool padded, uint64_t size, const std::string& path) {
    if (!padded || ::ftruncate(fd, static_cast<off_t>(size)) == 0) return Status::Ok();
    return ErrnoStatus("truncate", path, errno);
  }

  Status WriteRange(FileTask& f, const ChunkRange& r, ThreadState& st) {
    bool direct = f.direct;
    ASSIGN_OR_RETURN(UniqueFd fd, OpenForWrite(f, direct));
    if (f.range_count == 0) return Status::Ok();  // an empty file: created, nothing to write
    ASSIGN_OR_RETURN(std::shared_ptr<const FileChunks> chunks, ChunksOf(f, st));
    RETURN_IF_ERROR(WriteChunks(f, r, *chunks, fd.get(), direct, st));
    chunks.reset();  // so that the last range's RangeDone frees the list there
    RangeDone(f);
    return Status::Ok();
  }

  // Writes the chunks of `r`: those that start in it (the last may run past its end).
  Status WriteChunks(const FileTask& f, const ChunkRange& r, const FileChunks& fc, int fd,
                     bool& direct, ThreadState& st) {
    std::string path = Target(f.entry->path);
    const std::vector<ChunkRef>& chunks = fc.chunks;
    const size_t first = fc.FirstAtOrAfter(r.offset), last = fc.FirstAtOrAfter(r.end);
    if (first >= last) return Status::Ok();  // no chunk starts here (a long one covers it)
    uint64_t offset = fc.StartOf(first);
    st.range.clear();
    uint64_t range_offset = offset;  // where st.range will be written
    auto flush = [&]() -> Status {
      if (st.range.empty()) return Status::Ok();
      uint64_t length = st.range.size();
      RETURN_IF_ERROR(WriteOut(fd, direct, f, st, range_offset, path));
      written_ += length;
      st.range.clear();
      return Status::Ok();
    };
    for (size_t c = first; c < last; ++c) {
      const ChunkRef& chunk = chunks[c];
      bool decoded = false;
      if (o_.delta) {
        st.existing.resize(chunk.length);
        ASSIGN_OR_RETURN(size_t n, PreadFull(fd, st.existing.data(), chunk.length, offset, path));
        bool same = false;
        if (n == chunk.length && !chunk.patch) {
          same = Sha256(st.existing) == chunk.id;
        } else if (n == chunk.length) {  // a patched chunk's id is its base's: compare bytes
          RETURN_IF_ERROR(repo_.ReadChunk(chunk, st.codec, st.blob, BlobCheck::kFrameChecksum));
          decoded = true;
          same = st.existing == st.blob;
        }
        if (same) {
          RETURN_IF_ERROR(flush());
          unchanged_ += chunk.length;
          offset += chunk.length;
          range_offset = offset;
          ReportBytes(o_.progress, chunk.length);
          continue;
        }
      }
      if (!decoded) {
        RETURN_IF_ERROR(repo_.ReadChunk(chunk, st.codec, st.blob, BlobCheck::kFrameChecksum));
      }
      st.range.Append(st.blob);
      offset += chunk.length;
      ReportBytes(o_.progress, chunk.length);
    }
    return flush();
  }

  Status CloneFiles() {
    std::vector<const TreeEntry*> files;
    for (const TreeEntry& e : m_.entries) {
      if (e.type == EntryType::kFile) files.push_back(&e);
    }
    stats_.files = files.size();
    std::string tree = repo_.ThinTreePath(m_.id);
    return ParallelFor(files.size(), threads_, [&](size_t i, unsigned) -> Status {
      const TreeEntry& e = *files[i];
      std::string src = JoinPath(tree, e.path);
      std::string dst = Target(e.path);
      if (o_.delta) ::unlink(dst.c_str());
      ASSIGN_OR_RETURN(UniqueFd in, OpenFile(src, O_RDONLY));
      struct stat st;
      if (::fstat(in.get(), &st) != 0) return ErrnoStatus("stat", src, errno);
      if (static_cast<uint64_t>(st.st_size) != e.size) {
        return Status::Corruption(
            fmt::format("thin snapshot file '{}' has {} bytes, not {}", src, st.st_size, e.size));
      }
      ASSIGN_OR_RETURN(UniqueFd out, OpenFile(dst, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW, 0600));
      if (CloneFile(in.get(), out.get(), dst).ok()) {
        ++cloned_;
      } else {  // another filesystem, or no reflink support: copy
        RETURN_IF_ERROR(CopyFileContents(in.get(), out.get(), e.size, dst));
      }
      written_ += e.size;
      ReportBytes(o_.progress, e.size);
      return Status::Ok();
    });
  }

  Status MakeSymlinks() {
    for (const TreeEntry& e : m_.entries) {
      if (e.type != EntryType::kSymlink) continue;
      std::string path = Target(e.path);
      if (::symlink(e.symlink_target.c_str(), path.c_str()) != 0) {
        return ErrnoStatus("symlink", path, errno);
      }
    }
    return Status::Ok();
  }

  Status ApplyOne(const TreeEntry& e) {
    std::string path = Target(e.path);
    if (is_root_ && ::lchown(path.c_str(), e.uid, e.gid) != 0) {
      return ErrnoStatus("chown", path, errno);
    }
    if (e.type != EntryType::kSymlink && ::chmod(path.c_str(), e.mode) != 0) {
      return ErrnoStatus("chmod", path, errno);
    }
    struct timespec times[2];
    times[0].tv_sec = times[1].tv_sec = e.mtime_ns / 1000000000;
    times[0].tv_nsec = times[1].tv_nsec = e.mtime_ns % 1000000000;
    if (::utimensat(AT_FDCWD, path.c_str(), times, AT_SYMLINK_NOFOLLOW) != 0) {
      return ErrnoStatus("set times of", path, errno);
    }
    return Status::Ok();
  }

  Status ApplyMetadata() {
    std::vector<const TreeEntry*> leaves;
    for (const TreeEntry& e : m_.entries) {
      if (e.type != EntryType::kDirectory) leaves.push_back(&e);
    }
    RETURN_IF_ERROR(ParallelFor(leaves.size(), threads_,
                                [&](size_t i, unsigned) { return ApplyOne(*leaves[i]); }));
    // Directories last, deepest first: creating their contents changed their times.
    for (auto it = m_.entries.rbegin(); it != m_.entries.rend(); ++it) {
      if (it->type == EntryType::kDirectory) RETURN_IF_ERROR(ApplyOne(*it));
    }
    return Status::Ok();
  }

  const Repository& repo_;
  const Manifest& m_;
  const RestoreOptions& o_;
  unsigned threads_;
  bool is_root_ = ::geteuid() == 0;
  std::vector<std::unique_ptr<ThreadState>> state_;
  RestoreStats stats_;
  std::atomic<uint64_t> written_{0}, unchanged_{0}, cloned_{0};
  std::atomic<uint64_t> direct_written_{0};
  std::atomic<bool> direct_refused_{false};
};

// Empty or missing is fine for a full restore; anything else must be a delta restore.
Result<bool> PrepareTarget(const std::string& target, bool delta) {
  struct stat st;
  if (::lstat(target.c_str(), &st) != 0) {
    if (errno != ENOENT) return ErrnoStatus("stat", target, errno);
    RETURN_IF_ERROR(MakeDirs(target));
    return true;
  }
  if (!S_ISDIR(st.st_mode)) {
    return Status::InvalidArgument(fmt::format("target '{}' is not a directory", target));
  }
  std::error_code ec;
  bool empty = std::filesystem::is_empty(target, ec);
  if (ec) return ErrnoStatus("list", target, ec.value());
  if (!empty && !delta) {
    return Status::FailedPrecondition(fmt::format("target '{}' is not empty", target),
                                      "restore into a new directory, or use --delta");
  }
  return empty;
}

}  // namespace

Result<RestoreStats> RestoreSnapshot(const Repository& repo, const Manifest& manifest,
                                     const RestoreOptions& options) {
  auto start = std::chrono::steady_clock::now();
  if (options.target.empty()) return Status::InvalidArgument("no restore target given");
  ASSIGN_OR_RETURN(bool was_empty, PrepareTarget(options.target, options.delta));
  Restorer restorer(repo, manifest, options);
  Status st = restorer.Run();
  if (!st.ok()) {
    // A failed restore into an empty directory leaves it empty again, not half-filled.
    if (was_empty && !options.delta) {
      Status emptied = VisitTreeBelow(
          options.target,
          [](int dir_fd, const std::string& name, const std::string& path, const struct stat& s) {
            if (::unlinkat(dir_fd, name.c_str(), S_ISDIR(s.st_mode) ? AT_REMOVEDIR : 0) != 0) {
              return ErrnoStatus("remove", path, errno);
            }
            return Status::Ok();
          });
      if (!emptied.ok()) {
        spdlog::warn("could not empty {} after a failed restore: {}", options.target,
                     emptied.ToString());
      }
    }
    return st.WithContext(fmt::format("restore of snapshot {}", manifest.id));
  }
  RestoreStats stats = restorer.stats();
  stats.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  return stats;
}

}  // namespace dbaas::storage
