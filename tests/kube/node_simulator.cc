#include "kube/node_simulator.h"

#include <arpa/inet.h>
#include <dirent.h>
#include <netinet/in.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include <atomic>
#include <filesystem>
#include <map>
#include <mutex>
#include <optional>
#include <set>
#include <thread>
#include <vector>

#include <fmt/format.h>

#include "base/base64.h"
#include "base/files.h"
#include "base/process.h"
#include "base/sha256.h"
#include "kube/api_client.h"
#include "kube/json_fields.h"
#include "test_hosts.h"

namespace dbaas::testing {
namespace {

using nlohmann::json;
using std::chrono::milliseconds;
using std::chrono::seconds;

constexpr char kOurs[] = "app.kubernetes.io/managed-by=dbaas";
constexpr char kImageBinary[] = "/usr/local/bin/dbaas";

const kube::ResourceKind& Kind(std::string_view api_version, std::string_view kind) {
  return kube::KnownKind(api_version, kind);
}

std::string Key(const json& object) {
  const json meta = kube::ObjectField(object, "metadata");
  return kube::TextField(meta, "namespace") + "/" + kube::TextField(meta, "name");
}

// A TCP connection to address:port within `timeout`: the kubelet's tcpSocket probe.
bool Connects(const std::string& address, int port, milliseconds timeout) {
  int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0) return false;
  timeval tv{static_cast<time_t>(timeout.count() / 1000),
             static_cast<suseconds_t>((timeout.count() % 1000) * 1000)};
  ::setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof tv);
  sockaddr_in sa{};
  sa.sin_family = AF_INET;
  sa.sin_port = htons(static_cast<uint16_t>(port));
  ::inet_pton(AF_INET, address.c_str(), &sa.sin_addr);
  bool ok = ::connect(fd, reinterpret_cast<sockaddr*>(&sa), sizeof sa) == 0;
  ::close(fd);
  return ok;
}

// Sends `signal` to every process in the network namespace `netns` (/run/netns/NAME), again
// to any that appear meanwhile (a fork), until a round finds none it has not signalled (for
// a kill: none left at all). Returns how many it signalled.
int SignalNamespace(const std::string& netns, int signal) {
  struct stat ns {};
  if (::stat(netns.c_str(), &ns) != 0) return 0;
  const std::string want = fmt::format("net:[{}]", ns.st_ino);
  std::set<long> signalled;
  for (int round = 0; round < 50; ++round) {
    bool found = false;
    DIR* proc = ::opendir("/proc");
    if (proc == nullptr) break;
    while (dirent* e = ::readdir(proc)) {
      char* end = nullptr;
      long pid = std::strtol(e->d_name, &end, 10);
      if (pid <= 1 || *end != '\0') continue;
      if (signal != SIGKILL && signalled.count(pid)) continue;
      char link[64] = {0};
      std::string path = fmt::format("/proc/{}/ns/net", pid);
      ssize_t n = ::readlink(path.c_str(), link, sizeof link - 1);
      if (n > 0 && want == std::string(link, static_cast<size_t>(n))) {
        ::kill(static_cast<pid_t>(pid), signal);
        signalled.insert(pid);
        found = true;
      }
    }
    ::closedir(proc);
    if (!found) break;
    if (signal == SIGKILL) std::this_thread::sleep_for(milliseconds(100));
  }
  return static_cast<int>(signalled.size());
}

// Every process of a container killed: they die with it, whatever the first left behind.
void KillNamespace(const std::string& netns) { SignalNamespace(netns, SIGKILL); }

struct Pod {
  std::string key;
  std::string uid;
  int host = -1;
  std::string dir;
  std::optional<Process> process;
  ProcessOptions command;
  int restarts = 0;
  std::chrono::steady_clock::time_point restart_at;  // CrashLoopBackOff's wait
  bool ready = false;
  int probe_port = 0;
  int grace_seconds = 30;
  std::set<std::string> claim_dirs;  // the claims it mounts
};

constexpr char kSnapshotApi[] = "snapshot.storage.k8s.io/v1";
constexpr char kSnapshotDriver[] = "node-simulator.dbaas.test";

}  // namespace

struct NodeSimulator::Impl {
  NodeSimulatorOptions options;
  std::unique_ptr<kube::ApiClient> api;
  std::unique_ptr<TestHosts> hosts;
  UserIds user;
  std::vector<bool> host_used;
  mutable std::mutex mu;
  std::map<std::string, Pod> pods;  // guarded by mu
  std::vector<std::string> log;     // guarded by mu
  std::atomic<bool> stopping{false};
  std::thread loop;
  std::thread content_watch;

  void Note(const std::string& line) {
    std::lock_guard lock(mu);
    log.push_back(line);
  }

