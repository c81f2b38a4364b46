#include "kube_runtime/volume_snapshot_backup.h"

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
#include "kube_runtime/pod_backup_session.h"
#include "storage/snapshot_create.h"

namespace dbaas::kube_runtime {
namespace {

using nlohmann::json;
using std::chrono::milliseconds;
using std::chrono::seconds;
using std::chrono::steady_clock;

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

// The content's deletionPolicy set (the snapshot controller reads it when its VolumeSnapshot
// or itself is deleted).
Status SetDeletionPolicy(kube::ApiClient& api, const std::string& content,
                         const std::string& policy) {
  return api
      .Update({&ContentKind(), "", content},
              [&](json& object) {
                if (!object.contains("spec") || !object["spec"].is_object()) {
                  return Status::FailedPrecondition(
                      fmt::format("VolumeSnapshotContent {} has no spec", content));
                }
                object["spec"]["deletionPolicy"] = policy;
                return Status::Ok();
              })
      .status();
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

// Waits until the VolumeSnapshot is cut (`ready` false: status.creationTime set, the
// moment the storage took it) or readyToUse (a driver may upload it for long after the
// cut), at most `timeout`, calling `renew` (when given) every kRenewEvery meanwhile.
Status WaitForSnapshot(kube::ApiClient& api, const std::string& ns, const std::string& name,
                       milliseconds timeout, bool ready, const std::function<Status()>& renew) {
  const auto deadline = steady_clock::now() + timeout;
  auto renew_at = steady_clock::now() + kRenewEvery;
  std::string last = "no status yet";
  for (;;) {
    if (renew && steady_clock::now() >= renew_at) {
      RETURN_IF_ERROR(renew());
      renew_at = steady_clock::now() + kRenewEvery;
    }
    auto found = api.Get({&SnapshotKind(), ns, name});
    if (!found.ok()) return found.status();
    const json status = kube::ObjectField(*found, "status");
    if (kube::BoolField(status, "readyToUse")) return Status::Ok();
    if (!ready && !kube::TextField(status, "creationTime").empty()) return Status::Ok();
    // An error in the status may be retried by the snapshot controller: kept waiting.
    const std::string error = kube::TextField(kube::ObjectField(status, "error"), "message");
    if (!error.empty()) last = "error: " + error;
    if (steady_clock::now() >= deadline) break;
    // The cut is waited for with the database held (MariaDB's commits blocked): asked
    // after more often than readiness, which nothing waits on.
    std::this_thread::sleep_for(milliseconds(ready ? 200 : 50));
  }
  return Status::IoError(
      fmt::format("VolumeSnapshot {}/{} was not {} within {} s ({}); {}", ns, name,
                  ready ? "readyToUse" : "cut (no creationTime)",
                  std::chrono::duration_cast<seconds>(timeout).count(), last,
                  SnapshotEvents(api, ns, name)),
      fmt::format("see kubectl -n {} describe volumesnapshot {}, the CSI driver's snapshot "
                  "support and kubernetes.volumeSnapshotClass",
                  ns, name));
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

  // 1. Backup mode, on a lease renewed while we wait (the agent ends it if we die).
  ASSIGN_OR_RETURN(
      std::unique_ptr<PodBackupSession> session,
      PodBackupSession::Begin(*target.agents, target.agent, target.engine, PodCopy::kVolumeSnapshot,
                              fmt::format("dbaas backup {} of {}", name, target.instance), what));
  engines::BackupFacts volume;  // the snapshot's names once made, for the undo
  bool snapshot_made = false;
  bool done = false;
  ScopeExit undo([&] {
    if (done) return;
    session.reset();  // backup mode abandoned first
    if (snapshot_made) {
      WarnIfError(DeleteBackupSnapshot(*target.api, volume),
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
    volume.volume_snapshot = ns + "/" + name;
  }
  RETURN_IF_ERROR(WaitForSnapshot(*target.api, ns, name, target.ready_timeout, /*ready=*/false,
                                  [&] { return session->Renew(); }));
  spdlog::info("instance {}: VolumeSnapshot {}/{} cut", target.instance, ns, name);
  // Kill point for tests: dbaasd killed with the snapshot cut and backup mode held.
  ReachKillPoint(KillPoint::kBackupMode);

  // 3. The end of backup mode; 4. the files and the log, staged in the repository's tmp/
  // (removed by gc after a crash); then the agent lets the log go.
  ASSIGN_OR_RETURN(PodBackupEnd end, session->End());
  engines::BackupFacts facts = end.facts;
  facts.wal_archive = target.wal_archive;
  const std::string staging = JoinPath(repo.TmpDir(), "volume-backup-" + RandomHex(8));
  ScopeExit unstage([&] { WarnIfError(RemoveTree(staging), "remove a backup's staging"); });
  RETURN_IF_ERROR(session->FetchLog(end, staging));

  // 5. The snapshot ready to use (uploaded, where the driver does that), its storage kept
  // when the namespace goes: the backup outlives its instance (deleted with
  // DeleteBackupSnapshot).
  RETURN_IF_ERROR(
      WaitForSnapshot(*target.api, ns, name, target.ready_timeout, /*ready=*/true, nullptr));
  {
    ASSIGN_OR_RETURN(json ready, target.api->Get({&SnapshotKind(), ns, name}));
    volume.volume_snapshot_content =
        kube::TextField(kube::ObjectField(ready, "status"), "boundVolumeSnapshotContentName");
    if (volume.volume_snapshot_content.empty()) {
      return Status::IoError(
          fmt::format("{}: VolumeSnapshot {}/{} is ready but bound to no content", what, ns, name));
    }
    RETURN_IF_ERROR(SetDeletionPolicy(*target.api, volume.volume_snapshot_content, "Retain"));
  }
  spdlog::info("instance {}: VolumeSnapshot {}/{} ready, content {} retained", target.instance, ns,
               name, volume.volume_snapshot_content);

  // 6. Into the repository, with the facts.
  facts.snapshot_kind = "volume";
  facts.volume_snapshot = volume.volume_snapshot;
  facts.volume_snapshot_content = volume.volume_snapshot_content;
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

  engines::EngineBackup out;
  out.snapshot = std::move(snapshot);
  out.facts = std::move(facts);
  out.seconds = std::chrono::duration<double>(steady_clock::now() - started).count();
  return out;
}

Result<bool> HasVolumeSnapshots(kube::ApiClient& api) {
  // A selector that matches nothing: the answer is small whatever the cluster holds.
  auto listed = api.List(ContentKind(), "", fmt::format("{}=none", kube::kManagedByLabel));
  if (listed.ok()) return true;
  if (listed.status().code() == StatusCode::kNotFound) return false;
  return listed.status();
}

Status DeleteCutOffVolumeSnapshot(kube::ApiClient& api, const kube::KubernetesSettings& settings,
                                  const std::string& instance, const std::string& backup) {
  const std::string ns = kube::InstanceNamespace(settings, instance);
  auto found = api.Get({&SnapshotKind(), ns, backup});
  if (!found.ok()) {
    return found.status().code() == StatusCode::kNotFound ? Status::Ok() : found.status();
  }
  const json labels = kube::ObjectField(kube::ObjectField(*found, "metadata"), "labels");
  if (kube::TextField(labels, kube::kBackupSourceLabel) != instance) return Status::Ok();
  engines::BackupFacts facts;
  facts.volume_snapshot = ns + "/" + backup;  // its content found through it
  return DeleteBackupSnapshot(api, facts);
}

Status DeleteBackupSnapshot(kube::ApiClient& api, const engines::BackupFacts& facts) {
  auto gone = [](const Status& st) { return st.ok() || st.code() == StatusCode::kNotFound; };
  std::string content = facts.volume_snapshot_content;
  if (content.empty() && !facts.volume_snapshot.empty()) {
    // Not recorded yet (a backup undone, or cut off): its VolumeSnapshot's, if bound. Set to
    // Delete whatever the class said: a Retain class would otherwise keep it for no one.
    ASSIGN_OR_RETURN(kube::ObjectRef ref, SnapshotRef(facts.volume_snapshot));
    auto found = api.Get(ref);
    if (!gone(found.status())) return found.status();
    if (found.ok()) {
      content =
          kube::TextField(kube::ObjectField(*found, "status"), "boundVolumeSnapshotContentName");
    }
  }
  if (!content.empty()) {
    Status deleting = SetDeletionPolicy(api, content, "Delete");
    if (!gone(deleting)) return deleting;
  }
  if (!facts.volume_snapshot.empty()) {
    ASSIGN_OR_RETURN(kube::ObjectRef ref, SnapshotRef(facts.volume_snapshot));
    if (Status deleted = api.Delete(ref); !gone(deleted)) return deleted;
  }
  // Its VolumeSnapshot gone first (with the namespace, or just now), the content's own
  // delete takes the storage snapshot with it.
  if (!content.empty()) {
    if (Status deleted = api.Delete({&ContentKind(), "", content}); !gone(deleted)) {
      return deleted;
    }
  }
  return Status::Ok();
}

Result<SnapshotSource> FindSnapshotSource(kube::ApiClient& api, const engines::BackupFacts& facts) {
  std::string content_name = facts.volume_snapshot_content;
  if (content_name.empty()) {  // a backup recorded before contents were kept
    ASSIGN_OR_RETURN(kube::ObjectRef ref, SnapshotRef(facts.volume_snapshot));
    auto found = api.Get(ref);
    if (!found.ok()) {
      if (found.status().code() != StatusCode::kNotFound) return found.status();
      return Status::NotFound(
          fmt::format("the backup's VolumeSnapshot {} is gone", facts.volume_snapshot),
          "it went with its instance's namespace");
    }
    content_name =
        kube::TextField(kube::ObjectField(*found, "status"), "boundVolumeSnapshotContentName");
  }
  auto content = api.Get({&ContentKind(), "", content_name});
  if (!content.ok()) {
    if (content.status().code() != StatusCode::kNotFound) return content.status();
    return Status::NotFound(
        fmt::format("the backup's VolumeSnapshotContent '{}' is gone", content_name),
        "it was deleted outside dbaasd; the backup cannot be restored");
  }
  const json status = kube::ObjectField(*content, "status");
  SnapshotSource source;
  source.handle = kube::TextField(status, "snapshotHandle");
  source.driver = kube::TextField(kube::ObjectField(*content, "spec"), "driver");
  if (!kube::BoolField(status, "readyToUse") || source.handle.empty() || source.driver.empty()) {
    return Status::FailedPrecondition(
        fmt::format("VolumeSnapshotContent {} is not ready to use (no snapshot handle or driver)",
                    content_name),
        fmt::format("see kubectl describe volumesnapshotcontent {}", content_name));
  }
  return source;
}

Status DeleteImportedContents(kube::ApiClient& api, const kube::KubernetesSettings& settings,
                              const std::string& name) {
  const std::string ns = kube::InstanceNamespace(settings, name);
  auto contents =
      api.List(ContentKind(), "",
               fmt::format("{}=dbaas,{}={}", kube::kManagedByLabel, kube::kInstanceLabel, name));
  if (!contents.ok()) {
    // A cluster without the VolumeSnapshot API has none to delete.
    return contents.status().code() == StatusCode::kNotFound ? Status::Ok() : contents.status();
  }
  for (const json& content : contents->items) {
    // Only this instance's: another daemon (another namespacePrefix) may have one of the
    // same instance name.
    const json ref = kube::ObjectField(kube::ObjectField(content, "spec"), "volumeSnapshotRef");
    if (kube::TextField(ref, "namespace") != ns) continue;
    const std::string content_name =
        kube::TextField(kube::ObjectField(content, "metadata"), "name");
    Status deleted = api.Delete({&ContentKind(), "", content_name});
    if (!deleted.ok() && deleted.code() != StatusCode::kNotFound) return deleted;
  }
  return Status::Ok();
}

}  // namespace dbaas::kube_runtime
