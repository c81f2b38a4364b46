// Helpers for tests: temporary directories, files, and tree comparison.
#pragma once

#include <string>

namespace dbaas::testing {

// A fresh directory under $TMPDIR (or /tmp), removed with its contents on destruction.
class TempDir {
 public:
  TempDir();
  ~TempDir();
  TempDir(const TempDir&) = delete;
  TempDir& operator=(const TempDir&) = delete;
  const std::string& path() const { return path_; }
  std::string operator/(const std::string& rel) const { return path_ + "/" + rel; }

 private:
  std::string path_;
};

void WriteFile(const std::string& path, const std::string& content);
std::string ReadFile(const std::string& path);
std::string RandomBytes(size_t n, unsigned seed);

// Empty when the trees are equal in content, types, symlink targets, modes and file mtimes;
// otherwise a description of the first difference.
std::string DiffTrees(const std::string& a, const std::string& b);

}  // namespace dbaas::testing
