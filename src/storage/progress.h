// Progress counters a long storage operation updates and a UI thread may read at any time.
#pragma once

#include <atomic>
#include <cstdint>

namespace dbaas::storage {

struct Progress {
  std::atomic<uint64_t> total_bytes{0};
  std::atomic<uint64_t> done_bytes{0};
  std::atomic<uint64_t> total_files{0};
  std::atomic<uint64_t> done_files{0};

  void AddDone(uint64_t bytes) { done_bytes.fetch_add(bytes, std::memory_order_relaxed); }
};

// Null-safe helper for optional progress pointers.
inline void ReportBytes(Progress* p, uint64_t bytes) {
  if (p) p->AddDone(bytes);
}

}  // namespace dbaas::storage
