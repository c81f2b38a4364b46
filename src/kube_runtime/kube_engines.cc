#include "kube_runtime/kube_engines.h"

#include <fcntl.h>

#include <condition_variable>
#include <filesystem>
#include <functional>
#include <mutex>
#include <optional>
#include <span>
#include <thread>

#include <fmt/format.h>
#include <spdlog/spdlog.h>

#include "base/base64.h"
#include "base/files.h"
#include "base/hex.h"
#include "base/kill_points.h"
#include "base/log.h"
#include "base/parallel.h"
#include "base/scope_exit.h"
#include "engines/log_spool.h"
#include "engines/mariadb/maria_binlog.h"
#include "engines/mariadb/maria_pitr.h"
#include "engines/postgres/pg_backup.h"
#include "engines/postgres/pg_pitr.h"
#include "engines/postgres/pg_wal_summary.h"
#include "kube/json_fields.h"
#include "kube_runtime/agent_client.h"
#include "kube_runtime/pod_log_spool.h"
#include "kube_runtime/pod_watch.h"
#include "kube_runtime/repository_backup.h"
#include "kube_runtime/volume_snapshot_backup.h"
#include "objstore/sigv4.h"
#include "runtime/local_runtime.h"
#include "storage/snapshot_restore.h"
#include "storage/tree_scan.h"
#include "storage/wal_archive.h"

namespace dbaas::kube_runtime {
namespace {

using nlohmann::json;
using std::chrono::milliseconds;
using std::chrono::seconds;
using std::chrono::steady_clock;

// What is not built on this runtime yet, said the same way everywhere.
Status NotOnKubernetes(const std::string& what) {
  return Status::FailedPrecondition(
      fmt::format("{} is not built on the Kubernetes runtime yet", what),
      "docs/KUBERNETES.md lists what this runtime does today; run dbaasd with the local runtime "
      "for it");
}

const kube::ResourceKind& NamespaceKind() { return kube::KnownKind("v1", "Namespace"); }
const kube::ResourceKind& PodKind() { return kube::KnownKind("v1", "Pod"); }
const kube::ResourceKind& SecretKind() { return kube::KnownKind("v1", "Secret"); }

// Shared by an engine set's engines and instances.
struct Cluster {
  std::shared_ptr<kube::ApiClient> api;
  // For the instances' state threads: one attempt, seconds not minutes, so that an API
  // server that does not answer delays neither a listing's freshness nor a shutdown.
  std::unique_ptr<kube::ApiClient> probe_api;
  AgentAuthority authority;
  KubeRuntimeOptions options;
  std::unique_ptr<AgentClient> agents;
  // The pods, as one watch keeps them (pod_watch.h), on a client of its own (its watch
  // holds a connection); declared before it, destroyed after it.
  std::unique_ptr<kube::ApiClient> watch_api;
  std::unique_ptr<PodWatch> pods;
};

// Whether namespace `ns` exists, and then whether it is instance `name`'s: labelled by
// dbaas for that instance. Anything else (dbaasd's own namespace, a user's) is never
// touched: kFailedPrecondition.
Result<bool> OwnedNamespaceExists(const Cluster& cluster, const std::string& ns,
                                  const std::string& name) {
  auto found = cluster.api->Get({&NamespaceKind(), "", ns});
  if (!found.ok()) {
    if (found.status().code() == StatusCode::kNotFound) return false;
    return found.status();
  }
  const json labels = kube::ObjectField(kube::ObjectField(*found, "metadata"), "labels");
  if (kube::TextField(labels, kube::kManagedByLabel) != "dbaas" ||
      kube::TextField(labels, kube::kInstanceLabel) != name) {
    return Status::FailedPrecondition(
        fmt::format("namespace {} is not instance '{}''s (it lacks the labels {}=dbaas and {}={})",
                    ns, name, kube::kManagedByLabel, kube::kInstanceLabel, name),
        "dbaasd touches only the namespaces it made; choose another instance name, or another "
        "kubernetes.namespacePrefix");
  }
  return true;
}

// Deletes instance `name`'s namespace (everything of it goes with it) and waits until it
// is gone; a namespace already gone is fine, one not the instance's is refused.
Status DeleteNamespace(const Cluster& cluster, const std::string& name) {
  const std::string ns = kube::InstanceNamespace(cluster.options.settings, name);
  ASSIGN_OR_RETURN(bool exists, OwnedNamespaceExists(cluster, ns, name));
  // A restored instance's imported snapshot content is cluster-wide (Retain: the storage
  // snapshot stays the backup's); also when the namespace went already.
  RETURN_IF_ERROR(DeleteImportedContents(*cluster.api, cluster.options.settings, name));
  if (!exists) return Status::Ok();
  kube::ObjectRef ref{&NamespaceKind(), "", ns};
  Status deleted = cluster.api->Delete(ref);
  if (!deleted.ok() && deleted.code() != StatusCode::kNotFound) return deleted;
  const auto deadline = steady_clock::now() + cluster.options.delete_timeout;
  while (steady_clock::now() < deadline) {
    auto left = cluster.api->Get(ref);
    if (!left.ok() && left.status().code() == StatusCode::kNotFound) return Status::Ok();
    std::this_thread::sleep_for(milliseconds(250));
  }
  return Status::IoError(
      fmt::format("namespace {} is still terminating after {} s", ns,
                  cluster.options.delete_timeout.count() / 1000),
      fmt::format("see kubectl get namespace {} -o yaml: a finalizer may hold it", ns));
}

// The pod as the watch last saw it, else as `api` answers (the cluster's, or its probe
// client): a pod the watch does not hold may have been made a moment ago.
Result<PodView> FindPod(const Cluster& cluster, kube::ApiClient& api, const std::string& ns,
                        const std::string& pod) {
  if (auto seen = cluster.pods->Get(ns, pod)) return *seen;
  auto found = api.Get({&PodKind(), ns, pod});
  if (!found.ok()) return found.status();
  return ViewOfPod(*found);
}

// The pod's IP once it runs; kBusy saying what it is and why while it does not.
Result<std::string> AddressOf(const std::string& ns, const std::string& pod, const PodView& view) {
  if (view.phase != "Running" || view.ip.empty()) {
    return Status::Busy(DescribePod(ns, pod, view));
  }
  return view.ip;
}

Result<std::string> PodAddress(const Cluster& cluster, kube::ApiClient& api, const std::string& ns,
                               const std::string& pod) {
  ASSIGN_OR_RETURN(PodView view, FindPod(cluster, api, ns, pod));
  return AddressOf(ns, pod, view);
}

// Waits until the pod runs (its IP), at most `timeout`; the last reason it did not. Wakes at
// the watch's next change (polls where the watch is not current).
Result<std::string> WaitForPod(const Cluster& cluster, const std::string& ns,
                               const std::string& pod, milliseconds timeout) {
  const auto deadline = steady_clock::now() + timeout;
  for (;;) {
    const uint64_t seen = cluster.pods->changes();
    auto address = PodAddress(cluster, *cluster.api, ns, pod);
    const auto now = steady_clock::now();
    if (address.ok() || now >= deadline) return address;
    const milliseconds poll = cluster.pods->synced() ? seconds(5) : milliseconds(250);
    cluster.pods->WaitForChange(seen, std::min(deadline, now + poll));
  }
}

// An instance in its pod, reached through its agent. What the service asks often
// (running, restarts) is answered from what a thread of its own last heard from the agent
// (every 2 s): the service asks under its lock, which must not wait on a network.
class PodInstance final : public engines::Instance {
 public:
  // `archive_id`: the archive its server's WAL goes to ("": it does not archive); `dir`, the
  // daemon's directory for it (its spool's drain status), made already.
  PodInstance(std::shared_ptr<const Cluster> cluster, std::string name, std::string dir,
              std::string engine, std::string token, std::string archive_id)
      : cluster_(std::move(cluster)),
        name_(std::move(name)),
        dir_(std::move(dir)),
        engine_(std::move(engine)),
        archive_id_(std::move(archive_id)),
        ns_(kube::InstanceNamespace(cluster_->options.settings, name_)),
        pod_(kube::StatefulSetName(name_, engine_) + "-0") {
    agent_.dns_name = AgentDnsName(cluster_->options.settings, name_, engine_);
    agent_.port = kube::kAgentPort;
    agent_.token = std::move(token);
    watcher_ = std::thread([this] { Watch(); });
  }

