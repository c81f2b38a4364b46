#include "runtime/instance_users.h"

#include <fcntl.h>
#include <grp.h>
#include <pwd.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cstdlib>
#include <vector>

#include <fmt/format.h>

#include "base/files.h"
#include "base/hex.h"
#include "base/log.h"

namespace dbaas::runtime {

Result<std::optional<UserIds>> ServerUser(const std::string& name) {
  if (::geteuid() != 0) return std::optional<UserIds>();
  auto user = LookupUser(name);
  if (!user.ok() && user.status().code() == StatusCode::kNotFound) {
    ProcessOptions add;
    add.argv = {"useradd", "--system", "--no-create-home", "--shell", "/usr/sbin/nologin", name};
    RETURN_IF_ERROR(RunChecked(add, std::chrono::seconds(30)).status());
    user = LookupUser(name);
  }
  if (!user.ok()) return user.status();
  return std::optional<UserIds>(user.value());
}

namespace {

// A uid or gid some user or group of the machine has.
bool IdTaken(uid_t id) {
  std::vector<char> buf(16384);
  struct passwd pw;
  struct passwd* user = nullptr;
  struct group gr;
  struct group* group = nullptr;
  ::getpwuid_r(id, &pw, buf.data(), buf.size(), &user);
  if (user != nullptr) return true;
  ::getgrgid_r(static_cast<gid_t>(id), &gr, buf.data(), buf.size(), &group);
  return group != nullptr;
}

// The next uid for an instance's user: above the high-water mark and free in the user
// database. Holds the mark's file locked while useradd runs, so that two daemons on one
// machine cannot take the same uid.
class UidAllocation {
 public:
  static Result<UidAllocation> Begin() {
    RETURN_IF_ERROR(MakeDirs(DirName(kInstanceUidFile), 0700));
    ASSIGN_OR_RETURN(UniqueFd fd, OpenFile(kInstanceUidFile, O_RDWR | O_CREAT, 0600));
    if (::flock(fd.get(), LOCK_EX) != 0) return ErrnoStatus("lock", kInstanceUidFile, errno);
    char buf[32] = {};
    ssize_t n = ::pread(fd.get(), buf, sizeof buf - 1, 0);
    if (n < 0) return ErrnoStatus("read", kInstanceUidFile, errno);
    uid_t last = static_cast<uid_t>(std::strtoul(buf, nullptr, 10));
    uid_t uid = std::max<uid_t>(last + 1, kFirstInstanceUid);
    while (uid <= kLastInstanceUid && IdTaken(uid)) ++uid;
    if (uid > kLastInstanceUid) {
      return Status::IoError(
          fmt::format("no uid left for an instance's OS user (range {}-{})", kFirstInstanceUid,
                      kLastInstanceUid),
          fmt::format("every uid of the range was given once; see {}", kInstanceUidFile));
    }
    return UidAllocation(std::move(fd), uid);
  }
  uid_t uid() const { return uid_; }
  // Records the uid as given; the lock goes with the descriptor.
  Status Commit() {
    std::string text = std::to_string(uid_) + "\n";
    if (::ftruncate(fd_.get(), 0) != 0) return ErrnoStatus("truncate", kInstanceUidFile, errno);
    RETURN_IF_ERROR(PwriteAll(fd_.get(),
                              {reinterpret_cast<const uint8_t*>(text.data()), text.size()}, 0,
                              kInstanceUidFile));
    if (::fsync(fd_.get()) != 0) return ErrnoStatus("fsync", kInstanceUidFile, errno);
    return Status::Ok();
  }

