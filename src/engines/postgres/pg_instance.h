// A PostgreSQL instance on the local machine: a data directory under the data root, a
// generated configuration, a port on 127.0.0.1 and a private unix socket directory, and a
// server process run from Debian's postgresql-15 binaries, as the `postgres` user when we
// are root (PostgreSQL refuses to run as root).
//
// Layout of <data_root>/<name>/:
//   data/          PGDATA (initdb --data-checksums), owned by the server's user
//   run/           the unix socket directory (0700, the server's user)
//   password       the superuser's generated password (0600, ours)
//   app-password   the tenant login's password (0600, ours): the role `app`, owner of the
//                  database `app`, made before the first start
//   instance.json  name, port, binaries, configuration overrides, OS user
//   postgres.log   the server's output
//
// With archiving (spec.archiving), archive_command runs `dbaas wal-push` into the spool
//   wal-spool.<archive id>/         the server's user's (storage/wal_spool.h)
//   wal-spool.<archive id>.status   the last failure to drain it (ours)
// and the daemon drains it into the repository's archive <name>.<random>
// (storage/wal_archive.h), a new id for every instance made, restored ones included;
// wal-push's own failures are recorded in run/wal-push.status.
#pragma once

#include <chrono>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "base/process.h"
#include "base/status.h"
#include "engines/supervised_instance.h"

namespace dbaas::engines {

// config: postgresql.conf settings over the defaults (max_connections 200, shared_buffers
// 128MB, effective_cache_size 512MB, maintenance_work_mem 64MB, checkpoint_completion_target
// 0.9, wal_buffers 16MB, archive_timeout 60s). bin_dir empty: found with pg_config, else
// /usr/lib/postgresql/15/bin.
using PgInstanceSpec = InstanceSpec;

struct PgConnectionInfo {
  std::string host = "127.0.0.1";
  uint16_t port = 0;
  std::string socket_dir;
  std::string user = "postgres";
  std::string password;
  std::string database = "postgres";
  std::string Uri(bool with_password) const;
  // libpq keyword/value string over the unix socket.
  std::string SocketConninfo() const;
};

class PgConnection;

class PgInstance final : public SupervisedInstance {
 public:
  // initdb and configuration; the server is not started. Refuses an existing name, and
  // removes everything it made if any step fails.
  static Result<PgInstance> Create(const PgInstanceSpec& spec);
  // Fills a new instance's data directory with `fill` (a restore) instead of initdb; the
  // superuser's password is `password` (the one inside the data). The same guarantees as
  // Create: an existing name is refused, a failure leaves nothing behind.
  // `recovery`: settings for the first start only (restore_command, recovery_target_*),
  // removed by FinishRecovery().
  // `check`, if given, runs on the filled data directory once it belongs to the
  // instance's identity, before the configuration is written.
  using FillDataFn = std::function<Status(const std::string& data_dir)>;
  using CheckDataFn = std::function<Status(const std::string& data_dir, const PgInstance& inst)>;
  static Result<PgInstance> CreateFrom(const PgInstanceSpec& spec, const std::string& password,
                                       const FillDataFn& fill,
                                       const std::map<std::string, std::string>& recovery = {},
                                       const CheckDataFn& check = {});
  // A standby of `primary` (spec.standby says whom it streams from and through which slot,
  // which must exist): its data directory filled by `seed` (PgSeedFromBackup), else a copy
  // made with pg_basebackup as the new member's identity; streaming from then on. Not
  // started. The same guarantees as Create.
  static Result<PgInstance> CreateStandby(const PgInstanceSpec& spec, const PgInstance& primary,
                                          const FillDataFn& seed = {});
  // Its data directory made again as a copy of the primary it follows (a member too far
  // behind or diverged for pg_rewind). Its server must be stopped.
  Status CopyFromPrimary();
  // An instance made earlier (reads instance.json).
  // On `rt`; null: runtime::Local().
  static Result<PgInstance> Open(const std::string& data_root, const std::string& name,
                                 runtime::Runtime* rt = nullptr);

  PgInstance(PgInstance&&) noexcept;
  PgInstance& operator=(PgInstance&&) noexcept;
  ~PgInstance() override;

