// The Kubernetes runtime's repository backup (docs/KUBERNETES.md): the daemon copies the
// pod's data directory into its own repository through the in-pod agent, while the agent
// holds backup mode, with the repository's dedup and incrementals (a file unchanged since
// the instance's last backup is not read: the agent's listing says so). A claim is
// namespaced: no pod of the instance's namespace can mount the daemon's repository, so the
// files cross the agent's HTTPS. In order:
//
//   1. the agent begins backup mode (on a lease renewed every 10 s while the copy runs);
//      a MariaDB server's agent makes mariadb-backup's prepared copy beside the data
//      first (engines/mariadb/maria_volume_backup.h: its commits wait only for that
//      tool's last step, not for the daemon's reads), and serves that copy;
//   2. the agent lists the data directory (the engine's filter: what pg_basebackup leaves
//      out; mariadb-backup's own records) and the daemon reads what changed, range by
//      range, into its repository;
//   3. the agent ends backup mode; the log from the start to the stop LSN is fetched,
//      checked against the span, released (PostgreSQL; a prepared MariaDB copy needs
//      none, and the agent removes it);
//   4. backup_label, tablespace_map, the log and a backup_manifest (for pg_verifybackup)
//      join the snapshot, which is then committed with the facts.
//
// A failure at any step abandons backup mode at the agent; the repository keeps nothing
// but garbage for gc. The backup restores into a pod (KubeEngine::Restore) or, as any
// repository backup, with dbaasd on the local runtime.
#pragma once

#include <string>

#include "base/status.h"
#include "engines/engine.h"
#include "kube_runtime/pod_backup_session.h"
#include "storage/progress.h"
#include "storage/repository.h"

namespace dbaas::kube_runtime {

// What the snapshots of an instance's volume record as their source, so that the next
// backup of the same instance finds its parent: kube://<namespace>/<instance>.
std::string PodVolumeIdentity(const kube::KubernetesSettings& settings,
                              const std::string& instance);

Result<engines::EngineBackup> BackupByRepository(const PodBackupTarget& target,
                                                 storage::Repository& repo, const std::string& name,
                                                 storage::Progress* progress);

}  // namespace dbaas::kube_runtime
