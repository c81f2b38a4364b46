#include "engines/engine.h"

#include <fmt/format.h>
#include <spdlog/spdlog.h>

#include "base/files.h"
#include "base/log.h"
#include "base/names.h"
#include "engines/mariadb/maria_backup.h"
#include "engines/mariadb/maria_binlog.h"
#include "engines/mariadb/maria_check.h"
#include "engines/mariadb/maria_pitr.h"
#include "engines/mariadb/maria_replication.h"
#include "engines/mariadb/maria_settings.h"
#include "engines/mariadb/maria_volume_backup.h"
#include "engines/postgres/pg_backup.h"
#include "engines/postgres/pg_backup_session.h"
#include "engines/postgres/pg_check.h"
#include "engines/postgres/pg_pitr.h"
#include "engines/postgres/pg_replication.h"
#include "engines/postgres/pg_settings.h"

namespace dbaas::engines {
namespace {

Status NoPitr() {
  return Status::InvalidArgument("this engine has no point-in-time recovery",
                                 "restore the backup as taken (no target)");
}

template <typename T>
Result<const T*> As(const Instance& instance, const char* engine) {
  const T* typed = dynamic_cast<const T*>(&instance);
  if (typed == nullptr) {
    return Status::Internal(
        fmt::format("instance '{}' is not a {} instance", instance.name(), engine));
  }
  return typed;
}

template <typename T>
Result<T*> AsMutable(Instance& instance, const char* engine) {
  T* typed = dynamic_cast<T*>(&instance);
  if (typed == nullptr) {
    return Status::Internal(
        fmt::format("instance '{}' is not a {} instance", instance.name(), engine));
  }
  return typed;
}

Status NoReplication() {
  return Status::InvalidArgument("this engine has no standbys yet",
                                 "replicas are PostgreSQL's and MariaDB's (docs/ARCHITECTURE.md)");
}

// The spec with the engine's runtime.
InstanceSpec On(runtime::Runtime& rt, const InstanceSpec& spec) {
  InstanceSpec placed = spec;
  placed.runtime = &rt;
  return placed;
}

class PostgresEngine final : public Engine {
 public:
  explicit PostgresEngine(runtime::Runtime& rt) : runtime_(rt) {}
  const char* type() const override { return "postgresql"; }
  Status ValidateConfig(const std::map<std::string, std::string>& config) const override {
    return ValidatePgSettings(config);
  }
  Result<std::unique_ptr<Instance>> Create(const InstanceSpec& spec) const override {
    ASSIGN_OR_RETURN(PgInstance made, PgInstance::Create(On(runtime_, spec)));
    return std::unique_ptr<Instance>(std::make_unique<PgInstance>(std::move(made)));
  }
  Result<std::unique_ptr<Instance>> Open(const std::string& data_root,
                                         const std::string& name) const override {
    ASSIGN_OR_RETURN(PgInstance opened, PgInstance::Open(data_root, name, &runtime_));
    return std::unique_ptr<Instance>(std::make_unique<PgInstance>(std::move(opened)));
  }
  Result<EngineBackup> Backup(const Instance& instance, storage::Repository& repo,
                              const std::string& name, storage::Progress* progress) const override {
    ASSIGN_OR_RETURN(const PgInstance* pg, As<PgInstance>(instance, "PostgreSQL"));
    ASSIGN_OR_RETURN(PgBackupInfo info, BackupPostgres(*pg, repo, name, {.progress = progress}));
    EngineBackup out;
    out.snapshot = std::move(info.snapshot);
    out.seconds = info.seconds;
    out.facts = info.Facts();
    return out;
  }
  Result<std::unique_ptr<Instance>> Restore(const storage::Repository& repo,
                                            const storage::Manifest& snapshot,
                                            const InstanceSpec& spec, const std::string& password,
                                            const RecoveryTarget& target,
                                            storage::Progress* progress,
                                            FileCheck* file_check) const override {
    if (FromAnnotations(snapshot.annotations).snapshot_kind == "volume") {
      return Status::FailedPrecondition(
          fmt::format("backup {} is a volume snapshot's: its data files are in a "
                      "VolumeSnapshot, not the repository",
                      snapshot.name),
          "restore it with dbaasd on the Kubernetes runtime (docs/KUBERNETES.md)");
    }
    ASSIGN_OR_RETURN(PgInstance restored, RestorePostgres(repo, snapshot, On(runtime_, spec),
                                                          password, target, progress, file_check));
    return std::unique_ptr<Instance>(std::make_unique<PgInstance>(std::move(restored)));
  }
  Result<std::unique_ptr<VolumeBackup>> BeginVolumeBackup(const Instance& instance,
                                                          const std::string& label) const override {
    ASSIGN_OR_RETURN(const PgInstance* pg, As<PgInstance>(instance, "PostgreSQL"));
    return BeginPgVolumeBackup(*pg, label);
  }
  Result<std::unique_ptr<Instance>> RestoreVolumeCopy(
      const std::string& copy_data_dir, const VolumeBackupEnd& end, const InstanceSpec& spec,
      const std::string& password, const StagedRecovery* recovery) const override {
    ASSIGN_OR_RETURN(
        PgInstance restored,
        RestorePostgresVolumeCopy(copy_data_dir, end, On(runtime_, spec), password, recovery));
    return std::unique_ptr<Instance>(std::make_unique<PgInstance>(std::move(restored)));
  }
  Result<RestorePointAt> CreateRestorePoint(const Instance& instance,
                                            const std::string& name) const override {
    ASSIGN_OR_RETURN(const PgInstance* pg, As<PgInstance>(instance, "PostgreSQL"));
    ASSIGN_OR_RETURN(std::string lsn, PgCreateRestorePoint(*pg, name, kArchiveWait));
    return RestorePointAt{lsn, ""};
  }
  Status ArchiveNow(const Instance& instance, std::chrono::milliseconds timeout) const override {
    ASSIGN_OR_RETURN(const PgInstance* pg, As<PgInstance>(instance, "PostgreSQL"));
    return PgArchiveNow(*pg, timeout);
  }
  Result<ArchiveEnd> ScanArchive(const std::string& repo_path, const std::string& archive_id,
                                 const std::string& from_lsn) const override {
    ASSIGN_OR_RETURN(std::string bin_dir, FindPgBinDir());
    return PgScanArchive(repo_path, archive_id, from_lsn, bin_dir);
  }
  Result<uint64_t> PruneArchive(const std::string& repo_path, const std::string& archive_id,
                                const std::optional<std::string>& keep_from_lsn) const override {
    return PgPruneArchive(repo_path, archive_id, keep_from_lsn);
  }
  Result<std::optional<std::string>> ArchivePositionOf(const std::string& repo_path,
                                                       const std::string& archive_id,
                                                       const std::string& from_lsn) const override {
    return PgArchivePositionOf(repo_path, archive_id, from_lsn);
  }
  Result<std::unique_ptr<Instance>> MakeStandby(const Instance& primary, const InstanceSpec& spec,
                                                const StandbySeed& seed) const override {
    ASSIGN_OR_RETURN(const PgInstance* pg, As<PgInstance>(primary, "PostgreSQL"));
    RETURN_IF_ERROR(PgEnsureSlot(*pg, spec.name));
    auto made = [&]() -> Result<PgInstance> {
      PgInstance::FillDataFn fill;
      if (seed.repo && seed.snapshot) {
        ASSIGN_OR_RETURN(fill, PgSeedFromBackup(*pg, spec.name, *seed.repo, *seed.snapshot));
      }
      InstanceSpec standby = On(runtime_, spec);
      standby.standby = StandbyOf(*pg, spec.name);
      standby.archiving = pg->archiving();
      standby.archiving.join_archive_id = pg->log_archive_id();
      standby.bin_dir = pg->bin_dir();
      return PgInstance::CreateStandby(standby, *pg, fill);
    }();
    if (!made.ok()) {
      WarnIfError(PgDropSlot(*pg, spec.name), "drop the slot of the standby not made");
      return made.status();
    }
    return std::unique_ptr<Instance>(std::make_unique<PgInstance>(std::move(made).value()));
  }
  Result<MemberPosition> Position(const Instance& member) const override {
    ASSIGN_OR_RETURN(const PgInstance* pg, As<PgInstance>(member, "PostgreSQL"));
    return PgPosition(*pg);
  }
  Status Promote(Instance& standby, std::chrono::milliseconds timeout) const override {
    ASSIGN_OR_RETURN(PgInstance * pg, AsMutable<PgInstance>(standby, "PostgreSQL"));
    return PgPromote(*pg, timeout);
  }
  Result<uint64_t> CleanShutdownPosition(const Instance& member) const override {
    ASSIGN_OR_RETURN(const PgInstance* pg, As<PgInstance>(member, "PostgreSQL"));
    // A standby that received the shutdown checkpoint is past its start.
    ASSIGN_OR_RETURN(uint64_t checkpoint, PgCleanShutdownLsn(*pg));
    return checkpoint + 1;
  }
  Status Follow(Instance& member, const Instance& primary) const override {
    ASSIGN_OR_RETURN(PgInstance * pg, AsMutable<PgInstance>(member, "PostgreSQL"));
    ASSIGN_OR_RETURN(const PgInstance* to, As<PgInstance>(primary, "PostgreSQL"));
    return PgFollow(*pg, *to);
  }
  Status Rejoin(Instance& member, const Instance& primary) const override {
    ASSIGN_OR_RETURN(PgInstance * pg, AsMutable<PgInstance>(member, "PostgreSQL"));
    ASSIGN_OR_RETURN(const PgInstance* to, As<PgInstance>(primary, "PostgreSQL"));
    return PgRejoin(*pg, *to);
  }
  Status Fence(Instance& member, const Instance& primary) const override {
    ASSIGN_OR_RETURN(PgInstance * pg, AsMutable<PgInstance>(member, "PostgreSQL"));
    ASSIGN_OR_RETURN(const PgInstance* to, As<PgInstance>(primary, "PostgreSQL"));
    return pg->Fence(StandbyOf(*to, pg->name()));
  }
  bool NeedsRejoin(const Instance& member) const override {
    const auto* pg = dynamic_cast<const PgInstance*>(&member);
    return pg != nullptr && pg->needs_rejoin();
  }
  Status SetSynchronous(Instance& primary, const std::vector<std::string>& members) const override {
    ASSIGN_OR_RETURN(PgInstance * pg, AsMutable<PgInstance>(primary, "PostgreSQL"));
    return PgSetSynchronous(*pg, members);
  }
  Status DropMemberSlot(const Instance& primary, const std::string& member) const override {
    ASSIGN_OR_RETURN(const PgInstance* pg, As<PgInstance>(primary, "PostgreSQL"));
    return PgDropSlot(*pg, member);
  }
  Result<IntegrityReport> CheckIntegrity(const Instance& instance) const override {
    ASSIGN_OR_RETURN(const PgInstance* pg, As<PgInstance>(instance, "PostgreSQL"));
    return CheckPostgres(*pg);
  }

