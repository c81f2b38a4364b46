#include "engines/instance.h"

#include <fmt/format.h>

namespace dbaas::engines {

std::string ConnectionInfo::Uri(bool with_password) const {
  // Generated passwords are hex and user names plain: nothing to percent-encode.
  std::string auth = with_password ? user + ":" + password : user;
  std::string scheme = type == "postgresql" ? "postgresql" : "mysql";
  return fmt::format("{}://{}@{}:{}/{}", scheme, auth, host, port, database);
}

}  // namespace dbaas::engines
