#include "engines/server_user.h"

#include <unistd.h>

#include <filesystem>

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
  std::error_code ec;
  auto chown_one = [&](const std::string& p) -> Status {
    if (::lchown(p.c_str(), user->uid, user->gid) != 0) return ErrnoStatus("chown", p, errno);
    return Status::Ok();
  };
  RETURN_IF_ERROR(chown_one(path));
  if (!std::filesystem::is_directory(path, ec)) return Status::Ok();
  for (auto it = std::filesystem::recursive_directory_iterator(path, ec);
       !ec && it != std::filesystem::recursive_directory_iterator(); it.increment(ec)) {
    RETURN_IF_ERROR(chown_one(it->path().string()));
  }
  if (ec) return ErrnoStatus("list", path, ec.value());
  return Status::Ok();
}

}  // namespace dbaas::engines
