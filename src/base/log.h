// Logging: spdlog to stderr, one line per event. Layers log through these helpers so the
// daemon can later route the same lines to a structured sink.
#pragma once

#include <string_view>

#include <spdlog/spdlog.h>

#include "base/status.h"

namespace dbaas {

// Sets the level from a name ("debug", "info", "warn", "error", "off").
void SetLogLevel(std::string_view level);

// For a Status nothing more can be done about where it arises (a cleanup on a path that
// failed already, an event for the catalog's log, a best-effort step): it is logged as a
// warning with `what` ("remove the stage of 'db'"), never dropped silently.
void WarnIfError(const Status& status, std::string_view what);
template <typename T>
void WarnIfError(const Result<T>& result, std::string_view what) {
  WarnIfError(result.status(), what);
}

}  // namespace dbaas