  void Run() {
    while (!stopping) {
      if (options.play_statefulset_controller) PlayStatefulSets();
      PlayKubelet();
      PlaySnapshotter();
      std::this_thread::sleep_for(milliseconds(200));
    }
  }

  // The StatefulSet controller's part: claim and pod 0 of each set with replicas.
  void PlayStatefulSets() {
    auto sets = api->List(Kind("apps/v1", "StatefulSet"), "", kOurs);
    if (!sets.ok()) return;
    for (const json& set : sets->items) {
      const json meta = kube::ObjectField(set, "metadata");
      if (meta.contains("deletionTimestamp")) continue;
      const json spec = kube::ObjectField(set, "spec");
      const std::string ns = kube::TextField(meta, "namespace");
      const std::string name = kube::TextField(meta, "name");
      const std::string pod_name = name + "-0";
      const int64_t replicas = spec.contains("replicas") ? kube::IntField(spec, "replicas") : 1;
      const json tmpl = kube::ObjectField(spec, "template");
      auto pod = api->Get({&Kind("v1", "Pod"), ns, pod_name});
      if (replicas < 1) {
        if (pod.ok()) (void)api->Delete({&Kind("v1", "Pod"), ns, pod_name});
        continue;
      }
      json pod_spec = kube::ObjectField(tmpl, "spec");
      json volumes = kube::ArrayField(pod_spec, "volumes");
      for (const json& claim_tmpl : kube::ArrayField(spec, "volumeClaimTemplates")) {
        const json claim_meta = kube::ObjectField(claim_tmpl, "metadata");
        const std::string volume = kube::TextField(claim_meta, "name");
        const std::string claim = volume + "-" + pod_name;
        volumes.push_back({{"name", volume}, {"persistentVolumeClaim", {{"claimName", claim}}}});
        if (api->Get({&Kind("v1", "PersistentVolumeClaim"), ns, claim}).ok()) continue;
        json made = {{"apiVersion", "v1"},
                     {"kind", "PersistentVolumeClaim"},
                     {"metadata",
                      {{"name", claim},
                       {"namespace", ns},
                       {"labels", kube::ObjectField(claim_meta, "labels")}}},
                     {"spec", kube::ObjectField(claim_tmpl, "spec")}};
        if (api->Create(made).ok())
          Note(fmt::format("statefulset {}/{}: claim {}", ns, name, claim));
      }
      const json tmpl_meta = kube::ObjectField(tmpl, "metadata");
      if (pod.ok()) {
        // A changed template (the settings' hash) rolls the pod.
        const json have = kube::ObjectField(kube::ObjectField(*pod, "metadata"), "annotations");
        const json want = kube::ObjectField(tmpl_meta, "annotations");
        if (have != want && !kube::ObjectField(*pod, "metadata").contains("deletionTimestamp")) {
          Note(fmt::format("statefulset {}/{}: template changed, pod {} replaced", ns, name,
                           pod_name));
          (void)api->Delete({&Kind("v1", "Pod"), ns, pod_name});
        }
        continue;
      }
      pod_spec["volumes"] = volumes;
      pod_spec["hostname"] = pod_name;
      pod_spec["subdomain"] = kube::TextField(spec, "serviceName");
      json labels = kube::ObjectField(tmpl_meta, "labels");
      labels["statefulset.kubernetes.io/pod-name"] = pod_name;
      json made = {{"apiVersion", "v1"},
                   {"kind", "Pod"},
                   {"metadata",
                    {{"name", pod_name},
                     {"namespace", ns},
                     {"labels", labels},
                     {"annotations", kube::ObjectField(tmpl_meta, "annotations")}}},
                   {"spec", pod_spec}};
      if (api->Create(made).ok())
        Note(fmt::format("statefulset {}/{}: pod {}", ns, name, pod_name));
    }
  }

  void PlayKubelet() {
    auto list = api->List(Kind("v1", "Pod"), "", kOurs);
    if (!list.ok()) return;
    std::set<std::string> seen;
    for (const json& pod : list->items) {
      const std::string key = Key(pod);
      const json meta = kube::ObjectField(pod, "metadata");
      if (meta.contains("deletionTimestamp")) continue;
      seen.insert(key);
      const std::string uid = kube::TextField(meta, "uid");
      bool known = false;
      {
        std::lock_guard lock(mu);
        auto it = pods.find(key);
        known = it != pods.end() && it->second.uid == uid;
      }
      if (!known) {
        StopPod(key);  // an earlier pod of that name
        StartPod(pod);
        continue;
      }
      KeepRunning(key, pod);
    }
    std::vector<std::string> gone;
    {
      std::lock_guard lock(mu);
      for (const auto& [key, p] : pods) {
        if (!seen.count(key)) gone.push_back(key);
      }
    }
    for (const std::string& key : gone) StopPod(key);
    RemoveGoneClaims();
  }

