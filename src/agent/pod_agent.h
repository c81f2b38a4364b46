// The in-pod agent (`dbaas agent`, the entrypoint of an instance's StatefulSet on the
// Kubernetes runtime; docs/KUBERNETES.md). It runs the instance in the pod's volume with
// the engines' own code (the same as dbaasd runs on this machine: no second
// implementation), on runtime::LocalRuntime in its pod mode (the server listens on the
// pod's address, admits any address with a password, and runs as the pod's user), and
// answers the daemon over HTTPS:
//
//   GET  /healthz       the agent lives (the liveness probe; no token)
//   GET  /readyz        200 when the server takes connections, else 503 (no token)
//   GET  /v1/instance   what the daemon records: the server's state and the logins
//   POST /v1/start      starts the server (a no-op when it runs)
//   POST /v1/stop       stops it cleanly; it stays down until /v1/start, across restarts
//                       of the pod
//   POST /v1/backups    begins a volume backup (engines/volume_backup.h): backup mode held
//                       for the daemon to cut a VolumeSnapshot of the pod's volume, for at
//                       most the lease it asks for ({"label", "leaseSeconds", "copy"});
//                       201 with its id and where it begins. With copy, for the daemon to
//                       read the files (Engine::BeginCopyBackup: MariaDB's is a prepared
//                       mariadb-backup copy made first, beside the data)
//   GET  /v1/backups/:id/tree   in backup mode, the data directory's entries (what a copy
//                               holds: the engine's filter) as a manifest without content
//                               (begun with copy; PostgreSQL's volume backup serves it too)
//   GET  /v1/backups/:id/range?path=P&offset=O&length=L   bytes of one of its files, 410
//                               when it is gone: the daemon's copy by the repository method
//   POST /v1/backups/:id/end    ends backup mode: what the copy needs (backup_label, the
//                               span) and the log files it needs (logFiles); idempotent
//   GET  /v1/backups/:id/file?path=P  one of those log files (the WAL from start to stop,
//                               written after the snapshot was cut), held until released
//   POST /v1/backups/:id/renew  extends its lease (a snapshot that takes long to cut)
//   DELETE /v1/backups/:id      abandons it, or releases an ended one's log
//   GET  /v1/wal                the WAL spool (the server archives into it on the volume):
//                               {archiveId, files: [{name, size, regular}]}; a MariaDB
//                               server's: the binlogs it finished (?closeAfter=S: the one
//                               in progress closed once its first transaction is S s old)
//   GET  /v1/wal/file?name=N    a spooled file's bytes (410 when gone); DELETE: the daemon
//                               stored it (pod_agent_wal.cc, kube_runtime/pod_log_spool.h),
//                               a MariaDB server purges its binlogs up to it
//   POST /v1/wal/switch         {timeoutSeconds?}: the current segment (binlog) closed and
//                               spooled
//   POST /v1/wal/restore-point  {name}: a named restore point, spooled; {lsn, gtid?}
//
// A backup whose lease runs out is abandoned (or released) by the agent itself (the daemon
// died or lost the pod): the server never stays in backup mode, nor keeps WAL, for a daemon
// that is gone. One at a time.
//
// Every /v1 request carries `Authorization: Bearer <token>`, the instance's own token from
// its Secret (agent-token), so a pod's agent answers only the daemon (and whoever reads
// that Secret). TLS with the certificate and key of the same Secret.
//
// On an empty volume the instance is made there (first start); on one that holds it, it
// is opened; one whose making was cut off (no instance.json) is removed and made again.
//
// With --restore-from SOURCE (a volume filled from a VolumeSnapshot of SOURCE's volume, or
// an empty one the daemon fills from a backup in its repository)
// the agent makes nothing until the daemon hands it what the copy needs
// (pod_agent_restore.cc):
//
//   PUT  /v1/restore/copy?path=P&offset=O (or &directory=1)  the copy itself, from the
//                                 daemon's repository, into an empty volume
//   PUT  /v1/restore/file?path=P  a log file of the backup (the WAL from start to stop)
//   PUT  /v1/restore/archive?path=P&offset=O (or &directory=1)  a point-in-time restore's
//                                 copy of the source's archive, staged by the daemon
//   POST /v1/restore              {source, password, files, logFiles, target?, binlogFrom?}:
//                                 the instance made from the copy with the engines' own
//                                 restore (to the target, replaying the staged archive; a
//                                 MariaDB copy's binlog from binlogFrom {position, gtid}),
//                                 started, out of recovery; answers as /v1/instance
//
// Until then /v1/instance says "restoring" and everything else is refused (409).
#pragma once

#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <thread>

#include <nlohmann/json.hpp>
#include "base/status.h"

#include "engines/engine.h"
#include "engines/mariadb/maria_log_archiving.h"
#include "http/server.h"
#include "runtime/local_runtime.h"

