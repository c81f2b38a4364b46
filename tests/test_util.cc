#include "test_util.h"

#include <stdlib.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cctype>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <map>
#include <random>
#include <sstream>
#include <stdexcept>

#include <gtest/gtest.h>

#include "base/process.h"

namespace dbaas::testing {
namespace fs = std::filesystem;

TempDir::TempDir() {
  const char* base = getenv("TMPDIR");
  std::string tmpl = std::string(base && *base ? base : "/tmp") + "/dbaas-test-XXXXXX";
  if (!mkdtemp(tmpl.data())) throw std::runtime_error("mkdtemp failed");
  path_ = tmpl;
}

// Instances a test left (it did not delete them) keep their OS users (runtime/instance_users.h):
// the users named by instance.json files under `root` are removed with the directory, so
// test runs do not fill the machine's user database.
void RemoveInstanceUsersUnder(const std::string& root) {
  std::error_code ec;
  for (auto it = fs::recursive_directory_iterator(root, ec);
       !ec && it != fs::recursive_directory_iterator(); it.increment(ec)) {
    if (it.depth() > 4) it.disable_recursion_pending();
    if (it->path().filename() != "instance.json") continue;
    std::ifstream in(it->path());
    std::stringstream text;
    text << in.rdbuf();
    std::string json = text.str();
    auto at = json.find("\"os_user\": \"dbaas-");
    if (at == std::string::npos) continue;
    std::string name = json.substr(at + 12, 14);  // dbaas- and 8 hex digits
    bool plain = name.size() == 14;
    for (char c : name.substr(6)) plain &= std::isxdigit(static_cast<unsigned char>(c)) != 0;
    if (!plain) continue;
    std::string commands = "pkill -KILL -u " + name + "; userdel " + name +
                           " 2>/dev/null; groupdel " + name + " 2>/dev/null";
    (void)!std::system(commands.c_str());
  }
}

TempDir::~TempDir() {
  if (::geteuid() == 0) RemoveInstanceUsersUnder(path_);
  std::error_code ec;
  fs::remove_all(path_, ec);
}

void WriteFile(const std::string& path, const std::string& content) {
  fs::create_directories(fs::path(path).parent_path());
  std::ofstream out(path, std::ios::binary | std::ios::trunc);
  out << content;
  if (!out) throw std::runtime_error("cannot write " + path);
}

std::string ReadFile(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

std::string RandomBytes(size_t n, unsigned seed) {
  std::mt19937_64 rng(seed);
  std::string out(n, '\0');
  for (size_t i = 0; i < n; i += 8) {
    uint64_t v = rng();
    for (size_t j = 0; j < 8 && i + j < n; ++j) out[i + j] = static_cast<char>(v >> (8 * j));
  }
  return out;
}

std::string DiffTrees(const std::string& a, const std::string& b) {
  auto describe = [](const std::string& root) {
    std::map<std::string, std::string> out;
    for (const auto& e : fs::recursive_directory_iterator(root)) {
      std::string rel = e.path().lexically_relative(root).string();  // links not resolved
      struct stat st;
      lstat(e.path().c_str(), &st);
      std::string d = std::to_string(st.st_mode) + " ";
      if (S_ISLNK(st.st_mode)) {
        d += "link:" + fs::read_symlink(e.path()).string();
      } else if (S_ISREG(st.st_mode)) {
        d += "mtime:" + std::to_string(st.st_mtim.tv_sec) + "." +
             std::to_string(st.st_mtim.tv_nsec) + " file:" + ReadFile(e.path());
      } else if (S_ISDIR(st.st_mode)) {
        d += "dir mtime:" + std::to_string(st.st_mtim.tv_sec);
      } else {
        continue;  // special files are not snapshotted
      }
      out[rel] = d;
    }
    return out;
  };
  auto da = describe(a), db = describe(b);
  for (const auto& [path, d] : da) {
    auto it = db.find(path);
    if (it == db.end()) return "missing in " + b + ": " + path;
    if (it->second != d) return "differs: " + path;
  }
  for (const auto& [path, d] : db) {
    if (!da.count(path)) return "extra in " + b + ": " + path;
  }
  return "";
}

XfsMount::~XfsMount() {
  if (mounted_) {
    RemoveInstanceUsersUnder(mnt_);  // instances made on the mount, before it goes
    std::string cmd = "umount " + mnt_;
    if (std::system(cmd.c_str()) != 0) ::umount2(mnt_.c_str(), MNT_DETACH);
  }
}

std::string XfsMount::Make(const std::string& size) {
  if (::geteuid() != 0) return "not root: cannot loop-mount an XFS image";
  if (std::system("command -v mkfs.xfs >/dev/null 2>&1") != 0) {
    return "mkfs.xfs not installed (Debian package xfsprogs)";
  }
  fs::create_directories(mnt_);
  // Test paths are ours (mkdtemp) and sizes constants: no user input reaches these lines.
  std::string mk = "truncate -s " + size + " " + image_ + " && mkfs.xfs -q -m reflink=1 " + image_;
  if (std::system(mk.c_str()) != 0) return "mkfs.xfs failed";
  std::string mount = "mount -o loop " + image_ + " " + mnt_ + " 2>/dev/null";
  if (std::system(mount.c_str()) != 0) return "loop mount failed (no loop devices here?)";
  mounted_ = true;
  // Servers run as their own users below the mount point.
  ::chmod(mnt_.c_str(), 0711);
  return "";
}

MemoryMount::~MemoryMount() {
  if (mounted_) ::umount2(dir_.c_str(), MNT_DETACH);
}

std::string MemoryMount::Make(const char* type, const char* options) {
  if (::geteuid() != 0) return "not root: cannot mount";
  fs::create_directories(dir_);
  if (::mount(type, dir_.c_str(), type, 0, options) != 0) {
    return std::string("mount -t ") + type + ": " + std::strerror(errno);
  }
  mounted_ = true;
  return "";
}

void MakeSelfSignedCertificate(const std::string& cert_path, const std::string& key_path,
                               const std::string& subject_alt_names) {
  ProcessOptions o;
  o.argv = {"openssl",
            "req",
            "-x509",
            "-newkey",
            "ec",
            "-pkeyopt",
            "ec_paramgen_curve:P-256",
            "-nodes",
            "-days",
            "2",
            "-subj",
            "/CN=dbaas test",
            "-addext",
            "subjectAltName=" + subject_alt_names,
            "-keyout",
            key_path,
            "-out",
            cert_path};
  auto ran = RunProcess(o, std::chrono::seconds(60));
  ASSERT_TRUE(ran.ok()) << ran.status().ToString();
  ASSERT_EQ(ran->exit_code, 0) << ran->output;
}

}  // namespace dbaas::testing
