// What every database instance on the local runtime offers the service, whatever its
// engine: start, stop, delete, whether it runs, and how a client reaches it.
#pragma once

#include <chrono>
#include <cstdint>
#include <functional>
#include <map>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "base/status.h"
#include "engines/replication.h"
#include "runtime/runtime.h"
#include "storage/wal_archive.h"
#include "storage/wal_spool.h"

namespace dbaas::engines {

// Continuous archiving of the server's log into the snapshot repository (PostgreSQL: its
// WAL through archive_command running `dbaas wal-push` into the instance's spool, which the
// daemon drains into the repository). Empty repo_path and spool_archive_id: none.
struct LogArchiving {
  std::string repo_path;
  std::string dbaas_binary;  // the dbaas CLI, run by the server's OS user
  // The archive to join instead of making one: a standby archives into its primary's (it
  // archives once promoted), so the instance's log stays one archive across failovers.
  std::string join_archive_id;
  // The instance a new archive is named after (archive ids are "<instance>.<hex>", which
  // pruning reads), when not the server's own name: a MariaDB standby keeps an archive of
  // its own (binlog names would collide in one), named after its instance.
  std::string archive_owner;
  // Into the spool only, for the archive of this id in a repository elsewhere (repo_path
  // empty): a pod's server, whose spool the daemon drains through the pod's agent
  // (kube_runtime/pod_log_spool.h). Nothing here touches a repository.
  std::string spool_archive_id;

  bool on() const { return !repo_path.empty() || !spool_archive_id.empty(); }
};

// Everything needed to make an instance (fresh or restored).
struct InstanceSpec {
  std::string name;       // DNS-1123 label
  std::string data_root;  // the instance lives in data_root/name
  std::string type;       // postgresql, mariadb, mysql
  uint16_t port = 0;      // 0: a free port chosen now
  // Server settings over the engine's defaults, by the engine's own parameter names.
  std::map<std::string, std::string> config;
  // Where the server binaries are; empty: the engine's default (Debian's packages).
  std::string bin_dir;
  LogArchiving archiving;
  // The tenant may have the database's superuser login too (docs/SECURITY.md); by default
  // it gets the owner of its own database only.
  bool superuser_access = false;
  // Where it runs; null: this machine (runtime::Local()).
  runtime::Runtime* runtime = nullptr;
  // Its volume's size; 0: none set (the runtime's default, where it needs one).
  uint64_t size_bytes = 0;
  // A standby of another member: made from a copy of the primary (not initdb) and
  // streaming from it.
  std::optional<StandbySpec> standby;
};

// Where a server listens.
struct HostPort {
  std::string host;
  uint16_t port = 0;
};

// How a client reaches an instance.
struct ConnectionInfo {
  std::string type;  // postgresql, mariadb, mysql
  std::string host = "127.0.0.1";
  uint16_t port = 0;
  std::string socket;  // the unix socket's path
  std::string user;
  std::string password;
  std::string database;
  // A URI a client uses as is: postgresql://user[:password]@host:port/db for PostgreSQL,
  // mysql://... (which MariaDB's and MySQL's clients and drivers take) for the others.
  std::string Uri(bool with_password) const;
  // PostgreSQL's multi-host form over `servers` (libpq tries each in turn and keeps the
  // first whose session is as `session_attrs` asks: read-write, prefer-standby, ...).
  std::string MultiHostUri(bool with_password, const std::vector<HostPort>& servers,
                           std::string_view session_attrs) const;
};

// Where a server leaves its finished log files (written by its OS user) and the archive
// in the repository the daemon moves them to (engines/log_spool.h). A value: the daemon
// drains it without holding the instance.
struct LogSpool {
  std::string instance;
  std::string dir;  // the spool, the server's user's
  std::string repo_path;
  std::string archive_id;
  std::string status_path;  // the last failure to drain it (ours, beside the spool)
  // The last failure of the server's own archive_command (wal-push), which the server's
  // user writes.
  std::string push_status_path;
  // Called with each file the drain stores (the engine's summaries of its log): none when
  // empty. Cannot fail the drain.
  std::function<void(const storage::WalArchive& archive, const std::string& name,
                     std::span<const uint8_t> raw)>
      summarize;
  // How the spool is drained, when not as storage::DrainWalSpool does (MariaDB: its binlog
  // directory, mariadb/maria_log_archiving.h), given the archive and `close_after`: the
  // recovery point objective, how long a commit may wait to be archived (the service's
  // setting; PostgreSQL's is its archive_timeout).
  std::function<Result<storage::SpoolDrain>(const storage::WalArchive& archive,
                                            std::chrono::seconds close_after)>
      drain;
  std::chrono::seconds close_after{60};
};

// Measures how much of its volume an instance uses; a value, callable from any thread
// without the instance (the service measures outside its lock). Empty: cannot be measured.
using VolumeProbe = std::function<Result<runtime::VolumeStats>()>;

class Instance {
 public:
  virtual ~Instance() = default;

  // Starts the server, waits until it accepts connections, and supervises it from then on
  // (restarted with back-off if it dies). A no-op when started already.
  virtual Status Start(std::chrono::milliseconds timeout = std::chrono::seconds(60)) = 0;
  // Ends supervision and shuts the server down (politely, then firmly after `timeout`).
  virtual Status Stop(std::chrono::milliseconds timeout = std::chrono::seconds(30)) = 0;
  // Stops the server (and any left by an earlier daemon), then removes the directory.
  virtual Status Delete() = 0;
  // Stops a server of this instance that an earlier daemon left running, if any (one
  // that must not run: a fenced old primary).
  virtual Status StopLeftBehind() { return Status::Ok(); }
  virtual bool running() const = 0;
  // Whether the server answers now (a cheap probe with a short timeout of its own): a
  // running server may be hung.
  virtual bool answers() const { return running(); }
  // Whether it is configured as a standby (it starts as one).
  virtual bool standby() const { return false; }
  virtual int restarts() const = 0;  // since Start()
  virtual const std::string& name() const = 0;
  virtual const std::string& dir() const = 0;
  // The superuser's connection: the daemon's own (backups, checks, restore points). It is
  // handed to the tenant only for an instance made with superuser access.
  virtual ConnectionInfo endpoint() const = 0;
  // The tenant's connection: `app`, the owner of the database `app` and not a superuser.
  // An instance made before tenant logins existed has none: its login is the superuser's.
  virtual ConnectionInfo login() const = 0;
  // Whether the tenant has the superuser's login too (asked for, or no tenant login).
  virtual bool superuser_access() const = 0;
  // What a user should know about how the instance is served (e.g. type mysql served by
  // MariaDB), or "". Reads no file (the service asks under its lock): archiving failures,
  // which are in files a tenant can write, are read through the spool (LogSpoolNote).
  virtual std::string note() const { return ""; }
  // Why the server is not reached, where the runtime knows more than that it is down (a
  // pod's state and the cluster's reason); "" otherwise.
  virtual std::string down_reason() const { return ""; }
  // The id of the archive its log goes to in the repository, or "" when it has none.
  virtual std::string log_archive_id() const { return ""; }
  // Its log spool, when it archives its log.
  virtual std::optional<LogSpool> log_spool() const { return std::nullopt; }
  virtual VolumeProbe volume_probe() const { return {}; }
};

}  // namespace dbaas::engines
