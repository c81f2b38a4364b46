// Backup mode in an instance's pod as the daemon drives it, whichever method copies the
// data (volume_snapshot_backup.h, repository_backup.h): begun at the agent on a lease
// (agent/pod_agent.h) which the daemon renews, ended, the log from the backup's start to its
// stop fetched and checked against the span the agent reports (the pod is the tenant's:
// its answers are input), then released. Destroyed before it is released, it abandons
// backup mode at the agent; a daemon that dies leaves it to the lease.
#pragma once

#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "base/status.h"
#include "engines/backup_facts.h"
#include "kube/api_client.h"
#include "kube/instance_objects.h"
#include "kube_runtime/agent_client.h"

namespace dbaas::kube_runtime {

// Whose backup, reached how: the instance, its pod's agent, the cluster.
struct PodBackupTarget {
  kube::ApiClient* api = nullptr;
  const AgentClient* agents = nullptr;
  AgentEndpoint agent;  // with the pod's address
  kube::KubernetesSettings settings;
  std::string instance;
  std::string engine;
  // The archive its WAL goes to, as the daemon made it ("": none); what the backup's facts
  // say, whatever the pod's agent says.
  std::string wal_archive;
  // How long the snapshot may take to become readyToUse (backup mode is held as long, on a
  // lease renewed meanwhile).
  std::chrono::milliseconds ready_timeout{std::chrono::minutes(10)};
};

// The agent's lease on backup mode: a daemon that dies holds the database in backup mode
// (and its WAL) for at most this long. Renewed every kRenewEvery.
inline constexpr std::chrono::seconds kBackupLease{30};
inline constexpr std::chrono::seconds kRenewEvery{10};

struct PodBackupEnd {
  engines::BackupFacts facts;                // the span, the stop time, ...
  std::map<std::string, std::string> files;  // backup_label, tablespace_map
  std::vector<std::string> log_files;        // pg_wal/<segment> and the timeline's history
  uint64_t segment_size = 0;
};

// What the backup's copy is: a storage snapshot of the pod's volume the daemon cuts
// (volume_snapshot_backup.h), or the files the daemon reads through the agent
// (repository_backup.h; a MariaDB server's are mariadb-backup's prepared copy, made by the
// agent at the begin: engines/mariadb/maria_volume_backup.h).
enum class PodCopy { kVolumeSnapshot, kFiles };

class PodBackupSession {
 public:
  // Backup mode begun at the agent of an `engine` server for a copy `copy`, labelled
  // `label`; `what` names the backup in errors.
  static Result<std::unique_ptr<PodBackupSession>> Begin(const AgentClient& agents,
                                                         const AgentEndpoint& agent,
                                                         const std::string& engine, PodCopy copy,
                                                         const std::string& label,
                                                         const std::string& what);
  ~PodBackupSession();  // abandons backup mode (or the log it holds) unless released
  PodBackupSession(const PodBackupSession&) = delete;
  PodBackupSession& operator=(const PodBackupSession&) = delete;

  const std::string& id() const { return id_; }
  Status Renew() const;
  // Ends backup mode: what the copy needs, the log files checked against the span (exactly
  // the segments from start to stop for one segment size, and the history), segments a
  // restore can send back (kMaxRestorableLogFileBytes). PostgreSQL's end has its
  // backup_label and WAL; MariaDB's has neither (the volume holds its redo log), and one
  // that names any is refused. The facts the daemon can know are its own (the engine; for
  // MariaDB, the time commits were blocked at most), the pod's answers being input.
  Result<PodBackupEnd> End();
  // Each of the end's log files into `staging`/<path> (each the segment size), the end's
  // files too; then the agent lets the log go.
  Status FetchLog(const PodBackupEnd& end, const std::string& staging);

 private:
  PodBackupSession(const AgentClient& agents, const AgentEndpoint& agent, std::string engine,
                   PodCopy copy, std::chrono::steady_clock::time_point asked_at, std::string id,
                   std::string what)
      : agents_(agents),
        agent_(agent),
        engine_(std::move(engine)),
        copy_(copy),
        asked_at_(asked_at),
        id_(std::move(id)),
        what_(std::move(what)) {}

  bool postgres() const { return engine_ == "postgresql"; }  // a label and the WAL

  const AgentClient& agents_;
  AgentEndpoint agent_;
  const std::string engine_;
  const PodCopy copy_;
  // When the begin was asked for: MariaDB's commits are blocked from some time after it
  // until the end's answer, which bounds what the agent reports.
  const std::chrono::steady_clock::time_point asked_at_;
  std::string id_;
  std::string what_;
  bool released_ = false;
};

// Renews a session's lease every kRenewEvery from a thread of its own while the daemon
// copies (a large volume takes longer than a lease), until destroyed. A failed renewal is
// tried again while the lease may still hold; then, or on a 404 (the agent dropped the
// backup), it stops, its failure kept for status().
class LeaseRenewer {
 public:
  explicit LeaseRenewer(const PodBackupSession& session);
  ~LeaseRenewer();
  LeaseRenewer(const LeaseRenewer&) = delete;
  LeaseRenewer& operator=(const LeaseRenewer&) = delete;
  Status status() const;

 private:
  const PodBackupSession& session_;
  mutable std::mutex mu_;
  std::condition_variable stop_;
  bool stopping_ = false;
  Status failed_;
  std::thread thread_;
};

}  // namespace dbaas::kube_runtime