 private:
  static constexpr std::chrono::seconds kArchiveWait{30};
  runtime::Runtime& runtime_;
};

// The replay of a point-in-time restore: `archive`'s binlogs from the backup's position to
// the target (worked out before anything is made, so a target out of reach fails first).
Result<MariaRecovery> ReplayRecovery(const storage::WalArchive& archive, const BackupFacts& facts,
                                     const RecoveryTarget& target) {
  ASSIGN_OR_RETURN(BinlogReplayPlan plan, PlanReplayFromBackup(archive, facts, target));
  return MariaRecovery(
      [archive, plan](MariaInstance& restored) { return ReplayBinlogs(restored, archive, plan); });
}

// From the repository's archive (the backup's own, or the target's).
Result<MariaRecovery> BinlogRecovery(const storage::Repository& repo,
                                     const storage::Manifest& snapshot,
                                     const RecoveryTarget& target) {
  BackupFacts facts = FromAnnotations(snapshot.annotations);
  if (facts.wal_archive.empty()) {
    return Status::FailedPrecondition(
        "the backup has no binlog position (taken without binlog archiving)",
        "restore it without a target, or choose a backup taken since archiving began");
  }
  const std::string archive_id = target.archive_id.empty() ? facts.wal_archive : target.archive_id;
  ASSIGN_OR_RETURN(storage::WalArchive archive, storage::WalArchive::Open(repo.path(), archive_id));
  return ReplayRecovery(archive, facts, target);
}

// From an archive staged for a pod's restore (StagedRecovery), from the backup's positions
// the daemon sent with it.
Result<MariaRecovery> StagedBinlogRecovery(const BackupFacts& facts,
                                           const StagedRecovery& recovery) {
  ASSIGN_OR_RETURN(storage::WalArchive archive,
                   storage::WalArchive::Open(recovery.staged_repo, recovery.target.archive_id));
  return ReplayRecovery(archive, facts, recovery.target);
}

// A MariaDB server (not MySQL's) that archives its binlog: what replication needs.
Result<const MariaInstance*> Replicating(const Instance& instance);

// An instance of this engine that archives its binlog.
Result<const MariaInstance*> ArchivingMaria(const Instance& instance) {
  ASSIGN_OR_RETURN(const MariaInstance* maria, As<MariaInstance>(instance, "MariaDB"));
  if (maria->log_archive_id().empty()) {
    return Status::FailedPrecondition(
        fmt::format("instance '{}' does not archive its binlog (made before binlog archiving, "
                    "or served by MySQL)",
                    instance.name()),
        "point-in-time recovery needs an instance made by this version");
  }
  return maria;
}

Result<const MariaInstance*> Replicating(const Instance& instance) {
  ASSIGN_OR_RETURN(const MariaInstance* maria, ArchivingMaria(instance));
  if (maria->flavor() != MariaFlavor::kMariaDB) {
    return Status::InvalidArgument(fmt::format(
        "instance '{}' is served by MySQL, whose replication is not wired here", instance.name()));
  }
  return maria;
}

class MariaEngine final : public Engine {
 public:
  MariaEngine(const char* type, runtime::Runtime& rt) : type_(type), runtime_(rt) {}
  const char* type() const override { return type_; }
  Status ValidateConfig(const std::map<std::string, std::string>& config) const override {
    return ValidateMariaSettings(config);
  }
  Result<std::unique_ptr<Instance>> Create(const InstanceSpec& spec) const override {
    ASSIGN_OR_RETURN(auto made, MariaInstance::Create(On(runtime_, spec)));
    return std::unique_ptr<Instance>(std::move(made));
  }
  Result<std::unique_ptr<Instance>> Open(const std::string& data_root,
                                         const std::string& name) const override {
    ASSIGN_OR_RETURN(auto opened, MariaInstance::Open(data_root, name, &runtime_));
    return std::unique_ptr<Instance>(std::move(opened));
  }
  Result<EngineBackup> Backup(const Instance& instance, storage::Repository& repo,
                              const std::string& name, storage::Progress* progress) const override {
    ASSIGN_OR_RETURN(const MariaInstance* maria, As<MariaInstance>(instance, "MariaDB"));
    ASSIGN_OR_RETURN(MariaBackupInfo info,
                     BackupMaria(*maria, repo, name, MariaBackupMethod::kAuto, progress));
    EngineBackup out;
    out.snapshot = std::move(info.snapshot);
    out.seconds = info.seconds;
    out.seconds_writes_blocked = info.seconds_writes_blocked;
    out.facts = info.Facts(maria->type());
    return out;
  }
  Result<std::unique_ptr<Instance>> Restore(const storage::Repository& repo,
                                            const storage::Manifest& snapshot,
                                            const InstanceSpec& spec, const std::string& password,
                                            const RecoveryTarget& target,
                                            storage::Progress* progress,
                                            FileCheck*) const override {
    // MariaDB's copies have no manifest to check files against; CHECK TABLE does the work.
    MariaRecovery recover;
    if (target.kind != RecoveryTarget::Kind::kBackupEnd) {
      ASSIGN_OR_RETURN(recover, BinlogRecovery(repo, snapshot, target));
    }
    ASSIGN_OR_RETURN(auto restored,
                     RestoreMaria(repo, snapshot, On(runtime_, spec), password, progress, recover));
    return std::unique_ptr<Instance>(std::move(restored));
  }
  Result<std::unique_ptr<VolumeBackup>> BeginVolumeBackup(const Instance& instance,
                                                          const std::string& label) const override {
    ASSIGN_OR_RETURN(const MariaInstance* maria, As<MariaInstance>(instance, "MariaDB"));
    return BeginMariaVolumeBackup(*maria, label);
  }
  Result<std::unique_ptr<VolumeBackup>> BeginCopyBackup(const Instance& instance,
                                                        const std::string&) const override {
    ASSIGN_OR_RETURN(const MariaInstance* maria, As<MariaInstance>(instance, "MariaDB"));
    return BeginMariaCopyBackup(*maria);
  }
  Status RemoveCopyLeftovers(const Instance& instance) const override {
    ASSIGN_OR_RETURN(const MariaInstance* maria, As<MariaInstance>(instance, "MariaDB"));
    return RemoveMariaBackupLeftovers(*maria);
  }
  Result<std::unique_ptr<Instance>> RestoreVolumeCopy(
      const std::string& copy_data_dir, const VolumeBackupEnd& end, const InstanceSpec& spec,
      const std::string& password, const StagedRecovery* recovery) const override {
    MariaRecovery recover;
    if (recovery != nullptr) {
      ASSIGN_OR_RETURN(recover, StagedBinlogRecovery(end.facts, *recovery));
    }
    ASSIGN_OR_RETURN(auto restored, RestoreMariaVolumeCopy(copy_data_dir, end, On(runtime_, spec),
                                                           password, recover));
    return std::unique_ptr<Instance>(std::move(restored));
  }
  Result<RestorePointAt> CreateRestorePoint(const Instance& instance,
                                            const std::string&) const override {
    ASSIGN_OR_RETURN(const MariaInstance* maria, ArchivingMaria(instance));
    // The point is the binlog's position now; the file is then closed and archived, so
    // the point can be restored to at once.
    ASSIGN_OR_RETURN(MariaConnection conn, MariaConnection::Connect(maria->client()));
    ASSIGN_OR_RETURN(BinlogPoint point, CurrentBinlogPoint(conn));
    RETURN_IF_ERROR(ArchiveNow(instance, std::chrono::seconds(30)));
    return RestorePointAt{point.position, point.gtid};
  }
  Status ArchiveNow(const Instance& instance, std::chrono::milliseconds) const override {
    ASSIGN_OR_RETURN(const MariaInstance* maria, ArchivingMaria(instance));
    if (!maria->HasLocalArchive()) {
      // A pod's server: the file closed, for the daemon to fetch through the pod's agent.
      ASSIGN_OR_RETURN(MariaConnection conn, MariaConnection::Connect(maria->client()));
      return conn.Query("FLUSH BINARY LOGS").status();
    }
    ASSIGN_OR_RETURN(
        storage::WalArchive archive,
        storage::WalArchive::Open(maria->archiving().repo_path, maria->log_archive_id()));
    return ArchiveBinlogsNow(*maria->binlog_spool(), archive);
  }
  Result<ArchiveEnd> ScanArchive(const std::string& repo_path, const std::string& archive_id,
                                 const std::string& from_lsn) const override {
    return MariaScanArchive(repo_path, archive_id, from_lsn);
  }
  Result<uint64_t> PruneArchive(const std::string& repo_path, const std::string& archive_id,
                                const std::optional<std::string>& keep_from_lsn) const override {
    return MariaPruneArchive(repo_path, archive_id, keep_from_lsn);
  }
  Result<std::optional<std::string>> ArchivePositionOf(const std::string&, const std::string&,
                                                       const std::string& from_lsn) const override {
    return MariaArchivePositionOf(from_lsn);
  }
  Result<IntegrityReport> CheckIntegrity(const Instance& instance) const override {
    ASSIGN_OR_RETURN(const MariaInstance* maria, As<MariaInstance>(instance, "MariaDB"));
    return CheckMaria(*maria);
  }

