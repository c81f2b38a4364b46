// The agent's half of WAL archiving in a pod (pod_agent.h): the server archives into a spool
// on the volume (`dbaas wal-push`, as on a machine); the daemon lists it, reads each file
// into the archive in its repository, then deletes it here (kube_runtime/pod_log_spool.h).
// The daemon checks every name and size itself: nothing the pod says is trusted there.
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <charconv>
#include <cstring>
#include <ctime>
#include <optional>

#include <fmt/format.h>

#include <nlohmann/json.hpp>

#include "agent/agent_replies.h"
#include "agent/pod_agent.h"
#include "base/files.h"
#include "engines/log_spool.h"
#include "engines/mariadb/maria_instance.h"
#include "engines/mariadb/maria_log_archiving.h"
#include "engines/volume_backup.h"
#include "http/error_codes.h"
#include "storage/wal_archive.h"
#include "storage/wal_spool.h"

namespace dbaas::agent {
namespace {

using nlohmann::json;

// How long a switch of the WAL segment may wait for the archiver, unless the request says
// (timeoutSeconds, 1 to kMaxArchiveWait).
constexpr std::chrono::seconds kArchiveWait{30};
constexpr std::chrono::seconds kMaxArchiveWait{300};
// The longest a binlog in progress may stay open (a day).
constexpr std::chrono::seconds kMaxCloseAfter{86400};

// The spool's entries but the ones being written (".tmp.*", removed once stale: a wal-push
// that died): name, size, whether a regular file (a link or a directory is listed for the
// daemon to refuse and report).
Result<json> ListSpool(const std::string& dir) {
  const time_t stale_before = ::time(nullptr) - storage::kSpoolTempStaleAfter.count() * 60;
  ASSIGN_OR_RETURN(UniqueFd fd, OpenFile(dir, O_RDONLY | O_DIRECTORY));
  ASSIGN_OR_RETURN(std::vector<std::string> names, ListDirAt(fd.get(), dir));
  json files = json::array();
  for (const std::string& name : names) {
    struct stat st;
    if (::fstatat(fd.get(), name.c_str(), &st, AT_SYMLINK_NOFOLLOW) != 0) continue;  // gone
    if (name.starts_with('.')) {
      if (name.starts_with(".tmp.") && S_ISREG(st.st_mode) && st.st_mtime < stale_before) {
        ::unlinkat(fd.get(), name.c_str(), 0);
      }
      continue;
    }
    files.push_back({{"name", name}, {"size", st.st_size}, {"regular", S_ISREG(st.st_mode)}});
  }
  return files;
}

// How long the binlog in progress may hold a transaction before it is closed: the
// `closeAfter` query parameter, seconds (0, or none: never).
Result<std::chrono::seconds> CloseAfter(const http::Request& req) {
  if (!req.has_param("closeAfter")) return std::chrono::seconds(0);
  const std::string text = req.get_param_value("closeAfter");
  int64_t seconds = -1;
  auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), seconds);
  if (ec != std::errc() || end != text.data() + text.size() || seconds < 0 ||
      seconds > kMaxCloseAfter.count()) {
    return Status::InvalidArgument(
        fmt::format("closeAfter must be a number of seconds from 0 to {}", kMaxCloseAfter.count()));
  }
  return std::chrono::seconds(seconds);
}

// A MariaDB server's finished binlogs, as ListSpool lists a spool.
Result<json> BinlogListing(const engines::BinlogSpool& binlogs, std::chrono::seconds close_after) {
  ASSIGN_OR_RETURN(std::vector<engines::FinishedBinlog> finished,
                   engines::ListFinishedBinlogs(binlogs, close_after));
  json files = json::array();
  for (const engines::FinishedBinlog& f : finished) {
    files.push_back({{"name", f.name}, {"size", f.size}, {"regular", true}});
  }
  return files;
}

// The `name` query parameter as a spooled WAL file's name (no path, no temporary file).
Result<std::string> SpooledName(const http::Request& req) {
  std::string name = req.get_param_value("name");
  if (name.empty() || name.starts_with('.') || name.find('/') != std::string::npos ||
      !storage::ParseWalFileName(name).ok()) {
    return Status::InvalidArgument(fmt::format("'{}' is not a WAL file's name", name),
                                   "ask for a name GET /v1/wal listed");
  }
  return name;
}

}  // namespace

std::optional<PodAgent::ArchivedLog> PodAgent::ArchivingSpool(http::Response& res) const {
  std::lock_guard lock(mu_);
  if (!Made(res)) return std::nullopt;
  auto spool = instance_->log_spool();
  const auto* maria = dynamic_cast<const engines::MariaInstance*>(instance_.get());
  if (!spool) {
    SendJson(res, 409,
             ErrorBody("not_archiving",
                       Status::FailedPrecondition(
                           fmt::format("instance {} does not archive its log", options_.name),
                           "it was made before pods archived theirs (its Secret names no "
                           "wal-archive); restore a backup of it into a new instance")));
    return std::nullopt;
  }
  return ArchivedLog{*spool, maria != nullptr ? maria->binlog_spool() : std::nullopt};
}

