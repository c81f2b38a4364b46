// The agent's half of a volume backup by the `repository` method (pod_agent.h): while
// backup mode is held, the daemon lists the data directory and reads its files range by
// range into its own repository (kube_runtime/agent_source_tree.h). Nothing is read once
// backup mode has ended: a copy must lie between the backup's start and its stop.
#include <string_view>

#include <fmt/format.h>

#include "agent/agent_replies.h"
#include "agent/pod_agent.h"
#include "base/clock.h"
#include "base/files.h"
#include "base/hex.h"
#include "storage/manifest.h"
#include "storage/source_tree.h"

namespace dbaas::agent {
namespace {

// The most one range answer holds (the daemon asks for 4 MiB).
constexpr uint64_t kMaxRangeBytes = 16 << 20;

}  // namespace

bool PodAgent::CopyHeld(const http::Request& req, http::Response& res) {
  if (!HeldBackup(req, res)) return false;
  if (!backup_->copy_filter()) {
    SendJson(res, 409,
             ErrorBody("no_file_copy",
                       Status::FailedPrecondition(
                           fmt::format("volume backup {} of a {} server cannot be copied file by "
                                       "file: its commits wait until the backup ends",
                                       backup_id_, options_.engine),
                           "begin the backup with \"copy\": true for a copy read file by "
                           "file, or cut a VolumeSnapshot of the volume")));
    return false;
  }
  if (!backup_end_) return true;
  SendJson(res, 409,
           ErrorBody("backup_ended",
                     Status::FailedPrecondition(
                         fmt::format("volume backup {} has ended: its files are no longer a "
                                     "consistent copy",
                                     backup_id_),
                         "read the tree before ending the backup")));
  return false;
}

void PodAgent::AddCopyRoutes(http::HttpServer& server) {
  // The data directory's entries, as a manifest without content (docs/formats).
  server.Get("/v1/backups/:id/tree", [this](const http::Request& req, http::Response& res) {
    std::string root;
    storage::ScanFilterFn filter;
    {
      std::lock_guard lock(backup_mu_);
      if (!CopyHeld(req, res)) return;
      root = backup_->data_dir();
      filter = backup_->copy_filter();
    }
    auto scan = storage::ScanTree(root, filter);
    if (!scan.ok()) {
      SendJson(res, 500, ErrorBody("backup_failed", scan.status()));
      return;
    }
    storage::Manifest tree;
    tree.id = RandomHex(8);
    tree.kind = storage::SnapshotKind::kThin;  // entries without content
    tree.source = root;
    tree.created_unix_ns = NowUnixNs();
    tree.entries = std::move(scan->entries);
    tree.warnings = std::move(scan->warnings);
    res.status = 200;
    res.set_content(storage::EncodeManifest(tree), "application/octet-stream");
  });
  // ?path=P&offset=O&length=L: bytes of a file of the tree, fewer only at its end; 410 when
  // it was deleted since it was listed (a live database deletes files). Read without the
  // lock: the daemon reads on several connections at once.
  server.Get("/v1/backups/:id/range", [this](const http::Request& req, http::Response& res) {
    const std::string path = req.get_param_value("path");
    auto offset = ByteCountParam(req, "offset");
    auto length = ByteCountParam(req, "length");
    Status bad = !offset.ok() ? offset.status() : length.status();
    if (bad.ok() && (!storage::IsSafeRelativePath(path) || path == ".")) {
      bad = Status::InvalidArgument(fmt::format("'{}' is not a path in the data directory", path));
    }
    if (bad.ok() && *length > kMaxRangeBytes) {
      bad = Status::InvalidArgument(fmt::format("length must be at most {}", kMaxRangeBytes));
    }
    if (!bad.ok()) {
      SendJson(res, 400, ErrorBody("bad_request", bad));
      return;
    }
    std::string root;
    {
      std::lock_guard lock(backup_mu_);
      if (!CopyHeld(req, res)) return;
      root = backup_->data_dir();
    }
    const std::string file = JoinPath(root, path);
    auto fd = storage::OpenForReading(file);  // no link followed in any component
    if (!fd.ok() && fd.status().code() == StatusCode::kNotFound) {
      SendJson(res, 410, ErrorBody("gone", fd.status()));
      return;
    }
    Result<size_t> read = fd.status();
    std::string bytes(*length, '\0');
    if (fd.ok()) {
      read = PreadFull(fd->get(), reinterpret_cast<uint8_t*>(bytes.data()), bytes.size(), *offset,
                       file);
    }
    if (!read.ok()) {
      SendJson(res, 500, ErrorBody("backup_failed", read.status()));
      return;
    }
    bytes.resize(*read);
    res.status = 200;
    res.set_content(std::move(bytes), "application/octet-stream");
  });
}

}  // namespace dbaas::agent
