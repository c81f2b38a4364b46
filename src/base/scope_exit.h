// Runs a function when a scope ends, whichever way it ends: what an operation must undo or
// release on every path (a reservation, a transient snapshot).
#pragma once

#include <utility>

namespace dbaas {

template <typename Fn>
class ScopeExit {
 public:
  explicit ScopeExit(Fn fn) : fn_(std::move(fn)) {}
  ~ScopeExit() { fn_(); }
  ScopeExit(const ScopeExit&) = delete;
  ScopeExit& operator=(const ScopeExit&) = delete;

 private:
  Fn fn_;
};

}  // namespace dbaas