void PodAgent::AddWalRoutes(http::HttpServer& server) {
  // The spool: {"archiveId", "files": [{"name", "size", "regular"}]}. A MariaDB server's:
  // the binlogs it finished; ?closeAfter=S closes the one in progress once its first
  // transaction is S seconds old (the daemon's recovery point objective).
  server.Get("/v1/wal", [this](const http::Request& req, http::Response& res) {
    auto log = ArchivingSpool(res);
    if (!log) return;
    Result<json> files = json::array();
    if (log->binlogs) {
      auto close_after = CloseAfter(req);
      if (!close_after.ok()) {
        SendJson(res, 400, ErrorBody("bad_request", close_after.status()));
        return;
      }
      files = BinlogListing(*log->binlogs, *close_after);
    } else {
      files = ListSpool(log->spool.dir);
    }
    if (!files.ok()) {
      SendJson(res, http::HttpStatusOf(files.status().code()),
               ErrorBody("archiving_failed", files.status()));
      return;
    }
    SendJson(res, 200, {{"archiveId", log->spool.archive_id}, {"files", std::move(files).value()}});
  });
  // The spooled file a request names (?name=): its name and the spool; nullopt once
  // answered (400, 409).
  struct Spooled {
    std::string name;
    ArchivedLog log;
    std::string path() const { return JoinPath(log.spool.dir, name); }
  };
  auto spooled_file = [this](const http::Request& req,
                             http::Response& res) -> std::optional<Spooled> {
    auto name = SpooledName(req);
    if (!name.ok()) {
      SendJson(res, 400, ErrorBody("bad_request", name.status()));
      return std::nullopt;
    }
    auto log = ArchivingSpool(res);
    if (!log) return std::nullopt;
    return Spooled{*name, *log};
  };
  // One spooled file's bytes (a MariaDB server's: a binlog it finished); 410 when it is gone
  // (drained already).
  server.Get("/v1/wal/file", [spooled_file](const http::Request& req, http::Response& res) {
    auto file = spooled_file(req, res);
    if (!file) return;
    Result<std::string> content = std::string();
    if (file->log.binlogs) {
      auto bytes = engines::ReadFinishedBinlog(*file->log.binlogs, file->name);
      content = bytes.ok() ? std::string(bytes->begin(), bytes->end())
                           : Result<std::string>(bytes.status());
    } else {
      content = ReadFileToString(file->path(), engines::kMaxRestorableLogFileBytes);
    }
    if (!content.ok() && content.status().code() == StatusCode::kNotFound) {
      SendJson(res, 410,
               ErrorBody("gone", Status::NotFound(fmt::format("the spool holds no {}",
                                                              req.get_param_value("name")))));
      return;
    }
    if (!content.ok()) {
      SendJson(res, http::HttpStatusOf(content.status().code()),
               ErrorBody("archiving_failed", content.status()));
      return;
    }
    res.status = 200;
    res.set_content(std::move(content).value(), "application/octet-stream");
  });
  // The daemon has stored it: it leaves the spool (a MariaDB server purges its binlogs up
  // to it: the daemon stores them in order). Gone already is fine.
  server.Delete("/v1/wal/file", [spooled_file](const http::Request& req, http::Response& res) {
    auto file = spooled_file(req, res);
    if (!file) return;
    Status removed = Status::Ok();
    if (file->log.binlogs) {
      removed = engines::PurgeStoredBinlogs(*file->log.binlogs, file->name);
    } else if (::unlink(file->path().c_str()) != 0 && errno != ENOENT) {
      removed = ErrnoStatus("unlink", file->path(), errno);
    }
    if (!removed.ok()) {
      SendJson(res, http::HttpStatusOf(removed.code()), ErrorBody("archiving_failed", removed));
      return;
    }
    res.status = 204;
  });
  // The current segment closed and archived into the spool (the daemon drains it next):
  // what a restore to "now" needs.
  server.Post("/v1/wal/switch", [this](const http::Request& req, http::Response& res) {
    std::chrono::seconds wait = kArchiveWait;
    if (!req.body.empty()) {
      const json body = json::parse(req.body, nullptr, false);
      const json seconds = body.is_object() ? body.value("timeoutSeconds", json()) : json();
      if (!seconds.is_number_integer() || seconds.get<int64_t>() < 1 ||
          seconds.get<int64_t>() > kMaxArchiveWait.count()) {
        SendJson(
            res, 400,
            ErrorBody("bad_request", Status::InvalidArgument(fmt::format(
                                         "timeoutSeconds must be a number of seconds from 1 to {}",
                                         kMaxArchiveWait.count()))));
        return;
      }
      wait = std::chrono::seconds(seconds.get<int64_t>());
    }
    if (!ArchivingSpool(res)) return;
    Status archived = engine_->ArchiveNow(*instance_, wait);
    if (!archived.ok()) {
      SendJson(res, http::HttpStatusOf(archived.code()), ErrorBody("archiving_failed", archived));
      return;
    }
    res.status = 204;
  });
  // {"name"}: a named restore point, its segment archived into the spool; {"lsn"}.
  server.Post("/v1/wal/restore-point", [this](const http::Request& req, http::Response& res) {
    json body = json::parse(req.body, nullptr, false);
    const std::string name = body.is_object() && body.contains("name") && body["name"].is_string()
                                 ? body["name"].get<std::string>()
                                 : "";
    if (name.empty()) {
      SendJson(
          res, 400,
          ErrorBody("bad_request", Status::InvalidArgument("name must be a non-empty string")));
      return;
    }
    if (!ArchivingSpool(res)) return;
    auto point = engine_->CreateRestorePoint(*instance_, name);
    if (!point.ok()) {
      SendJson(res, http::HttpStatusOf(point.status().code()),
               ErrorBody("archiving_failed", point.status()));
      return;
    }
    json reply = {{"lsn", point->lsn}};
    if (!point->gtid.empty()) reply["gtid"] = point->gtid;
    SendJson(res, 200, reply);
  });
}

}  // namespace dbaas::agent
