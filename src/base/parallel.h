// Runs a function over item indexes on a fixed number of threads. Items are taken in
// order from a shared counter, so work stays balanced when items differ in cost; memory
// stays bounded by what each thread holds for its one current item.
#pragma once

#include <atomic>
#include <cstddef>
#include <functional>
#include <mutex>
#include <thread>
#include <vector>

#include "base/status.h"

namespace dbaas {

// 0 means one thread per core.
inline unsigned ResolveThreads(unsigned threads) {
  if (threads > 0) return threads;
  unsigned n = std::thread::hardware_concurrency();
  return n == 0 ? 1 : n;
}

// Calls fn(item, thread_index) for every item in [0, count). Stops handing out items after
// the first error and returns it. `fn` must not throw.
inline Status ParallelFor(size_t count, unsigned threads,
                          const std::function<Status(size_t item, unsigned thread)>& fn) {
  threads = static_cast<unsigned>(std::min<size_t>(ResolveThreads(threads), count));
  if (threads <= 1) {
    for (size_t i = 0; i < count; ++i) RETURN_IF_ERROR(fn(i, 0));
    return Status::Ok();
  }
  std::atomic<size_t> next{0};
  std::atomic<bool> failed{false};
  std::mutex error_mutex;
  Status first_error;
  auto run = [&](unsigned thread) {
    while (!failed.load(std::memory_order_relaxed)) {
      size_t i = next.fetch_add(1);
      if (i >= count) return;
      Status st = fn(i, thread);
      if (!st.ok()) {
        std::lock_guard lock(error_mutex);
        if (!failed.exchange(true)) first_error = std::move(st);
        return;
      }
    }
  };
  std::vector<std::thread> pool;
  for (unsigned t = 1; t < threads; ++t) pool.emplace_back(run, t);
  run(0);
  for (auto& th : pool) th.join();
  return first_error;
}

}  // namespace dbaas