  ~PodInstance() override {
    {
      std::lock_guard lock(mu_);
      stopping_ = true;
    }
    wake_.notify_all();
    watcher_.join();
  }

  Status Start(milliseconds timeout) override {
    const auto deadline = steady_clock::now() + timeout;
    std::string last;
    for (;;) {
      auto address = PodAddress(*cluster_, *cluster_->api, ns_, pod_);
      if (!address.ok()) {
        last = address.status().message();
      } else {
        auto started = cluster_->agents->Call(Agent(*address), "POST", "/v1/start", timeout);
        if (started.ok()) {
          Remember(*started);
          return Status::Ok();
        }
        last = started.status().message();
      }
      if (steady_clock::now() >= deadline) break;
      std::this_thread::sleep_for(milliseconds(250));
    }
    return Status::IoError(
        fmt::format("instance {}: its pod {}/{} did not run and answer within {} s: {}", name_, ns_,
                    pod_, std::chrono::duration_cast<seconds>(timeout).count(), last),
        fmt::format("see kubectl -n {} describe pod {} (scheduling, the image, the volume)", ns_,
                    pod_));
  }

  // The server stops; the pod stays (a restart of the pod starts it again).
  Status Stop(milliseconds timeout) override {
    auto address = PodAddress(*cluster_, *cluster_->api, ns_, pod_);
    if (!address.ok()) {
      if (address.status().code() == StatusCode::kNotFound) return Status::Ok();
      return address.status();
    }
    auto stopped = cluster_->agents->Call(Agent(*address), "POST", "/v1/stop",
                                          std::max(timeout, milliseconds(seconds(5))));
    if (!stopped.ok()) return stopped.status();
    Remember(*stopped);
    return Status::Ok();
  }

  // What the server archived as it stopped is in its spool only: drained into the
  // repository before the namespace goes (a restore to latest after the delete loses
  // nothing). A pod whose agent does not answer cannot be drained: said, and deleted.
  Status Delete() override {
    if (!archive_id_.empty()) {
      auto agent = ReachableAgent();
      // A stop that failed still drains what the server finished (its agent answers).
      Status stopped = agent.ok() ? Stop(milliseconds(seconds(30))) : agent.status();
      if (!stopped.ok()) {
        spdlog::warn("event=pod_server_not_stopped instance={} error=\"{}\"", name_,
                     stopped.ToString());
      }
      if (!agent.ok()) {
        spdlog::warn("event=pod_spool_not_drained instance={} error=\"{}\"", name_,
                     agent.status().ToString());
      } else {
        // A drain that fails does not keep the instance: what fails it may be the tenant's
        // (its agent's answers, its spool's files), and a tenant must not be able to keep
        // its instance from going. What its server archived last may go with it: logged.
        auto drained = engines::DrainLogSpool(SpoolAt(*agent, std::chrono::minutes(5)));
        if (!drained.ok() || drained->more) {
          spdlog::warn("event=pod_spool_not_drained instance={} error=\"{}\"", name_,
                       drained.ok() ? "files left after 5 min" : drained.status().ToString());
        }
      }
    }
    RETURN_IF_ERROR(DeleteNamespace(*cluster_, name_));
    return RemoveTree(dir_);
  }

  std::string log_archive_id() const override { return archive_id_; }
  // Drained through the agent (pod_log_spool.h) at the pod's address as last heard; a value
  // that outlives the instance.
  // The service's drainer drains it every second. A drain begins no file past kDrainBudget;
  // after one that stopped there the pod waits as long (it gets at most half the drainer's
  // time), after one that failed 5 s, doubling up to a minute: one slow pod, or a tenant's
  // agent slow on purpose, cannot hold up the drains of the others. A drain skipped while
  // the pod waits says what the last one said (its failure, the entries it refused).
  std::optional<engines::LogSpool> log_spool() const override {
    if (archive_id_.empty()) return std::nullopt;
    return SpoolAt(LastAgent(), kDrainBudget, pace_);
  }

