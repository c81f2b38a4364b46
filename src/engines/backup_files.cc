#include "engines/backup_files.h"

#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <thread>

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
  HoldForTests("DBAAS_TEST_HOLD_RESTORE_MS");
  return Status::Ok();
}

void HoldForTests(const char* name) {
  if (const char* ms = std::getenv(name)) {
    // Said on stderr so that the test knows, without a race, that we are at the point.
    std::fprintf(stderr, "holding at %s for %s ms\n", name, ms);
    std::fflush(stderr);
    std::this_thread::sleep_for(std::chrono::milliseconds(std::atoi(ms)));
  }
}

}  // namespace dbaas::engines
