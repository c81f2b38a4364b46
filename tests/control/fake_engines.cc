#include "control/fake_engines.h"

#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include "base/files.h"
#include "base/log.h"
#include "base/names.h"
#include "storage/snapshot_create.h"
#include "storage/snapshot_restore.h"

namespace dbaas::testing {
namespace {

using engines::ConnectionInfo;
using engines::Instance;

// Starts per instance name, across the fakes' lifetimes (a test restarts the service).
std::mutex g_starts_mu;
std::map<std::string, int> g_starts;

class FakeInstance final : public Instance {
 public:
  FakeInstance(std::string name, std::string dir) : name_(std::move(name)), dir_(std::move(dir)) {}
  Status Start(std::chrono::milliseconds) override {
    if (PathExists(JoinPath(dir_, "refuse-start"))) {
      return Status::IoError(fmt::format("fake server of '{}' refuses to start", name_));
    }
    std::lock_guard lock(g_starts_mu);
    ++g_starts[name_];
    running_ = true;
    return Status::Ok();
  }
  Status Stop(std::chrono::milliseconds) override {
    running_ = false;
    return Status::Ok();
  }
  Status Delete() override {
    running_ = false;
    return RemoveTree(dir_);
  }
  bool running() const override { return running_ && !PathExists(JoinPath(dir_, "down")); }
  int restarts() const override { return 0; }
  const std::string& name() const override { return name_; }
  const std::string& dir() const override { return dir_; }
  ConnectionInfo endpoint() const override {
    ConnectionInfo c;
    c.type = "postgresql";
    c.port = 1;
    c.user = "postgres";
    c.password = "fake-superuser-password";
    c.database = "postgres";
    return c;
  }
  ConnectionInfo login() const override {
    ConnectionInfo c = endpoint();
    c.user = c.database = "app";
    c.password = "fake-tenant-password";
    return c;
  }
  bool superuser_access() const override { return false; }
  // The fake's volume is its directory, measured as the local runtime measures one.
  engines::VolumeProbe volume_probe() const override {
    runtime::Placement placement;
    placement.instance = name_;
    placement.dir = dir_;
    return [placement] { return runtime::Local().VolumeUsage(placement); };
  }
  std::string data_dir() const { return JoinPath(dir_, "data"); }

