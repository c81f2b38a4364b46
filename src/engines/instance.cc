#include "engines/instance.h"

#include <fmt/format.h>

namespace dbaas::engines {

std::string ConnectionInfo::Uri(bool with_password) const {
  // Generated passwords are hex and user names plain: nothing to percent-encode.
  std::string auth = with_password ? user + ":" + password : user;
  std::string scheme = type == "postgresql" ? "postgresql" : "mysql";
  return fmt::format("{}://{}@{}:{}/{}", scheme, auth, host, port, database);
}

std::string ConnectionInfo::MultiHostUri(bool with_password, const std::vector<HostPort>& servers,
                                         std::string_view session_attrs) const {
  std::string hosts;
  for (const HostPort& s : servers) {
    hosts += fmt::format("{}{}:{}", hosts.empty() ? "" : ",", s.host, s.port);
  }
  std::string auth = with_password ? user + ":" + password : user;
  return fmt::format("postgresql://{}@{}/{}?target_session_attrs={}", auth, hosts, database,
                     session_attrs);
}

}  // namespace dbaas::engines
