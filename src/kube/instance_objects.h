// The Kubernetes objects of an instance, as the original design lays them out: a namespace
// of its own (`dbaas-<name>`) holding its credentials (Secret), settings (ConfigMap), a
// headless and a client Service, a NetworkPolicy, and a StatefulSet of one pod whose
// volumeClaimTemplate makes the data volume `data-<name>-<engine>-local-0`. Deleting the
// namespace deletes all of it; nothing of an instance lives outside it.
//
// Also the objects of a backup (a VolumeSnapshot of that volume) and of a restore (a claim
// filled from a snapshot, made before the StatefulSet, which then adopts it by name).
//
// Tenancy: the namespace enforces the "restricted" Pod Security Standard, the pod runs as
// a non-root user with no capabilities and no service-account token (it never talks to the
// API server), and the NetworkPolicy admits the database port from anywhere but the
// in-pod agent's port only from the daemon's namespace.
#pragma once

#include <cstdint>
#include <map>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "base/status.h"

namespace dbaas::kube {

// The config keys kubernetes.* (docs/KUBERNETES.md).
struct KubernetesSettings {
  std::string namespace_prefix = "dbaas-";
  std::string storage_class;          // empty: the cluster's default StorageClass
  std::string volume_snapshot_class;  // empty: the cluster's default VolumeSnapshotClass
  std::string image;                  // the instance image (Containerfile), required
  std::string daemon_namespace = "dbaas-system";  // where dbaasd runs
};

// Kubernetes quantities ("500m", "2Gi"); empty: not set.
struct ResourceRequirements {
  std::string cpu_request, memory_request, cpu_limit, memory_limit;
};

struct InstanceObjectsSpec {
  std::string name;
  std::string engine;  // "postgresql", "mariadb" or "mysql"
  uint64_t size_bytes = 0;
  ResourceRequirements resources;
  std::map<std::string, std::string> settings;  // the instance's allowlisted config
  std::map<std::string, std::string> secrets;   // file name -> content (passwords, tokens)
  // A restore: the data claim is filled from a snapshot of instance `restore_from`'s volume
  // (RestoredClaimObject, made before the StatefulSet), whose copy the agent restores.
  std::string restore_from;
};

// A StatefulSet's name must leave room for the pod's controller-revision-hash label (63
// characters): `<name>-postgresql-local` stays under 52 for names up to 35.
inline constexpr size_t kMaxKubernetesInstanceName = 35;
inline constexpr int kAgentPort = 8443;
// The instance's Secret's files the in-pod agent reads (agent/pod_agent.h): its bearer
// token, and its certificate and key, issued by the daemon's CA for the pod's DNS name.
inline constexpr char kAgentTokenFile[] = "agent-token";
inline constexpr char kAgentCertFile[] = "agent.crt";
inline constexpr char kAgentKeyFile[] = "agent.key";
// The id of the archive in the daemon's repository the server's WAL goes to: the server
// archives into a spool on its volume, which the daemon drains through the agent
// (kube_runtime/pod_log_spool.h). Absent in an instance made before pods archived.
inline constexpr char kAgentWalArchiveFile[] = "wal-archive";
inline constexpr char kManagedByLabel[] = "app.kubernetes.io/managed-by";
inline constexpr char kInstanceLabel[] = "app.kubernetes.io/instance";
inline constexpr char kEngineLabel[] = "app.kubernetes.io/name";  // postgresql, mariadb
inline constexpr char kBackupSourceLabel[] = "dbaas.io/backup-source";
inline constexpr char kRestoredFromLabel[] = "dbaas.io/restored-from";

// kInvalidArgument with the reason when `name` cannot be an instance on this runtime: a
// DNS-1123 label that starts with a letter (a Service name is a DNS-1035 label) of at most
// kMaxKubernetesInstanceName characters.
Status CheckKubernetesInstanceName(const std::string& name);
// "500m", "1.5", "2Gi", "1e3": what the API server takes as a quantity.
bool IsKubernetesQuantity(const std::string& text);
// Bytes as a quantity: "10Gi" when a whole number of GiB (MiB, KiB), else the bytes.
std::string BytesQuantity(uint64_t bytes);

std::string InstanceNamespace(const KubernetesSettings& settings, const std::string& name);
std::string StatefulSetName(const std::string& name, const std::string& engine);
// The StatefulSet's claim for its only pod: data-<statefulset>-0.
std::string DataClaimName(const std::string& name, const std::string& engine);
int DatabasePort(const std::string& engine);

// In the order to apply them (the namespace first). Checks the name, engine, size and
// quantities first: kInvalidArgument names the one that is wrong.
Result<std::vector<nlohmann::json>> InstanceObjects(const InstanceObjectsSpec& spec,
                                                    const KubernetesSettings& settings);

// A VolumeSnapshot named `snapshot` of the instance's data claim.
nlohmann::json VolumeSnapshotObject(const KubernetesSettings& settings, const std::string& name,
                                    const std::string& engine, const std::string& snapshot);

// A storage snapshot taken elsewhere (another instance's namespace: a claim's dataSource
// cannot name it there) as VolumeSnapshot `snapshot` in instance `name`'s namespace: a
// pre-provisioned VolumeSnapshotContent naming the storage's `handle` of CSI `driver`, and
// the VolumeSnapshot bound to it. The content's deletionPolicy is Retain: the storage
// snapshot is the backup's, not the restored instance's; deleting the content (with the
// instance) leaves it.
std::vector<nlohmann::json> ImportedSnapshotObjects(
    const KubernetesSettings& settings, const std::string& name, const std::string& engine,
    const std::string& snapshot, const std::string& handle, const std::string& driver);
// Its content's name: cluster-wide, so it names the namespace.
std::string ImportedContentName(const KubernetesSettings& settings, const std::string& name,
                                const std::string& snapshot);

// The data claim of instance `name` filled from VolumeSnapshot `snapshot` (in the same
// namespace: a claim's dataSource cannot name another's), labelled with `source`.
nlohmann::json RestoredClaimObject(const KubernetesSettings& settings, const std::string& name,
                                   const std::string& engine, uint64_t size_bytes,
                                   const std::string& snapshot, const std::string& source);

}  // namespace dbaas::kube
