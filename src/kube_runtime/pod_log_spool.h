// A pod's WAL archiving: its server archives into a spool on its volume (`dbaas wal-push`,
// as on a machine); the daemon drains that spool through the pod's agent (agent/pod_agent.h,
// /v1/wal) into the instance's archive in its own repository — what storage::DrainWalSpool
// does for a spool on this machine. The pod is the tenant's: every name and size it lists is
// judged here as DrainWalSpool judges a local spool's, what it sends is what is stored, and
// a listing for another archive is refused.
#pragma once

#include <chrono>
#include <string>

#include "base/status.h"
#include "kube_runtime/agent_client.h"
#include "storage/wal_archive.h"
#include "storage/wal_spool.h"

namespace dbaas::kube_runtime {

// Stores every file the pod's spool holds into `archive` (id `archive_id`), in name order,
// then deletes it in the pod. Entries no server writes are left there and listed in
// `refused`; a file gone since the listing is skipped. Stops at the first file that cannot
// be stored, and begins no file past `deadline` once one is stored (the rest waits for the
// next drain: `more`): a slow pod — or a tenant's agent slow on purpose — costs the
// daemon's drainer that, and one file's fetch (its timeout grows with its size).
Result<storage::SpoolDrain> DrainPodSpool(const AgentClient& agents, const AgentEndpoint& agent,
                                          const storage::WalArchive& archive,
                                          const std::string& archive_id,
                                          const storage::StoredWalFile& stored,
                                          std::chrono::steady_clock::time_point deadline);

}  // namespace dbaas::kube_runtime
