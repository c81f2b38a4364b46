#include "runtime/volume_copy.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <vector>

#include <fmt/format.h>

#include "base/files.h"
#include "base/hex.h"
#include "base/log.h"
#include "storage/reflink.h"

namespace dbaas::runtime {
namespace {

Result<UniqueFd> OpenBelow(int dir_fd, const std::string& name, int flags, const std::string& path,
                           mode_t mode = 0) {
  int fd = ::openat(dir_fd, name.c_str(), flags | O_NOFOLLOW | O_CLOEXEC, mode);
  if (fd < 0) return ErrnoStatus("open", path, errno);
  return UniqueFd(fd);
}

Status KeepTimes(int fd, const struct stat& st, const std::string& path) {
  const struct timespec times[2] = {st.st_atim, st.st_mtim};
  if (::futimens(fd, times) != 0) return ErrnoStatus("set the times of", path, errno);
  return Status::Ok();
}

Status CopyFile(int src_dir, int dst_dir, const std::string& name, const std::string& path,
                mode_t mode) {
  ASSIGN_OR_RETURN(UniqueFd in, OpenBelow(src_dir, name, O_RDONLY | O_NONBLOCK, path));
  struct stat st;
  if (::fstat(in.get(), &st) != 0) return ErrnoStatus("stat", path, errno);
  if (!S_ISREG(st.st_mode)) return Status::Ok();  // swapped since it was listed: left out
  ASSIGN_OR_RETURN(UniqueFd out,
                   OpenBelow(dst_dir, name, O_WRONLY | O_CREAT | O_EXCL, path, mode & 07777));
  if (st.st_size > 0 && !storage::CloneFile(in.get(), out.get(), path).ok()) {
    RETURN_IF_ERROR(
        storage::CopyFileContents(in.get(), out.get(), static_cast<uint64_t>(st.st_size), path));
  }
  return KeepTimes(out.get(), st, path);
}

Status CopyDir(int src_dir, int dst_dir, const std::string& path) {
  ASSIGN_OR_RETURN(std::vector<std::string> names, ListDirAt(src_dir, path));
  for (const std::string& name : names) {
    std::string child = JoinPath(path, name);
    struct stat st;
    if (::fstatat(src_dir, name.c_str(), &st, AT_SYMLINK_NOFOLLOW) != 0) {
      if (errno == ENOENT) continue;  // gone since it was listed
      return ErrnoStatus("stat", child, errno);
    }
    if (S_ISDIR(st.st_mode)) {
      if (::mkdirat(dst_dir, name.c_str(), 0700) != 0) return ErrnoStatus("mkdir", child, errno);
      ASSIGN_OR_RETURN(UniqueFd from, OpenBelow(src_dir, name, O_RDONLY | O_DIRECTORY, child));
      ASSIGN_OR_RETURN(UniqueFd to, OpenBelow(dst_dir, name, O_RDONLY | O_DIRECTORY, child));
      RETURN_IF_ERROR(CopyDir(from.get(), to.get(), child));
      if (::fchmod(to.get(), st.st_mode & 07777) != 0) return ErrnoStatus("chmod", child, errno);
      RETURN_IF_ERROR(KeepTimes(to.get(), st, child));
    } else if (S_ISREG(st.st_mode)) {
      RETURN_IF_ERROR(CopyFile(src_dir, dst_dir, name, child, st.st_mode));
    } else if (S_ISLNK(st.st_mode)) {
      std::vector<char> target(static_cast<size_t>(st.st_size) + 1);
      ssize_t n = ::readlinkat(src_dir, name.c_str(), target.data(), target.size());
      if (n < 0) return ErrnoStatus("readlink", child, errno);
      std::string to(target.data(), static_cast<size_t>(n));
      const struct timespec times[2] = {st.st_atim, st.st_mtim};
      if (::symlinkat(to.c_str(), dst_dir, name.c_str()) != 0 ||
          ::utimensat(dst_dir, name.c_str(), times, AT_SYMLINK_NOFOLLOW) != 0) {
        return ErrnoStatus("symlink", child, errno);
      }
    }  // sockets, FIFOs, devices: a server's, recreated when it runs
  }
  return Status::Ok();
}

}  // namespace

Status CopyVolumeTree(const std::string& source, const std::string& destination) {
  if (PathExists(destination)) {
    return Status::AlreadyExists(fmt::format("'{}' exists already", destination),
                                 "choose a destination that does not exist");
  }
  const std::string staging = fmt::format("{}.copying-{}", destination, RandomHex(4));
  RETURN_IF_ERROR(MakeDir(staging, 0700));
  Status copied = [&]() -> Status {
    ASSIGN_OR_RETURN(UniqueFd from, OpenFile(source, O_RDONLY | O_DIRECTORY));
    ASSIGN_OR_RETURN(UniqueFd to, OpenFile(staging, O_RDONLY | O_DIRECTORY));
    RETURN_IF_ERROR(CopyDir(from.get(), to.get(), source));
    struct stat st;
    if (::fstat(from.get(), &st) != 0) return ErrnoStatus("stat", source, errno);
    if (::fchmod(to.get(), st.st_mode & 07777) != 0) return ErrnoStatus("chmod", staging, errno);
    RETURN_IF_ERROR(KeepTimes(to.get(), st, staging));
    // One syncfs makes every copied file durable before the copy gets its name.
    if (::syncfs(to.get()) != 0) return ErrnoStatus("syncfs", staging, errno);
    RETURN_IF_ERROR(RenamePath(staging, destination));
    return FsyncDir(DirName(destination));
  }();
  if (!copied.ok()) {
    WarnIfError(RemoveTree(staging), "remove the copy that failed");
    return copied.WithContext(fmt::format("copy '{}' to '{}'", source, destination));
  }
  return Status::Ok();
}

}  // namespace dbaas::runtime