  // Its spool, drained through `agent` (asked for the pod's address at the drain when it has
  // none) within `budget` per drain, paced by `pace` when given.
  struct DrainPace {
    std::mutex mu;
    steady_clock::time_point next_try;  // guarded by mu
    milliseconds backoff{0};            // guarded by mu: after failures, else 0
    Result<storage::SpoolDrain> last = storage::SpoolDrain{};  // guarded by mu
  };
  static constexpr milliseconds kDrainBudget{seconds(5)};
  engines::LogSpool SpoolAt(const AgentEndpoint& agent, milliseconds budget,
                            std::shared_ptr<DrainPace> pace = nullptr) const {
    engines::LogSpool spool;
    spool.instance = name_;
    spool.dir = fmt::format("{}/{}:wal-spool.{}", ns_, pod_, archive_id_);
    spool.repo_path = cluster_->options.repository_path;
    spool.archive_id = archive_id_;
    spool.status_path = JoinPath(dir_, "wal-spool.status");
    const bool binlogs = engine() == "mariadb";
    if (!binlogs) spool.summarize = engines::SummarizeBeforeStoredSegment;
    spool.drain = [cluster = cluster_, agent, ns = ns_, pod = pod_, id = archive_id_, binlogs,
                   summarize = spool.summarize, budget,
                   pace](const storage::WalArchive& archive,
                         std::chrono::seconds close_after) -> Result<storage::SpoolDrain> {
      const auto began = steady_clock::now();
      if (pace) {
        std::lock_guard lock(pace->mu);
        if (began < pace->next_try) {
          Result<storage::SpoolDrain> again = pace->last;
          if (again.ok()) again->files = again->raw_bytes = 0;
          return again;
        }
      }
      auto drained = [&]() -> Result<storage::SpoolDrain> {
        AgentEndpoint at = agent;
        if (at.address.empty()) {  // not heard from yet (a daemon just started)
          auto address = PodAddress(*cluster, *cluster->probe_api, ns, pod);
          // A pod not running yet has nothing to drain (its state says it is down).
          if (!address.ok() && address.status().code() == StatusCode::kBusy) {
            return storage::SpoolDrain{};
          }
          if (!address.ok()) return address.status();
          at.address = *address;
        }
        PodSpool of;
        of.archive_id = id;
        if (binlogs) {
          of.log = PodSpool::Log::kBinlog;
          of.close_after = close_after;
        }
        return DrainPodSpool(
            *cluster->agents, at, archive, of,
            [&](const std::string& name, std::span<const uint8_t> raw) {
              if (summarize) summarize(archive, name, raw);
            },
            began + budget);
      }();
      if (pace) {
        std::lock_guard lock(pace->mu);
        pace->last = drained;
        if (!drained.ok()) {
          pace->backoff = std::clamp(pace->backoff * 2, milliseconds(seconds(5)),
                                     milliseconds(std::chrono::minutes(1)));
          pace->next_try = steady_clock::now() + pace->backoff;
        } else {
          pace->backoff = milliseconds(0);
          // Out of time with more to drain: as long again for the others.
          pace->next_try = drained->more ? steady_clock::now() + budget : began;
        }
      }
      return drained;
    };
    return spool;
  }

  // The agent as it can be called now: at the pod's address.
  Result<AgentEndpoint> ReachableAgent() const {
    ASSIGN_OR_RETURN(std::string address, PodAddress(*cluster_, *cluster_->api, ns_, pod_));
    return Agent(address);
  }

  bool running() const override {
    std::lock_guard lock(mu_);
    return kube::BoolField(state_, "running");
  }
  bool answers() const override {
    std::lock_guard lock(mu_);
    return kube::BoolField(state_, "answers");
  }
  // The server's restarts by the agent since its container started, and the container's
  // own restarts by the kubelet (each a restart of the server; the agent's count begins
  // again with each).
  int restarts() const override {
    std::lock_guard lock(mu_);
    const int64_t by_agent = std::max<int64_t>(0, kube::IntField(state_, "restarts"));
    return static_cast<int>(std::min<int64_t>(by_agent + container_restarts_, 1 << 30));
  }
  const std::string& name() const override { return name_; }
  const std::string& dir() const override { return dir_; }
  const std::string& engine() const { return engine_; }

  // The daemon's own sessions go to the pod's address.
  engines::ConnectionInfo endpoint() const override {
    std::lock_guard lock(mu_);
    return ConnectionOf(kube::ObjectField(state_, "superuser"));
  }
  // Clients reach the instance through its Service, by its DNS name.
  engines::ConnectionInfo login() const override {
    std::lock_guard lock(mu_);
    engines::ConnectionInfo c = ConnectionOf(kube::ObjectField(state_, "login"));
    c.host = fmt::format("{}.{}.svc", name_, ns_);
    return c;
  }
  bool superuser_access() const override { return false; }
  // Why its agent was not reached: the pod's phase and the cluster's reason (unschedulable,
  // an image not pulled, a container restarting), or the agent's error.
  std::string down_reason() const override {
    std::lock_guard lock(mu_);
    return unreached_;
  }
  // The server's archive_command failing in the pod (as the agent reads its status file: the
  // tenant's words, bounded), else where it runs.
  std::string note() const override {
    std::lock_guard lock(mu_);
    if (std::string failure = kube::TextField(state_, "archiveFailure"); !failure.empty()) {
      constexpr size_t kMost = 1000;
      return failure.size() <= kMost ? failure : failure.substr(0, kMost) + "...";
    }
    return fmt::format("runs in pod {}/{} (the Kubernetes runtime)", ns_, pod_);
  }
  // What the agent measured of its volume (it walks the instance's files at most every
  // 30 s), as last heard; a value that outlives the instance.
  engines::VolumeProbe volume_probe() const override {
    return [volume = volume_]() -> Result<runtime::VolumeStats> {
      std::lock_guard lock(volume->mu);
      if (!volume->stats) {
        return Status::Busy("the agent has not reported its volume yet", "ask again shortly");
      }
      return *volume->stats;
    };
  }

 private:
  AgentEndpoint Agent(const std::string& address) const {
    AgentEndpoint agent = agent_;
    agent.address = address;
    return agent;
  }
  // The agent at the address its state thread last reached it ("" before).
  AgentEndpoint LastAgent() const {
    std::lock_guard lock(mu_);
    return Agent(address_);
  }

  // The agent's answer is input: read with the type-checked getters only.
  engines::ConnectionInfo ConnectionOf(const json& login) const {
    engines::ConnectionInfo c;
    c.type = engine_;
    c.host = kube::TextField(login, "host");
    const int64_t port = kube::IntField(login, "port");
    c.port = port > 0 && port <= 65535 ? static_cast<uint16_t>(port) : 0;
    c.user = kube::TextField(login, "user");
    c.password = kube::TextField(login, "password");
    c.database = kube::TextField(login, "database");
    return c;
  }

  void Remember(const json& state) {
    if (!state.is_object()) return;
    const json volume = kube::ObjectField(state, "volume");
    if (!volume.empty()) {
      runtime::VolumeStats stats;
      stats.used_bytes =
          static_cast<uint64_t>(std::max<int64_t>(0, kube::IntField(volume, "usedBytes")));
      stats.exclusive_bytes =
          static_cast<uint64_t>(std::max<int64_t>(0, kube::IntField(volume, "exclusiveBytes")));
      std::lock_guard lock(volume_->mu);
      volume_->stats = stats;
    }
    std::lock_guard lock(mu_);
    state_ = state;
  }

