#include "base/files.h"

#include <dirent.h>
#include <fcntl.h>
#include <linux/openat2.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <vector>

#include <fmt/format.h>

#include "base/hex.h"

namespace dbaas {

void UniqueFd::Reset() {
  if (fd_ >= 0) ::close(fd_);
  fd_ = -1;
}

namespace {

std::atomic<FileStepObserver*> observer{nullptr};

// Runs `op`, which does `kind` on `path`, telling the observer if one is set.
template <typename Op>
Status Step(FileStep::Kind kind, std::string_view path, std::string_view to, Op op) {
  FileStepObserver* o = observer.load(std::memory_order_acquire);
  if (o == nullptr) return op();
  FileStep step{kind, std::string(path), std::string(to)};
  RETURN_IF_ERROR(o->Before(step));
  Status st = op();
  o->After(step, st.ok());
  return st;
}

// open(2) that follows no symbolic link in any component of `path` (openat2's
// RESOLVE_NO_SYMLINKS; a kernel before 5.6 gets O_NOFOLLOW on the last component only).
int OpenWithoutLinks(const std::string& path, int flags, mode_t mode) {
  struct open_how how = {};
  how.flags = static_cast<uint64_t>(flags);
  // openat2 refuses a mode without O_CREAT or O_TMPFILE (which includes O_DIRECTORY).
  bool creates = (flags & O_CREAT) || (flags & O_TMPFILE) == O_TMPFILE;
  how.mode = creates ? mode : 0;
  how.resolve = RESOLVE_NO_SYMLINKS | RESOLVE_NO_MAGICLINKS;
  int fd;
  do {
    fd = static_cast<int>(::syscall(SYS_openat2, AT_FDCWD, path.c_str(), &how, sizeof how));
  } while (fd < 0 && (errno == EINTR || errno == EAGAIN));
  if (fd < 0 && errno == ENOSYS) {
    do {
      fd = ::open(path.c_str(), flags | O_NOFOLLOW, mode);
    } while (fd < 0 && errno == EINTR);
  }
  return fd;
}

Result<UniqueFd> CheckOpened(int fd, const std::string& path, int flags) {
  if (fd < 0) {
    if (errno == ELOOP) {
      return Status::InvalidArgument(
          fmt::format("'{}' is or passes through a symbolic link, which dbaas does not follow",
                      path),
          "a database server may have planted it: replace the link with the file or directory");
    }
    return ErrnoStatus("open", path, errno);
  }
  UniqueFd owned(fd);
  struct stat st;
  if (::fstat(fd, &st) != 0) return ErrnoStatus("stat", path, errno);
  if (S_ISFIFO(st.st_mode) || S_ISSOCK(st.st_mode)) {
    return Status::InvalidArgument(
        fmt::format("'{}' is a FIFO or socket where a file was expected", path),
        "a database server may have planted it: remove it");
  }
  // O_NONBLOCK only kept the open itself from waiting (on a FIFO); reads and writes of what
  // was opened are the caller's as asked.
  if (!(flags & O_NONBLOCK) && ::fcntl(fd, F_SETFL, ::fcntl(fd, F_GETFL) & ~O_NONBLOCK) != 0) {
    return ErrnoStatus("fcntl", path, errno);
  }
  return owned;
}

Status WriteAllNow(int fd, std::span<const uint8_t> data, std::string_view path) {
  size_t done = 0;
  while (done < data.size()) {
    ssize_t n = ::write(fd, data.data() + done, data.size() - done);
    if (n < 0) {
      if (errno == EINTR) continue;
      return ErrnoStatus("write", path, errno);
    }
    done += static_cast<size_t>(n);
  }
  return Status::Ok();
}

Status PwriteAllNow(int fd, std::span<const uint8_t> data, uint64_t offset, std::string_view path) {
  size_t done = 0;
  while (done < data.size()) {
    ssize_t n =
        ::pwrite(fd, data.data() + done, data.size() - done, static_cast<off_t>(offset + done));
    if (n < 0) {
      if (errno == EINTR) continue;
      return ErrnoStatus("write", path, errno);
    }
    done += static_cast<size_t>(n);
  }
  return Status::Ok();
}

}  // namespace

void SetFileStepObserver(FileStepObserver* o) { observer.store(o, std::memory_order_release); }

Result<UniqueFd> OpenFile(const std::string& path, int flags, mode_t mode) {
  if (!(flags & O_CREAT))
    return CheckOpened(OpenWithoutLinks(path, flags | O_CLOEXEC | O_NONBLOCK, mode), path, flags);
  Result<UniqueFd> opened = Status::Internal("not opened");
  RETURN_IF_ERROR(Step(FileStep::Kind::kCreate, path, "", [&] {
    opened = CheckOpened(OpenWithoutLinks(path, flags | O_CLOEXEC | O_NONBLOCK, mode), path, flags);
    return opened.status();
  }));
  return opened;
}

Result<UniqueFd> OpenFileFollowingLinks(const std::string& path, int flags, mode_t mode) {
  int fd;
  do {
    fd = ::open(path.c_str(), flags | O_CLOEXEC | O_NONBLOCK, mode);
  } while (fd < 0 && errno == EINTR);
  return CheckOpened(fd, path, flags);
}

Status WriteAll(int fd, std::span<const uint8_t> data, std::string_view path) {
  return Step(FileStep::Kind::kWrite, path, "", [&] { return WriteAllNow(fd, data, path); });
}

Status PwriteAll(int fd, std::span<const uint8_t> data, uint64_t offset, std::string_view path) {
  return Step(FileStep::Kind::kWrite, path, "",
              [&] { return PwriteAllNow(fd, data, offset, path); });
}

Result<size_t> PreadFull(int fd, uint8_t* buf, size_t len, uint64_t offset, std::string_view path) {
  size_t done = 0;
  while (done < len) {
    ssize_t n = ::pread(fd, buf + done, len - done, static_cast<off_t>(offset + done));
    if (n < 0) {
      if (errno == EINTR) continue;
      return ErrnoStatus("read", path, errno);
    }
    if (n == 0) break;
    done += static_cast<size_t>(n);
  }
  return done;
}

namespace {

Result<std::string> ReadOpenedFile(UniqueFd fd, const std::string& path, size_t max_bytes) {
  struct stat st;
  if (::fstat(fd.get(), &st) != 0) return ErrnoStatus("stat", path, errno);
  if (!S_ISREG(st.st_mode)) {
    return Status::InvalidArgument(fmt::format("'{}' is not a regular file", path));
  }
  // Read to the end rather than trusting st_size: files under /proc report 0.
  std::string out;
  char buf[65536];
  while (true) {
    ssize_t n = ::read(fd.get(), buf, sizeof buf);
    if (n < 0) {
      if (errno == EINTR) continue;
      return ErrnoStatus("read", path, errno);
    }
    if (n == 0) break;
    if (out.size() + static_cast<size_t>(n) > max_bytes) {
      return Status::Corruption("file '" + path + "' is larger than expected (over " +
                                std::to_string(max_bytes) + " bytes)");
    }
    out.append(buf, static_cast<size_t>(n));
  }
  return out;
}

}  // namespace

Result<std::string> ReadFileToString(const std::string& path, size_t max_bytes) {
  ASSIGN_OR_RETURN(UniqueFd fd, OpenFile(path, O_RDONLY));
  return ReadOpenedFile(std::move(fd), path, max_bytes);
}

Result<std::string> ReadFileFollowingLinks(const std::string& path, size_t max_bytes) {
  ASSIGN_OR_RETURN(UniqueFd fd, OpenFileFollowingLinks(path, O_RDONLY));
  return ReadOpenedFile(std::move(fd), path, max_bytes);
}

Status FsyncPath(const std::string& path) {
  ASSIGN_OR_RETURN(UniqueFd fd, OpenFile(path, O_RDONLY));
  struct stat st;
  if (::fstat(fd.get(), &st) != 0) return ErrnoStatus("stat", path, errno);
  auto kind = S_ISDIR(st.st_mode) ? FileStep::Kind::kSyncDir : FileStep::Kind::kSyncFile;
  return Step(kind, path, "", [&] {
    return ::fsync(fd.get()) == 0 ? Status::Ok() : ErrnoStatus("fsync", path, errno);
  });
}

Status FsyncDir(const std::string& dir) {
  ASSIGN_OR_RETURN(UniqueFd fd, OpenFile(dir, O_RDONLY | O_DIRECTORY));
  return Step(FileStep::Kind::kSyncDir, dir, "", [&] {
    return ::fsync(fd.get()) == 0 ? Status::Ok() : ErrnoStatus("fsync", dir, errno);
  });
}

Status SyncFile(int fd, const std::string& path) {
  return Step(FileStep::Kind::kSyncFile, path, "",
              [&] { return ::fsync(fd) == 0 ? Status::Ok() : ErrnoStatus("fsync", path, errno); });
}

Status RenamePath(const std::string& from, const std::string& to) {
  return Step(FileStep::Kind::kRename, from, to, [&] {
    return ::rename(from.c_str(), to.c_str()) == 0 ? Status::Ok()
                                                   : ErrnoStatus("rename", from, errno);
  });
}

Status LinkPath(const std::string& from, const std::string& to) {
  return Step(FileStep::Kind::kLink, from, to, [&] {
    if (::link(from.c_str(), to.c_str()) == 0) return Status::Ok();
    if (errno == EEXIST) return Status::AlreadyExists(fmt::format("'{}' exists", to));
    return ErrnoStatus("link", to, errno);
  });
}

Status UnlinkPath(const std::string& path) {
  return Step(FileStep::Kind::kUnlink, path, "", [&] {
    if (::unlink(path.c_str()) == 0) return Status::Ok();
    if (errno == ENOENT) return Status::NotFound(fmt::format("'{}' does not exist", path));
    return ErrnoStatus("unlink", path, errno);
  });
}

Status RenameDurable(const std::string& from, const std::string& to) {
  RETURN_IF_ERROR(FsyncPath(from));
  RETURN_IF_ERROR(RenamePath(from, to));
  return FsyncDir(DirName(to));
}

Status WriteFileAtomic(const std::string& path, std::string_view data, mode_t mode) {
  std::string tmp = path + ".tmp-" + RandomHex(6);
  {
    ASSIGN_OR_RETURN(UniqueFd fd, OpenFile(tmp, O_WRONLY | O_CREAT | O_EXCL, mode));
    // Exactly `mode`, whatever the umask (the daemon's is 077; a server may need to read).
    Status st = ::fchmod(fd.get(), mode) == 0 ? Status::Ok() : ErrnoStatus("chmod", tmp, errno);
    if (st.ok()) st = WriteAll(fd.get(), data, tmp);
    if (st.ok()) st = SyncFile(fd.get(), tmp);
    if (!st.ok()) {
      ::unlink(tmp.c_str());
      return st;
    }
  }
  if (Status st = RenamePath(tmp, path); !st.ok()) {
    ::unlink(tmp.c_str());
    return st;
  }
  return FsyncDir(DirName(path));
}

Status MakeDirs(const std::string& path, mode_t mode) {
  if (path.empty()) return Status::InvalidArgument("empty directory path");
  struct stat st;
  if (::lstat(path.c_str(), &st) == 0) {
    if (S_ISDIR(st.st_mode)) return Status::Ok();
    return Status::AlreadyExists(fmt::format("'{}' exists and is not a directory", path));
  }
  std::string parent = DirName(path);
  if (parent != path && parent != "." && parent != "/") RETURN_IF_ERROR(MakeDirs(parent, mode));
  Status made = MakeDir(path, mode);
  if (made.code() == StatusCode::kAlreadyExists) return Status::Ok();  // made by another
  return made;
}

Status MakeDir(const std::string& path, mode_t mode) {
  if (::mkdir(path.c_str(), mode) != 0) return ErrnoStatus("mkdir", path, errno);
  // The umask narrows mkdir's mode; a directory a server must pass through (0711) needs it
  // exactly.
  if (::chmod(path.c_str(), mode) != 0) return ErrnoStatus("chmod", path, errno);
  return Status::Ok();
}

Result<std::vector<std::string>> ListDirAt(int dir_fd, const std::string& dir_path) {
  int listing_fd = ::dup(dir_fd);
  if (listing_fd < 0) return ErrnoStatus("dup", dir_path, errno);
  DIR* d = ::fdopendir(listing_fd);
  if (d == nullptr) {
    ::close(listing_fd);
    return ErrnoStatus("list", dir_path, errno);
  }
  std::vector<std::string> names;
  while (dirent* e = ::readdir(d)) {
    std::string_view name(e->d_name);
    if (name != "." && name != "..") names.emplace_back(name);
  }
  ::closedir(d);
  return names;
}

namespace {

Status VisitBelow(int dir_fd, const std::string& dir_path, const TreeVisitor& visit) {
  ASSIGN_OR_RETURN(std::vector<std::string> names, ListDirAt(dir_fd, dir_path));
  for (const std::string& name : names) {
    std::string path = JoinPath(dir_path, name);
    struct stat st;
    if (::fstatat(dir_fd, name.c_str(), &st, AT_SYMLINK_NOFOLLOW) != 0) {
      if (errno == ENOENT) continue;  // gone meanwhile
      return ErrnoStatus("stat", path, errno);
    }
    if (S_ISDIR(st.st_mode)) {
      int sub = ::openat(dir_fd, name.c_str(), O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
      if (sub < 0 && errno == ENOENT) continue;
      if (sub < 0 && (errno == ELOOP || errno == ENOTDIR)) {
        // Swapped for a link or file since the stat: visit what is there now, not below it.
        if (::fstatat(dir_fd, name.c_str(), &st, AT_SYMLINK_NOFOLLOW) != 0) continue;
      } else if (sub < 0) {
        return ErrnoStatus("open", path, errno);
      } else {
        UniqueFd sub_fd(sub);
        RETURN_IF_ERROR(VisitBelow(sub_fd.get(), path, visit));
      }
    }
    RETURN_IF_ERROR(visit(dir_fd, name, path, st));
  }
  return Status::Ok();
}

}  // namespace

Status VisitTreeBelow(const std::string& path, const TreeVisitor& visit) {
  ASSIGN_OR_RETURN(UniqueFd dir, OpenFile(path, O_RDONLY | O_DIRECTORY));
  return VisitBelow(dir.get(), path, visit);
}

Status RemoveTree(const std::string& path) {
  struct stat st;
  if (::lstat(path.c_str(), &st) != 0) {
    if (errno == ENOENT) return Status::Ok();
    return ErrnoStatus("stat", path, errno);
  }
  if (S_ISDIR(st.st_mode)) {
    RETURN_IF_ERROR(VisitTreeBelow(path, [](int dir_fd, const std::string& name,
                                            const std::string& child, const struct stat& s) {
      int flags = S_ISDIR(s.st_mode) ? AT_REMOVEDIR : 0;
      int rc = ::unlinkat(dir_fd, name.c_str(), flags);
      if (rc != 0 && errno == ENOTDIR) rc = ::unlinkat(dir_fd, name.c_str(), 0);  // swapped
      if (rc != 0 && errno != ENOENT) return ErrnoStatus("remove", child, errno);
      return Status::Ok();
    }));
    if (::rmdir(path.c_str()) != 0 && errno != ENOENT) return ErrnoStatus("remove", path, errno);
    return Status::Ok();
  }
  if (::unlink(path.c_str()) != 0 && errno != ENOENT) return ErrnoStatus("remove", path, errno);
  return Status::Ok();
}

bool PathExists(const std::string& path) {
  struct stat st;
  return ::lstat(path.c_str(), &st) == 0;
}

std::string JoinPath(std::string_view a, std::string_view b) {
  if (a.empty()) return std::string(b);
  if (b.empty()) return std::string(a);
  std::string out(a);
  if (out.back() != '/') out += '/';
  out += b;
  return out;
}

std::string DirName(std::string_view path) {
  auto pos = path.find_last_of('/');
  if (pos == std::string_view::npos) return ".";
  if (pos == 0) return "/";
  return std::string(path.substr(0, pos));
}

}  // namespace dbaas