  Result<std::unique_ptr<Instance>> MakeStandby(const Instance& primary, const InstanceSpec& spec,
                                                const StandbySeed& seed) const override {
    ASSIGN_OR_RETURN(const MariaInstance* maria, Replicating(primary));
    if (!seed.repo || !seed.snapshot) {
      return Status::FailedPrecondition(
          fmt::format("a standby of '{}' starts from one of its backups", maria->name()),
          "back it up first");
    }
    const storage::Repository& repo = *seed.repo;
    const storage::Manifest& snapshot = *seed.snapshot;
    ASSIGN_OR_RETURN(MariaSeed prepared,
                     MariaPrepareSeed(*maria, snapshot, [&](const std::string& to) {
                       RecoveryTarget target;
                       target.kind = RecoveryTarget::Kind::kLsn;
                       target.lsn = to;
                       target.archive_id = maria->log_archive_id();
                       return BinlogRecovery(repo, snapshot, target);
                     }));
    // Its own binlog and archive (binlog names would collide in one archive), its own
    // server_id; the primary's logins.
    InstanceSpec member = On(runtime_, spec);
    member.type = maria->type();
    member.archiving = maria->archiving();
    member.archiving.join_archive_id.clear();
    // Named after the instance (the primary's own archive id says which), so that pruning
    // keeps it while the instance lives.
    const std::string& primary_archive = maria->log_archive_id();
    member.archiving.archive_owner = primary_archive.substr(0, primary_archive.find('.'));
    member.superuser_access = maria->superuser_access();
    ASSIGN_OR_RETURN(auto made, RestoreMaria(repo, snapshot, member, maria->endpoint().password,
                                             nullptr, prepared.replay,
                                             /*renew_tenant_login=*/false));
    Status ready = [&]() -> Status {
      RETURN_IF_ERROR(made->AdoptTenantLogin(*maria));
      RETURN_IF_ERROR(made->SetStandby(StandbySpec{maria->endpoint().port, ""}));
      RETURN_IF_ERROR(MariaReplicateFrom(*made, *maria, prepared.gtid_position));
      return made->Stop();
    }();
    if (!ready.ok()) {
      WarnIfError(made->Delete(), "remove the standby not made");
      return ready.WithContext(fmt::format("make standby '{}'", spec.name));
    }
    return std::unique_ptr<Instance>(std::move(made));
  }
  Result<MemberPosition> Position(const Instance& member) const override {
    ASSIGN_OR_RETURN(const MariaInstance* maria, Replicating(member));
    return MariaPosition(*maria);
  }
  Status Promote(Instance& standby, std::chrono::milliseconds timeout) const override {
    ASSIGN_OR_RETURN(MariaInstance * maria, AsMutable<MariaInstance>(standby, "MariaDB"));
    return MariaPromote(*maria, timeout);
  }
  Result<std::optional<uint64_t>> StopWrites(Instance& primary) const override {
    ASSIGN_OR_RETURN(MariaInstance * maria, AsMutable<MariaInstance>(primary, "MariaDB"));
    ASSIGN_OR_RETURN(uint64_t last, MariaStopWrites(*maria));
    return std::optional<uint64_t>(last);
  }
  Status ResumeWrites(Instance& primary) const override {
    ASSIGN_OR_RETURN(const MariaInstance* maria, Replicating(primary));
    return MariaResumeWrites(*maria);
  }
  Result<uint64_t> CleanShutdownPosition(const Instance& member) const override {
    ASSIGN_OR_RETURN(const MariaInstance* maria, Replicating(member));
    return MariaLastPosition(*maria);
  }
  Status Follow(Instance& member, const Instance& primary) const override {
    ASSIGN_OR_RETURN(MariaInstance * maria, AsMutable<MariaInstance>(member, "MariaDB"));
    ASSIGN_OR_RETURN(const MariaInstance* to, Replicating(primary));
    RETURN_IF_ERROR(maria->SetStandby(StandbySpec{to->endpoint().port, ""}));
    if (maria->running()) return MariaReplicateFrom(*maria, *to);
    // Where it replicates from lives in its data (master.info): set while it runs.
    RETURN_IF_ERROR(maria->Start());
    Status pointed = MariaReplicateFrom(*maria, *to);
    WarnIfError(maria->Stop(), "stop the member pointed at its new primary");
    return pointed;
  }
  Status Rejoin(Instance& member, const Instance& primary) const override {
    ASSIGN_OR_RETURN(MariaInstance * maria, AsMutable<MariaInstance>(member, "MariaDB"));
    ASSIGN_OR_RETURN(const MariaInstance* to, Replicating(primary));
    return MariaRejoin(*maria, *to);
  }
  Result<bool> Diverged(const Instance& member, const Instance& primary) const override {
    ASSIGN_OR_RETURN(const MariaInstance* maria, Replicating(member));
    ASSIGN_OR_RETURN(const MariaInstance* to, Replicating(primary));
    if (maria->running()) return MariaSourceLost(*maria);
    if (!maria->needs_rejoin()) return false;
    ASSIGN_OR_RETURN(std::string lacking, MariaMissingOn(*maria, *to));
    return !lacking.empty();
  }
  Status Fence(Instance& member, const Instance& primary) const override {
    ASSIGN_OR_RETURN(MariaInstance * maria, AsMutable<MariaInstance>(member, "MariaDB"));
    return maria->Fence(StandbySpec{primary.endpoint().port, ""});
  }
  bool NeedsRejoin(const Instance& member) const override {
    const auto* maria = dynamic_cast<const MariaInstance*>(&member);
    return maria != nullptr && maria->needs_rejoin();
  }
  Status SetSynchronous(Instance&, const std::vector<std::string>& members) const override {
    if (members.empty()) return Status::Ok();
    return Status::InvalidArgument(
        "synchronous standbys are PostgreSQL's for now (MariaDB's semi-synchronous "
        "replication is not wired)",
        "give synchronous: false");
  }
  // No slots: the primary keeps every binlog file that is not archived yet.
  Status DropMemberSlot(const Instance&, const std::string&) const override { return Status::Ok(); }

