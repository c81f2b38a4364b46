// Logging: spdlog to stderr, one line per event. Layers log through these helpers so the
// daemon can later route the same lines to a structured sink.
#pragma once

#include <spdlog/spdlog.h>

namespace dbaas {

// Sets the level from a name ("debug", "info", "warn", "error", "off").
void SetLogLevel(std::string_view level);

}  // namespace dbaas
