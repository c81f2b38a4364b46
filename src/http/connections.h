// The connections an HTTP server holds, capped per peer address and in all, so that many
// slow or hostile clients cost a bounded amount and cannot crowd out the rest.
//
// A connection is either waiting (idle between requests, sending its request, or having
// its last bytes drained before it closes: it costs a socket and a small buffer, no thread)
// or being served (an authenticated request, or any request whose handler runs). When a
// new connection would pass a cap, the connection of that peer (or, for the total cap, of
// any peer) that has been waiting longest is closed to make room: a client that cannot
// send a request in time loses its connection, not the next client. When every
// connection within the cap is being served, the new one is refused.
#pragma once

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <mutex>
#include <string>
#include <unordered_map>

namespace dbaas::http {

class ConnectionRegistry {
 public:
  class Member {
   public:
    virtual ~Member() = default;
    // Close the connection soon unless it is being served. Any thread.
    virtual void Evict() = 0;
  };
  enum class Phase { kWaiting, kServing };
  struct Admission {
    uint64_t id = 0;     // 0: refused
    size_t evicted = 0;  // connections closed to make room
  };

  ConnectionRegistry(size_t max_total, size_t max_per_peer)
      : max_total_(max_total), max_per_peer_(max_per_peer) {}

  // A new connection from `peer` (an address), waiting.
  Admission Add(const std::string& peer, std::weak_ptr<Member> member);
  void SetPhase(uint64_t id, Phase phase);
  void Remove(uint64_t id);
  // Every waiting connection (at shutdown).
  void EvictAll();

 private:
  struct Entry {
    std::string peer;
    Phase phase = Phase::kWaiting;
    std::chrono::steady_clock::time_point since;  // in this phase
    std::weak_ptr<Member> member;
  };
  // The connection waiting longest (of `peer`, unless empty); 0 when none is waiting.
  uint64_t OldestWaiting(const std::string* peer) const;
  void EraseLocked(uint64_t id);

  const size_t max_total_;
  const size_t max_per_peer_;
  std::mutex mu_;
  uint64_t next_id_ = 1;
  std::unordered_map<uint64_t, Entry> entries_;
  std::unordered_map<std::string, size_t> per_peer_;
};

}  // namespace dbaas::http