 private:
  const char* type_;
  runtime::Runtime& runtime_;
};

class PackagedEngineSet final : public EngineSet {
 public:
  explicit PackagedEngineSet(runtime::Runtime& rt)
      : runtime_(rt), postgres_(rt), mariadb_("mariadb", rt), mysql_("mysql", rt) {}
  Result<const Engine*> For(const std::string& type) const override {
    for (const Engine* e : std::initializer_list<const Engine*>{&postgres_, &mariadb_, &mysql_}) {
      if (type == e->type()) return e;
    }
    return Status::InvalidArgument(fmt::format("unknown instance type '{}'", type),
                                   "type is one of postgresql, mariadb, mysql");
  }
  Status RemoveRemains(const std::string& data_root, const std::string& name) const override {
    RETURN_IF_ERROR(ValidateName("instance name", name));
    if (auto opened = Open(data_root, name); opened.ok()) {
      // Stops its server and removes it all; what it cannot do is done below anyway.
      if (Status deleted = (*opened)->Delete(); !deleted.ok()) {
        spdlog::warn("event=remains_delete_failed instance={} error=\"{}\"", name,
                     deleted.ToString());
      }
    }
    return runtime_.RemoveRemains(JoinPath(data_root, name));
  }

 private:
  runtime::Runtime& runtime_;
  PostgresEngine postgres_;
  MariaEngine mariadb_;
  MariaEngine mysql_;
};

}  // namespace

Status Engine::CheckBackupStore(BackupStore into, const std::string& instance) const {
  if (into != BackupStore::kVolumeSnapshot) return Status::Ok();
  return Status::InvalidArgument(
      fmt::format("instance '{}' runs on this machine: its backups go into the repository",
                  instance),
      "volume snapshots are the Kubernetes runtime's (docs/KUBERNETES.md); leave "
      "`repository` out or set it to \"local\"");
}

Result<EngineBackup> Engine::BackupInto(BackupStore into, const Instance& instance,
                                        storage::Repository& repo, const std::string& name,
                                        storage::Progress* progress) const {
  RETURN_IF_ERROR(CheckBackupStore(into, instance.name()));
  return Backup(instance, repo, name, progress);
}

Result<std::unique_ptr<VolumeBackup>> Engine::BeginVolumeBackup(const Instance& instance,
                                                                const std::string&) const {
  return Status::InvalidArgument(
      fmt::format("instance '{}': {} has no volume backups yet", instance.name(), type()),
      "volume backups are PostgreSQL's (docs/KUBERNETES.md)");
}

Result<std::unique_ptr<Instance>> Engine::RestoreVolumeCopy(const std::string&,
                                                            const VolumeBackupEnd&,
                                                            const InstanceSpec& spec,
                                                            const std::string&,
                                                            const StagedRecovery*) const {
  return Status::InvalidArgument(
      fmt::format("instance '{}': {} has no volume backups to restore from yet", spec.name, type()),
      "volume backups are PostgreSQL's (docs/KUBERNETES.md)");
}

Result<RestorePointAt> Engine::CreateRestorePoint(const Instance&, const std::string&) const {
  return NoPitr();
}
Status Engine::ArchiveNow(const Instance&, std::chrono::milliseconds) const { return NoPitr(); }
Result<ArchiveEnd> Engine::ScanArchive(const std::string&, const std::string&,
                                       const std::string&) const {
  return NoPitr();
}

Result<std::unique_ptr<Instance>> Engine::MakeStandby(const Instance&, const InstanceSpec&,
                                                      const StandbySeed&) const {
  return NoReplication();
}
Result<MemberPosition> Engine::Position(const Instance&) const { return NoReplication(); }
Status Engine::Promote(Instance&, std::chrono::milliseconds) const { return NoReplication(); }
Status Engine::Follow(Instance&, const Instance&) const { return NoReplication(); }
Result<uint64_t> Engine::CleanShutdownPosition(const Instance&) const { return NoReplication(); }
Status Engine::Rejoin(Instance&, const Instance&) const { return NoReplication(); }
Status Engine::Fence(Instance&, const Instance&) const { return NoReplication(); }
Result<std::optional<uint64_t>> Engine::StopWrites(Instance&) const {
  return std::optional<uint64_t>();
}

Status Engine::ResumeWrites(Instance&) const { return Status::Ok(); }

Result<bool> Engine::Diverged(const Instance&, const Instance&) const { return false; }

bool Engine::NeedsRejoin(const Instance&) const { return false; }
Status Engine::SetSynchronous(Instance&, const std::vector<std::string>&) const {
  return NoReplication();
}
Status Engine::DropMemberSlot(const Instance&, const std::string&) const { return NoReplication(); }

std::optional<uint64_t> ParseLogPosition(const std::string& text) {
  if (auto binlog = ParseBinlogPosition(text)) return binlog->Ordinal();
  auto lsn = ParseLsn(text);
  if (!lsn.ok()) return std::nullopt;
  return lsn.value();
}

Result<uint64_t> Engine::PruneArchive(const std::string&, const std::string&,
                                      const std::optional<std::string>&) const {
  return NoPitr();
}

Result<std::optional<std::string>> Engine::ArchivePositionOf(const std::string&, const std::string&,
                                                             const std::string&) const {
  return NoPitr();
}

Result<std::unique_ptr<Instance>> EngineSet::Open(const std::string& data_root,
                                                  const std::string& name) const {
  RETURN_IF_ERROR(ValidateName("instance name", name));
  auto text = ReadFileToString(JoinPath(JoinPath(data_root, name), "instance.json"));
  if (!text.ok()) {
    if (text.status().code() == StatusCode::kNotFound) {
      return Status::NotFound(fmt::format("instance '{}' not found", name));
    }
    return text.status();
  }
  nlohmann::json meta = nlohmann::json::parse(text.value(), nullptr, false);
  // Instances made before MariaDB arrived have no type: they are PostgreSQL's.
  std::string type = meta.is_object() ? meta.value("type", "postgresql") : "postgresql";
  ASSIGN_OR_RETURN(const Engine* engine, For(type));
  return engine->Open(data_root, name);
}

std::unique_ptr<EngineSet> PackagedEngines(runtime::Runtime& rt) {
  return std::make_unique<PackagedEngineSet>(rt);
}

}  // namespace dbaas::engines