  // A mounted Secret's or ConfigMap's files as the kubelet writes them.
  Status WriteFiles(const std::string& dir, const json& data, bool base64, int mode) {
    RETURN_IF_ERROR(MakeDirs(dir, 0755));
    for (const auto& [file, value] : data.items()) {
      if (!value.is_string() || file.find('/') != std::string::npos) continue;
      std::string content = value.get<std::string>();
      if (base64) {
        auto decoded = Base64Decode(content);
        if (!decoded) return Status::InvalidArgument("a Secret's value is not base64");
        content = *decoded;
      }
      const std::string path = JoinPath(dir, file);
      RETURN_IF_ERROR(WriteFileAtomic(path, content, static_cast<mode_t>(mode)));
      if (::chown(path.c_str(), user.uid, user.gid) != 0) return ErrnoStatus("chown", path, errno);
    }
    return Status::Ok();
  }

  Status MakeOwnedDir(const std::string& dir) {
    RETURN_IF_ERROR(MakeDirs(dir, 0755));
    if (::chown(dir.c_str(), user.uid, user.gid) != 0) return ErrnoStatus("chown", dir, errno);
    return Status::Ok();
  }

  // The pod's volumes as directories: name -> directory.
  Result<std::map<std::string, std::string>> Mount(const std::string& ns, const json& spec,
                                                   const std::string& pod_dir) {
    std::map<std::string, std::string> mounted;
    for (const json& volume : kube::ArrayField(spec, "volumes")) {
      const std::string name = kube::TextField(volume, "name");
      const std::string dir = JoinPath(JoinPath(pod_dir, "volumes"), name);
      if (volume.contains("persistentVolumeClaim")) {
        const std::string claim =
            kube::TextField(kube::ObjectField(volume, "persistentVolumeClaim"), "claimName");
        ASSIGN_OR_RETURN(json found, api->Get({&Kind("v1", "PersistentVolumeClaim"), ns, claim}));
        const std::string claim_dir = ClaimDir(ns, claim);
        if (!PathExists(claim_dir)) RETURN_IF_ERROR(Provision(found, claim_dir));
        mounted[name] = claim_dir;
      } else if (volume.contains("secret")) {
        const json source = kube::ObjectField(volume, "secret");
        ASSIGN_OR_RETURN(json secret, api->Get({&Kind("v1", "Secret"), ns,
                                                kube::TextField(source, "secretName")}));
        const int mode = source.contains("defaultMode")
                             ? static_cast<int>(kube::IntField(source, "defaultMode"))
                             : 0644;
        RETURN_IF_ERROR(WriteFiles(dir, kube::ObjectField(secret, "data"), true, mode));
        mounted[name] = dir;
      } else if (volume.contains("configMap")) {
        ASSIGN_OR_RETURN(
            json map, api->Get({&Kind("v1", "ConfigMap"), ns,
                                kube::TextField(kube::ObjectField(volume, "configMap"), "name")}));
        RETURN_IF_ERROR(WriteFiles(dir, kube::ObjectField(map, "data"), false, 0444));
        mounted[name] = dir;
      } else if (volume.contains("emptyDir")) {
        RETURN_IF_ERROR(MakeOwnedDir(dir));
        mounted[name] = dir;
      } else {
        return Status::InvalidArgument(fmt::format("volume {}: a kind the simulator lacks", name));
      }
    }
    return mounted;
  }

