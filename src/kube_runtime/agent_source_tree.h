// A pod's data directory as a storage::SourceTree (storage/source_tree.h): listed and read
// through the in-pod agent (agent/pod_agent.h, GET /v1/backups/:id/tree and /range) while
// it holds backup mode, so that the daemon's repository takes the volume's files with its
// dedup, incrementals and checks, though no claim of the pod's namespace can be mounted
// where the daemon runs.
#pragma once

#include <memory>
#include <string>
#include <string_view>

#include "kube_runtime/agent_client.h"
#include "storage/source_tree.h"

namespace dbaas::kube_runtime {

// The agent's listing (a manifest without content) as a scan of it: checked as a
// manifest's entries are (safe paths, sorted, under their directories: the pod is the
// tenant's) and bounded (at most 2M entries, no file over `max_file_bytes` — PostgreSQL's
// segments are 1 GiB at most, InnoDB's files as large as the volume — nor all over
// `max_bytes`; no symlink: tablespaces are not copied from pods), then
// `filter` applied. Modes are kept to 0700/0600 and owners to root: a restore never makes a
// tenant's setuid file. `identity` names the tree in errors.
Result<storage::ScanResult> CheckPodTree(std::string_view listing, uint64_t max_bytes,
                                         uint64_t max_file_bytes,
                                         const storage::ScanFilterFn& filter,
                                         const std::string& identity);

class AgentSourceTree final : public storage::SourceTree {
 public:
  // `identity`: what the snapshots of this instance's volume record as their source (the
  // next one's parent is found by it). `agents` outlives this.
  // `max_bytes`: the most its files may hold together (the claim's size: a tenant's volume
  // holds no more), which bounds what the daemon plans and allocates for the copy;
  // `max_file_bytes` the most one file may hold (CheckPodTree).
  AgentSourceTree(const AgentClient& agents, AgentEndpoint agent, std::string backup_id,
                  std::string identity, uint64_t max_bytes, uint64_t max_file_bytes);
  const std::string& identity() const override { return identity_; }
  std::string local_root() const override { return ""; }
  // The agent's listing, through CheckPodTree.
  Result<storage::ScanResult> Scan(const storage::ScanFilterFn& filter) override;
  // No request yet: a file gone since the scan is found at its first read (kNotFound).
  Result<std::unique_ptr<storage::SourceFile>> Open(const std::string& path) override;

 private:
  const AgentClient& agents_;
  AgentEndpoint agent_;
  std::string backup_id_;
  std::string identity_;
  uint64_t max_bytes_;
  uint64_t max_file_bytes_;
};

}  // namespace dbaas::kube_runtime
