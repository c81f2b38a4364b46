#include "storage/reflink.h"

#include <fcntl.h>
#include <linux/fiemap.h>
#include <linux/fs.h>
#include <sys/ioctl.h>
#include <unistd.h>

#include <algorithm>
#include <vector>

#include "base/files.h"
#include "base/hex.h"

namespace dbaas::storage {

Status CloneFile(int src_fd, int dst_fd, const std::string& dst_path) {
  if (::ioctl(dst_fd, FICLONE, src_fd) != 0) return ErrnoStatus("reflink clone", dst_path, errno);
  return Status::Ok();
}

Status ClonePath(const std::string& src, const std::string& dst) {
  ASSIGN_OR_RETURN(UniqueFd in, OpenFile(src, O_RDONLY));
  ASSIGN_OR_RETURN(UniqueFd out, OpenFile(dst, O_WRONLY | O_CREAT | O_TRUNC, 0600));
  return CloneFile(in.get(), out.get(), dst);
}

bool ReflinkWorks(const std::string& probe_file, const std::string& dst_dir) {
  std::string probe = JoinPath(dst_dir, ".reflink-probe-" + RandomHex(6));
  bool ok = ClonePath(probe_file, probe).ok();
  ::unlink(probe.c_str());
  return ok;
}

Result<uint64_t> UnsharedBytes(int fd, const std::string& path) {
  // A header and room for 256 extents per call.
  constexpr size_t kExtents = 256;
  std::vector<uint8_t> buffer(sizeof(struct fiemap) + kExtents * sizeof(struct fiemap_extent));
  auto* map = reinterpret_cast<struct fiemap*>(buffer.data());
  uint64_t unshared = 0;
  uint64_t start = 0;
  for (;;) {
    std::fill(buffer.begin(), buffer.end(), 0);
    map->fm_start = start;
    map->fm_length = FIEMAP_MAX_OFFSET - start;
    map->fm_extent_count = kExtents;
    if (::ioctl(fd, FS_IOC_FIEMAP, map) != 0) return ErrnoStatus("fiemap", path, errno);
    if (map->fm_mapped_extents == 0) return unshared;
    const uint64_t asked_from = start;
    for (uint32_t i = 0; i < map->fm_mapped_extents; ++i) {
      const struct fiemap_extent& e = map->fm_extents[i];
      uint64_t end = e.fe_logical + e.fe_length;
      // Only what lies past the last call's end: a file written meanwhile may answer with
      // an extent that began before it.
      uint64_t from = std::max<uint64_t>(e.fe_logical, start);
      if ((e.fe_flags & FIEMAP_EXTENT_SHARED) == 0 && end > from) unshared += end - from;
      if (e.fe_flags & FIEMAP_EXTENT_LAST) return unshared;
      start = std::max(start, end);
    }
    if (start == asked_from) return unshared;  // no progress: the file shrank meanwhile
  }
}

namespace {

// The portable copy, for where copy_file_range refuses (across filesystems on some kernels).
Status CopyWithReadWrite(int src_fd, int dst_fd, uint64_t offset, uint64_t size,
                         const std::string& dst_path) {
  std::vector<uint8_t> buffer(1 << 20);
  while (offset < size) {
    size_t want = static_cast<size_t>(std::min<uint64_t>(buffer.size(), size - offset));
    ASSIGN_OR_RETURN(size_t n, PreadFull(src_fd, buffer.data(), want, offset, dst_path));
    if (n == 0) break;
    RETURN_IF_ERROR(PwriteAll(dst_fd, {buffer.data(), n}, offset, dst_path));
    offset += n;
  }
  return Status::Ok();
}

}  // namespace

Status CopyFileContents(int src_fd, int dst_fd, uint64_t size, const std::string& dst_path) {
  loff_t in_off = 0, out_off = 0;
  while (static_cast<uint64_t>(in_off) < size) {
    ssize_t n = ::copy_file_range(src_fd, &in_off, dst_fd, &out_off,
                                  static_cast<size_t>(size - static_cast<uint64_t>(in_off)), 0);
    if (n < 0) {
      if (errno == EINTR) continue;
      if (errno == EXDEV || errno == EOPNOTSUPP || errno == EINVAL || errno == ENOSYS) {
        return CopyWithReadWrite(src_fd, dst_fd, static_cast<uint64_t>(in_off), size, dst_path);
      }
      return ErrnoStatus("copy", dst_path, errno);
    }
    if (n == 0) break;  // the source shrank
  }
  return Status::Ok();
}

}  // namespace dbaas::storage
