#include "engines/instance.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>

#include <fmt/format.h>

#include "base/files.h"

namespace dbaas::engines {

std::string ConnectionInfo::Uri(bool with_password) const {
  // Generated passwords are hex and user names plain: nothing to percent-encode.
  std::string auth = with_password ? user + ":" + password : user;
  std::string scheme = type == "postgresql" ? "postgresql" : "mysql";
  return fmt::format("{}://{}@{}:{}/{}", scheme, auth, host, port, database);
}

Result<uint16_t> FindFreePort() {
  int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0) return ErrnoStatus("socket", "127.0.0.1", errno);
  UniqueFd guard(fd);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  addr.sin_port = 0;
  socklen_t len = sizeof(addr);
  if (::bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)) != 0 ||
      ::getsockname(fd, reinterpret_cast<sockaddr*>(&addr), &len) != 0) {
    return ErrnoStatus("bind", "127.0.0.1:0", errno);
  }
  return ntohs(addr.sin_port);
}

Status MakeInstanceDir(const std::string& dir, const std::string& name) {
  Status made = MakeDir(dir, 0711);
  if (made.code() == StatusCode::kAlreadyExists) {
    return Status::AlreadyExists(fmt::format("instance '{}' already exists", name),
                                 "choose another name, or delete that instance first");
  }
  return made;
}

}  // namespace dbaas::engines
