#include "base/log.h"

#include <string>

namespace dbaas {

void SetLogLevel(std::string_view level) {
  spdlog::set_level(spdlog::level::from_str(std::string(level)));
}

}  // namespace dbaas
