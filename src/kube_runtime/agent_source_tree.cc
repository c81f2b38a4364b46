#include "kube_runtime/agent_source_tree.h"

#include <algorithm>
#include <cstring>

#include <fmt/format.h>

#include "objstore/sigv4.h"
#include "storage/manifest.h"

namespace dbaas::kube_runtime {
namespace {

// The agent's list: a manifest without content (~100 bytes an entry).
constexpr size_t kMaxTreeBytes = size_t{256} << 20;
constexpr size_t kMaxEntries = size_t{2} << 20;
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
    auto fetched =
        agents_.Fetch(agent_, fmt::format("{}&offset={}&length={}", prefix_, offset, length),
                      kMaxRangeAnswer, bytes, kRangeTimeout);
    if (!fetched.ok()) {
      // A 404 says the backup is no longer held (its lease ran out): the copy fails. Only a
      // 410 (below) says the file is gone.
      if (fetched.status().code() != StatusCode::kNotFound) return fetched.status();
      return Status::IoError(fetched.status().message(),
                             "the agent ended the backup: its lease ran out, or the pod restarted");
    }
    if (!*fetched) {
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
  const AgentEndpoint& agent_;  // the tree's: a file lives within its snapshot, as its tree
  std::string prefix_;          // the request up to its offset
};

}  // namespace

Result<storage::ScanResult> CheckPodTree(std::string_view listing, uint64_t max_bytes,
                                         uint64_t max_file_bytes,
                                         const storage::ScanFilterFn& filter,
                                         const std::string& identity) {
  auto refuse = [&](const std::string& why) {
    return Status::IoError(fmt::format("the tree of {}'s volume from its agent: {}", identity, why),
                           "the pod's agent is not answering as dbaasd's own does");
  };
  auto listed = storage::ParseManifest(listing);
  if (!listed.ok()) return refuse(listed.status().message());
  if (listed->entries.size() > kMaxEntries) {
    return refuse(fmt::format("{} entries, more than {}", listed->entries.size(), kMaxEntries));
  }
  uint64_t total = 0;
  for (storage::TreeEntry& e : listed->entries) {
    if (e.type == storage::EntryType::kSymlink) {
      return Status::FailedPrecondition(
          fmt::format("{}'s data directory holds the link '{}'", identity, e.path),
          "tablespaces (links in pg_tblspc) are not backed up from pods yet");
    }
    if (e.size > max_file_bytes) {
      return refuse(fmt::format("file '{}' of {} bytes, larger than the engine's files ({})",
                                e.path, e.size, max_file_bytes));
    }
    total += e.size;
    e.chunks.reset();
    e.mode = e.type == storage::EntryType::kDirectory ? 0700 : 0600;
    e.uid = e.gid = 0;
  }
  if (total > max_bytes) {
    return refuse(
        fmt::format("{} bytes of files, more than its volume holds ({})", total, max_bytes));
  }
  storage::ScanResult out;
  out.entries = storage::FilterEntries(std::move(listed->entries), filter);
  out.warnings = std::move(listed->warnings);
  return out;
}

AgentSourceTree::AgentSourceTree(const AgentClient& agents, AgentEndpoint agent,
                                 std::string backup_id, std::string identity, uint64_t max_bytes,
                                 uint64_t max_file_bytes)
    : agents_(agents),
      agent_(std::move(agent)),
      backup_id_(std::move(backup_id)),
      identity_(std::move(identity)),
      max_bytes_(max_bytes),
      max_file_bytes_(max_file_bytes) {}

Result<storage::ScanResult> AgentSourceTree::Scan(const storage::ScanFilterFn& filter) {
  std::string bytes;
  auto fetched = agents_.Fetch(agent_, "/v1/backups/" + backup_id_ + "/tree", kMaxTreeBytes, bytes,
                               kTreeTimeout);
  if (!fetched.ok()) {
    if (fetched.status().code() != StatusCode::kNotFound) return fetched.status();
    return Status::IoError(fetched.status().message(),
                           "the agent holds the backup no more (its lease ran out, or the pod "
                           "restarted), or it is older than this daemon");
  }
  if (!*fetched) {
    return Status::IoError(
        fmt::format("the tree of {}'s volume: its agent answered 410", identity_),
        "the pod's agent is not answering as dbaasd's own does");
  }
  return CheckPodTree(bytes, max_bytes_, max_file_bytes_, filter, identity_);
}

Result<std::unique_ptr<storage::SourceFile>> AgentSourceTree::Open(const std::string& path) {
  return std::unique_ptr<storage::SourceFile>(std::make_unique<AgentSourceFile>(
      agents_, agent_,
      fmt::format("/v1/backups/{}/range?path={}", backup_id_, objstore::UriEncode(path, true))));
}

}  // namespace dbaas::kube_runtime
