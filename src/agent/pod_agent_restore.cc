// The agent's restore from a volume copy (pod_agent.h): the pod's volume was made from a
// VolumeSnapshot of another instance's volume; the daemon sends the backup's log files and
// end, and the engines' own restore makes the instance from the copy.
#include <fcntl.h>

#include <cerrno>
#include <cstdio>
#include <functional>
#include <optional>
#include <span>

#include <fmt/format.h>
#include <spdlog/spdlog.h>

#include <nlohmann/json.hpp>

#include "agent/agent_replies.h"
#include "agent/pod_agent.h"
#include "base/files.h"
#include "base/log.h"
#include "base/names.h"
#include "engines/volume_backup.h"
#include "http/error_codes.h"
#include "storage/manifest.h"

namespace dbaas::agent {
namespace {

using nlohmann::json;

constexpr size_t kMaxPasswordLength = 200;

struct RestoreRequest {
  std::string source;
  std::string password;  // the source's superuser's, as the copy holds it
  engines::VolumeBackupEnd end;
  std::optional<engines::StagedRecovery> recovery;  // to a point in time
};

// {"source", "password", "files": {"backup_label", "tablespace_map"}, "logFiles": [...],
// "target"?}, each log file as staged under `staging`, a target's archive under
// `archive_stage`. A PostgreSQL copy needs its backup_label and WAL; a MariaDB copy holds
// all it needs (its redo log), so it takes neither. Checked whole before anything is
// touched.
Result<RestoreRequest> ParseRestore(const std::string& body, const std::string& engine,
                                    const std::string& staging, const std::string& archive_stage) {
  json parsed = json::parse(body, nullptr, false);
  if (!parsed.is_object()) return Status::InvalidArgument("the body is not a JSON object");
  RestoreRequest r;
  auto text = [&](const char* key, std::string& out) -> Status {
    if (!parsed.contains(key) || !parsed[key].is_string() ||
        parsed[key].get<std::string>().empty()) {
      return Status::InvalidArgument(fmt::format("{} must be a non-empty string", key));
    }
    out = parsed[key].get<std::string>();
    return Status::Ok();
  };
  RETURN_IF_ERROR(text("source", r.source));
  RETURN_IF_ERROR(text("password", r.password));
  if (r.password.size() > kMaxPasswordLength) {
    return Status::InvalidArgument(
        fmt::format("password must be at most {} characters", kMaxPasswordLength));
  }
  const json files = parsed.value("files", json::object());
  if (!files.is_object()) return Status::InvalidArgument("files must be an object");
  for (const auto& [name, content] : files.items()) {
    if (!engines::IsVolumeBackupEndFile(name) || !content.is_string()) {
      return Status::InvalidArgument(
          fmt::format("files may hold backup_label and tablespace_map as strings, not '{}'", name));
    }
    r.end.files[name] = content.get<std::string>();
  }
  const bool postgres = engine == "postgresql";
  if (postgres && !r.end.files.count("backup_label")) {
    return Status::InvalidArgument("files must hold the backup's backup_label");
  }
  const json log_files = parsed.value("logFiles", json::array());
  if (!log_files.is_array() || (postgres && log_files.empty())) {
    return Status::InvalidArgument("logFiles must list the backup's log files");
  }
  if (!postgres && (!r.end.files.empty() || !log_files.empty())) {
    return Status::InvalidArgument(fmt::format(
        "a {} copy takes no files and no logFiles: its volume holds its redo log", engine));
  }
  for (const json& entry : log_files) {
    const std::string path = entry.is_string() ? entry.get<std::string>() : "";
    if (!engines::IsVolumeLogPath(path)) {
      return Status::InvalidArgument(fmt::format("'{}' is not a log file's path", path),
                                     "log files are pg_wal/<name>");
    }
    const std::string staged = JoinPath(staging, path);
    if (!PathExists(staged)) {
      return Status::InvalidArgument(fmt::format("log file {} was not sent", path),
                                     "PUT /v1/restore/file?path=<path> each one first");
    }
    r.end.log_files[path] = staged;
  }
  if (parsed.contains("target")) {
    ASSIGN_OR_RETURN(engines::RecoveryTarget target,
                     engines::RecoveryTargetFromJson(parsed["target"]));
    if (!PathExists(JoinPath(JoinPath(archive_stage, "wal"), target.archive_id))) {
      return Status::InvalidArgument(
          fmt::format("archive {} was not sent", target.archive_id),
          "PUT /v1/restore/archive?path=wal/<id>/... each of its files first");
    }
    r.recovery = engines::StagedRecovery{target, archive_stage};
    if (!postgres) {
      // Where the binlog's replay begins: the backup's positions, as the daemon recorded
      // them ({"position": "binlog.000042:1234", "gtid": "0-1-42"}).
      const json from = parsed.value("binlogFrom", json());
      if (!from.is_object() || !from.contains("position") || !from["position"].is_string() ||
          !from.contains("gtid") || !from["gtid"].is_string()) {
        return Status::InvalidArgument(
            "binlogFrom must hold the backup's binlog position and GTID position as strings");
      }
      r.end.facts.stop_lsn = from["position"].get<std::string>();
      r.end.facts.gtid_position = from["gtid"].get<std::string>();
    }
  }
  return r;
}

}  // namespace

void PodAgent::AddRestoreRoutes(http::HttpServer& server) {
  // Refuses (409) unless the instance waits for its restore (mu_ held).
  auto restoring = [this](http::Response& res) {
    if (restore_spec_) return true;
    SendJson(res, 409,
             ErrorBody("not_restoring",
                       Status::FailedPrecondition(fmt::format(
                           "instance {} is made; it waits for no restore", options_.name))));
    return false;
  };
  server.Put("/v1/restore/file", [this, restoring](const http::Request& req, http::Response& res) {
    const std::string path = req.get_param_value("path");
    if (!engines::IsVolumeLogPath(path)) {
      SendJson(res, 400,
               ErrorBody("bad_request",
                         Status::InvalidArgument(fmt::format("'{}' is not a log file's path", path),
                                                 "log files are pg_wal/<name>")));
      return;
    }
    std::lock_guard lock(mu_);
    if (!restoring(res)) return;
    const std::string staging = JoinPath(options_.data, kRestoreStaging);
    Status stored = MakeDirs(JoinPath(staging, "pg_wal"), 0700);
    if (stored.ok()) stored = WriteFileAtomic(JoinPath(staging, path), req.body, 0600);
    if (!stored.ok()) {
      SendJson(res, http::HttpStatusOf(stored.code()), ErrorBody("restore_failed", stored));
      return;
    }
    res.status = 204;
  });
  // Bytes the daemon sends into a directory of the volume, `root`: ?path=P&offset=O, bytes
  // of a file at O (made 0600 at the first); ?path=P&directory=1, a directory (0700).
  // Nothing is followed: no link in any component. `may_write` answers a refusal (mu_ held).
  auto put_into = [this, restoring](std::string root,
                                    std::function<bool(http::Response&)> may_write) {
    return [this, restoring, root, may_write](const http::Request& req, http::Response& res) {
      const std::string path = req.get_param_value("path");
      const bool directory = req.get_param_value("directory") == "1";
      auto offset = directory ? Result<uint64_t>(uint64_t{0}) : ByteCountParam(req, "offset");
      Status bad = offset.status();
      if (!storage::IsSafeRelativePath(path) || path == ".") {
        bad = Status::InvalidArgument(fmt::format("'{}' is not a relative path", path));
      }
      if (!bad.ok()) {
        SendJson(res, 400, ErrorBody("bad_request", bad));
        return;
      }
      std::lock_guard lock(mu_);
      if (!restoring(res) || !may_write(res)) return;
      const std::string target = JoinPath(root, path);
      Status stored = MakeDirs(directory ? target : DirName(target), 0700);
      if (stored.ok() && !directory) {
        auto fd = OpenFile(target, O_WRONLY | O_CREAT, 0600);
        const std::span<const uint8_t> bytes(reinterpret_cast<const uint8_t*>(req.body.data()),
                                             req.body.size());
        stored = fd.ok() ? PwriteAll(fd->get(), bytes, *offset, target) : fd.status();
      }
      if (!stored.ok()) {
        SendJson(res, http::HttpStatusOf(stored.code()), ErrorBody("restore_failed", stored));
        return;
      }
      res.status = 204;
    };
  };
  // A copy sent by the daemon (a backup from its repository) into an empty volume.
  server.Put(
      "/v1/restore/copy",
      put_into(JoinPath(JoinPath(options_.data, kVolumeCopy), "data"), [this](http::Response& res) {
        if (!PathExists(JoinPath(options_.data, options_.restore_from))) {
          return true;
        }
        SendJson(res, 409,
                 ErrorBody("has_copy", Status::FailedPrecondition(fmt::format(
                                           "the volume holds a copy of instance '{}' already "
                                           "(a claim made from its VolumeSnapshot)",
                                           options_.restore_from))));
        return false;
      }));
  // A point-in-time restore's copy of the source's archive (the daemon's PgStageArchive).
  server.Put("/v1/restore/archive", put_into(JoinPath(options_.data, kRestoreArchive),
                                             [](http::Response&) { return true; }));
  server.Post("/v1/restore", [this, restoring](const http::Request& req, http::Response& res) {
    std::lock_guard lock(mu_);
    if (!restoring(res)) return;
    const std::string staging = JoinPath(options_.data, kRestoreStaging);
    const std::string archive_stage = JoinPath(options_.data, kRestoreArchive);
    auto request = ParseRestore(req.body, options_.engine, staging, archive_stage);
    if (request.ok() && request->source != options_.restore_from) {
      request =
          Status::InvalidArgument(fmt::format("this volume holds a copy of instance '{}', not '{}'",
                                              options_.restore_from, request->source));
    }
    if (!request.ok()) {
      SendJson(res, 400, ErrorBody("bad_request", request.status()));
      return;
    }
    // The copy under a name of its own first: the new instance may have the source's name.
    const std::string copy = JoinPath(options_.data, kVolumeCopy);
    const std::string source = JoinPath(options_.data, request->source);
    if (!PathExists(copy) && !PathExists(source)) {
      SendJson(res, 409,
               ErrorBody("no_copy", Status::FailedPrecondition(
                                        fmt::format("the volume holds no copy of instance '{}'",
                                                    request->source),
                                        "a claim made from a VolumeSnapshot of its volume holds "
                                        "one, or the daemon sends it (PUT /v1/restore/copy)")));
      return;
    }
    if (!PathExists(copy) && ::rename(source.c_str(), copy.c_str()) != 0) {
      Status moved = ErrnoStatus("move the volume copy from", source, errno);
      SendJson(res, http::HttpStatusOf(moved.code()), ErrorBody("restore_failed", moved));
      return;
    }
    spdlog::info("instance {}: restoring from instance {}'s volume copy", options_.name,
                 request->source);
    // A snapshot of a volume whose server was stopped holds its marker: the copy runs.
    if (Status unmarked = RemoveTree(JoinPath(options_.data, kStoppedMarker)); !unmarked.ok()) {
      SendJson(res, http::HttpStatusOf(unmarked.code()), ErrorBody("restore_failed", unmarked));
      return;
    }
    auto made = engine_->RestoreVolumeCopy(JoinPath(copy, "data"), request->end, *restore_spec_,
                                           request->password,
                                           request->recovery ? &*request->recovery : nullptr);
    if (!made.ok()) {
      spdlog::error("instance {}: restore failed: {}", options_.name, made.status().ToString());
      SendJson(res, http::HttpStatusOf(made.status().code()),
               ErrorBody("restore_failed", made.status()));
      return;
    }
    instance_ = std::move(made).value();
    restore_spec_.reset();
    // From here on the pod's restarts open the instance; without the marker they would wait
    // for a restore again, so the restore has not succeeded until it is written (the daemon
    // then removes the pod's namespace).
    if (Status marked =
            WriteFileAtomic(JoinPath(options_.data, kRestoredMarker), request->source + "\n", 0600);
        !marked.ok()) {
      SendJson(res, http::HttpStatusOf(marked.code()), ErrorBody("restore_failed", marked));
      return;
    }
    WarnIfError(RemoveTree(copy), "remove what is left of the volume copy");
    WarnIfError(RemoveTree(staging), "remove the restore's staged log files");
    WarnIfError(RemoveTree(archive_stage), "remove the restore's staged archive");
    spdlog::info("instance {}: restored, server started, listening on {}:{}", options_.name,
                 options_.address, instance_->endpoint().port);
    SendJson(res, 200, InstanceJson());
  });
}

}  // namespace dbaas::agent
