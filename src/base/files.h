// File-system primitives with durability in the API: every function says whether it syncs.
// All return Status values naming the path; errno is mapped in ErrnoStatus only.
#pragma once

#include <sys/types.h>

#include <cstdint>
#include <span>
#include <string>
#include <string_view>

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

// open(2) with O_CLOEXEC added.
Result<UniqueFd> OpenFile(const std::string& path, int flags, mode_t mode = 0644);

// Writes all of `data` at the current offset, retrying on EINTR and short writes.
Status WriteAll(int fd, std::span<const uint8_t> data, std::string_view path);
inline Status WriteAll(int fd, std::string_view data, std::string_view path) {
  return WriteAll(fd, {reinterpret_cast<const uint8_t*>(data.data()), data.size()}, path);
}
// Writes all of `data` at `offset`.
Status PwriteAll(int fd, std::span<const uint8_t> data, uint64_t offset, std::string_view path);
// Reads up to `len` bytes at `offset`; returns how many were read (less only at end of file).
Result<size_t> PreadFull(int fd, uint8_t* buf, size_t len, uint64_t offset, std::string_view path);

// Reads a whole file, refusing files larger than `max_bytes`.
Result<std::string> ReadFileToString(const std::string& path, size_t max_bytes = 64 << 20);

// Durable, atomic replace: writes `path.tmp-<random>`, fsyncs it, renames it over `path`,
// fsyncs the directory. Readers see the old or the new content, never a mix.
Status WriteFileAtomic(const std::string& path, std::string_view data, mode_t mode = 0644);

Status FsyncPath(const std::string& path);  // fsync of a file or directory by path
Status FsyncDir(const std::string& dir);
// Fsyncs and renames a finished temporary file into place, then fsyncs the directory.
Status RenameDurable(const std::string& from, const std::string& to);

// mkdir -p (modes from the umask); existing directories are fine.
Status MakeDirs(const std::string& path);
// rm -rf; a missing path is fine.
Status RemoveTree(const std::string& path);

bool PathExists(const std::string& path);
std::string JoinPath(std::string_view a, std::string_view b);
std::string DirName(std::string_view path);

}  // namespace dbaas
