#include "engines/backup_files.h"

#include <unistd.h>

#include "base/kill_points.h"
#include "storage/snapshot_restore.h"

namespace dbaas::engines {

storage::ExtraFile ServerOwnedFile(const std::optional<UserIds>& owner, std::string path) {
  storage::ExtraFile x;
  x.path = std::move(path);
  x.uid = owner ? owner->uid : ::getuid();
  x.gid = owner ? owner->gid : ::getgid();
  return x;
}

Status FillFromSnapshot(const storage::Repository& repo, const storage::Manifest& snapshot,
                        const std::string& data_dir, storage::Progress* progress) {
  storage::RestoreOptions o;
  o.target = data_dir;
  o.sync = true;
  o.progress = progress;
  RETURN_IF_ERROR(storage::RestoreSnapshot(repo, snapshot, o).status());
  ReachKillPoint(KillPoint::kRestoreFilled);
  return Status::Ok();
}

}  // namespace dbaas::engines
