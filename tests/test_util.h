// Helpers for tests: temporary directories, files, and tree comparison.
#pragma once

#include <string>

namespace dbaas::testing {

// Kills the servers of the instances under `root` (SIGKILL to their OS users: a power
// loss for them) and removes those users. TempDir does it when it goes.
void RemoveInstanceUsersUnder(const std::string& root);

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

// A loop-mounted XFS image (reflink=1) under `dir`, unmounted on destruction: where thin
// (reflink) snapshots work. Needs root and mkfs.xfs.
class XfsMount {
 public:
  explicit XfsMount(const std::string& dir) : image_(dir + "/xfs.img"), mnt_(dir + "/mnt") {}
  ~XfsMount();
  XfsMount(const XfsMount&) = delete;
  XfsMount& operator=(const XfsMount&) = delete;
  // Returns an empty string on success, else why it could not be made (a reason to skip).
  std::string Make(const std::string& size = "600M");
  const std::string& path() const { return mnt_; }

 private:
  std::string image_, mnt_;
  bool mounted_ = false;
};

// An in-memory filesystem mounted on `dir` (made if missing) and unmounted on destruction:
// ramfs (which refuses O_DIRECT) or a tmpfs of a given size (which runs out of space).
// Needs root.
class MemoryMount {
 public:
  explicit MemoryMount(std::string dir) : dir_(std::move(dir)) {}
  ~MemoryMount();
  MemoryMount(const MemoryMount&) = delete;
  MemoryMount& operator=(const MemoryMount&) = delete;
  // `type` "ramfs" or "tmpfs"; `options` as mount(2)'s data ("size=1m"). Returns an empty
  // string on success, else why it could not be mounted (a reason to skip).
  std::string Make(const char* type, const char* options = "");
  const std::string& path() const { return dir_; }

 private:
  std::string dir_;
  bool mounted_ = false;
};

// A self-signed certificate (EC P-256, 2 days) and its key, made with the openssl
// command, for `subject_alt_names` ("IP:127.0.0.1,DNS:x"); fails the test if it cannot.
void MakeSelfSignedCertificate(const std::string& cert_path, const std::string& key_path,
                               const std::string& subject_alt_names);

}  // namespace dbaas::testing