  // Asks the agent every 2 s at the address the watch has for the pod; what cannot be asked
  // reads as not running (the logins stay as last heard), and why is the note.
  void Watch() {
    std::unique_lock lock(mu_);
    while (!stopping_) {
      lock.unlock();
      auto view = FindPod(*cluster_, *cluster_->probe_api, ns_, pod_);
      auto address = view.ok() ? AddressOf(ns_, pod_, *view) : Result<std::string>(view.status());
      if (view.ok()) {
        std::lock_guard seen(mu_);
        container_restarts_ = view->restarts;
      }
      auto state = address.ok()
                       ? cluster_->agents->Call(Agent(*address), "GET", "/v1/instance", seconds(3))
                       : Result<json>(address.status());
      if (state.ok()) {
        Remember(*state);
        std::lock_guard reached(mu_);
        address_ = *address;
        unreached_.clear();
      } else {
        std::lock_guard down(mu_);
        state_["running"] = false;
        state_["answers"] = false;
        // The agent's error is the tenant's pod's words: bounded, printable.
        unreached_ = address.ok() ? fmt::format("pod {}/{} runs; its agent does not answer: {}",
                                                ns_, pod_, state.status().message())
                                  : address.status().message();
        constexpr size_t kMost = 400;
        if (unreached_.size() > kMost) unreached_ = unreached_.substr(0, kMost) + "...";
        for (char& c : unreached_) {
          if (static_cast<unsigned char>(c) < 0x20 || c == 0x7f) c = ' ';
        }
      }
      lock.lock();
      wake_.wait_for(lock, seconds(2), [this] { return stopping_; });
    }
  }

  std::shared_ptr<const Cluster> cluster_;
  const std::string name_;
  const std::string dir_;
  const std::string engine_;
  const std::string archive_id_;
  const std::string ns_;
  const std::string pod_;
  AgentEndpoint agent_;  // without its address
  mutable std::mutex mu_;
  std::string address_;  // guarded by mu_: where the agent last answered
  // guarded by mu_: why the agent was not reached last time (the pod's state and reason, or
  // the agent's error); "" when it was
  std::string unreached_;
  int container_restarts_ = 0;  // guarded by mu_: the pod's, as the watch last saw it
  const std::shared_ptr<DrainPace> pace_ = std::make_shared<DrainPace>();
  std::condition_variable wake_;
  bool stopping_ = false;        // guarded by mu_
  json state_ = json::object();  // guarded by mu_: the agent's last answer, an object
  struct Volume {
    std::mutex mu;
    std::optional<runtime::VolumeStats> stats;  // guarded by mu
  };
  const std::shared_ptr<Volume> volume_ = std::make_shared<Volume>();
  std::thread watcher_;
};

class KubeEngine final : public engines::Engine {
 public:
  KubeEngine(std::shared_ptr<const Cluster> cluster, const engines::Engine* local)
      : cluster_(std::move(cluster)), local_(local) {}

  const char* type() const override { return local_->type(); }
  // The same settings as the local runtime's: the same engine runs in the pod.
  Status ValidateConfig(const std::map<std::string, std::string>& config) const override {
    return local_->ValidateConfig(config);
  }

  Result<std::unique_ptr<engines::Instance>> Create(
      const engines::InstanceSpec& spec) const override {
    return Make(spec, nullptr);
  }

  // By its Secret: the agent's token is all the daemon keeps of an instance outside its
  // catalog.
  Result<std::unique_ptr<engines::Instance>> Open(const std::string& data_root,
                                                  const std::string& name) const override {
    const std::string ns = kube::InstanceNamespace(cluster_->options.settings, name);
    auto secret = cluster_->api->Get({&SecretKind(), ns, name + "-credentials"});
    if (!secret.ok()) {
      if (secret.status().code() == StatusCode::kNotFound) {
        return Status::NotFound(fmt::format("instance '{}' not found in namespace {}", name, ns));
      }
      return secret.status();
    }
    auto token =
        Base64Decode(kube::TextField(kube::ObjectField(*secret, "data"), kube::kAgentTokenFile));
    if (!token || token->empty()) {
      return Status::FailedPrecondition(
          fmt::format("instance '{}': its Secret {}/{}-credentials has no agent token", name, ns,
                      name),
          "the Secret was changed by hand; restore its agent-token, or delete the instance");
    }
    // Written by the daemon (the pod cannot write its Secret); absent: made before pods
    // archived their WAL.
    const std::string archive_id = Base64Decode(kube::TextField(kube::ObjectField(*secret, "data"),
                                                                kube::kAgentWalArchiveFile))
                                       .value_or("");
    if (!archive_id.empty()) RETURN_IF_ERROR(storage::ValidateArchiveId(archive_id));
    const std::string dir = JoinPath(data_root, name);
    RETURN_IF_ERROR(MakeDirs(dir, 0700));
    return std::unique_ptr<engines::Instance>(
        std::make_unique<PodInstance>(cluster_, name, dir, type(), *token, archive_id));
  }

  // Both stores, for both engines (a VolumeSnapshot is refused by a cluster without the API).
  Status CheckBackupStore(engines::BackupStore, const std::string&) const override {
    return Status::Ok();
  }
  Result<engines::EngineBackup> Backup(const engines::Instance& instance, storage::Repository& repo,
                                       const std::string& name,
                                       storage::Progress* progress) const override {
    return BackupInto(engines::BackupStore::kDefault, instance, repo, name, progress);
  }
  // The volumeSnapshot method (volume_snapshot_backup.h: the repository gets what the
  // VolumeSnapshot lacks; a MariaDB server's commits blocked while it is cut) or the
  // repository method (repository_backup.h: the files through the agent; a MariaDB
  // server's, mariadb-backup's copy made in the pod). By default a VolumeSnapshot where the
  // cluster has the API, else the repository.
  Result<engines::EngineBackup> BackupInto(engines::BackupStore into,
                                           const engines::Instance& instance,
                                           storage::Repository& repo, const std::string& name,
                                           storage::Progress* progress) const override {
    ASSIGN_OR_RETURN(const PodInstance* pod, PodOf(instance));
    PodBackupTarget target;
    target.api = cluster_->api.get();
    target.agents = cluster_->agents.get();
    ASSIGN_OR_RETURN(target.agent, pod->ReachableAgent());
    target.settings = cluster_->options.settings;
    target.instance = instance.name();
    target.engine = type();
    target.ready_timeout = cluster_->options.snapshot_timeout;
    target.wal_archive = pod->log_archive_id();
    if (into == engines::BackupStore::kDefault) {
      ASSIGN_OR_RETURN(bool snapshots, HasVolumeSnapshots(*cluster_->api));
      into = snapshots ? engines::BackupStore::kVolumeSnapshot : engines::BackupStore::kRepository;
    }
    if (into == engines::BackupStore::kRepository) {
      return BackupByRepository(target, repo, name, progress);
    }
    return BackupByVolumeSnapshot(target, repo, name, progress);
  }
  Status DeleteCutOffBackupVolume(const std::string& instance,
                                  const std::string& backup) const override {
    return DeleteCutOffVolumeSnapshot(*cluster_->api, cluster_->options.settings, instance, backup);
  }
  Status DeleteBackupVolume(const engines::BackupFacts& facts) const override {
    if (facts.volume_snapshot.empty()) return Status::Ok();
    return DeleteBackupSnapshot(*cluster_->api, facts);
  }
  Result<engines::IntegrityReport> CheckIntegrity(const engines::Instance&) const override {
    return NotOnKubernetes("a restore drill's check");
  }

