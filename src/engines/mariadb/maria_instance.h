// A MariaDB (or MySQL) instance on the local machine: a data directory under the data
// root, a generated option file, a port on 127.0.0.1 and a private unix socket, and a
// server process run from Debian's mariadb-server (or a MySQL server binary where one is
// installed), as the instance's own OS user when we are root.
//
// Layout of <data_root>/<name>/:
//   data/          the datadir (InnoDB, Aria system tables), owned by the server's user
//   run/           the unix socket and pid file (0700, the server's user)
//   my.cnf         the server's only option file (--defaults-file), generated (0640, the
//                  instance user's group)
//   password       root's generated password (0600, ours)
//   app-password   the tenant account's password (0600, ours): `app`, with every privilege
//                  on the database `app` and none beyond it
//   client.cnf     [client] options with that password for the command-line tools (0600)
//   instance.json  name, type, flavor, port, server binary, configuration overrides
//   mariadb.log    the server's output
// With archiving (spec.archiving; MariaDB servers only), the server writes binary logs
//   binlog/        binlog.NNNNNN and binlog.index, the server's user's, drained into the
//                  repository's archive <name>.<random> (maria_log_archiving.h); every
//                  instance made, restored ones included, gets a new archive and server_id;
//                  a pod's server (spec.archiving.spool_archive_id) writes them for the
//                  daemon's archive of that id, which fetches them through the pod's agent
#pragma once

#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <string>

#include "base/process.h"
#include "base/status.h"
#include "engines/mariadb/maria_connection.h"
#include "engines/mariadb/maria_log_archiving.h"
#include "engines/replication.h"
#include "engines/supervised_instance.h"

namespace dbaas::engines {

// Which server program serves the instance; the consistency SQL differs between them.
enum class MariaFlavor { kMariaDB, kMySQL };

class MariaInstance final : public SupervisedInstance {
 public:
  // mariadb-install-db (MySQL: mysqld --initialize-insecure) and configuration; the
  // server is not started. Type `mysql` runs a MySQL server where spec.bin_dir (or
  // /usr/sbin) has one, else MariaDB, and says so in note(). Refuses an existing name and
  // removes everything it made if any step fails.
  static Result<std::unique_ptr<MariaInstance>> Create(const InstanceSpec& spec);
  // Fills a new instance's datadir with `fill` (a restore) instead of initializing one;
  // root's password is `password` (the one inside the data). Same guarantees as Create.
  using FillDataFn = std::function<Status(const std::string& data_dir)>;
  static Result<std::unique_ptr<MariaInstance>> CreateFrom(const InstanceSpec& spec,
                                                           const std::string& password,
                                                           const FillDataFn& fill);
  // On `rt`; null: runtime::Local().
  static Result<std::unique_ptr<MariaInstance>> Open(const std::string& data_root,
                                                     const std::string& name,
                                                     runtime::Runtime* rt = nullptr);

  MariaInstance(const MariaInstance&) = delete;
  MariaInstance& operator=(const MariaInstance&) = delete;
  ~MariaInstance() override;

  const std::string& name() const override { return name_; }
  const std::string& dir() const override { return dir_; }
  ConnectionInfo endpoint() const override;
  // A restored copy's tenant login gets a password of its own (the copy holds the
  // source's); a copy of an instance without a tenant login keeps none. Running only.
  Status RenewTenantLogin();
  std::string note() const override;
  std::string log_archive_id() const override { return archive_id_; }
  std::optional<LogSpool> log_spool() const override;
  // Where its binary logs are and how to reach its server, for the archiving; nullopt
  // without archiving.
  std::optional<BinlogSpool> binlog_spool() const;
  const LogArchiving& archiving() const { return archiving_; }
  // Whether its archive is in a repository on this machine (else a pod's server, whose
  // binlogs the daemon fetches through its agent: maria_log_archiving.h).
  bool HasLocalArchive() const { return !archive_id_.empty() && !archiving_.repo_path.empty(); }

  std::string data_dir() const;
  std::string socket_path() const;
  std::string option_file() const;         // my.cnf
  std::string client_option_file() const;  // client.cnf: socket, user, password
  std::string ClientOptions() const;       // client.cnf's content
  MariaEndpoint client() const;            // root over the unix socket
  MariaFlavor flavor() const { return flavor_; }
  uint32_t server_id() const { return server_id_; }

  // Replication (maria_replication.h). A standby replicates from its primary by GTID and
  // is read_only; its own binlog (log_slave_updates) holds every transaction, so that it
  // can serve the others once promoted.
  bool standby() const override { return standby_.has_value(); }
  const std::optional<StandbySpec>& standby_spec() const { return standby_; }
  // Makes it a standby of another member, or (nullopt, once promoted) no longer one;
  // read_only follows at once when it runs.
  Status SetStandby(std::optional<StandbySpec> standby);
  // An old primary that must never again run as one on its own: a standby from now on,
  // checked against the new primary's history before it starts (MariaRejoin).
  bool needs_rejoin() const { return needs_rejoin_; }
  Status Fence(const StandbySpec& standby);
  Status Rejoined();
  // A standby's logins are its primary's (the same database): the tenant's password too.
  Status AdoptTenantLogin(const MariaInstance& primary);
  const std::string& type() const { return type_; }  // mariadb or mysql, as asked for

 private:
  MariaInstance() = default;
  // Stop: normal shutdown (SIGTERM), then SIGKILL after the timeout (InnoDB recovers).
  runtime::ServerLaunch Launch() const override;
  // Stores every binlog into the archive before the directory goes.
  Status BeforeRemoval() override;
  std::string BinlogDir() const;
  runtime::LeftoverServer Leftover() const override;
  // instance.json: name, type, flavor, server program, port, settings, OS user.
  Status WriteMeta() const;
  static Result<std::unique_ptr<MariaInstance>> Make(
      const InstanceSpec& spec, const std::string& password,
      const std::function<Status(MariaInstance&)>& fill);
  // Without the user's options while initializing: a refused option then fails the
  // start (kInvalidArgument, with the server's words), not the bootstrap.
  Status WriteOptionFiles(bool with_user_config) const;
  Status Initialize();

  std::string name_;
  std::string dir_;
  std::string type_;
  MariaFlavor flavor_ = MariaFlavor::kMariaDB;
  std::string server_;  // mariadbd or mysqld
  uint16_t port_ = 0;
  std::map<std::string, std::string> config_;
  std::string password_;
  LogArchiving archiving_;
  std::string archive_id_;  // "" without archiving
  uint32_t server_id_ = 0;
  std::optional<StandbySpec> standby_;
  bool needs_rejoin_ = false;
};

}  // namespace dbaas::engines
