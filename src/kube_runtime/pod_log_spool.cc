#include "kube_runtime/pod_log_spool.h"

#include <algorithm>
#include <cstdint>
#include <span>
#include <string>
#include <utility>
#include <vector>

#include <fmt/format.h>

#include "engines/volume_backup.h"
#include "kube/json_fields.h"

namespace dbaas::kube_runtime {
namespace {

using nlohmann::json;
using std::chrono::milliseconds;
using std::chrono::seconds;
using std::chrono::steady_clock;

// What the pod says, as far as a status line should repeat it.
std::string Bounded(const std::string& text) {
  constexpr size_t kMost = 255;  // a file name's longest
  return text.size() <= kMost ? text : text.substr(0, kMost) + "...";
}

// Why a spooled file the pod lists is not a WAL file a server writes ("" when it is).
std::string WalRefusal(const std::string& name, uint64_t size, bool regular) {
  auto parsed = storage::ParseWalFileName(name);
  if (!parsed.ok()) return Bounded(name) + ": not a WAL file name";
  if (!regular) return name + ": not a regular file";
  if (std::string why = storage::SpooledWalRefusal(*parsed, size); !why.empty()) {
    return name + ": " + why;
  }
  if (size > engines::kMaxRestorableLogFileBytes) {
    return fmt::format("{}: {} bytes, over the {} MiB a pod's agent sends (initdb --wal-segsize)",
                       name, size, engines::kMaxRestorableLogFileBytes >> 20);
  }
  return "";
}

// The largest binlog fetched from a pod: the server's 64 MiB files and a transaction of up
// to 192 MiB past the rotation (the whole file is held in memory while it is stored, and the
// drainer serves every instance). A larger one stays in the pod, reported, until an operator
// archives it.
constexpr uint64_t kMaxPodBinlogBytes = uint64_t{256} << 20;

// The same of a binlog the pod's server finished: its name as the server gives it, a size
// the daemon takes.
std::string BinlogRefusal(const std::string& name, uint64_t size, bool regular) {
  auto parsed = storage::ParseWalFileName(name);
  if (!parsed.ok() || parsed->kind != storage::WalFileName::Kind::kBinlog) {
    return Bounded(name) + ": not a binlog's name";
  }
  if (!regular) return name + ": not a regular file";
  if (size == 0 || size > kMaxPodBinlogBytes) {
    return fmt::format("{}: {} bytes, which the daemon does not fetch from a pod (1 B to {} MiB)",
                       name, size, kMaxPodBinlogBytes >> 20);
  }
  return "";
}

// A binlog's number (names that are none last), which orders binlogs where their names do
// not (binlog.999999 before binlog.1000000).
uint64_t BinlogOrder(const std::string& name) {
  auto parsed = storage::ParseWalFileName(name);
  if (!parsed.ok() || parsed->kind != storage::WalFileName::Kind::kBinlog) return UINT64_MAX;
  return std::stoull(parsed->position);
}

struct Listed {
  std::string name;
  int64_t size = 0;
  bool regular = false;
};

}  // namespace

Result<storage::SpoolDrain> DrainPodSpool(const AgentClient& agents, const AgentEndpoint& agent,
                                          const storage::WalArchive& archive, const PodSpool& spool,
                                          const storage::StoredWalFile& stored,
                                          std::chrono::steady_clock::time_point deadline) {
  // Requests are not cut at the deadline (a file half fetched is a failure, and the next
  // drain would fetch it again); the deadline decides whether another file begins. A
  // file's fetch may take 10 s and a second per 4 MiB (a 16 MiB segment: 14 s).
  auto fetch_timeout = [](uint64_t size) {
    return milliseconds(seconds(10)) + milliseconds(size / (4 << 10));
  };
  const bool binlogs = spool.log == PodSpool::Log::kBinlog;
  const std::string& archive_id = spool.archive_id;
  ASSIGN_OR_RETURN(json listing, agents.Call(agent, "GET",
                                             binlogs ? fmt::format("/v1/wal?closeAfter={}",
                                                                   spool.close_after.count())
                                                     : std::string("/v1/wal"),
                                             seconds(10)));
  const std::string listed_id = kube::TextField(listing, "archiveId");
  if (listed_id != archive_id) {
    return Status::FailedPrecondition(
        fmt::format("the pod's server archives for archive '{}', not its own '{}': its spool is "
                    "left alone",
                    Bounded(listed_id), archive_id),
        "the pod's volume or Secret was altered; restore a backup into a new instance");
  }
  const json entries = listing.contains("files") ? listing["files"] : json::array();
  if (!entries.is_array()) return Status::IoError("the pod's agent listed its spool as no list");
  std::vector<Listed> files;
  storage::SpoolDrain drained;
  for (const json& e : entries) {
    if (!e.is_object()) {
      drained.refused.push_back("an entry of the listing that is no object");
      continue;
    }
    files.push_back(
        {kube::TextField(e, "name"), kube::IntField(e, "size"), kube::BoolField(e, "regular")});
  }
  if (binlogs) {
    std::sort(files.begin(), files.end(), [](const Listed& a, const Listed& b) {
      return std::pair(BinlogOrder(a.name), a.name) < std::pair(BinlogOrder(b.name), b.name);
    });
  } else {
    std::sort(files.begin(), files.end(),
              [](const Listed& a, const Listed& b) { return a.name < b.name; });
  }
  std::string bytes;
  for (const Listed& f : files) {
    // The rest at the next drain; every drain takes one file at least.
    if (drained.files > 0 && steady_clock::now() >= deadline) {
      drained.more = true;
      break;
    }
    const uint64_t size = static_cast<uint64_t>(std::max<int64_t>(0, f.size));
    if (std::string why =
            binlogs ? BinlogRefusal(f.name, size, f.regular) : WalRefusal(f.name, size, f.regular);
        !why.empty()) {
      drained.refused.push_back(why);
      // A binlog is purged with every one before it: none is stored past one refused.
      if (binlogs) break;
      continue;
    }
    // The name parsed as a WAL file's: hex digits and dots, nothing to escape.
    const std::string path = "/v1/wal/file?name=" + f.name;
    // A binlog stored by an earlier drain whose purge did not happen (the server was down):
    // not fetched again (a finished binlog never changes).
    if (binlogs && archive.RawSize(f.name).value_or(UINT64_MAX) == size) {
      RETURN_IF_ERROR(agents.Call(agent, "DELETE", path, seconds(10)).status());
      continue;
    }
    ASSIGN_OR_RETURN(bool there, agents.Fetch(agent, path, size, bytes, fetch_timeout(size)));
    // Drained by another drain, whose delete came first. A binlog that is gone stops the
    // drain: the next one stored would purge those before it, this one too if it was not.
    if (!there && binlogs) break;
    if (!there) continue;
    if (bytes.size() != size) {
      drained.refused.push_back(
          fmt::format("{}: {} bytes listed, {} sent", f.name, size, bytes.size()));
      if (binlogs) break;
      continue;
    }
    const std::span<const uint8_t> raw(reinterpret_cast<const uint8_t*>(bytes.data()),
                                       bytes.size());
    RETURN_IF_ERROR(archive.Store(raw, f.name)
                        .WithContext(fmt::format("store {} from the pod's WAL spool", f.name)));
    // Stored durably: the pod's copy can go (a delete lost means the next drain finds it
    // stored already).
    RETURN_IF_ERROR(agents.Call(agent, "DELETE", path, seconds(10)).status());
    ++drained.files;
    drained.raw_bytes += size;
    if (stored) stored(f.name, raw);
  }
  return drained;
}

}  // namespace dbaas::kube_runtime