 private:
  std::string name_, dir_;
  bool running_ = false;
};

Result<std::unique_ptr<Instance>> MakeFake(const std::string& data_root, const std::string& name) {
  RETURN_IF_ERROR(ValidateName("instance name", name));
  RETURN_IF_ERROR(MakeDirs(data_root, 0711));
  const std::string dir = JoinPath(data_root, name);
  Status made = MakeDir(dir, 0711);
  if (made.code() == StatusCode::kAlreadyExists) {
    return Status::AlreadyExists(fmt::format("instance '{}' already exists", name));
  }
  RETURN_IF_ERROR(made);
  RETURN_IF_ERROR(MakeDir(JoinPath(dir, "data"), 0700));
  RETURN_IF_ERROR(WriteFileAtomic(JoinPath(dir, "instance.json"),
                                  nlohmann::json{{"type", "postgresql"}}.dump(), 0600));
  return std::unique_ptr<Instance>(std::make_unique<FakeInstance>(name, dir));
}

class FakeEngine final : public engines::Engine {
 public:
  explicit FakeEngine(BackupGate& gate) : gate_(gate) {}
  const char* type() const override { return "postgresql"; }
  Status ValidateConfig(const std::map<std::string, std::string>& config) const override {
    if (config.count("bad")) return Status::InvalidArgument("setting 'bad' is not allowed");
    return Status::Ok();
  }
  Result<std::unique_ptr<Instance>> Create(const engines::InstanceSpec& spec) const override {
    ASSIGN_OR_RETURN(auto made, MakeFake(spec.data_root, spec.name));
    RETURN_IF_ERROR(WriteFileAtomic(JoinPath(JoinPath(made->dir(), "data"), "rows"), "0\n", 0600));
    return made;
  }
  Result<std::unique_ptr<Instance>> Open(const std::string& data_root,
                                         const std::string& name) const override {
    const std::string dir = JoinPath(data_root, name);
    if (!PathExists(JoinPath(dir, "instance.json"))) {
      return Status::NotFound(fmt::format("instance '{}' not found", name));
    }
    return std::unique_ptr<Instance>(std::make_unique<FakeInstance>(name, dir));
  }
  Result<engines::EngineBackup> Backup(const Instance& instance, storage::Repository& repo,
                                       const std::string& name,
                                       storage::Progress* progress) const override {
    gate_.Pass();
    storage::CreateOptions o;
    o.source = JoinPath(instance.dir(), "data");
    o.name = name;
    o.mode = storage::SnapshotMode::kRepository;
    o.progress = progress;
    o.before_commit = [&](const std::vector<storage::TreeEntry>&) {
      storage::BeforeCommitResult r;
      r.annotations["instance"] = instance.name();
      r.annotations["engine"] = "postgresql";
      return Result<storage::BeforeCommitResult>(std::move(r));
    };
    engines::EngineBackup out;
    ASSIGN_OR_RETURN(out.snapshot, storage::CreateSnapshot(repo, o));
    out.facts.engine = "postgresql";
    return out;
  }
  Result<std::unique_ptr<Instance>> Restore(const storage::Repository& repo,
                                            const storage::Manifest& snapshot,
                                            const engines::InstanceSpec& spec, const std::string&,
                                            const engines::RecoveryTarget&,
                                            storage::Progress* progress,
                                            engines::FileCheck*) const override {
    ASSIGN_OR_RETURN(auto made, MakeFake(spec.data_root, spec.name));
    storage::RestoreOptions o;
    o.target = JoinPath(made->dir(), "data");
    o.progress = progress;
    if (auto restored = storage::RestoreSnapshot(repo, snapshot, o); !restored.ok()) {
      WarnIfError(made->Delete(), "remove the fake restore");
      return restored.status();
    }
    RETURN_IF_ERROR(made->Start());
    return made;
  }
  Result<engines::IntegrityReport> CheckIntegrity(const Instance& instance) const override {
    engines::IntegrityReport report;
    report.checker = "fake";
    auto rows = ReadFileToString(JoinPath(JoinPath(instance.dir(), "data"), "rows"));
    if (!rows.ok()) report.problems.push_back("rows is missing: " + rows.status().ToString());
    report.tables = 1;
    return report;
  }

 private:
  BackupGate& gate_;
};

}  // namespace

void BackupGate::Close() {
  std::lock_guard lock(mu_);
  closed_ = true;
}

void BackupGate::Open() {
  {
    std::lock_guard lock(mu_);
    closed_ = false;
  }
  cv_.notify_all();
}

void BackupGate::Pass() {
  std::unique_lock lock(mu_);
  ++arrived_;
  cv_.notify_all();
  cv_.wait(lock, [&] { return !closed_; });
}

bool BackupGate::WaitArrived(int n, std::chrono::milliseconds timeout) {
  std::unique_lock lock(mu_);
  return cv_.wait_for(lock, timeout, [&] { return arrived_ >= n; });
}

FakeEngines::FakeEngines()
    : gate_(std::make_unique<BackupGate>()), postgres_(std::make_unique<FakeEngine>(*gate_)) {}

FakeEngines::~FakeEngines() = default;

Result<const engines::Engine*> FakeEngines::For(const std::string& type) const {
  if (type == "postgresql") return postgres_.get();
  return Status::InvalidArgument(fmt::format("unknown instance type '{}'", type),
                                 "the fake has postgresql only");
}

Status FakeEngines::RemoveRemains(const std::string& data_root, const std::string& name) const {
  RETURN_IF_ERROR(ValidateName("instance name", name));
  return RemoveTree(JoinPath(data_root, name));
}

int FakeEngines::starts(const std::string& name) const {
  std::lock_guard lock(g_starts_mu);
  auto it = g_starts.find(name);
  return it == g_starts.end() ? 0 : it->second;
}

}  // namespace dbaas::testing