  void StartPod(const json& pod) {
    const std::string key = Key(pod);
    const json meta = kube::ObjectField(pod, "metadata");
    const json spec = kube::ObjectField(pod, "spec");
    const std::string ns = kube::TextField(meta, "namespace");
    Pod p;
    p.key = key;
    p.uid = kube::TextField(meta, "uid");
    {
      std::lock_guard lock(mu);
      for (size_t i = 0; i < host_used.size(); ++i) {
        if (!host_used[i]) {
          host_used[i] = true;
          p.host = static_cast<int>(i);
          break;
        }
      }
    }
    if (p.host < 0) {
      // As the scheduler says of a pod no node has room for (v1.26's words), once: the pod's
      // status says it from then on. (A real API server makes every pod Pending at its
      // creation: the condition, not the phase, says it was judged.)
      bool judged = false;
      for (const json& c : kube::ArrayField(kube::ObjectField(pod, "status"), "conditions")) {
        judged = judged || kube::TextField(c, "type") == "PodScheduled";
      }
      if (!judged) {
        Note(fmt::format("pod {}: no room (the simulator runs {} pods)", key, host_used.size()));
        PublishUnschedulable(ns, kube::TextField(meta, "name"));
      }
      return;
    }
    p.dir = JoinPath(JoinPath(options.dir, "pods"), fmt::format("{}-{}", ns, p.uid));
    auto fail = [&](const Status& st) {
      Note(fmt::format("pod {}: cannot start: {}", key, st.ToString()));
      (void)RemoveTree(p.dir);  // its Secret's files with it
      std::lock_guard lock(mu);
      host_used[static_cast<size_t>(p.host)] = false;
    };
    const json containers = kube::ArrayField(spec, "containers");
    if (containers.empty() || !containers[0].is_object()) {
      return fail(Status::InvalidArgument("the pod has no container"));
    }
    auto mounted = Mount(ns, spec, p.dir);
    if (!mounted.ok()) return fail(mounted.status());
    for (const auto& [volume, dir] : *mounted) {
      if (dir.starts_with(JoinPath(options.dir, "v") + "/")) p.claim_dirs.insert(dir);
    }
    const json container = containers[0];
    std::vector<std::pair<std::string, std::string>> mounts;  // mountPath -> dir
    for (const json& m : kube::ArrayField(container, "volumeMounts")) {
      auto it = mounted->find(kube::TextField(m, "name"));
      if (it != mounted->end()) mounts.emplace_back(kube::TextField(m, "mountPath"), it->second);
    }
    auto rewrite = [&](const std::string& arg) {
      if (arg == kImageBinary) return options.dbaas_binary;
      for (const auto& [path, dir] : mounts) {
        if (arg == path || arg.starts_with(path + "/")) return dir + arg.substr(path.size());
      }
      return arg;
    };
    for (const json& part :
         {kube::ArrayField(container, "command"), kube::ArrayField(container, "args")}) {
      for (const json& arg : part) {
        if (!arg.is_string()) return fail(Status::InvalidArgument("an argument is not text"));
        p.command.argv.push_back(rewrite(arg.get<std::string>()));
      }
    }
    if (p.command.argv.empty())
      return fail(Status::InvalidArgument("the container has no command"));
    const std::string address = hosts->address(p.host);
    for (const json& env : kube::ArrayField(container, "env")) {
      std::string value = kube::TextField(env, "value");
      const std::string field = kube::TextField(
          kube::ObjectField(kube::ObjectField(env, "valueFrom"), "fieldRef"), "fieldPath");
      if (field == "status.podIP") value = address;
      p.command.env.push_back(kube::TextField(env, "name") + "=" + value);
    }
    p.command.user = user;
    p.command.network_namespace = "/run/netns/" + hosts->name(p.host);
    p.command.output_path = JoinPath(p.dir, "container.log");
    p.command.cwd = "/";
    const json probe =
        kube::ObjectField(kube::ObjectField(container, "readinessProbe"), "tcpSocket");
    const std::string port_name = kube::TextField(probe, "port");
    for (const json& port : kube::ArrayField(container, "ports")) {
      if (kube::TextField(port, "name") == port_name)
        p.probe_port = static_cast<int>(kube::IntField(port, "containerPort"));
    }
    if (spec.contains("terminationGracePeriodSeconds")) {
      p.grace_seconds = static_cast<int>(kube::IntField(spec, "terminationGracePeriodSeconds"));
    }
    auto started = Process::Start(p.command);
    if (!started.ok()) return fail(started.status());
    p.process.emplace(std::move(started).value());
    Note(fmt::format("pod {}: started on {} ({}), pid {}", key, hosts->name(p.host), address,
                     p.process->pid()));
    {
      std::lock_guard lock(mu);
      pods[key] = std::move(p);
    }
    PublishStatus(key);
  }

