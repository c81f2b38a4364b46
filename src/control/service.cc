#include "control/service.h"

#include <sys/file.h>
#include <sys/stat.h>

#include <fcntl.h>

#include <fmt/format.h>
#include <spdlog/spdlog.h>

#include "base/log.h"
#include "base/names.h"
#include "base/process.h"
#include "control/validation.h"
#include "engines/engine.h"
#include "engines/log_spool.h"
#include "runtime/runtime.h"
#include "storage/repository.h"

namespace dbaas::control {

using nlohmann::json;

Service::Service(ServiceOptions options, UniqueFd lock, std::unique_ptr<catalog::Catalog> catalog)
    : options_(std::move(options)),
      packaged_engines_(options_.engines ? nullptr : engines::PackagedEngines(runtime::Local())),
      engines_(options_.engines ? options_.engines : packaged_engines_.get()),
      lock_(std::move(lock)),
      catalog_(std::move(catalog)),
      repo_(JoinPath(options_.data_root, "repository")),
      recovery_(std::make_unique<Recovery>(
          *catalog_, *engines_, repo_,
          [this](const std::string& name) { return OpenPrimary(name); },
          // Decided by this catalog (no instance, no backup), so its copies go too; a new
          // host that took a bucket over removes nothing it never had.
          [this](const std::string& archive_id) {
            for (const storage::RemoteSpec& remote : options_.remotes) {
              WarnIfError(catalog_->QueueRemoteRemoval(
                              {remote.name, std::string(catalog::kWalArchiveItem) + archive_id, "",
                               catalog::NowRfc3339()}),
                          "queue the removal of a WAL archive's copy");
            }
          })),
      drills_(std::make_unique<DrillRunner>(
          *engines_, repo_, drills_dir(),
          [this](const std::string& name, const catalog::BackupRecord& backup) {
            return SpecFor(name, backup.instance_type, BackupConfig(backup));
          })) {}

namespace {

// Everything under the data root is root's alone but for the way down to each instance's
// directory (0711: a server's user passes through, lists nothing) and what the servers
// own below it; data roots made by an older dbaasd are brought to these modes here.
Status RestrictDataRoot(const std::string& data_root) {
  for (const char* dir : {"", "instances", "drills"}) {
    std::string path = JoinPath(data_root, dir);
    if (::chmod(path.c_str(), 0711) != 0 && errno != ENOENT)
      return ErrnoStatus("chmod", path, errno);
  }
  for (const char* file : {"catalog.db", "catalog.db-wal", "catalog.db-shm", "api-token"}) {
    std::string path = JoinPath(data_root, file);
    if (::chmod(path.c_str(), 0600) != 0 && errno != ENOENT)
      return ErrnoStatus("chmod", path, errno);
  }
  return Status::Ok();
}

}  // namespace

Result<std::unique_ptr<Service>> Service::Start(const ServiceOptions& given) {
  if (given.data_root.empty() || given.data_root[0] != '/') {
    return Status::InvalidArgument(
        fmt::format("data root '{}' must be an absolute path", given.data_root));
  }
  RETURN_IF_ERROR(MakeDirs(given.data_root, 0711));
  // Nothing below the data root is opened through a link (base/files.h), so its own path
  // is made free of them once, here.
  ServiceOptions options = given;
  {
    char* real = ::realpath(given.data_root.c_str(), nullptr);
    if (real == nullptr) return ErrnoStatus("resolve", given.data_root, errno);
    options.data_root = real;
    ::free(real);
  }
  RETURN_IF_ERROR(MakeDirs(JoinPath(options.data_root, "instances"), 0711));
  RETURN_IF_ERROR(RestrictDataRoot(options.data_root));
  std::string lock_path = JoinPath(options.data_root, "dbaasd.lock");
  UniqueFd lock(::open(lock_path.c_str(), O_RDWR | O_CREAT | O_CLOEXEC | O_NOFOLLOW, 0600));
  if (!lock.valid()) return ErrnoStatus("open", lock_path, errno);
  if (::flock(lock.get(), LOCK_EX | LOCK_NB) != 0) {
    return Status::Busy(
        fmt::format("data root '{}' is in use by another dbaasd", options.data_root),
        "stop that daemon first, or choose another --data-root");
  }
  for (const std::string& url : options.alert_webhooks) {
    RETURN_IF_ERROR(ValidateWebhookUrl(url));
  }
  if (options.default_instance_size.empty() || !ValidateSize(options.default_instance_size).ok()) {
    return Status::InvalidArgument(
        fmt::format("default instance size '{}' is not a size", options.default_instance_size),
        "give a Kubernetes quantity such as 10Gi");
  }
  if (options.volume_alert_percent < 1 || options.volume_alert_percent > 100) {
    return Status::InvalidArgument(
        fmt::format("volume alert threshold {}% is out of range", options.volume_alert_percent),
        "give 1 to 100");
  }
  if (options.disk_alert_percent < 1 || options.disk_alert_percent > 100) {
    return Status::InvalidArgument(
        fmt::format("disk alert threshold {}% is out of range", options.disk_alert_percent),
        "give 1 to 100");
  }
  ASSIGN_OR_RETURN(auto catalog, catalog::Catalog::Open(JoinPath(options.data_root, "catalog.db")));
  std::unique_ptr<Service> service(new Service(options, std::move(lock), std::move(catalog)));
  service->metrics_ = std::make_unique<ServiceMetrics>();
  ServiceMetrics* metrics = service->metrics_.get();
  service->alerts_ = std::make_unique<AlertSender>(
      options.alert_webhooks,
      [metrics](const std::string& kind, bool delivered) { metrics->AlertEnded(kind, delivered); });
  std::string repo = service->repository_dir();
  if (::access(JoinPath(repo, "config.json").c_str(), F_OK) != 0) {
    RETURN_IF_ERROR(storage::Repository::Init(repo, storage::RepoConfig{}));
  }
  RETURN_IF_ERROR(storage::Repository::RestrictAccess(repo));
  {
    std::set<std::string> names;
    for (const auto& remote : options.remotes) {
      if (!names.insert(remote.name).second) {
        return Status::InvalidArgument(
            fmt::format("repository '{}' is configured twice", remote.name));
      }
    }
    // The buckets are leased to this daemon by its local repository's id.
    ASSIGN_OR_RETURN(auto local, storage::Repository::Open(repo));
    service->copier_ = std::make_unique<RemoteCopier>(options.remotes, local->config().id,
                                                      HostName(), options.s3_options);
  }
  RETURN_IF_ERROR(service->drills_->RemoveLeftovers().WithContext("reconcile"));
  RETURN_IF_ERROR(service->Reconcile().WithContext("reconcile"));
  service->ReconcileCopies();
  service->jobs_ = std::make_unique<JobRunner>(*service->catalog_, options.job_workers);
  Service* self = service.get();
  Scheduler::Hooks hooks;
  hooks.start_backup = [self](const BackupRequest& r) { return self->CreateBackup(r); };
  hooks.backup_not_started = [self](const std::string& instance) {
    self->metrics_->BackupEnded(instance, false, 0);
  };
  hooks.send_alert = [self](Alert alert) { self->RaiseAlert(std::move(alert)); };
  service->schedules_ = std::make_unique<Scheduler>(
      *service->catalog_, std::move(hooks),
      Scheduler::Options{options.data_root, options.disk_alert_percent});
  service->scheduler_ =
      std::make_unique<Ticker>(options.scheduler_tick, [self] { self->SchedulerTick(); });
  service->drainer_ = std::make_unique<LogSpoolDrainer>(
      [self] {
        std::vector<engines::LogSpool> spools;
        std::lock_guard guard(self->mu_);
        auto add = [&](const engines::Instance& server) {
          if (auto spool = server.log_spool()) {
            spool->close_after = self->options_.binlog_archive_after;
            spools.push_back(std::move(*spool));
          }
        };
        for (const auto& [name, server] : self->servers_) add(*server);
        // A standby archives nothing, but an old primary's last files may still be in its
        // spool; a promoted one archives into the same archive.
        for (const auto& [name, members] : self->standbys_) {
          for (const auto& [member, standby] : members) add(*standby);
        }
        return spools;
      },
      options.spool_drain_interval,
      [self](const std::string& instance, const std::string& failure) {
        self->RaiseAlert({"archiving_failed",
                          instance,
                          "",
                          fmt::format("instance '{}' cannot archive its log into the repository "
                                      "(the instance keeps it until it can): {}",
                                      instance, failure),
                          {}});
      });
  if (!options.remotes.empty()) {
    service->copy_ticker_ =
        std::make_unique<Ticker>(options.copy_interval, [self] { self->CopyTick(); });
  }
  service->replication_ticker_ = std::make_unique<Ticker>(options.replication_check_interval,
                                                          [self] { self->ReplicationTick(); });
  service->sizes_ticker_ = std::make_unique<Ticker>(
      options.volume_check_interval, [self] { (void)self->RecordRepositorySizes(); });
  service->volumes_ =
      std::make_unique<VolumeWatcher>([self] { return self->VolumeProbes(); },
                                      [self](Alert alert) { self->RaiseAlert(std::move(alert)); },
                                      options.volume_alert_percent, options.volume_check_interval);
  return service;
}

void Service::RaiseAlert(Alert alert) {
  WarnIfError(catalog_->AddEvent("warn", alert.instance, "", alert.message),
              "record an event in the catalog");
  alerts_->Send(std::move(alert));
}

std::vector<VolumeWatcher::Probe> Service::VolumeProbes() const {
  std::map<std::string, uint64_t> sizes;  // read before the lock: the catalog is innermost
  for (const auto& r : catalog_->ListInstances().value_or({})) {
    sizes[r.name] = r.size.empty() ? 0 : SizeBytes(r.size);
  }
  std::vector<VolumeWatcher::Probe> probes;
  std::lock_guard lock(mu_);
  for (const auto& [name, server] : servers_) {
    probes.push_back({name, sizes[name], server->volume_probe()});
  }
  return probes;
}

Service::~Service() { Shutdown(); }

void Service::Shutdown() {
  if (replication_ticker_) replication_ticker_->Stop();
  if (copy_ticker_) copy_ticker_->Stop();
  if (sizes_ticker_) sizes_ticker_->Stop();
  if (scheduler_) scheduler_->Stop();
  if (volumes_) volumes_->Stop();
  if (drainer_) drainer_->Stop();
  if (jobs_) jobs_->Shutdown();
  // Each server with the name it is logged under: primaries by instance, standbys by
  // member (a list: after a failover a standby has its instance's name).
  std::vector<std::pair<std::string, std::unique_ptr<engines::Instance>>> servers;
  {
    std::lock_guard lock(mu_);
    for (auto& [name, server] : servers_) servers.emplace_back(name, std::move(server));
    servers_.clear();
    for (auto& [name, members] : standbys_) {
      for (auto& [member, standby] : members) servers.emplace_back(member, std::move(standby));
    }
    standbys_.clear();
  }
  if (engines_->servers_outlive_daemon()) {
    // A cluster's pods run on; the next daemon finds them (reconcile).
    spdlog::info("event=instances_left_running count={}", servers.size());
    return;
  }
  for (auto& [name, server] : servers) {
    auto started = std::chrono::steady_clock::now();
    Status st = server->Stop();
    // What the server archived as it stopped: into the repository now, not at next start.
    if (auto spool = server->log_spool(); spool && st.ok()) engines::DrainLogSpoolOrWarn(*spool);
    spdlog::info("event=instance_stopped instance={} duration_ms={} status=\"{}\"", name,
                 std::chrono::duration_cast<std::chrono::milliseconds>(
                     std::chrono::steady_clock::now() - started)
                     .count(),
                 st.ok() ? "ok" : st.ToString());
  }
}

void Service::Discard(const std::string& name, const std::string& why) {
  // A server may already run on the half-made copy (a restore cut off after its start),
  // and its OS user exist (made before instance.json).
  Status removed = engines_->RemoveRemains(instances_dir(), name);
  // Its standbys too (servers outlive a killed daemon).
  if (Status members = RemoveStandbys(name, ""); !members.ok()) removed = members;
  WarnIfError(RemoveTree(JoinPath(JoinPath(options_.data_root, "members"), name)),
              "remove the members' directory");
  Status unlisted = catalog_->DeleteInstance(name);
  spdlog::warn("event=instance_discarded instance={} reason=\"{}\"", name, why);
  if (!removed.ok()) spdlog::error("instance {}: {}", name, removed.ToString());
  if (!unlisted.ok() && unlisted.code() != StatusCode::kNotFound) {
    spdlog::error("instance {}: {}", name, unlisted.ToString());
  }
  WarnIfError(catalog_->AddEvent("warn", name, "", "discarded: " + why),
              "record an event in the catalog");
}

Result<catalog::JobRecord> Service::CreateInstance(const CreateInstanceRequest& request) {
  RETURN_IF_ERROR(ValidateName("instance name", request.name));
  RETURN_IF_ERROR(engines_->CheckInstanceName(request.name));
  ASSIGN_OR_RETURN(const engines::Engine* engine, engines_->For(request.type));
  RETURN_IF_ERROR(ValidateSize(request.size));
  RETURN_IF_ERROR(engine->ValidateConfig(request.config));
  RETURN_IF_ERROR(
      ValidateReplicas(request.name, request.type, request.replicas, request.synchronous));
  catalog::InstanceRecord record;
  record.name = request.name;
  record.type = request.type;
  record.status = catalog::InstanceState::kCreating;
  record.size = request.size.empty() ? options_.default_instance_size : request.size;
  record.config = request.config;
  record.created_at = record.updated_at = catalog::NowRfc3339();
  // The catalog's primary key makes the check and the reservation one step.
  RETURN_IF_ERROR(catalog_->InsertInstance(record));
  json req = {{"name", request.name},
              {"type", request.type},
              {"size", request.size},
              {"config", request.config},
              {"superuserAccess", request.superuser_access},
              {"replicas", request.replicas},
              {"synchronous", request.synchronous}};
  auto work = [this, request, engine, size = record.size](JobContext&) -> Result<json> {
    engines::InstanceSpec spec = SpecFor(request.name, request.type, request.config);
    spec.superuser_access = request.superuser_access;
    spec.size_bytes = SizeBytes(size);
    // A failed create leaves nothing, its log included: the error quotes the log's end.
    auto failed = [&](const Status& st) {
      Discard(request.name, st.ToString());
      return Status(st.code(), st.message(),
                    "the instance was removed; correct the request (e.g. a config value the "
                    "server refused) and create it again");
    };
    auto made = engine->Create(spec);
    if (!made.ok()) return failed(made.status());
    std::unique_ptr<engines::Instance> server = std::move(made.value());
    if (Status st = server->Start(); !st.ok()) {
      WarnIfError(server->Delete(), "remove the instance whose server did not start");
      return failed(st);
    }
    int port = server->endpoint().port;
    {
      std::lock_guard lock(mu_);
      servers_[request.name] = std::move(server);
    }
    RETURN_IF_ERROR(catalog_->UpdateInstancePort(request.name, port));
    if (request.replicas > 0) {
      std::lock_guard members(members_mu_);
      if (Status st = ReshapeMembers(request.name, request.replicas, request.synchronous);
          !st.ok()) {
        if (auto primary = TakeServer(request.name)) {
          WarnIfError(primary->Delete(), "remove the instance whose standbys were not made");
        }
        return failed(st);
      }
    }
    RETURN_IF_ERROR(catalog_->UpdateInstanceStatus(request.name, catalog::InstanceState::kRunning));
    return json{{"instance", request.name}};
  };
  auto cancel = [this, name = request.name](const Status& why) { Discard(name, why.message()); };
  auto job = jobs_->Submit("create-instance", request.name, req, work, cancel);
  if (!job.ok())
    WarnIfError(catalog_->DeleteInstance(request.name), "unlist the instance that was not made");
  return job;
}

Result<RecoveryWindow> Service::GetRecoveryWindow(const std::string& instance) {
  return recovery_->Window(instance);
}

Result<catalog::RestorePointRecord> Service::CreateRestorePoint(const std::string& instance,
                                                                const std::string& name) {
  return recovery_->CreateRestorePoint(instance, name);
}

Result<std::vector<catalog::RestorePointRecord>> Service::ListRestorePoints(
    const std::string& instance) const {
  return recovery_->ListRestorePoints(instance);
}

engines::VolumeProbe Service::VolumeProbeOf(const std::string& name) const {
  std::lock_guard lock(mu_);
  auto it = servers_.find(name);
  return it == servers_.end() ? engines::VolumeProbe() : it->second->volume_probe();
}

Result<std::optional<uint64_t>> Service::UsedBytes(const std::string& name, bool now) const {
  if (auto reading = !now && volumes_ ? volumes_->Get(name) : std::nullopt) {
    return std::optional<uint64_t>(reading->used_bytes);
  }
  engines::VolumeProbe probe = VolumeProbeOf(name);
  if (!probe) return std::optional<uint64_t>();
  ASSIGN_OR_RETURN(runtime::VolumeStats stats, probe());
  return std::optional<uint64_t>(stats.used_bytes);
}

Result<InstanceView> Service::ResizeInstance(const std::string& name, const std::string& size) {
  RETURN_IF_ERROR(ValidateName("instance name", name));
  if (size.empty()) return Status::InvalidArgument("size is required", "give a quantity: 20Gi");
  RETURN_IF_ERROR(ValidateSize(size));
  ASSIGN_OR_RETURN(catalog::InstanceRecord record, catalog_->GetInstance(name));
  if (record.status != catalog::InstanceState::kRunning &&
      record.status != catalog::InstanceState::kFailed) {
    return Status::FailedPrecondition(fmt::format("instance '{}' is {}", name, record.status),
                                      "wait for the operation in progress to end (see its job)");
  }
  // Shrinking is judged on what the files use now: the watcher's reading may be up to an
  // interval old, and the instance may have grown since.
  const bool shrinking = record.size.empty() || SizeBytes(size) < SizeBytes(record.size);
  ASSIGN_OR_RETURN(std::optional<uint64_t> used, UsedBytes(name, shrinking));
  if (used && SizeBytes(size) < *used) {
    return Status::InvalidArgument(
        fmt::format("size {} is smaller than what instance '{}' uses ({} bytes)", size, name,
                    *used),
        "give a larger size");
  }
  RETURN_IF_ERROR(catalog_->UpdateInstanceSize(name, size));
  WarnIfError(catalog_->AddEvent("info", name, "",
                                 fmt::format("size changed from {} to {}", record.size, size)),
              "record an event in the catalog");
  return GetInstance(name);
}

Result<catalog::JobRecord> Service::DeleteInstance(const std::string& name, bool delete_backups) {
  RETURN_IF_ERROR(ValidateName("instance name", name));
  ASSIGN_OR_RETURN(catalog::InstanceRecord record, catalog_->GetInstance(name));
  {
    std::lock_guard lock(mu_);
    if (record.status == catalog::InstanceState::kCreating ||
        record.status == catalog::InstanceState::kRestoring ||
        record.status == catalog::InstanceState::kDeleting) {
      return Status::FailedPrecondition(fmt::format("instance '{}' is {}", name, record.status),
                                        "wait for the operation in progress to end (see its job)");
    }
    if (auto job = reservations_.BackupOf(name)) {
      return Status::FailedPrecondition(
          fmt::format("a backup of instance '{}' is in progress (job {})", name, *job),
          "wait for it to end");
    }
    if (delete_backups) {
      ASSIGN_OR_RETURN(auto backups, catalog_->ListBackups(name));
      for (const auto& b : backups) {
        if (reservations_.InUse(b.name)) {
          return Status::FailedPrecondition(
              fmt::format("backup '{}' of instance '{}' is being restored", b.name, name),
              "wait for the restore to end, or delete without deleteBackups");
        }
      }
    }
    RETURN_IF_ERROR(catalog_->UpdateInstanceStatus(name, catalog::InstanceState::kDeleting));
  }
  json req = {{"name", name}, {"deleteBackups", delete_backups}};
  auto work = [this, name, delete_backups](JobContext&) { return RunDelete(name, delete_backups); };
  auto cancel = [this, name, status = record.status](const Status&) {
    WarnIfError(catalog_->UpdateInstanceStatus(name, status),
                "record the instance's state in the catalog");
  };
  auto job = jobs_->Submit("delete-instance", name, req, work, cancel);
  if (!job.ok())
    WarnIfError(catalog_->UpdateInstanceStatus(name, record.status),
                "record the instance's state in the catalog");
  return job;
}

std::unique_ptr<engines::Instance> Service::TakeServer(const std::string& name) {
  std::unique_ptr<engines::Instance> server;
  {
    std::lock_guard lock(mu_);
    auto it = servers_.find(name);
    if (it == servers_.end()) return nullptr;
    server = std::move(it->second);
    servers_.erase(it);
  }
  // A drain that listed it before ends before its files may go.
  if (drainer_) drainer_->Quiesce();
  return server;
}

std::unique_ptr<engines::Instance> Service::TakeStandby(const std::string& name,
                                                        const std::string& member) {
  std::unique_ptr<engines::Instance> standby;
  {
    std::lock_guard lock(mu_);
    auto& of = standbys_[name];
    auto it = of.find(member);
    if (it == of.end()) return nullptr;
    standby = std::move(it->second);
    of.erase(it);
  }
  if (drainer_) drainer_->Quiesce();
  return standby;
}

Result<json> Service::RunDelete(const std::string& name, bool delete_backups) {
  std::lock_guard members(members_mu_);
  ASSIGN_OR_RETURN(catalog::InstanceRecord record, catalog_->GetInstance(name));
  RETURN_IF_ERROR(RemoveStandbys(name, record.primary()));
  std::unique_ptr<engines::Instance> server = TakeServer(name);
  if (!server) {
    auto opened = engines_->Open(MemberRoot(name, record.primary()), record.primary());
    if (opened.ok()) {
      server = std::move(opened.value());
    } else if (opened.status().code() != StatusCode::kNotFound) {
      return opened.status();
    }
  }
  if (server && !server->log_archive_id().empty() && server->running()) {
    // The last writes go to the archive before the server goes: a restore to latest after
    // the delete loses nothing.
    auto engine = engines_->For(catalog_->GetInstance(name).value_or({}).type);
    Status archived =
        engine.ok() ? (*engine)->ArchiveNow(*server, std::chrono::seconds(30)) : engine.status();
    if (!archived.ok()) {
      spdlog::warn("event=final_archive_failed instance={} error=\"{}\"", name,
                   archived.ToString());
    }
  }
  if (server) RETURN_IF_ERROR(server->Delete());
  if (!record.replication.empty() && record.primary() != name) {
    // Its first server, a standby now, whose directory is still in instances/.
    WarnIfError(engines_->RemoveRemains(instances_dir(), name), "remove the first member");
  }
  RETURN_IF_ERROR(RemoveTree(JoinPath(instances_dir(), name)));
  RETURN_IF_ERROR(RemoveTree(JoinPath(JoinPath(options_.data_root, "members"), name)));
  int backups_deleted = 0;
  if (delete_backups) {
    ASSIGN_OR_RETURN(auto backups, catalog_->ListBackups(name));
    for (const auto& b : backups) {
      RETURN_IF_ERROR(DeleteBackup(name, b.name));
      ++backups_deleted;
    }
  }
  Status unlisted = catalog_->DeleteInstance(name);
  if (!unlisted.ok() && unlisted.code() != StatusCode::kNotFound) return unlisted;
  // Its schedules go with it; its backups stay (unless asked) under their own retention.
  if (auto schedules = catalog_->ListSchedules(name); schedules.ok()) {
    for (const auto& s : schedules.value())
      WarnIfError(catalog_->DeleteSchedule(s.id), "delete a schedule of the deleted instance");
  }
  retention_due_ = true;
  if (delete_backups) {
    auto writer = repo_.HoldWriterOnly();
    recovery_->PruneWalArchives();  // its archive goes with its last backup
  }
  return json{{"instance", name}, {"backupsDeleted", backups_deleted}};
}

engines::InstanceSpec Service::SpecFor(const std::string& name, const std::string& type,
                                       const std::map<std::string, std::string>& config) const {
  engines::InstanceSpec spec;
  spec.name = name;
  spec.type = type;
  spec.data_root = instances_dir();
  spec.config = config;
  if (type == "postgresql") spec.bin_dir = options_.pg_bin_dir;
  if (type == "mysql") spec.bin_dir = options_.mysql_bin_dir;
  // PostgreSQL's archive_command runs the dbaas binary; MariaDB's binlogs are drained by
  // the daemon (a server of MySQL's does not archive).
  if (!options_.dbaas_binary.empty()) {
    spec.archiving.repo_path = repository_dir();
    spec.archiving.dbaas_binary = options_.dbaas_binary;
  }
  return spec;
}

InstanceView Service::ViewOf(catalog::InstanceRecord record) const {
  InstanceView view;
  view.status = record.status;
  view.status_message = record.status_message;
  std::optional<engines::LogSpool> spool;  // its archiving notes are read after the lock
  {
    std::lock_guard lock(mu_);
    if (auto it = servers_.find(record.name); it != servers_.end()) {
      view.connection = it->second->login();
      if (it->second->superuser_access()) view.superuser = it->second->endpoint();
      view.restarts = it->second->restarts();
      spool = it->second->log_spool();
      if (record.status == catalog::InstanceState::kRunning) {
        view.status_message = it->second->note();
      }
      if (record.status == catalog::InstanceState::kRunning && !it->second->running()) {
        spool.reset();
        view.status = catalog::InstanceState::kFailed;
        view.status_message = fmt::format(
            "the server is not running; the supervisor restarts it (restarts so far: {})",
            view.restarts);
        // What the runtime knows of why (a pod's state and the cluster's reason).
        if (std::string why = it->second->down_reason(); !why.empty()) {
          view.status_message += ": " + why;
        }
      }
    }
  }
  if (spool && record.status == catalog::InstanceState::kRunning) {
    // The server's own failure is in a file its user writes; the drain's is in memory.
    std::string archiving = engines::PushNote(*spool);
    if (archiving.empty() && drainer_) archiving = drainer_->NoteOf(record.name);
    if (!archiving.empty()) view.status_message = archiving;
  }
  if (!record.replication.empty()) {
    std::lock_guard lock(mu_);
    auto standbys = standbys_.find(record.name);
    if (auto it = member_views_.find(record.name); it != member_views_.end()) {
      view.members = it->second;
    } else {
      // Not looked at yet (made, or handed over, a moment ago): roles and ports only.
      if (auto p = servers_.find(record.name); p != servers_.end()) {
        view.members.push_back(
            {record.primary(), "primary", p->second->running() ? "running" : "stopped",
             p->second->endpoint().port, 0, "", std::nullopt, p->second->endpoint().host});
      }
      if (standbys != standbys_.end()) {
        // Not `running()`: the ticker starts and stops standbys without mu_.
        for (const auto& [member, standby] : standbys->second) {
          view.members.push_back({member, "standby", "starting", standby->endpoint().port, 0, "",
                                  std::nullopt, standby->endpoint().host});
        }
      }
    }
    if (standbys != standbys_.end()) {
      for (const auto& [member, standby] : standbys->second) {
        view.standby_endpoints.push_back({standby->endpoint().host, standby->endpoint().port});
      }
    }
  }
  if (volumes_ && view.connection) view.volume = volumes_->Get(record.name);
  view.record = std::move(record);
  return view;
}

Result<InstanceView> Service::GetInstance(const std::string& name) const {
  RETURN_IF_ERROR(ValidateName("instance name", name));
  ASSIGN_OR_RETURN(catalog::InstanceRecord record, catalog_->GetInstance(name));
  return ViewOf(std::move(record));
}

Result<std::vector<InstanceView>> Service::ListInstances() const {
  ASSIGN_OR_RETURN(auto records, catalog_->ListInstances());
  std::vector<InstanceView> out;
  out.reserve(records.size());
  for (auto& r : records) out.push_back(ViewOf(std::move(r)));
  return out;
}

Result<catalog::JobRecord> Service::GetJob(const std::string& id) const {
  RETURN_IF_ERROR(ValidateJobId(id));
  return jobs_->Get(id);
}

Result<std::vector<catalog::EventRecord>> Service::ListAlerts(int64_t after_id,
                                                              int64_t limit) const {
  if (after_id < 0 || limit < 1 || limit > 1000) {
    return Status::InvalidArgument(
        fmt::format("alerts after {} (limit {}): out of range", after_id, limit),
        "give since as an alert's id (0 or more) and limit from 1 to 1000");
  }
  return catalog_->ListProblems(after_id, static_cast<size_t>(limit));
}

RepositoryAccess::Sizes Service::RecordRepositorySizes() {
  // One reader and recorder at a time: a ticker and a request each reading sizes, the
  // older recorded last, would leave history ending on the older.
  std::lock_guard lock(sizes_record_mu_);
  RepositoryAccess::Sizes sizes = repo_.CurrentSizes();
  if (!sizes.valid) return sizes;  // not read yet (a gc holds it): the next tick records it
  WarnIfError(catalog_->AddRepositorySizes(sizes.logical_bytes, sizes.stored_bytes),
              "record the repository's sizes in the catalog");
  return sizes;
}

Result<RepositorySummary> Service::LocalRepository() {
  RepositoryAccess::Sizes sizes = RecordRepositorySizes();
  RepositorySummary summary;
  ASSIGN_OR_RETURN(summary.history, catalog_->ListRepositorySizes(1000));
  if (sizes.valid) {
    summary.logical_bytes = sizes.logical_bytes;
    summary.stored_bytes = sizes.stored_bytes;
  } else if (!summary.history.empty()) {  // being read again (a gc): the last known
    summary.logical_bytes = summary.history.back().logical_bytes;
    summary.stored_bytes = summary.history.back().stored_bytes;
  } else {
    return Status::Busy("the repository's sizes are being read (a gc holds the repository)",
                        "ask again in a moment");
  }
  return summary;
}

Result<std::vector<catalog::JobRecord>> Service::ListJobs() const {
  ASSIGN_OR_RETURN(auto jobs, catalog_->ListJobs());
  for (auto& j : jobs) {
    if (!catalog::Finished(j.status)) {
      auto live = jobs_->Get(j.id);
      if (live.ok()) j = std::move(live.value());
    }
  }
  return jobs;
}

Result<catalog::JobRecord> Service::WaitJob(const std::string& id,
                                            std::chrono::milliseconds timeout) const {
  RETURN_IF_ERROR(ValidateJobId(id));
  return jobs_->Wait(id, timeout);
}

}  // namespace dbaas::control
