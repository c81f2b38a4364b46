#include "http/connections.h"

#include <vector>

namespace dbaas::http {

ConnectionRegistry::Admission ConnectionRegistry::Add(const std::string& peer,
                                                      std::weak_ptr<Member> member) {
  Admission out;
  std::vector<std::weak_ptr<Member>> victims;
  {
    std::lock_guard lock(mu_);
    // Room is made under the lock, before the new entry counts, so two connections
    // arriving together cannot both take the last place.
    auto make_room = [&](const std::string* of_peer) {
      uint64_t victim = OldestWaiting(of_peer);
      if (victim == 0) return false;
      victims.push_back(entries_[victim].member);
      EraseLocked(victim);
      return true;
    };
    auto peer_count = [&] {
      auto it = per_peer_.find(peer);
      return it == per_peer_.end() ? size_t{0} : it->second;
    };
    while (peer_count() >= max_per_peer_) {
      if (!make_room(&peer)) break;
    }
    while (peer_count() < max_per_peer_ && entries_.size() >= max_total_) {
      if (!make_room(nullptr)) break;
    }
    if (peer_count() < max_per_peer_ && entries_.size() < max_total_) {
      out.id = next_id_++;
      entries_[out.id] =
          Entry{peer, Phase::kWaiting, std::chrono::steady_clock::now(), std::move(member)};
      ++per_peer_[peer];
    }
  }
  // Outside the lock: a member may call back into Remove() while being told.
  for (auto& weak : victims) {
    if (auto m = weak.lock()) m->Evict();
  }
  out.evicted = victims.size();
  return out;
}

void ConnectionRegistry::SetPhase(uint64_t id, Phase phase) {
  std::lock_guard lock(mu_);
  auto it = entries_.find(id);
  if (it == entries_.end() || it->second.phase == phase) return;
  it->second.phase = phase;
  it->second.since = std::chrono::steady_clock::now();
}

void ConnectionRegistry::Remove(uint64_t id) {
  std::lock_guard lock(mu_);
  EraseLocked(id);
}

void ConnectionRegistry::EvictAll() {
  std::vector<std::weak_ptr<Member>> victims;
  {
    std::lock_guard lock(mu_);
    for (const auto& [id, e] : entries_) {
      if (e.phase == Phase::kWaiting) victims.push_back(e.member);
    }
  }
  for (auto& weak : victims) {
    if (auto m = weak.lock()) m->Evict();
  }
}

uint64_t ConnectionRegistry::OldestWaiting(const std::string* peer) const {
  uint64_t best = 0;
  std::chrono::steady_clock::time_point best_since;
  // A scan: it runs only when a cap is reached, over at most max_total_ entries.
  for (const auto& [id, e] : entries_) {
    if (e.phase != Phase::kWaiting || (peer && e.peer != *peer)) continue;
    if (best == 0 || e.since < best_since) {
      best = id;
      best_since = e.since;
    }
  }
  return best;
}

void ConnectionRegistry::EraseLocked(uint64_t id) {
  auto it = entries_.find(id);
  if (it == entries_.end()) return;
  auto peer = per_peer_.find(it->second.peer);
  if (peer != per_peer_.end() && --peer->second == 0) per_peer_.erase(peer);
  entries_.erase(it);
}

}  // namespace dbaas::http