  // Restarts an exited container (with back-off); the pod is Ready while its probe
  // connects.
  void KeepRunning(const std::string& key, const json& /*pod*/) {
    bool changed = false;
    std::string address;
    int probe_port = 0;
    bool was_ready = false;
    {
      std::lock_guard lock(mu);
      Pod& p = pods.at(key);
      const auto now = std::chrono::steady_clock::now();
      if (p.process) {
        if (auto exited = p.process->Wait(milliseconds(0)); exited.ok()) {
          // What it said last, for the test's message; then the kubelet's back-off (10 s
          // doubling there, 1 s here) before the next start.
          std::string said = ReadFileToString(p.command.output_path).value_or("");
          if (said.size() > 2000) said = said.substr(said.size() - 2000);
          log.push_back(fmt::format("pod {}: container exited with {}:\n{}", key, *exited, said));
          p.process.reset();
          KillNamespace("/run/netns/" + hosts->name(p.host));
          p.restart_at = now + std::min(seconds(1) * (1 << std::min(p.restarts, 4)), seconds(16));
          p.ready = false;
          changed = true;
        }
      } else if (now >= p.restart_at) {
        auto again = Process::Start(p.command);
        ++p.restarts;
        changed = true;
        log.push_back(fmt::format("pod {}: restart {}", key, p.restarts));
        if (again.ok()) p.process.emplace(std::move(again).value());
      }
      if (p.process && p.probe_port > 0) {
        address = hosts->address(p.host);
        probe_port = p.probe_port;
        was_ready = p.ready;
      }
    }
    if (probe_port > 0) {
      const bool ready = Connects(address, probe_port, milliseconds(200));
      if (ready != was_ready) {
        std::lock_guard lock(mu);
        auto it = pods.find(key);
        if (it != pods.end()) {
          it->second.ready = ready;
          log.push_back(fmt::format("pod {}: {}", key, ready ? "ready" : "not ready"));
          changed = true;
        }
      }
    }
    if (changed) PublishStatus(key);
  }

  void PublishStatus(const std::string& key) {
    json status;
    std::string ns, name;
    {
      std::lock_guard lock(mu);
      const Pod& p = pods.at(key);
      const std::string address = hosts->address(p.host);
      const std::string ready = p.ready ? "True" : "False";
      status = {{"phase", "Running"},
                {"podIP", address},
                {"podIPs", {{{"ip", address}}}},
                {"hostIP", address},
                {"conditions",
                 {{{"type", "Ready"}, {"status", ready}},
                  {{"type", "ContainersReady"}, {"status", ready}},
                  {{"type", "PodScheduled"}, {"status", "True"}}}},
                {"containerStatuses",
                 {{{"name", "server"},
                   {"ready", p.ready},
                   {"started", true},
                   {"restartCount", p.restarts},
                   {"state", {{"running", json::object()}}}}}}};
      ns = key.substr(0, key.find('/'));
      name = key.substr(key.find('/') + 1);
    }
    for (int attempt = 0; attempt < 5; ++attempt) {
      auto pod = api->Get({&Kind("v1", "Pod"), ns, name});
      if (!pod.ok()) return;
      (*pod)["status"] = status;
      if (api->ReplaceStatus(*pod).ok()) return;
    }
  }

  void PublishUnschedulable(const std::string& ns, const std::string& name) {
    const json status = {
        {"phase", "Pending"},
        {"conditions",
         {{{"type", "PodScheduled"},
           {"status", "False"},
           {"reason", "Unschedulable"},
           {"message",
            "0/1 nodes are available: 1 Too many pods. preemption: 0/1 nodes are available: 1 "
            "No preemption victims found for incoming pod."}}}}};
    for (int attempt = 0; attempt < 5; ++attempt) {
      auto pod = api->Get({&Kind("v1", "Pod"), ns, name});
      if (!pod.ok()) return;
      (*pod)["status"] = status;
      if (api->ReplaceStatus(*pod).ok()) return;
    }
  }

  void StopPod(const std::string& key) {
    Pod p;
    {
      std::lock_guard lock(mu);
      auto it = pods.find(key);
      if (it == pods.end()) return;
      p = std::move(it->second);
      pods.erase(it);
    }
    if (p.process) {
      (void)p.process->Signal(SIGTERM);
      if (!p.process->Wait(seconds(p.grace_seconds)).ok()) (void)p.process->Signal(SIGKILL);
      (void)p.process->Wait(seconds(10));
    }
    KillNamespace("/run/netns/" + hosts->name(p.host));
    (void)RemoveTree(p.dir);
    Note(fmt::format("pod {}: stopped", key));
    std::lock_guard lock(mu);
    host_used[static_cast<size_t>(p.host)] = false;
  }

  void RemoveGoneClaims() {
    const std::string root = JoinPath(options.dir, "v");
    if (!PathExists(root)) return;
    auto claims = api->List(Kind("v1", "PersistentVolumeClaim"), "", "");
    if (!claims.ok()) return;
    std::set<std::string> kept;
    for (const json& claim : claims->items) {
      const json meta = kube::ObjectField(claim, "metadata");
      kept.insert(ClaimDir(kube::TextField(meta, "namespace"), kube::TextField(meta, "name")));
    }
    std::error_code ec;
    for (const auto& entry : std::filesystem::directory_iterator(root, ec)) {
      const std::string dir = entry.path().string();
      if (kept.count(dir)) continue;
      (void)RemoveTree(dir);
      Note(fmt::format("claim directory {}: its claim is gone, removed", dir));
    }
  }

