#include "kube_runtime/repository_backup.h"

#include <chrono>

#include <fmt/format.h>
#include <spdlog/spdlog.h>

#include "base/byte_quantity.h"
#include "base/clock.h"
#include "base/files.h"
#include "base/hex.h"
#include "base/kill_points.h"
#include "base/log.h"
#include "base/scope_exit.h"
#include "engines/mariadb/maria_backup.h"
#include "engines/postgres/pg_backup.h"
#include "kube/json_fields.h"
#include "kube_runtime/agent_source_tree.h"
#include "storage/snapshot_create.h"

namespace dbaas::kube_runtime {
namespace {

using nlohmann::json;

constexpr unsigned kCopyReads = 4;
// The largest file of a PostgreSQL data directory: a relation segment (InnoDB's files may
// be as large as the volume).
constexpr uint64_t kMaxPgFileBytes = uint64_t{1} << 30;

// The instance's claim's size (its capacity once bound, else what it asks for): the most its
// files may hold.
Result<uint64_t> ClaimBytes(const PodBackupTarget& target) {
  const std::string ns = kube::InstanceNamespace(target.settings, target.instance);
  const std::string claim = kube::DataClaimName(target.instance, target.engine);
  ASSIGN_OR_RETURN(json found,
                   target.api->Get({&kube::KnownKind("v1", "PersistentVolumeClaim"), ns, claim}));
  std::string size =
      kube::TextField(kube::ObjectField(kube::ObjectField(found, "status"), "capacity"), "storage");
  if (size.empty()) {
    size = kube::TextField(
        kube::ObjectField(kube::ObjectField(kube::ObjectField(found, "spec"), "resources"),
                          "requests"),
        "storage");
  }
  auto bytes = ParseByteQuantity(size);
  if (!bytes || *bytes == 0) {
    return Status::FailedPrecondition(
        fmt::format("claim {}/{} says no size ('{}')", ns, claim, size),
        fmt::format("see kubectl -n {} get pvc {} -o yaml", ns, claim));
  }
  return *bytes;
}

}  // namespace

std::string PodVolumeIdentity(const kube::KubernetesSettings& settings,
                              const std::string& instance) {
  return fmt::format("kube://{}/{}", kube::InstanceNamespace(settings, instance), instance);
}

Result<engines::EngineBackup> BackupByRepository(const PodBackupTarget& target,
                                                 storage::Repository& repo, const std::string& name,
                                                 storage::Progress* progress) {
  const auto started = std::chrono::steady_clock::now();
  const std::string what =
      fmt::format("repository backup {} of instance '{}'", name, target.instance);

  ASSIGN_OR_RETURN(const uint64_t claim_bytes, ClaimBytes(target));
  // 1. Backup mode, its lease renewed while the copy runs.
  ASSIGN_OR_RETURN(
      std::unique_ptr<PodBackupSession> session,
      PodBackupSession::Begin(*target.agents, target.agent, target.engine, PodCopy::kFiles,
                              fmt::format("dbaas backup {} of {}", name, target.instance), what));
  std::optional<LeaseRenewer> renewer;
  renewer.emplace(*session);
  const std::string staging = JoinPath(repo.TmpDir(), "pod-backup-" + RandomHex(8));
  ScopeExit unstage([&] { WarnIfError(RemoveTree(staging), "remove a backup's staging"); });

  // 2. The copy, through the agent; 3 and 4 before the snapshot is committed.
  const bool postgres = target.engine == "postgresql";
  AgentSourceTree tree(*target.agents, target.agent, session->id(),
                       PodVolumeIdentity(target.settings, target.instance), claim_bytes,
                       postgres ? kMaxPgFileBytes : claim_bytes);
  engines::BackupFacts facts;
  storage::CreateOptions o;
  o.tree = &tree;
  // The agent filters too; the daemon does not take its word for what a copy leaves out.
  o.filter = postgres ? engines::PgBackupFilter : engines::MariaPreparedCopyFilter;
  // A few reads at a time: the agent's other requests (the lease's renewal, the probes)
  // keep threads of its eight.
  o.threads = kCopyReads;
  o.name = name;
  o.mode = storage::SnapshotMode::kRepository;
  o.progress = progress;
  o.before_commit =
      [&](const std::vector<storage::TreeEntry>& entries) -> Result<storage::BeforeCommitResult> {
    RETURN_IF_ERROR(renewer->status().WithContext(what));
    renewer.reset();  // no renewal racing the end
    // Kill point for tests: dbaasd killed with the copy made and backup mode held.
    ReachKillPoint(KillPoint::kBackupMode);
    ASSIGN_OR_RETURN(PodBackupEnd end, session->End());
    RETURN_IF_ERROR(session->FetchLog(end, staging));
    facts = end.facts;
    facts.wal_archive = target.wal_archive;
    facts.snapshot_kind = "repository";
    std::vector<storage::ExtraFile> extras;
    auto add = [&](const std::string& path, std::string content, std::string source) {
      storage::ExtraFile x;
      x.path = path;
      x.content = std::move(content);
      x.source_path = std::move(source);
      extras.push_back(std::move(x));
    };
    for (const auto& [file, content] : end.files) add(file, content, "");
    for (const std::string& path : end.log_files) add(path, "", JoinPath(staging, path));
    if (postgres) {  // a MariaDB copy is prepared: its redo log is applied, none goes with it
      if (!facts.timeline) return Status::Internal("a checked end without a timeline");
      add("backup_manifest",
          engines::PgBackupManifest(entries, extras, *facts.timeline, facts.start_lsn,
                                    facts.stop_lsn, NowUnixNs()),
          "");
    }
    std::map<std::string, std::string> annotations = engines::ToAnnotations(facts);
    annotations["instance"] = target.instance;
    return storage::BeforeCommitResult{std::move(extras), std::move(annotations)};
  };
  auto snapshot = storage::CreateSnapshot(repo, o);
  if (!snapshot.ok()) return snapshot.status().WithContext(what);
  spdlog::info("instance {}: {} made: {} files, {} bytes read through the agent", target.instance,
               what, snapshot->stats.files, snapshot->stats.read_bytes);

  engines::EngineBackup out;
  out.snapshot = std::move(snapshot).value();
  out.facts = std::move(facts);
  out.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - started).count();
  return out;
}

}  // namespace dbaas::kube_runtime
