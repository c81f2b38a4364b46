#include "storage/source_tree.h"

#include <fcntl.h>

#include <string_view>
#include <unordered_set>

namespace dbaas::storage {
namespace {

class LocalSourceFile final : public SourceFile {
 public:
  LocalSourceFile(UniqueFd fd, std::string path) : fd_(std::move(fd)), path_(std::move(path)) {}
  Result<size_t> Read(uint8_t* data, size_t length, uint64_t offset) override {
    return PreadFull(fd_.get(), data, length, offset, path_);
  }

 private:
  UniqueFd fd_;
  std::string path_;
};

}  // namespace

Result<UniqueFd> OpenForReading(const std::string& path) {
  auto fd = OpenFile(path, O_RDONLY | O_NOATIME);
  if (!fd.ok() && fd.status().code() == StatusCode::kIoError) return OpenFile(path, O_RDONLY);
  return fd;
}

Result<ScanResult> LocalSourceTree::Scan(const ScanFilterFn& filter) {
  return ScanTree(root_, filter);
}

Result<std::unique_ptr<SourceFile>> LocalSourceTree::Open(const std::string& path) {
  std::string abs = JoinPath(root_, path);
  ASSIGN_OR_RETURN(UniqueFd fd, OpenForReading(abs));
  return std::unique_ptr<SourceFile>(std::make_unique<LocalSourceFile>(std::move(fd), abs));
}

std::vector<TreeEntry> FilterEntries(std::vector<TreeEntry> entries, const ScanFilterFn& filter) {
  if (!filter) return entries;
  // Directories whose contents are out: skipped ones and those kept empty.
  std::unordered_set<std::string> closed;
  auto under_closed = [&](std::string_view path) {
    for (size_t slash = path.rfind('/'); slash != std::string_view::npos;
         slash = slash == 0 ? std::string_view::npos : path.rfind('/', slash - 1)) {
      if (closed.count(std::string(path.substr(0, slash)))) return true;
    }
    return false;
  };
  std::vector<TreeEntry> kept;
  kept.reserve(entries.size());
  for (TreeEntry& e : entries) {
    if (e.path == ".") {
      kept.push_back(std::move(e));
      continue;
    }
    if (under_closed(e.path)) continue;
    const bool is_dir = e.type == EntryType::kDirectory;
    ScanFilter verdict = filter(e.path, is_dir);
    if (verdict == ScanFilter::kSkip) {
      if (is_dir) closed.insert(e.path);
      continue;
    }
    if (is_dir && verdict == ScanFilter::kIncludeEmpty) closed.insert(e.path);
    kept.push_back(std::move(e));
  }
  return kept;
}

}  // namespace dbaas::storage
