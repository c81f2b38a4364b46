// The Kubernetes runtime (`dbaasd --runtime kubernetes`; docs/KUBERNETES.md): the engines
// as a cluster runs them. An instance is its objects in a namespace of its own
// (kube/instance_objects.h), applied with server-side apply; its server runs in the pod,
// where the in-pod agent (agent/pod_agent.h) runs the engines' own code; the daemon reaches
// the agent over HTTPS (agent_client.h) with the instance's token and a certificate its CA
// issued (agent_authority.h). The service sees an engines::EngineSet like the local one.
//
// What is built: making, opening (after a daemon restart), starting, stopping and deleting
// instances of PostgreSQL, their state and logins, backups by the volumeSnapshot method
// (volume_snapshot_backup.h) and the repository method (repository_backup.h), restores from
// either into a new namespace, and WAL archiving through the agent (pod_log_spool.h) with
// restores to a point in time. MariaDB: made, opened, deleted, backed up by both methods
// (the volumeSnapshot method's commits blocked until the cut; the repository method's copy
// made by mariadb-backup in the pod: engines/mariadb/maria_volume_backup.h), its binlog
// archived through the agent, restored from a backup into a new namespace as taken or to a
// point in time. Not yet: restore drills, standbys, type mysql. Those are refused with the
// reason.
#pragma once

#include <chrono>
#include <memory>
#include <string>

#include "engines/engine.h"
#include "kube/api_client.h"
#include "kube/instance_objects.h"
#include "kube_runtime/agent_authority.h"

namespace dbaas::kube_runtime {

struct KubeRuntimeOptions {
  kube::KubernetesSettings settings;
  // The daemon's repository (control/service.h: <data root>/repository), where the pods'
  // WAL archives are (pod_log_spool.h).
  std::string repository_path;
  // A volume's size when the request names none (the local runtime records sizes; a claim
  // must have one).
  uint64_t default_size_bytes = 10ull << 30;
  // How long a new pod may take to run and answer (an image pull, a volume's provisioning).
  std::chrono::milliseconds start_timeout{std::chrono::minutes(5)};
  // How long a backup's VolumeSnapshot may take to be readyToUse.
  std::chrono::milliseconds snapshot_timeout{std::chrono::minutes(10)};
  // How long a deleted instance's namespace may take to go.
  std::chrono::milliseconds delete_timeout{std::chrono::minutes(2)};
};

Result<std::unique_ptr<engines::EngineSet>> KubernetesEngines(std::shared_ptr<kube::ApiClient> api,
                                                              AgentAuthority authority,
                                                              KubeRuntimeOptions options);

// The pod's DNS name, as the headless Service gives it and the agent's certificate names it:
// <statefulset>-0.<name>-hl.<namespace>.svc
std::string AgentDnsName(const kube::KubernetesSettings& settings, const std::string& name,
                         const std::string& engine);

}  // namespace dbaas::kube_runtime