namespace dbaas::agent {

struct AgentOptions {
  std::string engine;  // postgresql or mariadb
  std::string name;    // the instance's
  std::string data;    // the volume's directory for it: the instance lives in data/<name>
  // A JSON object of the instance's settings (the ConfigMap's settings.json).
  std::string settings_file;
  std::string secrets_dir;       // kube::kAgentTokenFile, kAgentCertFile, kAgentKeyFile
  std::string listen = ":8443";  // [ADDRESS]:PORT of the agent's HTTPS
  std::string address;           // the pod's IP: where the server listens
  std::string bin_dir;           // the engine's binaries; "": Debian's
  uint16_t database_port = 0;    // 0: the engine's standard port (5432, 3306)
  // The dbaas binary the server's archive_command runs (`dbaas wal-push` into the spool):
  // the agent's own.
  std::string dbaas_binary;
  // The volume was filled from a volume backup (a claim from a VolumeSnapshot) of this
  // instance, whose directory it holds: the instance is made by POST /v1/restore, not
  // initdb. Once restored, a marker on the volume says so and the instance is opened.
  std::string restore_from;
  // For tests: the agent's port (0: any free one) is written here once it listens.
  std::string port_file;
};

class PodAgent {
 public:
  // Checks the options, reads the settings and the Secret's files, opens or makes the
  // instance and starts its server. Fails with the reason, leaving no half-made instance.
  static Result<std::unique_ptr<PodAgent>> Open(const AgentOptions& options);
  ~PodAgent();
  PodAgent(const PodAgent&) = delete;
  PodAgent& operator=(const PodAgent&) = delete;

  // Listens and answers until Stop(); then shuts the server down cleanly.
  Status Serve();
  // From any thread (a signal's waiter), before or during Serve: Serve returns.
  void Stop();

 private:
  PodAgent() = default;
  Status MakeServer();  // the HTTPS server with its routes, not listening yet
  void AddRoutes(http::HttpServer& server);
  nlohmann::json InstanceJson() const;  // mu_ held
  nlohmann::json VolumeJson() const;    // mu_ held
  void AddBackupRoutes(http::HttpServer& server);
  void AddRestoreRoutes(http::HttpServer& server);  // pod_agent_restore.cc
  void AddCopyRoutes(http::HttpServer& server);     // pod_agent_copy.cc
  void AddWalRoutes(http::HttpServer& server);      // pod_agent_wal.cc
  // The server's log spool (PostgreSQL: its WAL spool; MariaDB: its binlog directory, with
  // how to reach the server in `binlogs`); answers 409 and returns nullopt when it does not
  // archive (or waits for its restore). Takes mu_. The instance, once made, stays for the
  // agent's life.
  struct ArchivedLog {
    engines::LogSpool spool;
    std::optional<engines::BinlogSpool> binlogs;  // a MariaDB server's
  };
  std::optional<ArchivedLog> ArchivingSpool(http::Response& res) const;
  // Whether the request names the volume backup held; answers 404 if not (backup_mu_ held).
  bool HeldBackup(const http::Request& req, http::Response& res) const;
  // HeldBackup, and backup mode not ended yet (409 if it has): its files may be copied.
  bool CopyHeld(const http::Request& req, http::Response& res);
  // Answers 409 and returns false while the instance waits for its restore (mu_ held).
  bool Made(http::Response& res) const;
  // Abandons (or, once ended, releases) the volume backup held, if any, saying why
  // (backup_mu_ held).
  void DropBackup(const std::string& why);
  // Stops the lease watcher and abandons a backup held: the agent is stopping.
  void StopBackups();
  // Abandons a volume backup whose lease ran out; returns at Stop().
  void WatchLeases();

  AgentOptions options_;
  std::string token_;
  std::unique_ptr<runtime::LocalRuntime> runtime_;
  std::unique_ptr<engines::EngineSet> engines_;
  mutable std::mutex mu_;                        // one operation on the instance at a time
  std::unique_ptr<engines::Instance> instance_;  // guarded by mu_; null while restoring
  // What the restore makes (--restore-from, until it is restored): guarded by mu_.
  std::optional<engines::InstanceSpec> restore_spec_;
  // The volume's usage as last measured (null: not measurable), and when.
  mutable nlohmann::json volume_;                                  // guarded by mu_
  mutable std::chrono::steady_clock::time_point volume_measured_;  // guarded by mu_
  std::unique_ptr<http::HttpServer> server_;
  const engines::Engine* engine_ = nullptr;
  // The volume backup held, its id and when its lease ends: guarded by backup_mu_, which is
  // taken before mu_ when both are. A mutex of its own, so that the probes and the state
  // (mu_) do not wait on pg_backup_start's checkpoint.
  std::mutex backup_mu_;
  std::unique_ptr<engines::VolumeBackup> backup_;
  std::optional<engines::VolumeBackupEnd> backup_end_;  // once ended: its log is held
  bool copying_ = false;  // guarded by backup_mu_: a copy being made (without the lock)
  std::string backup_id_;
  std::chrono::steady_clock::time_point backup_deadline_;
  std::condition_variable leases_changed_;  // with backup_mu_: begun, ended, renewed
  bool stopping_ = false;                   // guarded by backup_mu_
  std::thread lease_watcher_;
};

}  // namespace dbaas::agent
