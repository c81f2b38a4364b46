#include "engines/server_user.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include "base/files.h"

namespace dbaas::engines {

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

}  // namespace dbaas::engines
