// A MariaDB backup whose copy is a storage snapshot of the whole volume (a CSI
// VolumeSnapshot cut by the daemon on the Kubernetes runtime; engines/volume_backup.h).
//
// A storage snapshot is atomic: every file of the volume, the redo log with them, at one
// instant, as after a power loss. InnoDB recovers such a copy by itself (no pinned redo
// header, unlike the reflink method's file-by-file clones: maria_backup.h). What the
// protocol adds is what a power loss does not give:
//   1. BACKUP STAGE START, FLUSH, BLOCK_DDL: non-transactional and system tables flushed,
//      no DDL (a table half-created is in no consistent copy);
//   2. BACKUP STAGE BLOCK_COMMIT: no commit, no binlog write; the redo of what committed
//      written (WriteRedoOfCommits: FLUSH ENGINE LOGS, which writes nothing at
//      innodb_flush_log_at_trx_commit = 0 unless the setting is 2 for it) and the volume
//      synced (syncfs): on the storage, not in the server's buffers or the page cache; the
//      binlog's position read, which is then the copy's;
//   3. the caller cuts the snapshot;
//   4. BACKUP STAGE END.
// Commits wait from 2 to 4: the snapshot's cut, not its upload (the daemon ends the backup
// once the snapshot has a creationTime). The server is never left in a stage: the
// destructor ends it, and a connection that drops ends it too.
//
// The copy cannot be made file by file while commits wait (they would wait for the whole
// copy): copy_filter() is null, and the pod's agent refuses to serve the files. A copy file
// by file is BeginMariaCopyBackup's (below): mariadb-backup's, staged beside the data.
#pragma once

#include <memory>
#include <string>

#include "base/status.h"
#include "engines/mariadb/maria_backup.h"
#include "engines/mariadb/maria_instance.h"
#include "engines/volume_backup.h"

namespace dbaas::engines {

// The instance must be running (a MariaDB server: MySQL's locks differ, not built).
// `instance` must outlive the backup.
Result<std::unique_ptr<VolumeBackup>> BeginMariaVolumeBackup(const MariaInstance& instance,
                                                             const std::string& label);

// A copy of the running instance's files for a copy file by file (the Kubernetes runtime's
// repository method, read through the pod's agent): mariadb-backup's copy, prepared, in the
// instance's directory beside its data (PrepareMariaBackupCopy: refused when the filesystem
// has no room for it), served as data_dir() until the VolumeBackup is destroyed, which
// removes it. Commits wait only for mariadb-backup's last step, inside Begin; End holds
// nothing. The facts are the method's ("mariadb-backup"; the binlog and GTID positions where
// the server archives its binlog).
Result<std::unique_ptr<VolumeBackup>> BeginMariaCopyBackup(const MariaInstance& instance);

// A new instance `spec.name` from the data directory a volume backup's snapshot holds
// (`copy_data_dir`, on the same filesystem: moved into place): started (InnoDB recovers),
// checked table by table (CHECK TABLE), the tenant's login renewed. `end` must name no files
// and no log (a MariaDB volume backup has none). `recover` as RestoreMariaFilled's (a
// point-in-time restore's replay of staged binlogs). Nothing left behind on failure.
Result<std::unique_ptr<MariaInstance>> RestoreMariaVolumeCopy(const std::string& copy_data_dir,
                                                              const VolumeBackupEnd& end,
                                                              const InstanceSpec& spec,
                                                              const std::string& password,
                                                              const MariaRecovery& recover = {});

}  // namespace dbaas::engines
