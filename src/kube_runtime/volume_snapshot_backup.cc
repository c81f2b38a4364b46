#include "kube_runtime/volume_snapshot_backup.h"

#include <sys/stat.h>

#include <functional>
#include <thread>

#include <fmt/format.h>
#include <spdlog/spdlog.h>

#include "base/files.h"
#include "base/hex.h"
#include "base/kill_points.h"
#include "base/log.h"
#include "base/scope_exit.h"
#include "kube/json_fields.h"
#include "storage/snapshot_create.h"

namespace dbaas::kube_runtime {
namespace {

using nlohmann::json;
using std::chrono::milliseconds;
using std::chrono::seconds;
using std::chrono::steady_clock;

// The agent's lease on backup mode, renewed while the snapshot is cut: a daemon that dies
// holds the database in backup mode (and its WAL) for at most this long.
constexpr seconds kLease{30};
constexpr seconds kRenewEvery{10};
// A log file, a WAL segment: 1 GiB is the most initdb's --wal-segsize allows.
constexpr size_t kMaxLogFileBytes = size_t{1} << 30;
// The files a backup's end names for the copy's data directory.
constexpr const char* kCopyFiles[] = {"backup_label", "tablespace_map"};

const kube::ResourceKind& SnapshotKind() {
  return kube::KnownKind("snapshot.storage.k8s.io/v1", "VolumeSnapshot");
}

const kube::ResourceKind& ContentKind() {
  return kube::KnownKind("snapshot.storage.k8s.io/v1", "VolumeSnapshotContent");
}

Result<kube::ObjectRef> SnapshotRef(const std::string& volume_snapshot) {
  const size_t slash = volume_snapshot.find('/');
  if (slash == std::string::npos) {
    return Status::InvalidArgument(
        fmt::format("'{}' does not name a VolumeSnapshot as <namespace>/<name>", volume_snapshot));
  }
  return kube::ObjectRef{&SnapshotKind(), volume_snapshot.substr(0, slash),
                         volume_snapshot.substr(slash + 1)};
}

// The last few events of the VolumeSnapshot, for a snapshot that did not become ready.
std::string SnapshotEvents(kube::ApiClient& api, const std::string& ns, const std::string& name) {
  auto events = api.List(kube::KnownKind("v1", "Event"), ns, "");
  if (!events.ok()) return "its events cannot be read: " + events.status().message();
  std::vector<std::string> lines;
  for (const json& event : events->items) {
    const json about = kube::ObjectField(event, "involvedObject");
    if (kube::TextField(about, "kind") != "VolumeSnapshot" ||
        kube::TextField(about, "name") != name) {
      continue;
    }
    lines.push_back(fmt::format("{} {}: {}", kube::TextField(event, "type"),
                                kube::TextField(event, "reason"),
                                kube::TextField(event, "message")));
  }
  if (lines.empty()) return "it has no events";
  if (lines.size() > 5) lines.erase(lines.begin(), lines.end() - 5);
  std::string out = "its events: ";
  for (size_t i = 0; i < lines.size(); ++i) out += (i ? "; " : "") + lines[i];
  return out;
}

// Waits until the VolumeSnapshot is readyToUse, at most `timeout`, calling `renew` every
// kRenewEvery meanwhile (the agent's lease).
Status WaitUntilReady(kube::ApiClient& api, const std::string& ns, const std::string& name,
                      milliseconds timeout, const std::function<Status()>& renew) {
  const auto deadline = steady_clock::now() + timeout;
  auto renew_at = steady_clock::now() + kRenewEvery;
  std::string last = "no status yet";
  for (;;) {
    if (steady_clock::now() >= renew_at) {
      RETURN_IF_ERROR(renew());
      renew_at = steady_clock::now() + kRenewEvery;
    }
    auto found = api.Get({&SnapshotKind(), ns, name});
    if (!found.ok()) return found.status();
    const json status = kube::ObjectField(*found, "status");
    if (kube::BoolField(status, "readyToUse")) return Status::Ok();
    // An error in the status may be retried by the snapshot controller: kept waiting.
    const std::string error = kube::TextField(kube::ObjectField(status, "error"), "message");
    if (!error.empty()) last = "error: " + error;
    if (steady_clock::now() >= deadline) break;
    std::this_thread::sleep_for(milliseconds(200));
  }
  return Status::IoError(
      fmt::format("VolumeSnapshot {}/{} was not readyToUse within {} s ({}); {}", ns, name,
                  std::chrono::duration_cast<seconds>(timeout).count(), last,
                  SnapshotEvents(api, ns, name)),
      fmt::format("see kubectl -n {} describe volumesnapshot {}, the CSI driver's snapshot "
                  "support and kubernetes.volumeSnapshotClass",
                  ns, name));
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

Result<engines::EngineBackup> BackupByVolumeSnapshot(const PodBackupTarget& target,
                                                     storage::Repository& repo,
                                                     const std::string& name,
                                                     storage::Progress* progress) {
  const auto started = steady_clock::now();
  const std::string ns = kube::InstanceNamespace(target.settings, target.instance);
  const std::string what =
      fmt::format("volume snapshot backup {} of instance '{}'", name, target.instance);
  const milliseconds call_timeout = seconds(60);  // pg_backup_start's checkpoint included

  // 1. Backup mode, on a lease renewed while we wait (the agent ends it if we die).
  ASSIGN_OR_RETURN(
      json begun,
      target.agents->Call(target.agent, "POST", "/v1/backups", call_timeout,
                          {{"label", fmt::format("dbaas backup {} of {}", name, target.instance)},
                           {"leaseSeconds", kLease.count()}}));
  const std::string id = kube::TextField(begun, "id");
  if (id.empty() || id.find_first_not_of("0123456789abcdef") != std::string::npos) {
    return Status::IoError(fmt::format("{}: the agent's begin has no id", what));
  }
  bool snapshot_made = false;
  bool done = false;
  ScopeExit undo([&] {
    if (done) return;
    WarnIfError(
        target.agents->Call(target.agent, "DELETE", "/v1/backups/" + id, call_timeout).status(),
        "abandon the backup at the agent");
    if (snapshot_made) {
      WarnIfError(DeleteVolumeSnapshot(*target.api, ns + "/" + name),
                  "delete the VolumeSnapshot of a backup not made");
    }
  });

  // 2. The snapshot. Created, never applied: one of that name already there was cut at
  // another moment and is no part of this backup.
  {
    auto created = target.api->Create(
        kube::VolumeSnapshotObject(target.settings, target.instance, target.engine, name));
    if (!created.ok()) return created.status().WithContext(what);
    snapshot_made = true;
  }
  auto renew = [&] {
    return target.agents
        ->Call(target.agent, "POST", "/v1/backups/" + id + "/renew", call_timeout,
               {{"leaseSeconds", kLease.count()}})
        .status();
  };
  RETURN_IF_ERROR(WaitUntilReady(*target.api, ns, name, target.ready_timeout, renew));
  spdlog::info("instance {}: VolumeSnapshot {}/{} ready", target.instance, ns, name);
  // Kill point for tests: dbaasd killed with the snapshot cut and backup mode held.
  ReachKillPoint(KillPoint::kBackupMode);

  // 3. The end of backup mode.
  ASSIGN_OR_RETURN(json ended, target.agents->Call(target.agent, "POST",
                                                   "/v1/backups/" + id + "/end", call_timeout));
  engines::BackupFacts facts = FactsOf(ended);
  if (facts.start_lsn.empty() || facts.stop_lsn.empty()) {
    return Status::IoError(fmt::format("{}: the agent's end names no span in the log", what));
  }

  // 4. The files and the log, staged in the repository's tmp/ (removed by gc after a crash).
  const std::string staging = JoinPath(repo.TmpDir(), "volume-backup-" + RandomHex(8));
  RETURN_IF_ERROR(MakeDirs(JoinPath(staging, "pg_wal"), 0700));
  ScopeExit unstage([&] { WarnIfError(RemoveTree(staging), "remove a backup's staging"); });
  const json files = kube::ObjectField(ended, "files");
  for (const char* file : kCopyFiles) {
    const std::string content = kube::TextField(files, file);
    if (!content.empty()) RETURN_IF_ERROR(WriteFileAtomic(JoinPath(staging, file), content, 0600));
  }
  if (kube::TextField(files, "backup_label").empty()) {
    return Status::IoError(fmt::format("{}: the agent's end has no backup_label", what));
  }
  const json log_files = kube::ArrayField(ended, "logFiles");
  if (log_files.empty()) {
    return Status::IoError(fmt::format("{}: the agent's end names no log files", what));
  }
  for (const json& entry : log_files) {
    const std::string path = entry.is_string() ? entry.get<std::string>() : "";
    // The agent's answers are input from the tenant's pod.
    if (!engines::IsVolumeLogPath(path)) {
      return Status::IoError(
          fmt::format("{}: the agent names a log file '{}' outside pg_wal", what, path));
    }
    RETURN_IF_ERROR(renew());  // a segment may take a while
    RETURN_IF_ERROR(target.agents->Download(
        target.agent, "/v1/backups/" + id + "/file?path=" + path, JoinPath(staging, path),
        kMaxLogFileBytes, std::chrono::minutes(5)));
  }

  // 5. Into the repository, with the facts.
  facts.snapshot_kind = "volume";
  facts.volume_snapshot = ns + "/" + name;
  storage::CreateOptions o;
  o.source = staging;
  o.name = name;
  o.mode = storage::SnapshotMode::kRepository;
  o.progress = progress;
  o.before_commit =
      [&](const std::vector<storage::TreeEntry>&) -> Result<storage::BeforeCommitResult> {
    std::map<std::string, std::string> annotations = engines::ToAnnotations(facts);
    annotations["instance"] = target.instance;
    return storage::BeforeCommitResult{{}, std::move(annotations)};
  };
  ASSIGN_OR_RETURN(storage::Manifest snapshot, storage::CreateSnapshot(repo, o));
  done = true;
  WarnIfError(
      target.agents->Call(target.agent, "DELETE", "/v1/backups/" + id, call_timeout).status(),
      "release the backup's log at the agent (its lease releases it)");

  engines::EngineBackup out;
  out.snapshot = std::move(snapshot);
  out.facts = std::move(facts);
  out.seconds = std::chrono::duration<double>(steady_clock::now() - started).count();
  return out;
}

Status DeleteVolumeSnapshot(kube::ApiClient& api, const std::string& volume_snapshot) {
  ASSIGN_OR_RETURN(kube::ObjectRef ref, SnapshotRef(volume_snapshot));
  Status deleted = api.Delete(ref);
  if (deleted.code() == StatusCode::kNotFound) return Status::Ok();
  return deleted;
}

Status DeleteCutOffVolumeSnapshot(kube::ApiClient& api, const kube::KubernetesSettings& settings,
                                  const std::string& instance, const std::string& backup) {
  const kube::ObjectRef ref{&SnapshotKind(), kube::InstanceNamespace(settings, instance), backup};
  auto found = api.Get(ref);
  if (!found.ok()) {
    return found.status().code() == StatusCode::kNotFound ? Status::Ok() : found.status();
  }
  const json labels = kube::ObjectField(kube::ObjectField(*found, "metadata"), "labels");
  if (kube::TextField(labels, kube::kBackupSourceLabel) != instance) return Status::Ok();
  Status deleted = api.Delete(ref);
  return deleted.code() == StatusCode::kNotFound ? Status::Ok() : deleted;
}

Result<SnapshotSource> FindSnapshotSource(kube::ApiClient& api,
                                          const std::string& volume_snapshot) {
  ASSIGN_OR_RETURN(kube::ObjectRef ref, SnapshotRef(volume_snapshot));
  auto found = api.Get(ref);
  if (!found.ok()) {
    if (found.status().code() != StatusCode::kNotFound) return found.status();
    return Status::NotFound(
        fmt::format("the backup's VolumeSnapshot {} is gone", volume_snapshot),
        "a volume snapshot backup goes with its instance's namespace; restore from a backup "
        "of an instance that still exists");
  }
  const json status = kube::ObjectField(*found, "status");
  const std::string content_name = kube::TextField(status, "boundVolumeSnapshotContentName");
  if (!kube::BoolField(status, "readyToUse") || content_name.empty()) {
    return Status::FailedPrecondition(
        fmt::format("the backup's VolumeSnapshot {} is not ready to use", volume_snapshot),
        fmt::format("see kubectl -n {} describe volumesnapshot {}", ref.namespace_name, ref.name));
  }
  ASSIGN_OR_RETURN(json content, api.Get({&ContentKind(), "", content_name}));
  SnapshotSource source;
  source.handle = kube::TextField(kube::ObjectField(content, "status"), "snapshotHandle");
  source.driver = kube::TextField(kube::ObjectField(content, "spec"), "driver");
  if (source.handle.empty() || source.driver.empty()) {
    return Status::FailedPrecondition(fmt::format(
        "VolumeSnapshotContent {} of backup VolumeSnapshot {} names no snapshot handle or driver",
        content_name, volume_snapshot));
  }
  return source;
}

Status DeleteImportedContents(kube::ApiClient& api, const std::string& name) {
  auto contents = api.List(
      ContentKind(), "",
      fmt::format("{}=dbaas,{}={}", kube::kManagedByLabel, kube::kInstanceLabel, name));
  if (!contents.ok()) {
    // A cluster without the VolumeSnapshot API has none to delete.
    return contents.status().code() == StatusCode::kNotFound ? Status::Ok() : contents.status();
  }
  for (const json& content : contents->items) {
    const std::string content_name =
        kube::TextField(kube::ObjectField(content, "metadata"), "name");
    Status deleted = api.Delete({&ContentKind(), "", content_name});
    if (!deleted.ok() && deleted.code() != StatusCode::kNotFound) return deleted;
  }
  return Status::Ok();
}

}  // namespace dbaas::kube_runtime