  // The provisioner's part: a claim's volume, empty, or (dataSource a VolumeSnapshot of the
  // claim's namespace, ready) a copy of the snapshot, as a CSI driver restores one.
  Status Provision(const json& claim, const std::string& claim_dir) {
    const json source = kube::ObjectField(kube::ObjectField(claim, "spec"), "dataSource");
    if (source.empty()) return MakeOwnedDir(claim_dir);
    const std::string ns = kube::TextField(kube::ObjectField(claim, "metadata"), "namespace");
    if (kube::TextField(source, "kind") != "VolumeSnapshot") {
      return Status::InvalidArgument("a dataSource the simulator lacks");
    }
    ASSIGN_OR_RETURN(json snapshot, api->Get({&Kind(kSnapshotApi, "VolumeSnapshot"), ns,
                                              kube::TextField(source, "name")}));
    const json status = kube::ObjectField(snapshot, "status");
    if (!kube::BoolField(status, "readyToUse")) {
      return Status::Busy("the claim's VolumeSnapshot is not ready to use yet");
    }
    ASSIGN_OR_RETURN(json content,
                     api->Get({&Kind(kSnapshotApi, "VolumeSnapshotContent"), "",
                               kube::TextField(status, "boundVolumeSnapshotContentName")}));
    const std::string handle =
        kube::TextField(kube::ObjectField(content, "status"), "snapshotHandle");
    const std::string copy = SnapshotDir(handle);
    if (handle.empty() || !PathExists(copy)) {
      return Status::NotFound(fmt::format("snapshot handle '{}' is not on this node", handle));
    }
    RETURN_IF_ERROR(CopyTree(copy, claim_dir));
    Note(fmt::format("claim {}/{}: restored from snapshot {}", ns,
                     kube::TextField(kube::ObjectField(claim, "metadata"), "name"), handle));
    return Status::Ok();
  }

  // cp -a: modes, owners and times kept, as a block-level snapshot keeps them.
  static Status CopyTree(const std::string& from, const std::string& to) {
    ProcessOptions cp;
    cp.argv = {"cp", "-a", "--reflink=auto", from, to};
    auto ran = CheckExit(RunProcess(cp, std::chrono::minutes(10)), "cp");
    if (!ran.ok()) {
      (void)RemoveTree(to);
      return ran.status();
    }
    return Status::Ok();
  }

  std::string SnapshotDir(const std::string& handle) const {
    return JoinPath(JoinPath(options.dir, "snapshots"), handle);
  }

  // The CSI driver's deletion of a storage snapshot: a content deleted while its policy was
  // Delete takes its copy with it, whatever else names the handle (an import); a Retain
  // one leaves it. Watched, so the policy is the one the content had when it went (the
  // watch's DELETED event carries its last state), as the driver's sidecar sees it.
  void WatchContents() {
    const kube::ResourceKind& kind = Kind(kSnapshotApi, "VolumeSnapshotContent");
    std::string version;
    while (!stopping) {
      if (version.empty()) {
        auto listed = api->List(kind, "", "");
        if (!listed.ok()) {
          std::this_thread::sleep_for(milliseconds(200));
          continue;
        }
        version = listed->resource_version;
      }
      auto ended = api->Watch(
          kind, "", "", version, seconds(30),
          [&](const kube::WatchEvent& event) {
            if (event.type != kube::WatchEvent::Type::kDeleted) return true;
            const json spec = kube::ObjectField(event.object, "spec");
            std::string handle =
                kube::TextField(kube::ObjectField(event.object, "status"), "snapshotHandle");
            if (handle.empty()) {
              handle = kube::TextField(kube::ObjectField(spec, "source"), "snapshotHandle");
            }
            if (kube::TextField(spec, "deletionPolicy") == "Delete" && !handle.empty() &&
                kube::TextField(spec, "driver") == kSnapshotDriver) {
              (void)RemoveTree(SnapshotDir(handle));
              Note(fmt::format("snapshot content {} deleted: its storage snapshot {} with it",
                               kube::TextField(kube::ObjectField(event.object, "metadata"), "name"),
                               handle));
            }
            return true;
          },
          [&] { return stopping.load(); });
      if (!ended.ok() || ended->reason == kube::WatchEnd::Reason::kExpired) {
        version.clear();
        std::this_thread::sleep_for(milliseconds(200));
      } else {
        version = ended->resource_version;
      }
    }
  }