  // Point-in-time recovery: the pod's server names a point or closes its segment (its
  // agent waits until the spool holds it), and the spool is drained here at once. The
  // archive is in the daemon's repository in the local engine's format: read as there.
  Result<engines::RestorePointAt> CreateRestorePoint(const engines::Instance& instance,
                                                     const std::string& name) const override {
    ASSIGN_OR_RETURN(const PodInstance* pod, Archiving(instance));
    ASSIGN_OR_RETURN(AgentEndpoint agent, pod->ReachableAgent());
    ASSIGN_OR_RETURN(json point, cluster_->agents->Call(agent, "POST", "/v1/wal/restore-point",
                                                        seconds(40), {{"name", name}}));
    const std::string lsn = kube::TextField(point, "lsn");
    const std::string gtid = IsPostgres() ? "" : kube::TextField(point, "gtid");
    // As the engine writes them, and nothing else: the pod's answer is input.
    const bool parses =
        IsPostgres() ? engines::ParseLsn(lsn).ok() : engines::IsBinlogPoint(lsn, gtid);
    if (!parses) {
      return Status::IoError(
          fmt::format("instance '{}': its agent answered no log position for restore point '{}'",
                      instance.name(), name));
    }
    RETURN_IF_ERROR(engines::DrainLogSpool(pod->SpoolAt(agent, seconds(40))).status());
    if (IsPostgres()) return engines::RestorePointAt{lsn, ""};
    return engines::RestorePointAt{
        lsn, engines::FormatGtidPosition(engines::ParseGtidPosition(gtid).value())};
  }
  Status ArchiveNow(const engines::Instance& instance, milliseconds timeout) const override {
    ASSIGN_OR_RETURN(const PodInstance* pod, Archiving(instance));
    ASSIGN_OR_RETURN(AgentEndpoint agent, pod->ReachableAgent());
    const auto wait = std::chrono::duration_cast<seconds>(timeout);
    RETURN_IF_ERROR(cluster_->agents
                        ->Call(agent, "POST", "/v1/wal/switch", wait + seconds(10),
                               {{"timeoutSeconds", std::max<int64_t>(1, wait.count())}})
                        .status());
    return engines::DrainLogSpool(pod->SpoolAt(agent, std::max(timeout, milliseconds(seconds(10)))))
        .status();
  }
  Result<engines::ArchiveEnd> ScanArchive(const std::string& repo_path,
                                          const std::string& archive_id,
                                          const std::string& from_lsn) const override {
    return local_->ScanArchive(repo_path, archive_id, from_lsn);
  }
  Result<uint64_t> PruneArchive(const std::string& repo_path, const std::string& archive_id,
                                const std::optional<std::string>& keep_from_lsn) const override {
    return local_->PruneArchive(repo_path, archive_id, keep_from_lsn);
  }
  Result<std::optional<std::string>> ArchivePositionOf(const std::string& repo_path,
                                                       const std::string& archive_id,
                                                       const std::string& from_lsn) const override {
    return local_->ArchivePositionOf(repo_path, archive_id, from_lsn);
  }

