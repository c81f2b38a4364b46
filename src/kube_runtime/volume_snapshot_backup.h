// The Kubernetes runtime's volumeSnapshot backup (docs/KUBERNETES.md): the data files are a
// CSI VolumeSnapshot of the instance's claim, made consistent by the database's own backup
// protocol, which the in-pod agent holds (agent/pod_agent.h). In order:
//
//   1. the agent begins backup mode (on a 30 s lease we renew: it ends backup mode itself
//      if we vanish);
//   2. a VolumeSnapshot of the data claim is created and waited for until it is cut (its
//      creationTime: the storage took it);
//   3. the agent ends backup mode: backup_label (and tablespace_map), the span in the log;
//   4. the log from the start to the stop LSN is fetched from the agent, which holds it
//      until then (the backup-end record is written after the snapshot was cut: without it
//      the snapshot never becomes consistent), checked against the span; then released;
//   5. the snapshot waited for until readyToUse (a driver may upload it long after the
//      cut), its content made Retain so that the storage snapshot outlives the instance's
//      namespace (the backup is deleted with DeleteBackupSnapshot);
//   6. label, map and log go into the repository as a snapshot of their own, recording the
//      facts and the VolumeSnapshot's and content's names.
//
// A failure at any step abandons backup mode at the agent and deletes the VolumeSnapshot:
// nothing half-made stays.
#pragma once

#include <chrono>
#include <string>

#include "base/status.h"
#include "engines/engine.h"
#include "kube/api_client.h"
#include "kube/instance_objects.h"
#include "kube_runtime/agent_client.h"
#include "kube_runtime/pod_backup_session.h"
#include "storage/progress.h"
#include "storage/repository.h"

namespace dbaas::kube_runtime {

// Backup `name` of the target's instance. The repository gets what is not in the
// VolumeSnapshot; the facts say which VolumeSnapshot holds the rest (volume_snapshot).
Result<engines::EngineBackup> BackupByVolumeSnapshot(const PodBackupTarget& target,
                                                     storage::Repository& repo,
                                                     const std::string& name,
                                                     storage::Progress* progress);

// Whether the cluster serves the VolumeSnapshot API (the external-snapshotter's CRDs).
Result<bool> HasVolumeSnapshots(kube::ApiClient& api);

// The storage snapshot behind a backup, which a claim in another namespace is made from
// (kube::ImportedSnapshotObjects).
struct SnapshotSource {
  std::string handle;  // the CSI driver's snapshot handle
  std::string driver;
};
// From the backup's content when its facts name it (it outlives the namespace), else its
// VolumeSnapshot's.
Result<SnapshotSource> FindSnapshotSource(kube::ApiClient& api, const engines::BackupFacts& facts);

// Deletes the snapshot contents imported for instance `name`'s restore (labelled for it);
// their storage snapshots stay (Retain), the backups' own.
Status DeleteImportedContents(kube::ApiClient& api, const kube::KubernetesSettings& settings,
                              const std::string& name);

// Deletes the storage snapshot of instance `instance`'s backup `backup`, cut off before its
// facts were recorded (a daemon killed during it): only a VolumeSnapshot labelled as that
// instance's, with its content.
Status DeleteCutOffVolumeSnapshot(kube::ApiClient& api, const kube::KubernetesSettings& settings,
                                  const std::string& instance, const std::string& backup);

// Deletes a backup's storage snapshot: its content made Delete again, its VolumeSnapshot
// and its content deleted. Parts gone already (the namespace with the instance) are fine.
Status DeleteBackupSnapshot(kube::ApiClient& api, const engines::BackupFacts& facts);

}  // namespace dbaas::kube_runtime
