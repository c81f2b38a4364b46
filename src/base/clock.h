// The wall clock as the repository's formats record it.
#pragma once

#include <chrono>
#include <cstdint>

namespace dbaas {

// Nanoseconds since the Unix epoch, now.
inline int64_t NowUnixNs() {
  return std::chrono::duration_cast<std::chrono::nanoseconds>(
             std::chrono::system_clock::now().time_since_epoch())
      .count();
}

}  // namespace dbaas
