#include "storage/tree_scan.h"

#include <dirent.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>

#include <fmt/format.h>

#include "base/files.h"

namespace dbaas::storage {
namespace {

int64_t ToNs(const struct timespec& ts) {
  return static_cast<int64_t>(ts.tv_sec) * 1000000000 + ts.tv_nsec;
}

TreeEntry EntryFromStat(std::string path, const struct stat& st) {
  TreeEntry e;
  e.path = std::move(path);
  e.mode = st.st_mode & 07777;
  e.uid = st.st_uid;
  e.gid = st.st_gid;
  e.mtime_ns = ToNs(st.st_mtim);
  e.ctime_ns = ToNs(st.st_ctim);
  e.inode = st.st_ino;
  return e;
}

class Scanner {
 public:
  Scanner(const std::string& root, const ScanFilterFn& filter) : root_(root), filter_(filter) {}

  Status ScanDirectory(const std::string& rel) {
    std::string abs = rel == "." ? root_ : JoinPath(root_, rel);
    // By descriptor, without following links: a directory swapped for a link since its
    // lstat is refused, not entered.
    auto opened = OpenFile(abs, O_RDONLY | O_DIRECTORY);
    if (!opened.ok()) {
      if (opened.status().code() == StatusCode::kNotFound && rel != ".") return Status::Ok();
      return opened.status().WithContext("open directory");
    }
    DIR* dir = ::fdopendir(opened.value().get());
    if (!dir) return ErrnoStatus("open directory", abs, errno);
    opened.value().Release();  // closedir closes it
    std::vector<std::string> names;
    errno = 0;
    while (struct dirent* d = ::readdir(dir)) {
      std::string_view name = d->d_name;
      if (name != "." && name != "..") names.emplace_back(name);
    }
    int read_errno = errno;
    ::closedir(dir);
    if (read_errno != 0) return ErrnoStatus("read directory", abs, read_errno);
    std::sort(names.begin(), names.end());
    for (const std::string& name : names) {
      std::string child_rel = rel == "." ? name : JoinPath(rel, name);
      RETURN_IF_ERROR(Visit(child_rel));
    }
    return Status::Ok();
  }

  Status Visit(const std::string& rel) {
    std::string abs = rel == "." ? root_ : JoinPath(root_, rel);
    struct stat st;
    if (::lstat(abs.c_str(), &st) != 0) {
      if (errno == ENOENT) return Status::Ok();
      return ErrnoStatus("stat", abs, errno);
    }
    bool is_dir = S_ISDIR(st.st_mode);
    ScanFilter verdict = (filter_ && rel != ".") ? filter_(rel, is_dir) : ScanFilter::kInclude;
    if (verdict == ScanFilter::kSkip) return Status::Ok();
    TreeEntry e = EntryFromStat(rel, st);
    if (is_dir) {
      e.type = EntryType::kDirectory;
      result_.entries.push_back(std::move(e));
      if (verdict == ScanFilter::kIncludeEmpty) return Status::Ok();
      return ScanDirectory(rel);
    }
    if (S_ISREG(st.st_mode)) {
      e.type = EntryType::kFile;
      e.size = static_cast<uint64_t>(st.st_size);
    } else if (S_ISLNK(st.st_mode)) {
      e.type = EntryType::kSymlink;
      std::string target(static_cast<size_t>(st.st_size) + 1, '\0');
      ssize_t n = ::readlink(abs.c_str(), target.data(), target.size());
      if (n < 0) {
        if (errno == ENOENT) return Status::Ok();
        return ErrnoStatus("readlink", abs, errno);
      }
      target.resize(static_cast<size_t>(n));
      e.symlink_target = std::move(target);
      if (e.symlink_target.empty()) return Status::Ok();
    } else {
      result_.warnings.push_back(fmt::format("skipped special file '{}'", rel));
      return Status::Ok();
    }
    result_.entries.push_back(std::move(e));
    return Status::Ok();
  }

  ScanResult Take() { return std::move(result_); }

 private:
  const std::string& root_;
  const ScanFilterFn& filter_;
  ScanResult result_;
};

}  // namespace

Result<ScanResult> ScanTree(const std::string& root, const ScanFilterFn& filter) {
  struct stat st;
  if (::stat(root.c_str(), &st) != 0) return ErrnoStatus("stat", root, errno);
  if (!S_ISDIR(st.st_mode)) {
    return Status::InvalidArgument(fmt::format("'{}' is not a directory", root));
  }
  Scanner scanner(root, filter);
  RETURN_IF_ERROR(scanner.Visit("."));
  ScanResult result = scanner.Take();
  // Depth-first in sorted name order is not byte order of full paths ("a/b" vs "a-b"):
  // sort once more so the manifest order is exactly EntryPathLess.
  std::sort(result.entries.begin(), result.entries.end(),
            [](const TreeEntry& a, const TreeEntry& b) { return EntryPathLess(a.path, b.path); });
  return result;
}

}  // namespace dbaas::storage