  // The CSI snapshotter's part (the snapshot controller and a driver whose snapshots are
  // atomic): for each VolumeSnapshot of dbaas's of a claim here, the claim's directory is
  // copied while every process of the pods mounting it is stopped (SIGSTOP, SIGCONT after):
  // what the copy holds is the volume at one instant, as a storage snapshot's is, never a
  // copy that runs beside the writes. Then a bound VolumeSnapshotContent and the status
  // (readyToUse, its content's name, creation time, restore size) as the controller sets
  // them. A VolumeSnapshot gone (deleted, or with its namespace) takes its content and its
  // copy (deletionPolicy Delete; a Retain content stays).
  void PlaySnapshotter() {
    auto list = api->List(Kind(kSnapshotApi, "VolumeSnapshot"), "", kOurs);
    if (!list.ok()) return;
    std::set<std::string> bound;
    for (const json& snapshot : list->items) {
      const json meta = kube::ObjectField(snapshot, "metadata");
      const json status = kube::ObjectField(snapshot, "status");
      bound.insert(kube::TextField(status, "boundVolumeSnapshotContentName"));
      if (meta.contains("deletionTimestamp") || kube::BoolField(status, "readyToUse") ||
          status.contains("error")) {
        continue;
      }
      const std::string claim =
          kube::TextField(kube::ObjectField(kube::ObjectField(snapshot, "spec"), "source"),
                          "persistentVolumeClaimName");
      if (claim.empty()) {
        BindPreProvisioned(snapshot);
        continue;
      }
      const std::string content = "snapcontent-" + kube::TextField(meta, "uid");
      bound.insert(content);
      Cut(snapshot, ClaimDir(kube::TextField(meta, "namespace"), claim), content);
    }
    auto contents = api->List(Kind(kSnapshotApi, "VolumeSnapshotContent"), "", "");
    if (!contents.ok()) return;
    for (const json& content : contents->items) {
      const std::string name = kube::TextField(kube::ObjectField(content, "metadata"), "name");
      const json spec = kube::ObjectField(content, "spec");
      if (bound.count(name) || kube::TextField(spec, "driver") != kSnapshotDriver ||
          kube::TextField(spec, "deletionPolicy") != "Delete") {
        continue;
      }
      // Its storage snapshot goes as the content does (WatchContents).
      (void)api->Delete({&Kind(kSnapshotApi, "VolumeSnapshotContent"), "", name});
      Note(fmt::format("snapshot content {}: its VolumeSnapshot is gone, deleted", name));
    }
  }

  // A VolumeSnapshot of an existing storage snapshot (source.volumeSnapshotContentName):
  // bound to that content once the content names it back, as the snapshot controller binds
  // them; the content's status takes its handle from its spec.
  void BindPreProvisioned(const json& snapshot) {
    const json meta = kube::ObjectField(snapshot, "metadata");
    const std::string content_name =
        kube::TextField(kube::ObjectField(kube::ObjectField(snapshot, "spec"), "source"),
                        "volumeSnapshotContentName");
    auto content = api->Get({&Kind(kSnapshotApi, "VolumeSnapshotContent"), "", content_name});
    if (!content.ok()) return;
    const json spec = kube::ObjectField(*content, "spec");
    const json ref = kube::ObjectField(spec, "volumeSnapshotRef");
    const std::string handle = kube::TextField(kube::ObjectField(spec, "source"), "snapshotHandle");
    if (kube::TextField(ref, "namespace") != kube::TextField(meta, "namespace") ||
        kube::TextField(ref, "name") != kube::TextField(meta, "name") || handle.empty()) {
      return;
    }
    (*content)["status"] = {{"snapshotHandle", handle}, {"readyToUse", true}};
    if (!api->ReplaceStatus(*content).ok()) return;
    auto current = api->Get({&Kind(kSnapshotApi, "VolumeSnapshot"),
                             kube::TextField(meta, "namespace"), kube::TextField(meta, "name")});
    if (!current.ok()) return;
    (*current)["status"] = {{"boundVolumeSnapshotContentName", content_name},
                            {"readyToUse", PathExists(SnapshotDir(handle))},
                            {"restoreSize", "0"}};
    if (api->ReplaceStatus(*current).ok()) {
      Note(fmt::format("volume snapshot {}: bound to pre-provisioned content {}", Key(snapshot),
                       content_name));
    }
  }