 private:
  UidAllocation(UniqueFd fd, uid_t uid) : fd_(std::move(fd)), uid_(uid) {}
  UniqueFd fd_;
  uid_t uid_;
};

}  // namespace

Result<std::optional<UserIds>> MakeInstanceUser(const std::string& instance,
                                                const std::string& record_path) {
  if (::geteuid() != 0) return std::optional<UserIds>();
  ASSIGN_OR_RETURN(UidAllocation allocation, UidAllocation::Begin());
  std::string name = "dbaas-" + RandomHex(4);
  RETURN_IF_ERROR(WriteFileAtomic(record_path, name + "\n", 0600));
  std::string uid = std::to_string(allocation.uid());
  // Its own group of the same number; no home, no login, not in lastlog (a high uid would
  // make that file sparse and huge).
  ProcessOptions group;
  group.argv = {"groupadd", "-g", uid, name};
  RETURN_IF_ERROR(RunChecked(group, std::chrono::seconds(30))
                      .status()
                      .WithContext(fmt::format("OS group for instance '{}'", instance)));
  ProcessOptions add;
  add.argv = {"useradd",
              "-u",
              uid,
              "-g",
              uid,
              "-M",
              "-l",
              "-d",
              "/nonexistent",
              "-s",
              "/usr/sbin/nologin",
              "-c",
              "dbaas instance " + instance,
              name};
  Status added = RunChecked(add, std::chrono::seconds(30)).status();
  if (!added.ok()) {
    ProcessOptions undo;
    undo.argv = {"groupdel", name};
    WarnIfError(RunProcess(undo, std::chrono::seconds(30)),
                "remove the group of a user that could not be made");
    return added.WithContext(fmt::format("OS user for instance '{}'", instance));
  }
  RETURN_IF_ERROR(allocation.Commit());
  ASSIGN_OR_RETURN(UserIds user, LookupUser(name));
  return std::optional<UserIds>(user);
}

Result<std::optional<UserIds>> InstanceUser(const std::string& name) {
  if (::geteuid() != 0) return std::optional<UserIds>();
  ASSIGN_OR_RETURN(UserIds user, LookupUser(name));
  if (user.uid < kFirstInstanceUid || user.uid > kLastInstanceUid) {
    return Status::FailedPrecondition(
        fmt::format("OS user '{}' (uid {}) is not an instance's", name, user.uid),
        "instance.json names a user dbaas did not make");
  }
  return std::optional<UserIds>(user);
}

Status RemoveInstanceUser(const std::optional<UserIds>& user) {
  if (!user || user->name.empty()) return Status::Ok();
  if (user->uid < kFirstInstanceUid || user->uid > kLastInstanceUid) return Status::Ok();
  // Whatever still runs as the user (a backend the server left) goes first: userdel
  // refuses a user with processes.
  ProcessOptions kill;
  kill.argv = {"pkill", "-KILL", "-U", std::to_string(user->uid)};
  WarnIfError(RunProcess(kill, std::chrono::seconds(10)), "kill what runs as the instance's user");
  ProcessOptions del;
  del.argv = {"userdel", user->name};
  ASSIGN_OR_RETURN(RunResult r, RunProcess(del, std::chrono::seconds(30)));
  // 6: no such user (gone already).
  if (r.exit_code != 0 && r.exit_code != 6) {
    return Status::IoError(
        fmt::format("userdel {} exited with code {}: {}", user->name, r.exit_code, r.output));
  }
  ProcessOptions delgroup;
  delgroup.argv = {"groupdel", user->name};
  WarnIfError(RunProcess(delgroup, std::chrono::seconds(30)),
              "remove the instance user's group");  // userdel may have removed it
  return Status::Ok();
}

Status RemoveRecordedInstanceUser(const std::string& record_path) {
  auto text = ReadFileToString(record_path, 256);
  if (!text.ok()) {
    return text.status().code() == StatusCode::kNotFound ? Status::Ok() : text.status();
  }
  std::string name = text.value();
  while (!name.empty() && name.back() == '\n') name.pop_back();
  if (!name.starts_with("dbaas-")) {
    return Status::Corruption(fmt::format("'{}' names no instance user: '{}'", record_path, name));
  }
  auto user = InstanceUser(name);
  if (!user.ok()) {
    if (user.status().code() != StatusCode::kNotFound) return user.status();
    // Never made, or gone already; a group made just before a kill may be left.
    ProcessOptions delgroup;
    delgroup.argv = {"groupdel", name};
    WarnIfError(RunProcess(delgroup, std::chrono::seconds(30)), "remove the instance user's group");
    return Status::Ok();
  }
  return RemoveInstanceUser(user.value());
}

Status ChownTree(const std::string& path, const std::optional<UserIds>& user) {
  if (!user) return Status::Ok();
  if (::lchown(path.c_str(), user->uid, user->gid) != 0) return ErrnoStatus("chown", path, errno);
  struct stat st;
  if (::lstat(path.c_str(), &st) != 0) return ErrnoStatus("stat", path, errno);
  if (!S_ISDIR(st.st_mode)) return Status::Ok();
  return VisitTreeBelow(
      path, [&](int dir_fd, const std::string& name, const std::string& child, const struct stat&) {
        if (::fchownat(dir_fd, name.c_str(), user->uid, user->gid, AT_SYMLINK_NOFOLLOW) != 0 &&
            errno != ENOENT) {
          return ErrnoStatus("chown", child, errno);
        }
        return Status::Ok();
      });
}

}  // namespace dbaas::runtime
