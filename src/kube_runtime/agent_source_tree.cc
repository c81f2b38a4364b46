#include "kube_runtime/agent_source_tree.h"

#include <algorithm>
#include <cstring>

#include <fmt/format.h>

#include "objstore/sigv4.h"
#include "storage/manifest.h"

namespace dbaas::kube_runtime {
namespace {

// The agent's list: a manifest without content of up to millions of entries.
constexpr size_t kMaxTreeBytes = size_t{512} << 20;
// A range read: what the snapshot asks for at once (4 MiB), with room.
constexpr size_t kMaxRangeAnswer = size_t{16} << 20;
constexpr std::chrono::minutes kTreeTimeout{5};
constexpr std::chrono::minutes kRangeTimeout{2};

class AgentSourceFile final : public storage::SourceFile {
 public:
  AgentSourceFile(const AgentClient& agents, const AgentEndpoint& agent, std::string prefix)
      : agents_(agents), agent_(agent), prefix_(std::move(prefix)) {}

  Result<size_t> Read(uint8_t* data, size_t length, uint64_t offset) override {
    std::string bytes;
    ASSIGN_OR_RETURN(
        bool there,
        agents_.Fetch(agent_, fmt::format("{}&offset={}&length={}", prefix_, offset, length),
                      kMaxRangeAnswer, bytes, kRangeTimeout));
    if (!there) {
      return Status::NotFound(fmt::format("{}: the file was deleted since it was listed", prefix_));
    }
    if (bytes.size() > length) {
      return Status::IoError(
          fmt::format("{}: the agent answered {} bytes for {}", prefix_, bytes.size(), length),
          "the pod's agent is not answering as dbaasd's own does");
    }
    std::memcpy(data, bytes.data(), bytes.size());
    return bytes.size();
  }

 private:
  const AgentClient& agents_;
  const AgentEndpoint& agent_;
  std::string prefix_;  // the request up to its offset
};

}  // namespace

AgentSourceTree::AgentSourceTree(const AgentClient& agents, AgentEndpoint agent,
                                 std::string backup_id, std::string identity)
    : agents_(agents),
      agent_(std::move(agent)),
      backup_id_(std::move(backup_id)),
      identity_(std::move(identity)) {}

Result<storage::ScanResult> AgentSourceTree::Scan(const storage::ScanFilterFn& filter) {
  std::string bytes;
  ASSIGN_OR_RETURN(bool there, agents_.Fetch(agent_, "/v1/backups/" + backup_id_ + "/tree",
                                             kMaxTreeBytes, bytes, kTreeTimeout));
  auto listed = there ? storage::ParseManifest(bytes)
                      : Result<storage::Manifest>(Status::IoError("the agent's tree is gone"));
  if (!listed.ok()) {
    return Status::IoError(fmt::format("the tree of {}'s volume from its agent: {}", identity_,
                                       listed.status().message()),
                           "the pod's agent is not answering as dbaasd's own does");
  }
  storage::ScanResult out;
  out.entries = storage::FilterEntries(std::move(listed->entries), filter);
  out.warnings = std::move(listed->warnings);
  for (storage::TreeEntry& e : out.entries) e.chunks.reset();
  return out;
}

Result<std::unique_ptr<storage::SourceFile>> AgentSourceTree::Open(const std::string& path) {
  return std::unique_ptr<storage::SourceFile>(std::make_unique<AgentSourceFile>(
      agents_, agent_,
      fmt::format("/v1/backups/{}/range?path={}", backup_id_, objstore::UriEncode(path, true))));
}

}  // namespace dbaas::kube_runtime
