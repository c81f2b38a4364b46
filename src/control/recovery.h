// Point-in-time recovery, the service's side of the engines' archived log (engines/engine.h):
// the window an instance can be restored into, its named restore points, the base backup
// and archive a restore to a target starts from, and WAL retention following backup
// retention.
//
// Thread-safety: every method may be called from any thread; it holds no lock of its own
// (the catalog's and the repository's holds are taken inside).
#pragma once

#include <cstdint>
#include <functional>
#include <string>
#include <vector>

#include "base/status.h"
#include "catalog/catalog.h"
#include "control/repository_access.h"
#include "control/requests.h"
#include "engines/engine.h"

namespace dbaas::control {

// What point-in-time recovery can reach for an instance: from its oldest backup's end to
// the last transaction in its archived WAL.
struct RecoveryWindow {
  std::string instance;
  std::string engine;  // the instance's type
  std::string wal_archive;
  int64_t earliest_unix_us = 0;
  int64_t latest_unix_us = 0;
  std::string earliest_lsn;
  std::string latest_lsn;
  std::string last_segment;   // the newest WAL segment (binlog) archived without a gap
  std::string earliest_gtid;  // MariaDB: the GTID positions at either end
  std::string latest_gtid;
  size_t backups = 0;  // the backups it starts from
};

class Recovery {
 public:
  // `archive_removed` hears of each WAL archive PruneWalArchives removes whole (its copies
  // in buckets go too).
  // `open_primary` opens an instance's primary (wherever its members put it; not started:
  // it reaches the running server).
  using OpenPrimary =
      std::function<Result<std::unique_ptr<engines::Instance>>(const std::string& instance)>;
  Recovery(catalog::Catalog& catalog, const engines::EngineSet& engines, RepositoryAccess& repo,
           OpenPrimary open_primary,
           std::function<void(const std::string& archive_id)> archive_removed = {});

  // The window reads the archive as it is (no effects).
  Result<RecoveryWindow> Window(const std::string& instance);
  Result<catalog::RestorePointRecord> CreateRestorePoint(const std::string& instance,
                                                         const std::string& name);
  Result<std::vector<catalog::RestorePointRecord>> ListRestorePoints(
      const std::string& instance) const;
  // Chooses the base backup of a restore to a target (the newest that ends before it,
  // unless named) and checks the target is in reach, after archiving what the source has
  // committed until now; fills in the backup's name and the target's archive.
  Status ResolveTarget(RestoreRequest& request);
  // The WAL archive a restore of `instance` to a target replays: that of `backup_name`, or
  // of its newest backup with archived WAL after it (copied to `repository`, if given).
  Result<std::string> ArchiveOf(const std::string& instance, const std::string& backup_name,
                                const std::string& repository) const;
  // Removes archived WAL older than the oldest kept backup of each archive, and archives
  // of deleted instances without backups. The caller holds the repository's writer (no
  // backup is running).
  void PruneWalArchives();

 private:
  const std::string& repository_dir() const { return repo_.path(); }

  catalog::Catalog& catalog_;
  const engines::EngineSet& engines_;
  RepositoryAccess& repo_;
  const OpenPrimary open_primary_;
  const std::function<void(const std::string&)> archive_removed_;
};

}  // namespace dbaas::control
