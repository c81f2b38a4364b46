#include "base/log.h"

#include <string>

namespace dbaas {

void SetLogLevel(std::string_view level) {
  spdlog::set_level(spdlog::level::from_str(std::string(level)));
}

void WarnIfError(const Status& status, std::string_view what) {
  if (!status.ok()) spdlog::warn("{}: {}", what, status.ToString());
}

}  // namespace dbaas
