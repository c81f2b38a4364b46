#include "storage/wal_spool.h"

#include <dirent.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cstring>
#include <ctime>
#include <memory>

#include <fmt/format.h>

#include "base/files.h"
#include "base/hex.h"
#include "storage/reflink.h"

namespace dbaas::storage {
namespace {

constexpr std::string_view kTempPrefix = ".tmp.";
constexpr uint64_t kMaxSegment = 1ull << 30;  // PostgreSQL's largest wal_segment_size
constexpr uint64_t kMinSegment = 1ull << 20;  // and its smallest
constexpr uint64_t kMaxSmallFile = 1ull << 20;

// Whether the two open files hold the same `size` bytes.
Result<bool> SameBytes(int a, int b, uint64_t size, const std::string& path) {
  constexpr size_t kChunk = 1 << 20;
  std::unique_ptr<uint8_t[]> x(new uint8_t[kChunk]), y(new uint8_t[kChunk]);
  for (uint64_t off = 0; off < size; off += kChunk) {
    size_t want = static_cast<size_t>(std::min<uint64_t>(kChunk, size - off));
    ASSIGN_OR_RETURN(size_t got_a, PreadFull(a, x.get(), want, off, path));
    ASSIGN_OR_RETURN(size_t got_b, PreadFull(b, y.get(), want, off, path));
    if (got_a != want || got_b != want || std::memcmp(x.get(), y.get(), want) != 0) return false;
  }
  return true;
}

// A spooled file of this name exists: the same bytes are success, others an error.
Status CompareSpooled(int source_fd, uint64_t size, const std::string& path) {
  ASSIGN_OR_RETURN(UniqueFd existing, OpenFile(path, O_RDONLY));
  struct stat st;
  if (::fstat(existing.get(), &st) != 0) return ErrnoStatus("stat", path, errno);
  if (static_cast<uint64_t>(st.st_size) == size) {
    ASSIGN_OR_RETURN(bool same, SameBytes(source_fd, existing.get(), size, path));
    if (same) return Status::Ok();
  }
  return Status::AlreadyExists(
      fmt::format("the WAL spool already holds a different '{}'", path),
      "two servers archive into one spool, or it was altered; keep both copies and check "
      "which server wrote this one");
}

// Why a spooled entry is not taken, or "" when it is a file a server could have written.
std::string RefusalOf(const WalFileName& name, const struct stat& st) {
  if (S_ISLNK(st.st_mode)) return "a symbolic link";
  if (!S_ISREG(st.st_mode)) return "not a regular file";
  return SpooledWalRefusal(name, static_cast<uint64_t>(st.st_size));
}

}  // namespace

std::string SpooledWalRefusal(const WalFileName& name, uint64_t size) {
  if (name.kind == WalFileName::Kind::kBinlog) return "a MariaDB binlog's name, not a WAL file's";
  bool segment =
      name.kind == WalFileName::Kind::kSegment || name.kind == WalFileName::Kind::kPartial;
  if (segment && (size < kMinSegment || size > kMaxSegment || (size & (size - 1)) != 0)) {
    return fmt::format("{} bytes, which no WAL segment has", size);
  }
  if (!segment && size > kMaxSmallFile) return fmt::format("{} bytes: too large", size);
  return "";
}

Status SpoolWalFile(const std::string& spool_dir, const std::string& source_path,
                    const std::string& name) {
  RETURN_IF_ERROR(ParseWalFileName(name).status());
  ASSIGN_OR_RETURN(UniqueFd in, OpenFile(source_path, O_RDONLY));
  struct stat st;
  if (::fstat(in.get(), &st) != 0) return ErrnoStatus("stat", source_path, errno);
  if (!S_ISREG(st.st_mode)) {
    return Status::InvalidArgument(fmt::format("'{}' is not a regular file", source_path));
  }
  const uint64_t size = static_cast<uint64_t>(st.st_size);
  const std::string final_path = JoinPath(spool_dir, name);
  if (PathExists(final_path)) return CompareSpooled(in.get(), size, final_path);

  const std::string tmp =
      JoinPath(spool_dir, fmt::format("{}{}.{}", kTempPrefix, name, RandomHex(6)));
  {
    ASSIGN_OR_RETURN(UniqueFd out, OpenFile(tmp, O_WRONLY | O_CREAT | O_EXCL, 0600));
    // A clone where the file system has them (XFS): PostgreSQL overwrites a recycled
    // segment in place, which then gets new extents and leaves the clone's alone.
    Status copied = CloneFile(in.get(), out.get(), tmp);
    if (!copied.ok()) copied = CopyFileContents(in.get(), out.get(), size, tmp);
    if (copied.ok() && ::fsync(out.get()) != 0) copied = ErrnoStatus("fsync", tmp, errno);
    if (!copied.ok()) {
      ::unlink(tmp.c_str());
      return copied;
    }
  }
  // link() never replaces: if a concurrent push of the same name won, compare with it.
  int linked = ::link(tmp.c_str(), final_path.c_str());
  int err = errno;
  ::unlink(tmp.c_str());
  if (linked != 0) {
    if (err != EEXIST) return ErrnoStatus("link", final_path, err);
    return CompareSpooled(in.get(), size, final_path);
  }
  return FsyncDir(spool_dir);
}

Result<SpoolDrain> DrainWalSpool(const std::string& spool_dir, const WalArchive& archive,
                                 std::chrono::seconds stale_after, const StoredWalFile& stored) {
  ASSIGN_OR_RETURN(UniqueFd dir, OpenFile(spool_dir, O_RDONLY | O_DIRECTORY));
  std::vector<std::string> names;
  {
    int listed = ::dup(dir.get());
    DIR* d = listed >= 0 ? ::fdopendir(listed) : nullptr;
    if (d == nullptr) {
      int err = errno;
      if (listed >= 0) ::close(listed);
      return ErrnoStatus("opendir", spool_dir, err);
    }
    while (dirent* e = ::readdir(d)) {
      std::string_view n = e->d_name;
      if (n != "." && n != "..") names.emplace_back(n);
    }
    ::closedir(d);
  }
  std::sort(names.begin(), names.end());

  SpoolDrain drained;
  std::unique_ptr<uint8_t[]> buffer;
  size_t buffer_size = 0;
  const time_t stale_before = ::time(nullptr) - stale_after.count();
  for (const std::string& name : names) {
    struct stat st;
    if (::fstatat(dir.get(), name.c_str(), &st, AT_SYMLINK_NOFOLLOW) != 0) continue;  // gone
    if (name.starts_with(kTempPrefix)) {
      if (S_ISREG(st.st_mode) && st.st_mtime < stale_before) {
        ::unlinkat(dir.get(), name.c_str(), 0);
      }
      continue;
    }
    auto parsed = ParseWalFileName(name);
    if (!parsed.ok()) {
      drained.refused.push_back(name + ": not a WAL file name");
      continue;
    }
    if (std::string why = RefusalOf(*parsed, st); !why.empty()) {
      drained.refused.push_back(name + ": " + why);
      continue;
    }
    UniqueFd fd(::openat(dir.get(), name.c_str(), O_RDONLY | O_NOFOLLOW | O_NONBLOCK | O_CLOEXEC));
    const std::string path = JoinPath(spool_dir, name);
    if (!fd.valid()) {
      if (errno == ENOENT) continue;
      drained.refused.push_back(name + ": " + std::strerror(errno));
      continue;
    }
    // Judged again on what was opened: the entry may have been swapped since.
    if (::fstat(fd.get(), &st) != 0) return ErrnoStatus("stat", path, errno);
    if (std::string why = RefusalOf(*parsed, st); !why.empty()) {
      drained.refused.push_back(name + ": " + why);
      continue;
    }
    size_t size = static_cast<size_t>(st.st_size);
    if (size > buffer_size) {
      buffer.reset(new uint8_t[size]);
      buffer_size = size;
    }
    ASSIGN_OR_RETURN(size_t got, PreadFull(fd.get(), buffer.get(), size, 0, path));
    if (got != size) {
      drained.refused.push_back(name + ": shrank while it was read");
      continue;
    }
    RETURN_IF_ERROR(archive.Store({buffer.get(), size}, name)
                        .WithContext(fmt::format("store {} from the WAL spool", name)));
    // Stored durably: the spool's copy can go. (A removal lost to a crash only means the
    // next drain finds it stored already.)
    if (::unlinkat(dir.get(), name.c_str(), 0) != 0 && errno != ENOENT) {
      return ErrnoStatus("unlink", path, errno);
    }
    ++drained.files;
    drained.raw_bytes += size;
    if (stored) stored(name, {buffer.get(), size});
  }
  return drained;
}

}  // namespace dbaas::storage