  // From a volumeSnapshot backup (volume_snapshot_backup.h): a new namespace's claim from
  // the backup's storage snapshot (imported: a claim's dataSource cannot name another
  // namespace's VolumeSnapshot), the label and the log from the repository, and the agent's
  // restore (pod_agent.h) in the new pod; from a repository backup of a pod, the copy sent
  // into an empty claim. To the backup's end, or to a target: the source's archive staged
  // and sent too, replayed in the pod. No drills yet.
  Result<std::unique_ptr<engines::Instance>> Restore(
      const storage::Repository& repo, const storage::Manifest& snapshot,
      const engines::InstanceSpec& spec, const std::string& password,
      const engines::RecoveryTarget& target, storage::Progress* progress,
      engines::FileCheck* file_check) const override {
    if (file_check != nullptr) return NotOnKubernetes("a restore drill");
    const bool pitr = target.kind != engines::RecoveryTarget::Kind::kBackupEnd;
    const engines::BackupFacts facts = engines::FromAnnotations(snapshot.annotations);
    auto source = snapshot.annotations.find("instance");
    const bool volume = facts.snapshot_kind == "volume" && !facts.volume_snapshot.empty();
    // A repository backup of a pod (repository_backup.h): the whole copy comes from the
    // repository, sent to the agent into an empty volume.
    const bool copy =
        facts.snapshot_kind == "repository" &&
        snapshot.source ==
            PodVolumeIdentity(cluster_->options.settings,
                              source == snapshot.annotations.end() ? "" : source->second);
    if ((!volume && !copy) || source == snapshot.annotations.end()) {
      return Status::FailedPrecondition(
          fmt::format("backup {} was not taken in a pod (neither a volume snapshot's nor a "
                      "repository backup through a pod's agent)",
                      snapshot.name),
          "restore it with dbaasd on the local runtime (docs/KUBERNETES.md)");
    }
    // To a point in time from the archive the catalog names for the backup: the source's own
    // (archive ids are "<instance>.<hex>"), never another instance's sent into this pod.
    if (pitr && !target.archive_id.starts_with(source->second + ".")) {
      return Status::FailedPrecondition(
          fmt::format("archive '{}' is not instance '{}''s: backup {} cannot be restored to a "
                      "point in time from it",
                      target.archive_id, source->second, snapshot.name),
          "restore the backup as taken (no target)");
    }
    // MariaDB's replay worked out first (a target the archive does not reach fails before
    // anything is made), from the backup's binlog position.
    if (pitr && !IsPostgres()) {
      ASSIGN_OR_RETURN(storage::WalArchive archive,
                       storage::WalArchive::Open(repo.path(), target.archive_id));
      RETURN_IF_ERROR(engines::PlanReplayFromBackup(archive, facts, target).status());
    }
    Restoring restoring;
    restoring.source = source->second;
    if (volume) {
      ASSIGN_OR_RETURN(restoring.snapshot, FindSnapshotSource(*cluster_->api, facts));
    }
    // The label and the log (and, from a repository backup, the copy), staged from the
    // repository, sent to the agent once it runs.
    const std::string staging = JoinPath(repo.TmpDir(), "volume-restore-" + RandomHex(8));
    ScopeExit unstage([&] { WarnIfError(RemoveTree(staging), "remove a restore's staging"); });
    storage::RestoreOptions o;
    o.target = staging;
    o.progress = progress;
    RETURN_IF_ERROR(storage::RestoreSnapshot(repo, snapshot, o).status());
    // To a point in time: the source's archive from the backup's start on, staged here as
    // a local restore stages it (PgStageArchive), sent to the agent, replayed in the pod.
    const std::string archive_stage = staging + "-archive";
    ScopeExit unstage_archive(
        [&] { WarnIfError(RemoveTree(archive_stage), "remove a restore's staged archive"); });
    if (pitr) {
      auto start = snapshot.annotations.find("start_lsn");
      if (start == snapshot.annotations.end()) {
        return Status::Corruption(fmt::format("snapshot {} has no start_lsn", snapshot.id));
      }
      RETURN_IF_ERROR(IsPostgres() ? engines::PgStageArchive(repo.path(), target.archive_id,
                                                             start->second, archive_stage)
                                   : engines::MariaStageArchive(repo.path(), target.archive_id,
                                                                facts.stop_lsn, archive_stage));
    }
    json request = {{"source", restoring.source},
                    {"password", password},
                    {"files", json::object()},
                    {"logFiles", json::array()}};
    for (const char* file : engines::kVolumeBackupEndFiles) {
      const std::string path = JoinPath(staging, file);
      if (!PathExists(path)) continue;
      ASSIGN_OR_RETURN(request["files"][file], ReadFileToString(path, 1 << 20));
    }
    std::error_code ec;  // the staging is the daemon's, just restored from the repository
    if (IsPostgres()) {  // MariaDB's redo log is in the volume: no log goes with the backup
      for (const auto& entry :
           std::filesystem::directory_iterator(JoinPath(staging, "pg_wal"), ec)) {
        request["logFiles"].push_back("pg_wal/" + entry.path().filename().string());
      }
    }
    if (ec) return Status::IoError(fmt::format("cannot list the backup's log: {}", ec.message()));
    restoring.finish = [&](const PodInstance& pod) -> Status {
      ASSIGN_OR_RETURN(AgentEndpoint agent, pod.ReachableAgent());
      // The agent may still be starting in its running pod: its first answer waited for.
      const auto deadline = steady_clock::now() + cluster_->options.start_timeout;
      for (;;) {
        auto state = cluster_->agents->Call(agent, "GET", "/v1/instance", seconds(5));
        if (state.ok()) break;
        if (steady_clock::now() >= deadline) return state.status();
        std::this_thread::sleep_for(milliseconds(250));
      }
      if (copy) {
        RETURN_IF_ERROR(SendTree(
            agent, staging, "/v1/restore/copy",
            [this](const std::string& path) { return IsLeftOutOfCopy(path); }, progress));
      }
      if (pitr) {
        RETURN_IF_ERROR(SendTree(
            agent, archive_stage, "/v1/restore/archive",
            [](const std::string& path) { return path == "."; }, progress));
        request["target"] = engines::RecoveryTargetJson(target);
        if (!IsPostgres()) {
          request["binlogFrom"] = {{"position", facts.stop_lsn}, {"gtid", facts.gtid_position}};
        }
      }
      for (const json& path : request["logFiles"]) {
        RETURN_IF_ERROR(
            cluster_->agents->Upload(agent, "/v1/restore/file?path=" + path.get<std::string>(),
                                     JoinPath(staging, path.get<std::string>()),
                                     engines::kMaxRestorableLogFileBytes, std::chrono::minutes(5)));
      }
      return cluster_->agents->Call(agent, "POST", "/v1/restore", std::chrono::minutes(30), request)
          .status();
    };
    return Make(spec, &restoring);
  }

 private:
  static Result<const PodInstance*> PodOf(const engines::Instance& instance) {
    const auto* pod = dynamic_cast<const PodInstance*>(&instance);
    if (pod == nullptr) {
      return Status::Internal(
          fmt::format("instance {} is not one of the cluster's", instance.name()));
    }
    return pod;
  }
  // PodOf, for what needs its log archived (an instance made before pods archived has none).
  static Result<const PodInstance*> Archiving(const engines::Instance& instance) {
    ASSIGN_OR_RETURN(const PodInstance* pod, PodOf(instance));
    if (pod->log_archive_id().empty()) {
      return Status::FailedPrecondition(
          fmt::format("instance '{}' does not archive its log into dbaasd's repository",
                      instance.name()),
          "it was made before pods archived their log; restore a backup of it into a new "
          "instance, which archives");
    }
    return pod;
  }
  bool IsPostgres() const { return std::string_view(type()) == "postgresql"; }

  // What of a copy restored from the repository is not sent as the copy: PostgreSQL's end's
  // files and log go as for a volume copy (in a MariaDB copy, "pg_wal" is a database's name).
  bool IsLeftOutOfCopy(const std::string& path) const {
    return path == "." ||
           (IsPostgres() && (path.starts_with("pg_wal/") || engines::IsVolumeBackupEndFile(path)));
  }

