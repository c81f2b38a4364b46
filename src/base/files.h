// File-system primitives with durability in the API: every function says whether it syncs.
// All return Status values naming the path; errno is mapped in ErrnoStatus only.
#pragma once

#include <sys/stat.h>
#include <sys/types.h>

#include <cstdint>
#include <functional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "base/status.h"

namespace dbaas {

// Owns a file descriptor; closes it on destruction. Move-only.
class UniqueFd {
 public:
  UniqueFd() = default;
  explicit UniqueFd(int fd) : fd_(fd) {}
  ~UniqueFd() { Reset(); }
  UniqueFd(UniqueFd&& other) noexcept : fd_(other.Release()) {}
  UniqueFd& operator=(UniqueFd&& other) noexcept {
    if (this != &other) {
      Reset();
      fd_ = other.Release();
    }
    return *this;
  }
  UniqueFd(const UniqueFd&) = delete;
  UniqueFd& operator=(const UniqueFd&) = delete;

  int get() const { return fd_; }
  bool valid() const { return fd_ >= 0; }
  int Release() {
    int fd = fd_;
    fd_ = -1;
    return fd;
  }
  void Reset();

 private:
  int fd_ = -1;
};

// open(2) with O_CLOEXEC added that follows no symbolic link in any component of `path`
// (kInvalidArgument naming the path if one is there) and refuses FIFOs and sockets without
// waiting on them. This is how the daemon opens everything, because a database server's OS
// user is hostile and can plant links and FIFOs wherever it can write (docs/SECURITY.md);
// the data root is made canonical once so that its own path has no link.
Result<UniqueFd> OpenFile(const std::string& path, int flags, mode_t mode = 0600);
// The same following symbolic links: only for paths the operator names (a configuration
// file, a certificate, a token file), never for a path under the data root.
Result<UniqueFd> OpenFileFollowingLinks(const std::string& path, int flags, mode_t mode = 0600);

// Writes all of `data` at the current offset, retrying on EINTR and short writes.
Status WriteAll(int fd, std::span<const uint8_t> data, std::string_view path);
inline Status WriteAll(int fd, std::string_view data, std::string_view path) {
  return WriteAll(fd, {reinterpret_cast<const uint8_t*>(data.data()), data.size()}, path);
}
// Writes all of `data` at `offset`.
Status PwriteAll(int fd, std::span<const uint8_t> data, uint64_t offset, std::string_view path);
// Reads up to `len` bytes at `offset`; returns how many were read (less only at end of file).
Result<size_t> PreadFull(int fd, uint8_t* buf, size_t len, uint64_t offset, std::string_view path);

// Reads a whole regular file (opened as OpenFile does), refusing files larger than
// `max_bytes` and anything else than a regular file.
Result<std::string> ReadFileToString(const std::string& path, size_t max_bytes = 64 << 20);
// The same following symbolic links: for paths the operator names only.
Result<std::string> ReadFileFollowingLinks(const std::string& path, size_t max_bytes = 64 << 20);

// Durable, atomic replace: writes `path.tmp-<random>` (exactly `mode`, whatever the umask),
// fsyncs it, renames it over `path`, fsyncs the directory. Readers see the old or the new
// content, never a mix; a link at `path` is replaced, never written through.
Status WriteFileAtomic(const std::string& path, std::string_view data, mode_t mode = 0600);

Status FsyncPath(const std::string& path);  // fsync of a file or directory by path
Status FsyncDir(const std::string& dir);
// fsync of an open file.
Status SyncFile(int fd, const std::string& path);
// rename(2), link(2) and unlink(2), none of them durable until the directory is synced.
// LinkPath never replaces: an existing `to` is kAlreadyExists. UnlinkPath: a missing path
// is kNotFound.
Status RenamePath(const std::string& from, const std::string& to);
Status LinkPath(const std::string& from, const std::string& to);
Status UnlinkPath(const std::string& path);
// Fsyncs and renames a finished temporary file into place, then fsyncs the directory.
Status RenameDurable(const std::string& from, const std::string& to);

// Power-loss testing. Every step above that creates, writes, syncs, renames, links or
// unlinks a file tells the observer, when one is set: before it runs (an error refuses the
// step, as a machine without power would) and after, with whether it was done. Tests set
// one to cut the power at any sync point and drop what was not durable
// (tests/storage/power_loss_test.cc); production never does, and pays one atomic load.
struct FileStep {
  enum class Kind { kCreate, kWrite, kSyncFile, kSyncDir, kRename, kLink, kUnlink };
  Kind kind;
  std::string path;
  std::string to;  // a rename's or a link's new name
};
class FileStepObserver {
 public:
  virtual ~FileStepObserver() = default;
  virtual Status Before(const FileStep& step) = 0;
  virtual void After(const FileStep& step, bool done) = 0;
};
// nullptr: none. The observer must outlive every step that may see it.
void SetFileStepObserver(FileStepObserver* observer);

// mkdir -p: the directories it makes get exactly `mode`; existing directories are fine.
Status MakeDirs(const std::string& path, mode_t mode = 0700);
// mkdir with exactly `mode` whatever the umask; kAlreadyExists if the path exists.
Status MakeDir(const std::string& path, mode_t mode);

// Called for each entry below a directory, children before their directory, with the
// descriptor of the directory holding it: act on `name` relative to `dir_fd` (unlinkat,
// fchownat with AT_SYMLINK_NOFOLLOW), never on `path`, which a server could swap for a link.
using TreeVisitor = std::function<Status(int dir_fd, const std::string& name,
                                         const std::string& path, const struct stat& st)>;
// Walks the tree below `path` by descriptor: a directory is entered only through openat
// with O_NOFOLLOW, so a directory swapped for a link while we walk leads nowhere else.
Status VisitTreeBelow(const std::string& path, const TreeVisitor& visit);
// The names in the open directory `dir_fd` (`dir_path` for errors), "." and ".." left out.
Result<std::vector<std::string>> ListDirAt(int dir_fd, const std::string& dir_path);
// rm -rf by descriptor (VisitTreeBelow); a missing path is fine, a link is removed, not
// followed.
Status RemoveTree(const std::string& path);

bool PathExists(const std::string& path);
std::string JoinPath(std::string_view a, std::string_view b);
std::string DirName(std::string_view path);

}  // namespace dbaas
