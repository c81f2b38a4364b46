// Named points in long operations where a test holds the process, so that it can kill it
// exactly there (tests/api/kill_test.cc, the engines' kill tests). Production code marks a
// point with ReachKillPoint(KillPoint::k...); unless a test armed that point, nothing
// happens. Arming is explicit and never read from the environment by the code that
// reaches the point: dbaasd arms from its --test-hold flag, a test process calls
// ArmKillPoint.
#pragma once

#include <chrono>
#include <optional>
#include <string_view>
#include <vector>

#include "base/status.h"

namespace dbaas {

enum class KillPoint {
  kBackupMode,     // a backup holds the database's backup mode (or blocked commits)
  kRestoreFilled,  // a restore's files are in place, its server not started yet
  // A failover or switchover: the catalog names the new primary, the old one is fenced,
  // the new one not promoted yet.
  kPrimaryDecided,
  // An instance's objects are applied on a cluster (the Kubernetes runtime), its pod not
  // running yet, the catalog still saying "creating".
  kObjectsApplied,
};

// Every point, for tests that must cover them all.
const std::vector<KillPoint>& AllKillPoints();
std::string_view KillPointName(KillPoint point);  // "backup-mode", "restore-filled", ...
std::optional<KillPoint> ParseKillPoint(std::string_view name);

// From now on, reaching `point` holds the thread for `hold` (zero: disarmed).
void ArmKillPoint(KillPoint point, std::chrono::milliseconds hold);
// "NAME=MS": dbaasd's --test-hold.
Status ArmKillPointFromSpec(std::string_view spec);

// If armed: says "holding at <name> for <ms> ms" on stderr (so a test can wait for that
// line, without a race), then holds.
void ReachKillPoint(KillPoint point);

}  // namespace dbaas