  // Sends a tree staged here (`root`: a copy restored from the repository, a PostgreSQL
  // data directory, or a staged archive) to the agent's `route`, which writes it into the
  // volume waiting for its restore: its directories, then each file in pieces; what
  // `left_out` names is not sent.
  Status SendTree(const AgentEndpoint& agent, const std::string& root, const std::string& route,
                  const std::function<bool(const std::string&)>& left_out,
                  storage::Progress* progress) const {
    constexpr size_t kPiece = size_t{8} << 20;  // within the agent's 64 MiB bodies
    // Files on several threads: a data directory is mostly small files, each a request; the
    // agent keeps threads for its probes (the repository method reads with as many).
    constexpr unsigned kSenders = 4;
    ASSIGN_OR_RETURN(storage::ScanResult tree, storage::ScanTree(root));
    if (progress != nullptr) {  // sent after it was restored: as much again
      for (const storage::TreeEntry& e : tree.entries) progress->total_bytes += e.size;
    }
    auto target_of = [&](const storage::TreeEntry& e) {
      return route + "?path=" + objstore::UriEncode(e.path, /*keep_slash=*/true);
    };
    std::vector<const storage::TreeEntry*> files;
    for (const storage::TreeEntry& e : tree.entries) {
      if (left_out(e.path)) continue;
      if (e.type == storage::EntryType::kDirectory) {  // in order: parents first
        RETURN_IF_ERROR(
            cluster_->agents->Put(agent, target_of(e) + "&directory=1", "", seconds(30)));
      } else if (e.type == storage::EntryType::kFile) {
        files.push_back(&e);
      } else {
        return Status::FailedPrecondition(
            fmt::format("the backup holds '{}', which is not a file or directory", e.path),
            "tablespaces are not restored into pods yet");
      }
    }
    std::vector<std::vector<uint8_t>> pieces(kSenders);
    return ParallelFor(files.size(), kSenders, [&](size_t item, unsigned thread) -> Status {
      const storage::TreeEntry& e = *files[item];
      std::vector<uint8_t>& piece = pieces[thread];
      piece.resize(static_cast<size_t>(std::min<uint64_t>(kPiece, std::max<uint64_t>(e.size, 1))));
      const std::string target = target_of(e);
      const std::string file = JoinPath(root, e.path);
      ASSIGN_OR_RETURN(UniqueFd fd, OpenFile(file, O_RDONLY));
      uint64_t offset = 0;
      do {
        ASSIGN_OR_RETURN(size_t n, PreadFull(fd.get(), piece.data(), piece.size(), offset, file));
        RETURN_IF_ERROR(
            cluster_->agents->Put(agent, fmt::format("{}&offset={}", target, offset),
                                  std::string_view(reinterpret_cast<const char*>(piece.data()), n),
                                  std::chrono::minutes(2)));
        offset += n;
        storage::ReportBytes(progress, n);
        // The end: a short read, or the size listed (no empty request after a full piece).
        if (n < piece.size() || offset >= e.size) break;
      } while (true);
      return Status::Ok();
    });
  }

  // What a restore adds to the making of an instance: its claim from the backup's storage
  // snapshot (none for a copy from the repository), and what it does once the pod runs.
  struct Restoring {
    std::string source;  // the backed-up instance
    SnapshotSource snapshot;
    std::function<Status(const PodInstance& pod)> finish;
  };

  // The instance's objects applied (a restore's snapshot and claim before the StatefulSet,
  // which adopts the claim by name), its pod waited for until it runs, a restore finished.
  // A failure deletes the namespace, and with it everything made.
  Result<std::unique_ptr<engines::Instance>> Make(const engines::InstanceSpec& spec,
                                                  const Restoring* restoring) const {
    RETURN_IF_ERROR(kube::CheckKubernetesInstanceName(spec.name));
    if (spec.standby) return NotOnKubernetes("a standby");
    const kube::KubernetesSettings& settings = cluster_->options.settings;
    const std::string token = RandomHex(32);
    const std::string dns = AgentDnsName(settings, spec.name, type());
    ASSIGN_OR_RETURN(IssuedCertificate cert,
                     cluster_->authority.Issue({dns, dns + ".cluster.local"}));
    kube::InstanceObjectsSpec objects_spec;
    objects_spec.name = spec.name;
    objects_spec.engine = type();
    objects_spec.size_bytes =
        spec.size_bytes != 0 ? spec.size_bytes : cluster_->options.default_size_bytes;
    objects_spec.settings = spec.config;
    objects_spec.secrets = {{kube::kAgentTokenFile, token},
                            {kube::kAgentCertFile, cert.cert_pem},
                            {kube::kAgentKeyFile, cert.key_pem}};
    // The server's log (WAL, binlog): an archive of its own in the daemon's repository,
    // which its agent learns from the Secret (pod_log_spool.h).
    std::string archive_id;
    if (spec.archiving.on()) {
      // A new one: an archive kept for the backups of an earlier instance of the same name
      // is never joined (nor removed if this making fails).
      do {
        archive_id = spec.name + "." + RandomHex(4);
      } while (storage::WalArchive::Open(cluster_->options.repository_path, archive_id).ok());
      objects_spec.secrets[kube::kAgentWalArchiveFile] = archive_id;
    }
    if (restoring != nullptr) objects_spec.restore_from = restoring->source;
    ASSIGN_OR_RETURN(std::vector<json> objects, kube::InstanceObjects(objects_spec, settings));
    if (restoring != nullptr && !restoring->snapshot.handle.empty()) {
      // After the namespace (the first), before the StatefulSet (the last).
      const std::string restored = "restore-of-" + restoring->source;
      std::vector<json> more =
          kube::ImportedSnapshotObjects(settings, spec.name, type(), restored,
                                        restoring->snapshot.handle, restoring->snapshot.driver);
      more.push_back(kube::RestoredClaimObject(settings, spec.name, type(), objects_spec.size_bytes,
                                               restored, restoring->source));
      objects.insert(objects.end() - 1, more.begin(), more.end());
    }
    const std::string ns = kube::InstanceNamespace(settings, spec.name);
    ASSIGN_OR_RETURN(bool exists, OwnedNamespaceExists(*cluster_, ns, spec.name));
    if (exists) {
      return Status::AlreadyExists(
          fmt::format("namespace {} exists already", ns),
          "an instance of that name is still being deleted (wait for the namespace to go), or "
          "was left by another daemon: delete the namespace, or choose another name");
    }
    const std::string dir = JoinPath(spec.data_root, spec.name);
    RETURN_IF_ERROR(MakeDirs(dir, 0700));
    if (!archive_id.empty()) {
      if (Status made = storage::WalArchive::Create(cluster_->options.repository_path, archive_id);
          !made.ok()) {
        WarnIfError(RemoveTree(dir), "remove the instance's directory");
        return made;
      }
    }
    auto fail = [&](const Status& st) {
      // Nothing half-made stays: the namespace holds all of it (an imported content goes
      // with it, by DeleteNamespace), and the archive is still empty.
      WarnIfError(DeleteNamespace(*cluster_, spec.name), "remove the instance's namespace");
      if (!archive_id.empty()) {
        WarnIfError(storage::WalArchive::Remove(cluster_->options.repository_path, archive_id),
                    "remove the archive of the instance that could not be made");
      }
      WarnIfError(RemoveTree(dir), "remove the instance's directory");
      return st;
    };
    for (const json& object : objects) {
      if (auto applied = cluster_->api->Apply(object); !applied.ok()) return fail(applied.status());
    }
    spdlog::info("instance {}: objects applied in namespace {}", spec.name, ns);
    ReachKillPoint(KillPoint::kObjectsApplied);
    // A new pod may take minutes (an image pulled, a volume provisioned): waited for here,
    // so that the service's Start waits for the server only.
    const std::string pod = kube::StatefulSetName(spec.name, type()) + "-0";
    if (auto running = WaitForPod(*cluster_, ns, pod, cluster_->options.start_timeout);
        !running.ok()) {
      return fail(Status::IoError(
          fmt::format("instance {}: its pod {}/{} did not run within {} s: {}", spec.name, ns, pod,
                      std::chrono::duration_cast<seconds>(cluster_->options.start_timeout).count(),
                      running.status().message()),
          fmt::format("see kubectl -n {} describe pod {} (scheduling, the image, the volume); the "
                      "instance was removed",
                      ns, pod)));
    }
    auto made = std::make_unique<PodInstance>(cluster_, spec.name, dir, type(), token, archive_id);
    if (restoring != nullptr) {
      Status finished = restoring->finish(*made);
      // Started by the restore: this start (a no-op there) is how its state is first heard.
      if (finished.ok()) finished = made->Start(cluster_->options.start_timeout);
      if (!finished.ok()) {
        made.reset();
        return fail(finished.WithContext(
            fmt::format("restore into instance '{}' from a backup of instance '{}'", spec.name,
                        restoring->source)));
      }
    }
    return std::unique_ptr<engines::Instance>(std::move(made));
  }

