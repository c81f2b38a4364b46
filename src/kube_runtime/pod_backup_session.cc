#include "kube_runtime/pod_backup_session.h"

#include <sys/stat.h>

#include <algorithm>
#include <cerrno>
#include <set>
#include <string_view>

#include <fmt/format.h>

#include "base/clock.h"
#include "base/files.h"
#include "base/log.h"
#include "engines/mariadb/maria_binlog.h"
#include "engines/postgres/pg_backup.h"
#include "engines/postgres/pg_wal_blocks.h"
#include "engines/volume_backup.h"
#include "kube/json_fields.h"

namespace dbaas::kube_runtime {
namespace {

using nlohmann::json;

// pg_backup_start's checkpoint included.
constexpr std::chrono::seconds kCallTimeout{60};
// A begin that makes a MariaDB server's copy (mariadb-backup's, of the whole data
// directory, and its prepare): an hour for it.
constexpr std::chrono::hours kCopyBeginTimeout{1};
// A renewal answered later than this is tried again at the next tick.
constexpr std::chrono::seconds kRenewTimeout{8};
// The smallest WAL segment initdb makes (--wal-segsize).
constexpr uint64_t kMinSegmentBytes = uint64_t{1} << 20;
// A timeline's history file: a line per earlier timeline.
constexpr uint64_t kMaxHistoryBytes = uint64_t{1} << 20;

// The agent's list of the backup's log files checked against the span it reported: exactly
// the WAL segments from the start to the stop LSN on its timeline for one segment size
// (which the list's names say), and the timeline's history; the segment size.
Result<uint64_t> CheckLogFiles(const std::vector<std::string>& log_files,
                               const engines::BackupFacts& facts, const std::string& what) {
  auto refuse = [&](const std::string& why) {
    return Status::IoError(fmt::format("{}: the agent's log files {}", what, why),
                           "the pod's agent is not answering as dbaasd's own does");
  };
  auto start = engines::ParseLsn(facts.start_lsn);
  auto stop = engines::ParseLsn(facts.stop_lsn);
  if (!start.ok() || !stop.ok() || *stop < *start || !facts.timeline || *facts.timeline == 0) {
    return refuse("come with no valid span (start, stop, timeline)");
  }
  std::set<std::string> segments;
  for (const std::string& path : log_files) {
    if (!engines::IsVolumeLogPath(path)) return refuse(fmt::format("name '{}'", path));
    const std::string name = path.substr(std::string_view("pg_wal/").size());
    if (*facts.timeline > 1 && name == engines::TimelineHistoryName(*facts.timeline)) continue;
    if (!segments.insert(name).second) return refuse(fmt::format("name '{}' twice", name));
  }
  for (uint64_t size = kMinSegmentBytes; size <= engines::kMaxVolumeLogFileBytes; size *= 2) {
    const std::vector<std::string> expected =
        engines::PgBackupWalSegments(*facts.timeline, *start, *stop, size);
    if (std::set<std::string>(expected.begin(), expected.end()) == segments) return size;
  }
  return refuse(fmt::format("are not the WAL segments from {} to {} on timeline {}",
                            facts.start_lsn, facts.stop_lsn, *facts.timeline));
}

// A MariaDB volume backup's facts as the daemon keeps them: what it knows itself, and of
// the agent's only a version that reads as one, a blocked time within the daemon's bound
// (from asking for the begin to the end's answer), the binlog and GTID positions where they
// read as the server writes them (the server that archives its binlog), and a stop time
// within that bound too.
engines::BackupFacts MariaFactsOf(const engines::BackupFacts& agent, const std::string& engine,
                                  PodCopy copy, std::chrono::steady_clock::time_point asked_at) {
  engines::BackupFacts facts;
  facts.engine = engine;
  facts.snapshot_kind = copy == PodCopy::kFiles ? "repository" : "volume";
  facts.method = copy == PodCopy::kFiles ? "mariadb-backup" : "backup-stage";
  const std::string& version = agent.server_version;
  if (!version.empty() && version.size() <= 64 &&
      version.find_first_not_of(
          "0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ.-+_~:") ==
          std::string::npos) {
    facts.server_version = version;
  }
  const auto elapsed = std::chrono::steady_clock::now() - asked_at;
  const double bound = std::chrono::duration<double>(elapsed).count();
  const std::optional<double>& said = agent.seconds_writes_blocked;
  facts.seconds_writes_blocked = said && *said >= 0 && *said <= bound ? *said : bound;
  if (agent.start_lsn == agent.stop_lsn &&
      engines::IsBinlogPoint(agent.stop_lsn, agent.gtid_position)) {
    facts.start_lsn = facts.stop_lsn = agent.stop_lsn;
    facts.gtid_position =
        engines::FormatGtidPosition(engines::ParseGtidPosition(agent.gtid_position).value());
    const int64_t now_us = NowUnixNs() / 1000;
    const int64_t asked_us =
        now_us - std::chrono::duration_cast<std::chrono::microseconds>(elapsed).count();
    facts.stop_time_unix_us =
        std::clamp(agent.stop_time_unix_us.value_or(now_us), asked_us, now_us);
  }
  return facts;
}

engines::BackupFacts FactsOf(const json& answer) {
  std::map<std::string, std::string> annotations;
  const json facts = kube::ObjectField(answer, "facts");
  for (const auto& [key, value] : facts.items()) {
    if (value.is_string()) annotations[key] = value.get<std::string>();
  }
  return engines::FromAnnotations(annotations);
}

}  // namespace

Result<std::unique_ptr<PodBackupSession>> PodBackupSession::Begin(
    const AgentClient& agents, const AgentEndpoint& agent, const std::string& engine, PodCopy copy,
    const std::string& label, const std::string& what) {
  const auto asked_at = std::chrono::steady_clock::now();
  const bool made_at_begin = copy == PodCopy::kFiles && engine != "postgresql";
  ASSIGN_OR_RETURN(json begun, agents.Call(agent, "POST", "/v1/backups",
                                           made_at_begin ? kCopyBeginTimeout : kCallTimeout,
                                           {{"label", label},
                                            {"leaseSeconds", kBackupLease.count()},
                                            {"copy", copy == PodCopy::kFiles}}));
  const std::string id = kube::TextField(begun, "id");
  if (id.empty() || id.find_first_not_of("0123456789abcdef") != std::string::npos) {
    return Status::IoError(fmt::format("{}: the agent's begin has no id", what));
  }
  return std::unique_ptr<PodBackupSession>(
      new PodBackupSession(agents, agent, engine, copy, asked_at, id, what));
}

PodBackupSession::~PodBackupSession() {
  if (released_) return;
  WarnIfError(agents_.Call(agent_, "DELETE", "/v1/backups/" + id_, kCallTimeout).status(),
              "abandon the backup at the agent");
}

Status PodBackupSession::Renew() const {
  return agents_
      .Call(agent_, "POST", "/v1/backups/" + id_ + "/renew", kRenewTimeout,
            {{"leaseSeconds", kBackupLease.count()}})
      .status();
}

Result<PodBackupEnd> PodBackupSession::End() {
  ASSIGN_OR_RETURN(json ended,
                   agents_.Call(agent_, "POST", "/v1/backups/" + id_ + "/end", kCallTimeout));
  PodBackupEnd end;
  end.facts = FactsOf(ended);
  end.facts.engine = engine_;
  for (const json& entry : kube::ArrayField(ended, "logFiles")) {
    end.log_files.push_back(entry.is_string() ? entry.get<std::string>() : "");
  }
  const json files = kube::ObjectField(ended, "files");
  if (!postgres()) {
    if (!end.log_files.empty() || !files.empty()) {
      return Status::IoError(
          fmt::format("{}: the agent's end names files or log, which this server's has none of",
                      what_),
          "the pod's agent is not answering as dbaasd's own does");
    }
    end.facts = MariaFactsOf(end.facts, engine_, copy_, asked_at_);
    return end;
  }
  ASSIGN_OR_RETURN(end.segment_size, CheckLogFiles(end.log_files, end.facts, what_));
  if (end.segment_size > engines::kMaxRestorableLogFileBytes) {
    return Status::FailedPrecondition(
        fmt::format("{}: its WAL segments of {} MiB are larger than a restore can send to a pod "
                    "({} MiB)",
                    what_, end.segment_size >> 20, engines::kMaxRestorableLogFileBytes >> 20),
        "backups in pods need instances made with WAL segments of 64 MiB at most");
  }
  for (const char* file : engines::kVolumeBackupEndFiles) {
    const std::string content = kube::TextField(files, file);
    if (!content.empty()) end.files[file] = content;
  }
  if (!end.files.count("backup_label")) {
    return Status::IoError(fmt::format("{}: the agent's end has no backup_label", what_));
  }
  return end;
}

Status PodBackupSession::FetchLog(const PodBackupEnd& end, const std::string& staging) {
  RETURN_IF_ERROR(MakeDirs(postgres() ? JoinPath(staging, "pg_wal") : staging, 0700));
  for (const auto& [file, content] : end.files) {
    RETURN_IF_ERROR(WriteFileAtomic(JoinPath(staging, file), content, 0600));
  }
  for (const std::string& path : end.log_files) {  // checked by End
    const bool history = path.ends_with(".history");
    const std::string staged = JoinPath(staging, path);
    RETURN_IF_ERROR(Renew());  // a segment may take a while
    RETURN_IF_ERROR(agents_.Download(agent_, "/v1/backups/" + id_ + "/file?path=" + path, staged,
                                     history ? kMaxHistoryBytes : end.segment_size,
                                     std::chrono::minutes(5)));
    struct stat st {};
    if (::stat(staged.c_str(), &st) != 0) return ErrnoStatus("stat", staged, errno);
    if (!history && static_cast<uint64_t>(st.st_size) != end.segment_size) {
      return Status::IoError(fmt::format("{}: WAL segment {} has {} bytes, not {}", what_, path,
                                         st.st_size, end.segment_size));
    }
  }
  released_ = true;
  WarnIfError(agents_.Call(agent_, "DELETE", "/v1/backups/" + id_, kCallTimeout).status(),
              "release the backup's log at the agent (its lease releases it)");
  return Status::Ok();
}

LeaseRenewer::LeaseRenewer(const PodBackupSession& session) : session_(session) {
  thread_ = std::thread([this] {
    std::unique_lock lock(mu_);
    auto renewed_at = std::chrono::steady_clock::now();
    while (!stop_.wait_for(lock, kRenewEvery, [this] { return stopping_; })) {
      lock.unlock();
      Status renewed = session_.Renew();
      lock.lock();
      if (renewed.ok()) {
        renewed_at = std::chrono::steady_clock::now();
        continue;
      }
      // A busy agent's answer may come late: tried again until the lease may have run out.
      // A 404 says it has (the agent dropped the backup).
      if (renewed.code() == StatusCode::kNotFound ||
          std::chrono::steady_clock::now() - renewed_at + kRenewEvery >= kBackupLease) {
        failed_ = renewed;
        return;
      }
    }
  });
}

LeaseRenewer::~LeaseRenewer() {
  {
    std::lock_guard lock(mu_);
    stopping_ = true;
  }
  stop_.notify_all();
  thread_.join();
}

Status LeaseRenewer::status() const {
  std::lock_guard lock(mu_);
  return failed_;
}

}  // namespace dbaas::kube_runtime
