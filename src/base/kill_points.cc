#include "base/kill_points.h"

#include <array>
#include <atomic>
#include <charconv>
#include <cstdio>
#include <thread>

#include <fmt/format.h>

namespace dbaas {
namespace {

constexpr std::array<std::pair<KillPoint, std::string_view>, 4> kNames = {{
    {KillPoint::kBackupMode, "backup-mode"},
    {KillPoint::kRestoreFilled, "restore-filled"},
    {KillPoint::kPrimaryDecided, "primary-decided"},
    {KillPoint::kObjectsApplied, "objects-applied"},
}};

// Milliseconds per point; atomics: armed once at start, read from any thread.
std::array<std::atomic<int64_t>, kNames.size()> armed{};

size_t IndexOf(KillPoint point) { return static_cast<size_t>(point); }

}  // namespace

const std::vector<KillPoint>& AllKillPoints() {
  static const std::vector<KillPoint> all = [] {
    std::vector<KillPoint> v;
    for (const auto& [point, name] : kNames) v.push_back(point);
    return v;
  }();
  return all;
}

std::string_view KillPointName(KillPoint point) {
  for (const auto& [p, name] : kNames) {
    if (p == point) return name;
  }
  return "unknown";
}

std::optional<KillPoint> ParseKillPoint(std::string_view name) {
  for (const auto& [p, n] : kNames) {
    if (n == name) return p;
  }
  return std::nullopt;
}

void ArmKillPoint(KillPoint point, std::chrono::milliseconds hold) {
  armed[IndexOf(point)].store(hold.count());
}

Status ArmKillPointFromSpec(std::string_view spec) {
  size_t eq = spec.find('=');
  std::string known;
  for (const auto& [p, n] : kNames) known += (known.empty() ? "" : ", ") + std::string(n);
  auto point = ParseKillPoint(spec.substr(0, eq));
  int64_t ms = -1;
  if (eq != std::string_view::npos) {
    std::string_view digits = spec.substr(eq + 1);
    auto [end, ec] = std::from_chars(digits.data(), digits.data() + digits.size(), ms);
    if (ec != std::errc() || end != digits.data() + digits.size()) ms = -1;
  }
  if (!point || ms < 0) {
    return Status::InvalidArgument(fmt::format("'{}' is not a kill point hold", spec),
                                   fmt::format("give NAME=MILLISECONDS, NAME one of {}", known));
  }
  ArmKillPoint(*point, std::chrono::milliseconds(ms));
  return Status::Ok();
}

void ReachKillPoint(KillPoint point) {
  int64_t ms = armed[IndexOf(point)].load();
  if (ms <= 0) return;
  std::fprintf(stderr, "holding at %s for %lld ms\n", std::string(KillPointName(point)).c_str(),
               static_cast<long long>(ms));
  std::fflush(stderr);
  std::this_thread::sleep_for(std::chrono::milliseconds(ms));
}

}  // namespace dbaas