  std::shared_ptr<const Cluster> cluster_;
  const engines::Engine* local_;  // the packaged engine: its settings' rules
};

class KubeEngineSet final : public engines::EngineSet {
 public:
  explicit KubeEngineSet(std::shared_ptr<const Cluster> cluster)
      : cluster_(std::move(cluster)), local_(engines::PackagedEngines(local_runtime_)) {
    postgres_ = std::make_unique<KubeEngine>(cluster_, local_->For("postgresql").value());
    mariadb_ = std::make_unique<KubeEngine>(cluster_, local_->For("mariadb").value());
  }

  Result<const engines::Engine*> For(const std::string& type) const override {
    if (type == "postgresql") return postgres_.get();
    if (type == "mariadb") return mariadb_.get();
    if (type == "mysql") {
      return Status::InvalidArgument(
          "type 'mysql' does not run on the Kubernetes runtime: the image serves MariaDB",
          "use mariadb (MySQL clients and drivers work with it)");
    }
    return local_->For(type);  // its error names the types there are
  }
  // Its engine's, as its Secret's label names it (app.kubernetes.io/name; absent in
  // instances made when pods ran PostgreSQL only).
  Result<std::unique_ptr<engines::Instance>> Open(const std::string& data_root,
                                                  const std::string& name) const override {
    const std::string ns = kube::InstanceNamespace(cluster_->options.settings, name);
    auto secret = cluster_->api->Get({&SecretKind(), ns, name + "-credentials"});
    if (!secret.ok() && secret.status().code() != StatusCode::kNotFound) return secret.status();
    const std::string engine =
        secret.ok()
            ? kube::TextField(kube::ObjectField(kube::ObjectField(*secret, "metadata"), "labels"),
                              kube::kEngineLabel)
            : "";
    if (engine == "mariadb") return mariadb_->Open(data_root, name);
    if (!engine.empty() && engine != "postgresql") {
      return Status::FailedPrecondition(
          fmt::format("instance '{}': its Secret names engine '{}', which pods do not run", name,
                      engine),
          "the Secret's labels were changed by hand; restore app.kubernetes.io/name");
    }
    return postgres_->Open(data_root, name);  // a missing Secret is its NotFound
  }
  Status RemoveRemains(const std::string& /*data_root*/, const std::string& name) const override {
    return DeleteNamespace(*cluster_, name);
  }
  Status CheckInstanceName(const std::string& name) const override {
    RETURN_IF_ERROR(kube::CheckKubernetesInstanceName(name));
    const kube::KubernetesSettings& k = cluster_->options.settings;
    const std::string ns = kube::InstanceNamespace(k, name);
    if (ns == k.daemon_namespace || ns == "default" || ns.starts_with("kube-")) {
      return Status::InvalidArgument(
          fmt::format("instance name '{}' would live in namespace {}, which is not an "
                      "instance's to have",
                      name, ns),
          "choose another name");
    }
    return Status::Ok();
  }
  bool servers_outlive_daemon() const override { return true; }

 private:
  std::shared_ptr<const Cluster> cluster_;
  runtime::LocalRuntime local_runtime_;  // only for the packaged engines' settings rules
  std::unique_ptr<engines::EngineSet> local_;
  std::unique_ptr<KubeEngine> postgres_;
  std::unique_ptr<KubeEngine> mariadb_;
};

}  // namespace

std::string AgentDnsName(const kube::KubernetesSettings& settings, const std::string& name,
                         const std::string& engine) {
  return fmt::format("{}-0.{}-hl.{}.svc", kube::StatefulSetName(name, engine), name,
                     kube::InstanceNamespace(settings, name));
}

Result<std::unique_ptr<engines::EngineSet>> KubernetesEngines(std::shared_ptr<kube::ApiClient> api,
                                                              AgentAuthority authority,
                                                              KubeRuntimeOptions options) {
  auto cluster = std::make_shared<Cluster>();
  kube::ApiOptions quick;
  quick.max_attempts = 1;
  quick.connect_timeout = seconds(3);
  quick.request_timeout = seconds(5);
  ASSIGN_OR_RETURN(cluster->probe_api, kube::ApiClient::Create(api->access(), quick));
  cluster->api = std::move(api);
  cluster->authority = std::move(authority);
  cluster->options = std::move(options);
  cluster->agents = std::make_unique<AgentClient>(cluster->authority.ca_pem());
  // One attempt, and a list's answer within 30 s: the watcher retries with its back-off,
  // and a shutdown does not wait for an API server that does not answer.
  kube::ApiOptions watching = quick;
  watching.request_timeout = seconds(30);
  ASSIGN_OR_RETURN(cluster->watch_api, kube::ApiClient::Create(cluster->api->access(), watching));
  cluster->pods = std::make_unique<PodWatch>(*cluster->watch_api);
  return std::unique_ptr<engines::EngineSet>(std::make_unique<KubeEngineSet>(std::move(cluster)));
}

}  // namespace dbaas::kube_runtime