  void Cut(const json& snapshot, const std::string& claim_dir, const std::string& content) {
    const json meta = kube::ObjectField(snapshot, "metadata");
    const std::string key = Key(snapshot);
    const std::string handle = kube::TextField(meta, "uid");
    json status;
    if (!PathExists(claim_dir)) {
      status = {{"readyToUse", false},
                {"error", {{"message", "the claim has no volume on this node"}}}};
    } else {
      std::vector<std::string> frozen;
      {
        std::lock_guard lock(mu);
        for (const auto& [pod_key, pod] : pods) {
          if (pod.claim_dirs.count(claim_dir))
            frozen.push_back("/run/netns/" + hosts->name(pod.host));
        }
      }
      int stopped = 0;
      for (const std::string& netns : frozen) stopped += SignalNamespace(netns, SIGSTOP);
      const auto started = std::chrono::steady_clock::now();
      (void)RemoveTree(SnapshotDir(handle));
      (void)MakeDirs(JoinPath(options.dir, "snapshots"), 0700);
      Status copied = CopyTree(claim_dir, SnapshotDir(handle));
      for (const std::string& netns : frozen) SignalNamespace(netns, SIGCONT);
      const double ms =
          std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - started)
              .count();
      if (!copied.ok()) {
        status = {{"readyToUse", false}, {"error", {{"message", copied.message()}}}};
      } else {
        json made = {{"apiVersion", kSnapshotApi},
                     {"kind", "VolumeSnapshotContent"},
                     {"metadata", {{"name", content}}},
                     {"spec",
                      {{"deletionPolicy", "Delete"},
                       {"driver", kSnapshotDriver},
                       {"source", {{"volumeHandle", claim_dir}}},
                       {"volumeSnapshotRef",
                        {{"kind", "VolumeSnapshot"},
                         {"namespace", kube::TextField(meta, "namespace")},
                         {"name", kube::TextField(meta, "name")},
                         {"uid", handle}}}}}};
        auto created = api->Create(made);
        if (created.ok()) {
          (*created)["status"] = {{"snapshotHandle", handle}, {"readyToUse", true}};
          (void)api->ReplaceStatus(*created);
        }
        status = {{"boundVolumeSnapshotContentName", content},
                  {"creationTime", kube::TextField(meta, "creationTimestamp")},
                  {"readyToUse", true},
                  {"restoreSize", "0"}};
        Note(fmt::format("volume snapshot {}: cut in {:.0f} ms, {} processes paused", key, ms,
                         stopped));
      }
    }
    for (int attempt = 0; attempt < 5; ++attempt) {
      auto current = api->Get({&Kind(kSnapshotApi, "VolumeSnapshot"),
                               kube::TextField(meta, "namespace"), kube::TextField(meta, "name")});
      if (!current.ok()) return;
      (*current)["status"] = status;
      if (api->ReplaceStatus(*current).ok()) return;
    }
  }

  // Short (a unix socket's path in it must stay under 108 bytes, as under /var/lib/dbaas in
  // a pod): named by a hash of the claim's namespace and name.
  std::string ClaimDir(const std::string& ns, const std::string& claim) const {
    return JoinPath(JoinPath(options.dir, "v"), Sha256(ns + "/" + claim).Hex().substr(0, 12));
  }
};

Result<std::unique_ptr<NodeSimulator>> NodeSimulator::Start(NodeSimulatorOptions options) {
  auto impl = std::make_unique<Impl>();
  impl->options = std::move(options);
  ASSIGN_OR_RETURN(impl->api, kube::ApiClient::Create(impl->options.access));
  ASSIGN_OR_RETURN(impl->hosts, TestHosts::Make(impl->options.pods));
  ASSIGN_OR_RETURN(impl->user, LookupUser("nobody"));
  impl->host_used.assign(static_cast<size_t>(impl->options.pods), false);
  RETURN_IF_ERROR(MakeDirs(impl->options.dir, 0711));
  Impl* raw = impl.get();
  impl->loop = std::thread([raw] { raw->Run(); });
  impl->content_watch = std::thread([raw] { raw->WatchContents(); });
  return std::unique_ptr<NodeSimulator>(new NodeSimulator(std::move(impl)));
}

NodeSimulator::NodeSimulator(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}

NodeSimulator::~NodeSimulator() {
  impl_->stopping = true;
  if (impl_->loop.joinable()) impl_->loop.join();
  if (impl_->content_watch.joinable()) impl_->content_watch.join();
  std::vector<std::string> keys;
  {
    std::lock_guard lock(impl_->mu);
    for (const auto& [key, pod] : impl_->pods) keys.push_back(key);
  }
  for (const std::string& key : keys) impl_->StopPod(key);
}

int NodeSimulator::PodPid(const std::string& ns, const std::string& name) const {
  std::lock_guard lock(impl_->mu);
  auto it = impl_->pods.find(ns + "/" + name);
  if (it == impl_->pods.end() || !it->second.process) return -1;
  return it->second.process->pid();
}

std::string NodeSimulator::ClaimDir(const std::string& ns, const std::string& name) const {
  return impl_->ClaimDir(ns, name);
}

std::string NodeSimulator::Log() const {
  std::lock_guard lock(impl_->mu);
  std::string out;
  for (const std::string& line : impl_->log) out += line + "\n";
  return out;
}

}  // namespace dbaas::testing
