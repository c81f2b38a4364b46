// A pod's log archiving: its server archives into a spool on its volume (PostgreSQL: `dbaas
// wal-push`, as on a machine; MariaDB: its binlog directory); the daemon drains that spool
// through the pod's agent (agent/pod_agent.h, /v1/wal) into the instance's archive in its own
// repository — what storage::DrainWalSpool and engines::DrainBinlogs do on this machine. The pod is
// the tenant's: every name and size it lists is judged here as DrainWalSpool judges a local
// spool's, what it sends is what is stored, and a listing for another archive is refused.
#pragma once

#include <chrono>
#include <string>

#include "base/status.h"
#include "kube_runtime/agent_client.h"
#include "storage/wal_archive.h"
#include "storage/wal_spool.h"

namespace dbaas::kube_runtime {

// Which server's log a pod's spool holds, and how it is drained.
struct PodSpool {
  std::string archive_id;  // what the pod must say it archives for
  // PostgreSQL's spooled WAL files, or MariaDB's binlogs: the agent lists those its server
  // finished and purges them up to the one deleted, so they are stored strictly in order
  // (a binlog refused stops the drain there: it stays on the server, and is reported).
  enum class Log { kWal, kBinlog } log = Log::kWal;
  // MariaDB: the binlog in progress is closed once its first transaction is this old (the
  // recovery point objective; zero: never).
  std::chrono::seconds close_after{0};
};

// Stores every file the pod's spool holds into `archive` (of id spool.archive_id), in name
// order, then deletes it in the pod. Entries no server writes are left there and listed in
// `refused`; a file gone since the listing is skipped. Stops at the first file that cannot
// be stored, and begins no file past `deadline` once one is stored (the rest waits for the
// next drain: `more`): a slow pod — or a tenant's agent slow on purpose — costs the
// daemon's drainer that, and one file's fetch (its timeout grows with its size).
Result<storage::SpoolDrain> DrainPodSpool(const AgentClient& agents, const AgentEndpoint& agent,
                                          const storage::WalArchive& archive, const PodSpool& spool,
                                          const storage::StoredWalFile& stored,
                                          std::chrono::steady_clock::time_point deadline);

}  // namespace dbaas::kube_runtime