  const std::string& name() const override { return name_; }
  const std::string& dir() const override { return dir_; }
  ConnectionInfo endpoint() const override;
  // A restored copy's tenant login gets a password of its own (the copy holds the
  // source's): `app` is given a new one through `conn`, the superuser's session. A copy of
  // an instance without a tenant login keeps none.
  Status RenewTenantLogin(PgConnection& conn);
  std::string data_dir() const;
  PgConnectionInfo connection() const;
  const LogArchiving& archiving() const { return archiving_; }
  std::string log_archive_id() const override { return archive_id_; }
  std::optional<LogSpool> log_spool() const override;
  const std::string& bin_dir() const { return bin_dir_; }
  // Drops the settings of the first start's recovery from the configuration (they would
  // apply again to the next recovery otherwise).
  Status FinishRecovery();

  // Replication (pg_replication.h). A standby streams from `standby_spec()` and starts as
  // one (standby.signal); a running server takes a change on reload.
  bool standby() const override { return standby_.has_value(); }
  const std::optional<StandbySpec>& standby_spec() const { return standby_; }
  // Makes it a standby of another member, or (nullopt, once promoted) no longer one.
  Status SetStandby(std::optional<StandbySpec> standby);
  // A fenced member: an old primary that must never again run as one on its own. It is
  // a standby from now on and must be brought back into line (pg_rewind) before it starts.
  bool needs_rejoin() const { return needs_rejoin_; }
  Status Fence(const StandbySpec& standby);
  // Back in line with its primary: no longer fenced; its configuration written again (pg_rewind
  // copies the source's over it).
  Status Rejoined();
  // synchronous_standby_names = 'ANY 1 (members...)' while a primary; none: asynchronous.
  const std::vector<std::string>& synchronous_standbys() const { return sync_standbys_; }
  Status SetSynchronousStandbys(std::vector<std::string> members);

 private:
  PgInstance() = default;
  // Stop: fast shutdown (SIGINT), then immediate (SIGQUIT) after the timeout.
  runtime::ServerLaunch Launch() const override;
  runtime::LeftoverServer Leftover() const override;
  // Drains what the server archived as it stopped into the repository.
  Status BeforeRemoval() override;
  Status WriteConfig() const;
  // dbaas.conf's replication settings: a standby's primary_conninfo and slot, a primary's
  // synchronous standbys.
  std::string ReplicationConfig() const;
  // standby.signal exists exactly when it is a standby.
  Status SyncStandbySignal() const;
  // Creates the role `app` and its database in single-user mode, before the first start.
  Status MakeTenantLogin();
  // instance.json: name, port, binaries, settings, OS user, WAL archive.
  Status WriteMeta() const;
  static Result<PgInstance> Make(const PgInstanceSpec& spec, const std::string& password,
                                 const std::map<std::string, std::string>& recovery,
                                 const std::function<Status(PgInstance&)>& fill);
  std::string WalPushStatusPath() const;
  std::string SpoolDir() const;
  // Makes the spool, the server's user's. (Instances made before spools existed get one
  // on Open, and their archive, which their server's user wrote, becomes root's.)
  Status MakeSpool() const;

  std::string name_;
  std::string dir_;
  std::string bin_dir_;
  uint16_t port_ = 0;
  std::map<std::string, std::string> config_;
  std::string password_;
  LogArchiving archiving_;
  std::string archive_id_;
  std::map<std::string, std::string> recovery_;
  std::optional<StandbySpec> standby_;
  bool needs_rejoin_ = false;
  std::vector<std::string> sync_standbys_;
  bool joined_archive_ = false;  // the archive is a primary's, not this member's to remove
};

// dbaas's own session on the instance's server, over its unix socket
// (PgConnection::ConnectOwn); kFailedPrecondition when it does not accept connections.
Result<PgConnection> ConnectOwn(const PgInstance& instance);

// archive_command and restore_command are shell strings: the paths in them must be plain.
Status ValidateArchivingPaths(const LogArchiving& archiving);

// The directory holding postgres, initdb, pg_ctl, ... of PostgreSQL 15.
Result<std::string> FindPgBinDir();

}  // namespace dbaas::engines
