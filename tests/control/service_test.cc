// The service's logic with a fake engine and runtime (tests/control/fake_engines.h): jobs,
// reservations and the 409s they give, bad input that changes nothing, reconcile of what a
// crash leaves, retention, the scheduler, alert de-duplication. No server runs: these take
// seconds. The same paths with real servers: tests/api.
#include "control/service.h"

#include <unistd.h>

#include <atomic>
#include <filesystem>
#include <thread>

#include <gtest/gtest.h>
#include <httplib.h>

#include "base/files.h"
#include "catalog/catalog.h"
#include "control/fake_engines.h"
#include "storage/repository.h"
#include "storage/snapshot_create.h"
#include "test_util.h"

namespace dbaas::control {
namespace {

using catalog::BackupState;
using catalog::InstanceState;
using catalog::JobState;
using std::chrono::milliseconds;
using std::chrono::seconds;

class ServiceTest : public ::testing::Test {
 protected:
  void SetUp() override { Start(); }

  void Start(std::vector<std::string> webhooks = {}, int disk_alert_percent = 85) {
    ServiceOptions o;
    o.data_root = root_.path();
    o.engines = &engines_;
    o.job_workers = 2;
    o.scheduler_tick = milliseconds(50);
    o.alert_check_interval = milliseconds(50);
    o.volume_check_interval = milliseconds(50);
    o.alert_webhooks = std::move(webhooks);
    o.disk_alert_percent = disk_alert_percent;
    auto started = Service::Start(o);
    ASSERT_TRUE(started.ok()) << started.status().ToString();
    service_ = std::move(started.value());
  }
  void Restart() {
    service_.reset();
    Start();
  }

  catalog::JobRecord Wait(const Result<catalog::JobRecord>& job) {
    EXPECT_TRUE(job.ok()) << job.status().ToString();
    if (!job.ok()) return {};
    auto done = service_->WaitJob(job->id, seconds(30));
    EXPECT_TRUE(done.ok()) << done.status().ToString();
    return done.value_or(catalog::JobRecord{});
  }
  void MakeInstance(const std::string& name) {
    CreateInstanceRequest r;
    r.name = name;
    r.type = "postgresql";
    ASSERT_EQ(Wait(service_->CreateInstance(r)).status, JobState::kSucceeded);
  }
  catalog::JobRecord Backup(const std::string& instance, const std::string& name,
                            std::optional<int> retention_days = std::nullopt) {
    BackupRequest r;
    r.instance = instance;
    r.backup_name = name;
    r.retention_days = retention_days;
    return Wait(service_->CreateBackup(r));
  }
  std::string InstanceDir(const std::string& name) const { return root_ / ("instances/" + name); }

  testing::TempDir root_;
  testing::FakeEngines engines_;
  std::unique_ptr<Service> service_;
};

TEST_F(ServiceTest, AnInstanceIsMadeBackedUpRestoredAndDeleted) {
  MakeInstance("db1");
  auto view = service_->GetInstance("db1");
  ASSERT_TRUE(view.ok()) << view.status().ToString();
  EXPECT_EQ(view->status, InstanceState::kRunning);
  ASSERT_TRUE(view->connection.has_value());
  EXPECT_EQ(view->connection->user, "app");
  EXPECT_FALSE(view->superuser.has_value()) << "no superuser access was asked for";

  testing::WriteFile(InstanceDir("db1") + "/data/rows", "42\n");
  catalog::JobRecord backup = Backup("db1", "b1");
  ASSERT_EQ(backup.status, JobState::kSucceeded) << backup.error_message;
  auto record = service_->GetBackup("db1", "b1");
  ASSERT_TRUE(record.ok());
  EXPECT_EQ(record->status, BackupState::kReady);
  EXPECT_FALSE(record->snapshot_id.empty());

  RestoreRequest restore;
  restore.source_instance = "db1";
  restore.backup_name = "b1";
  restore.new_instance_name = "copy";
  ASSERT_EQ(Wait(service_->Restore(restore)).status, JobState::kSucceeded);
  EXPECT_EQ(testing::ReadFile(InstanceDir("copy") + "/data/rows"), "42\n");
  EXPECT_EQ(service_->GetInstance("copy")->status, InstanceState::kRunning);

  ASSERT_EQ(Wait(service_->DeleteInstance("db1", false)).status, JobState::kSucceeded);
  EXPECT_EQ(service_->GetInstance("db1").status().code(), StatusCode::kNotFound);
  EXPECT_FALSE(PathExists(InstanceDir("db1")));
  EXPECT_TRUE(service_->GetBackup("db1", "b1").ok()) << "backups outlive their instance";
}

TEST_F(ServiceTest, AnInstanceWithoutASizeGetsTheDefaultAndOlderOnesGetItOnStart) {
  MakeInstance("sized");
  EXPECT_EQ(service_->GetInstance("sized")->record.size, "10Gi");
  service_.reset();
  {  // As a dbaasd from before sizes were required left it.
    auto cat = catalog::Catalog::Open(root_ / "catalog.db");
    ASSERT_TRUE(cat.ok());
    ASSERT_TRUE((*cat)->UpdateInstanceSize("sized", "").ok());
  }
  Start();
  EXPECT_EQ(service_->GetInstance("sized")->record.size, "10Gi");

  ServiceOptions bad;
  bad.data_root = (root_ / "other");
  bad.engines = &engines_;
  bad.default_instance_size = "lots";
  auto refused = Service::Start(bad);
  ASSERT_FALSE(refused.ok());
  EXPECT_EQ(refused.status().code(), StatusCode::kInvalidArgument);
  EXPECT_NE(refused.status().message().find("'lots'"), std::string::npos);
  bad.default_instance_size = "10Gi";
  bad.volume_alert_percent = 0;
  refused = Service::Start(bad);
  ASSERT_FALSE(refused.ok());
  EXPECT_NE(refused.status().message().find("volume alert threshold 0%"), std::string::npos);
}

TEST_F(ServiceTest, VolumeUsageIsMeasuredAndAlertedOnceNearItsSize) {
  CreateInstanceRequest r;
  r.name = "full";
  r.type = "postgresql";
  r.size = "1Mi";
  ASSERT_EQ(Wait(service_->CreateInstance(r)).status, JobState::kSucceeded);
  testing::WriteFile(InstanceDir("full") + "/data/bulk", testing::RandomBytes(2 << 20, 1));
  auto deadline = std::chrono::steady_clock::now() + seconds(20);
  std::optional<VolumeReading> reading;
  while (std::chrono::steady_clock::now() < deadline) {
    reading = service_->GetInstance("full")->volume;
    if (reading && reading->used_bytes >= (2u << 20)) break;
    std::this_thread::sleep_for(milliseconds(50));
  }
  ASSERT_TRUE(reading.has_value()) << "never measured";
  EXPECT_GE(reading->used_bytes, 2u << 20);
  EXPECT_EQ(reading->size_bytes, 1u << 20);
  EXPECT_FALSE(reading->enforced) << "a directory has no quota on this runtime";
  std::this_thread::sleep_for(milliseconds(500));  // ~10 more measurements
  int alerts = 0;
  for (const auto& e : service_->catalog().ListEvents(1000).value_or({})) {
    if (e.message.find("uses") != std::string::npos && e.instance == "full") ++alerts;
  }
  EXPECT_EQ(alerts, 1) << "one alert while it stays over 90%";
  EXPECT_NE(service_->RenderMetrics().find("dbaas_instance_volume_used_bytes{instance=\"full\"}"),
            std::string::npos);
}

TEST_F(ServiceTest, AResizeBelowWhatTheInstanceUsesIsRefusedAndAboveItRecorded) {
  MakeInstance("grow");
  testing::WriteFile(InstanceDir("grow") + "/data/bulk", testing::RandomBytes(2 << 20, 2));
  auto small = service_->ResizeInstance("grow", "1Mi");  // measured now if not yet
  ASSERT_FALSE(small.ok());
  EXPECT_EQ(small.status().code(), StatusCode::kInvalidArgument);
  EXPECT_NE(small.status().message().find("uses"), std::string::npos) << small.status().message();
  EXPECT_EQ(service_->GetInstance("grow")->record.size, "10Gi") << "a refused resize changed it";
  EXPECT_EQ(service_->ResizeInstance("grow", "").status().code(), StatusCode::kInvalidArgument);
  EXPECT_EQ(service_->ResizeInstance("grow", "lots").status().code(), StatusCode::kInvalidArgument);
  EXPECT_EQ(service_->ResizeInstance("nosuch", "1Gi").status().code(), StatusCode::kNotFound);
  auto grown = service_->ResizeInstance("grow", "20Gi");
  ASSERT_TRUE(grown.ok()) << grown.status().ToString();
  EXPECT_EQ(grown->record.size, "20Gi");
  Restart();
  EXPECT_EQ(service_->GetInstance("grow")->record.size, "20Gi") << "kept in the catalog";
}

TEST_F(ServiceTest, PointInTimeRequestsWithoutArchivedWalAreRefusedAndChangeNothing) {
  MakeInstance("plain");  // the fake archives no WAL: its backups have no facts for it
  ASSERT_EQ(Backup("plain", "b1").status, JobState::kSucceeded);
  EXPECT_EQ(service_->GetRecoveryWindow("nosuch").status().code(), StatusCode::kNotFound);
  auto window = service_->GetRecoveryWindow("plain");
  EXPECT_EQ(window.status().code(), StatusCode::kFailedPrecondition);
  EXPECT_NE(window.status().message().find("no backup with archived WAL"), std::string::npos)
      << window.status().message();
  RestoreRequest r;
  r.source_instance = "plain";
  r.new_instance_name = "then";
  r.target.kind = engines::RecoveryTarget::Kind::kLatest;
  EXPECT_EQ(service_->Restore(r).status().code(), StatusCode::kFailedPrecondition);
  r.backup_name = "b1";
  auto named = service_->Restore(r);
  EXPECT_EQ(named.status().code(), StatusCode::kFailedPrecondition);
  EXPECT_NE(named.status().message().find("no archived WAL"), std::string::npos);
  EXPECT_EQ(service_->GetInstance("then").status().code(), StatusCode::kNotFound);

  EXPECT_EQ(service_->CreateRestorePoint("plain", "bad name!").status().code(),
            StatusCode::kInvalidArgument);
  EXPECT_EQ(service_->CreateRestorePoint("nosuch", "p1").status().code(), StatusCode::kNotFound);
  EXPECT_FALSE(service_->CreateRestorePoint("plain", "p1").ok()) << "the fake has no WAL";
  EXPECT_TRUE(service_->ListRestorePoints("plain")->empty());
  EXPECT_EQ(service_->ListRestorePoints("nosuch").status().code(), StatusCode::kNotFound);
}

TEST_F(ServiceTest, ADrillRestoresChecksAndRemovesItsScratchInstanceAndKeepsItsResult) {
  MakeInstance("drilled");
  ASSERT_EQ(Backup("drilled", "good").status, JobState::kSucceeded);
  // A backup whose data the fake's checker finds damaged (its rows file is gone).
  ::unlink((InstanceDir("drilled") + "/data/rows").c_str());
  ASSERT_EQ(Backup("drilled", "damaged").status, JobState::kSucceeded);

  catalog::JobRecord passed = Wait(service_->VerifyBackup("drilled", "good"));
  ASSERT_EQ(passed.status, JobState::kSucceeded) << passed.error_message;
  EXPECT_EQ(passed.result["passed"], true);
  auto good = service_->GetBackup("drilled", "good");
  ASSERT_TRUE(good.ok());
  EXPECT_EQ(good->drill["status"], "passed");
  EXPECT_EQ(good->drill["checker"], "fake");
  EXPECT_GE(good->drill["rtoSeconds"].get<double>(), 0.0);

  catalog::JobRecord failed = Wait(service_->VerifyBackup("drilled", "damaged"));
  ASSERT_EQ(failed.status, JobState::kSucceeded) << "a failed drill is a result, not an error";
  EXPECT_EQ(failed.result["passed"], false);
  auto damaged = service_->GetBackup("drilled", "damaged");
  EXPECT_EQ(damaged->drill["status"], "failed");
  EXPECT_NE(damaged->drill["problems"][0].get<std::string>().find("rows is missing"),
            std::string::npos);
  // No scratch instance is left; one a crash left is removed at the next start.
  std::vector<std::string> left;
  for (const auto& e : std::filesystem::directory_iterator(root_ / "drills")) {
    left.push_back(e.path().filename().string());
  }
  EXPECT_TRUE(left.empty()) << left.front();
  ASSERT_TRUE(MakeDirs(root_ / "drills/drill-cutoff/data").ok());
  Restart();
  EXPECT_FALSE(PathExists(root_ / "drills/drill-cutoff"));
  EXPECT_EQ(service_->VerifyBackup("drilled", "nosuch").status().code(), StatusCode::kNotFound);
}

TEST_F(ServiceTest, BadInputIsRefusedAndChangesNothing) {
  CreateInstanceRequest r;
  r.type = "postgresql";
  for (const char* bad : {"../escape", "Upper", "", "a_b"}) {
    r.name = bad;
    auto job = service_->CreateInstance(r);
    ASSERT_FALSE(job.ok()) << bad;
    EXPECT_EQ(job.status().code(), StatusCode::kInvalidArgument) << bad;
  }
  r.name = "ok";
  r.config = {{"bad", "1"}};
  EXPECT_EQ(service_->CreateInstance(r).status().code(), StatusCode::kInvalidArgument);
  r.config.clear();
  r.type = "oracle";
  EXPECT_EQ(service_->CreateInstance(r).status().code(), StatusCode::kInvalidArgument);
  EXPECT_TRUE(service_->ListInstances()->empty());
  EXPECT_TRUE(service_->ListJobs()->empty()) << "no job for refused input";
  EXPECT_FALSE(PathExists(InstanceDir("ok")));
  EXPECT_FALSE(PathExists(root_ / "instances/escape"));

  BackupRequest b;
  b.instance = "missing";
  EXPECT_EQ(service_->CreateBackup(b).status().code(), StatusCode::kNotFound);
}

TEST_F(ServiceTest, ARunningBackupRefusesWhatWouldConflictWithIt) {
  MakeInstance("busy");
  engines_.backups().Close();
  BackupRequest r;
  r.instance = "busy";
  r.backup_name = "held";
  auto job = service_->CreateBackup(r);
  ASSERT_TRUE(job.ok()) << job.status().ToString();
  ASSERT_TRUE(engines_.backups().WaitArrived(1, seconds(10)));

  // A second backup of the same instance, its delete, a restore of the backup being made.
  r.backup_name = "second";
  auto second = service_->CreateBackup(r);
  EXPECT_EQ(second.status().code(), StatusCode::kFailedPrecondition) << second.status().ToString();
  auto deleted = service_->DeleteInstance("busy", false);
  EXPECT_EQ(deleted.status().code(), StatusCode::kFailedPrecondition);
  EXPECT_NE(deleted.status().message().find("in progress"), std::string::npos);
  RestoreRequest restore;
  restore.source_instance = "busy";
  restore.backup_name = "held";
  restore.new_instance_name = "early";
  EXPECT_EQ(service_->Restore(restore).status().code(), StatusCode::kFailedPrecondition);
  EXPECT_EQ(service_->GetInstance("busy")->status, InstanceState::kRunning)
      << "a refused delete changed nothing";

  engines_.backups().Open();
  auto done = service_->WaitJob(job->id, seconds(30));
  ASSERT_TRUE(done.ok());
  EXPECT_EQ(done->status, JobState::kSucceeded) << done->error_message;
  // Once it is over, the same requests go through.
  ASSERT_EQ(Wait(service_->Restore(restore)).status, JobState::kSucceeded);
  ASSERT_EQ(Wait(service_->DeleteInstance("busy", false)).status, JobState::kSucceeded);
}

// A branch of now holds its source like a backup (no second copy, no delete) until its
// copy is taken, leaves no backup or snapshot, and its reset holds the branch too, taking
// the copy before it touches the branch.
TEST_F(ServiceTest, ABranchHoldsItsSourceAndAResetHoldsTheBranch) {
  MakeInstance("src");
  testing::WriteFile(InstanceDir("src") + "/data/rows", "1\n");
  engines_.backups().Close();
  BranchRequest r;
  r.source_instance = "src";
  r.new_instance_name = "b1";
  auto job = service_->Branch(r);
  ASSERT_TRUE(job.ok()) << job.status().ToString();
  ASSERT_TRUE(engines_.backups().WaitArrived(1, seconds(10)));
  EXPECT_EQ(service_->DeleteInstance("src", false).status().code(),
            StatusCode::kFailedPrecondition);
  BackupRequest backup;
  backup.instance = "src";
  EXPECT_EQ(service_->CreateBackup(backup).status().code(), StatusCode::kFailedPrecondition);
  r.new_instance_name = "b2";
  EXPECT_EQ(service_->Branch(r).status().code(), StatusCode::kFailedPrecondition);
  EXPECT_EQ(service_->GetInstance("b2").status().code(), StatusCode::kNotFound);
  auto made = service_->GetInstance("b1");
  ASSERT_TRUE(made.ok());
  EXPECT_EQ(made->status, InstanceState::kRestoring);
  EXPECT_EQ(made->record.restored_from->branch_method, "pending");
  engines_.backups().Open();
  ASSERT_EQ(Wait(job).status, JobState::kSucceeded);
  EXPECT_EQ(testing::ReadFile(InstanceDir("b1") + "/data/rows"), "1\n");
  made = service_->GetInstance("b1");
  EXPECT_EQ(made->status, InstanceState::kRunning);
  EXPECT_TRUE(made->record.restored_from->branch_method == "clone" ||
              made->record.restored_from->branch_method == "copy");
  EXPECT_TRUE(service_->ListBackups("src")->empty()) << "no backup is left";
  auto repo = storage::Repository::Open(root_ / "repository");
  ASSERT_TRUE(repo.ok());
  EXPECT_TRUE((*repo)->ListSnapshotHeaders()->empty()) << "nor a snapshot";
  EXPECT_EQ(service_->ListBranches("src")->size(), 1u);

  // A reset copies first: while the copy is held, the branch is as it was, and reserved.
  testing::WriteFile(InstanceDir("src") + "/data/rows", "2\n");
  engines_.backups().Close();
  auto reset = service_->ResetBranch("b1");
  ASSERT_TRUE(reset.ok()) << reset.status().ToString();
  ASSERT_TRUE(engines_.backups().WaitArrived(2, seconds(10)));
  EXPECT_EQ(testing::ReadFile(InstanceDir("b1") + "/data/rows"), "1\n");
  EXPECT_EQ(service_->DeleteInstance("b1", false).status().code(), StatusCode::kFailedPrecondition);
  backup.instance = "b1";
  EXPECT_EQ(service_->CreateBackup(backup).status().code(), StatusCode::kFailedPrecondition);
  engines_.backups().Open();
  ASSERT_EQ(Wait(reset).status, JobState::kSucceeded);
  EXPECT_EQ(testing::ReadFile(InstanceDir("b1") + "/data/rows"), "2\n");
  EXPECT_EQ(service_->GetInstance("b1")->status, InstanceState::kRunning);

  // Not a branch; a source being deleted; a parent made again under the same name.
  EXPECT_EQ(service_->ResetBranch("src").status().code(), StatusCode::kFailedPrecondition);
  ASSERT_TRUE(service_->DeleteInstance("src", false).ok());
  r.new_instance_name = "b3";
  EXPECT_FALSE(service_->Branch(r).ok()) << "a source being deleted is not copied";
  EXPECT_EQ(service_->GetInstance("b3").status().code(), StatusCode::kNotFound);
  for (int i = 0; i < 100 && service_->GetInstance("src").ok(); ++i) {
    std::this_thread::sleep_for(milliseconds(50));
  }
  EXPECT_EQ(service_->ListBranches("src")->size(), 1u) << "branches outlive their parent";
  MakeInstance("src");
  EXPECT_TRUE(service_->ListBranches("src")->empty()) << "a new 'src' is not b1's parent";
  auto orphan = service_->ResetBranch("b1");
  EXPECT_EQ(orphan.status().code(), StatusCode::kFailedPrecondition);
  EXPECT_NE(orphan.status().message().find("was deleted"), std::string::npos);
}

// A branch's transient snapshot left by a crash is removed at start.
TEST_F(ServiceTest, ReconcileRemovesABranchsTransientSnapshot) {
  MakeInstance("src");
  service_.reset();
  {
    auto repo = storage::Repository::Open(root_ / "repository");
    ASSERT_TRUE(repo.ok());
    storage::CreateOptions o;
    o.source = InstanceDir("src") + "/data";
    o.name = "branch.cut";
    ASSERT_TRUE(storage::CreateSnapshot(**repo, o).ok());
    o.name = "not-a-branch";
    ASSERT_TRUE(storage::CreateSnapshot(**repo, o).ok());
  }
  Start();
  auto repo = storage::Repository::Open(root_ / "repository");
  ASSERT_TRUE(repo.ok());
  auto left = (*repo)->ListSnapshotHeaders();
  ASSERT_TRUE(left.ok());
  ASSERT_EQ(left->size(), 1u);
  EXPECT_EQ(left->front().name, "not-a-branch") << "only a branch's snapshot goes";
}

TEST_F(ServiceTest, ReconcileFinishesOrRollsBackWhatACrashLeft) {
  MakeInstance("keep");
  ASSERT_EQ(Backup("keep", "kept").status, JobState::kSucceeded);
  MakeInstance("dying");
  service_.reset();
  ASSERT_EQ(engines_.starts("keep"), 1);

  {  // What a daemon killed mid-work leaves, written as it would have written it.
    auto cat = catalog::Catalog::Open(root_ / "catalog.db");
    ASSERT_TRUE(cat.ok()) << cat.status().ToString();
    catalog::InstanceRecord half;
    half.name = "half";
    half.type = "postgresql";
    half.status = InstanceState::kCreating;
    half.created_at = half.updated_at = catalog::NowRfc3339();
    ASSERT_TRUE((*cat)->InsertInstance(half).ok());
    ASSERT_TRUE(MakeDirs(InstanceDir("half") + "/data").ok());
    ASSERT_TRUE((*cat)->UpdateInstanceStatus("dying", InstanceState::kDeleting).ok());
    catalog::BackupRecord cut;
    cut.name = "cut";
    cut.instance = "keep";
    cut.instance_type = "postgresql";
    cut.status = BackupState::kCreating;
    cut.created_at = catalog::NowRfc3339();
    ASSERT_TRUE((*cat)->InsertBackup(cut).ok());
    catalog::JobRecord running;
    running.id = "0123456789abcdef";
    running.kind = "backup";
    running.instance = "keep";
    running.status = JobState::kRunning;
    running.created_at = running.started_at = catalog::NowRfc3339();
    ASSERT_TRUE((*cat)->InsertJob(running).ok());
  }
  Start();

  EXPECT_EQ(service_->GetInstance("half").status().code(), StatusCode::kNotFound);
  EXPECT_FALSE(PathExists(InstanceDir("half"))) << "a half-made instance is removed";
  EXPECT_EQ(service_->GetInstance("dying").status().code(), StatusCode::kNotFound);
  EXPECT_FALSE(PathExists(InstanceDir("dying"))) << "a delete cut off is finished";
  EXPECT_EQ(service_->GetBackup("keep", "cut").status().code(), StatusCode::kNotFound)
      << "a backup whose snapshot was never committed is removed";
  EXPECT_EQ(service_->GetBackup("keep", "kept")->status, BackupState::kReady);
  auto job = service_->GetJob("0123456789abcdef");
  ASSERT_TRUE(job.ok());
  EXPECT_EQ(job->status, JobState::kFailed);
  EXPECT_EQ(job->error_code, StatusCode::kAborted);
  EXPECT_EQ(service_->GetInstance("keep")->status, InstanceState::kRunning);
  EXPECT_EQ(engines_.starts("keep"), 2) << "started again by the new daemon";
}

TEST_F(ServiceTest, AnInstanceWhoseServerWillNotStartIsFailedWithWhy) {
  MakeInstance("stubborn");
  testing::WriteFile(InstanceDir("stubborn") + "/refuse-start", "");
  Restart();
  auto view = service_->GetInstance("stubborn");
  ASSERT_TRUE(view.ok());
  EXPECT_EQ(view->status, InstanceState::kFailed);
  EXPECT_NE(view->status_message.find("refuses to start"), std::string::npos)
      << view->status_message;
  BackupRequest r;
  r.instance = "stubborn";
  EXPECT_EQ(service_->CreateBackup(r).status().code(), StatusCode::kFailedPrecondition);
  // A server that goes down while the daemon runs shows as failed too.
  MakeInstance("flaky");
  testing::WriteFile(InstanceDir("flaky") + "/down", "");
  EXPECT_EQ(service_->GetInstance("flaky")->status, InstanceState::kFailed);
}

TEST_F(ServiceTest, RetentionDeletesExpiredBackupsButNotPinnedOnes) {
  MakeInstance("old");
  for (const char* name : {"expired", "pinned", "fresh", "forever"}) {
    ASSERT_EQ(
        Backup("old", name, std::string(name) == "forever" ? std::nullopt : std::optional<int>(7))
            .status,
        JobState::kSucceeded);
  }
  ASSERT_TRUE(service_->SetBackupPinned("old", "pinned", true).ok());
  service_.reset();
  {
    auto cat = catalog::Catalog::Open(root_ / "catalog.db");
    ASSERT_TRUE(cat.ok());
    for (const char* name : {"expired", "pinned"}) {
      auto b = (*cat)->GetBackup(name);
      ASSERT_TRUE(b.ok());
      b->expires_at = "2020-01-01T00:00:00.000Z";
      ASSERT_TRUE((*cat)->UpdateBackup(*b).ok());
    }
  }
  Start();
  // The scheduler's first pass may have run it already: either way, exactly one went.
  auto removed = service_->ApplyRetention();
  ASSERT_TRUE(removed.ok()) << removed.status().ToString();
  auto left = service_->ListBackups("old");
  ASSERT_TRUE(left.ok());
  std::set<std::string> names;
  for (const auto& b : *left) names.insert(b.name);
  EXPECT_EQ(names, (std::set<std::string>{"pinned", "fresh", "forever"}));
}

TEST_F(ServiceTest, TheSchedulerBacksUpOnItsCronAndRecordsTheRun) {
  MakeInstance("cron");
  ScheduleRequest s;
  s.instance = "cron";
  s.cron = "* * * * * *";  // every second
  auto schedule = service_->CreateSchedule(s);
  ASSERT_TRUE(schedule.ok()) << schedule.status().ToString();
  auto deadline = std::chrono::steady_clock::now() + seconds(20);
  size_t made = 0;
  while (made < 2 && std::chrono::steady_clock::now() < deadline) {
    std::this_thread::sleep_for(milliseconds(100));
    made = 0;
    for (const auto& b : service_->ListBackups("cron").value_or({})) {
      if (b.schedule_id == schedule->id && b.status == BackupState::kReady) ++made;
    }
  }
  EXPECT_GE(made, 2u) << "two slots, two backups";
  auto listed = service_->ListSchedules("cron");
  ASSERT_TRUE(listed.ok());
  ASSERT_EQ(listed->size(), 1u);
  EXPECT_FALSE(listed->front().last_run_at.empty());
  EXPECT_FALSE(listed->front().last_status.empty());
}

TEST_F(ServiceTest, AnAlertIsSentOnceWhileItsConditionHolds) {
  httplib::Server receiver;
  std::atomic<int> disk_alerts{0};
  receiver.Post("/hook", [&](const httplib::Request& req, httplib::Response& res) {
    if (req.body.find("disk_usage_high") != std::string::npos) ++disk_alerts;
    res.status = 204;
  });
  int port = receiver.bind_to_any_port("127.0.0.1");
  ASSERT_GT(port, 0);
  std::thread serving([&] { receiver.listen_after_bind(); });
  service_.reset();
  // 1%: the data root's disk is "too full" (any used disk is): the condition holds on
  // every tick.
  Start({"http://127.0.0.1:" + std::to_string(port) + "/hook"}, 1);
  std::this_thread::sleep_for(milliseconds(1500));  // ~30 checks of the conditions
  service_.reset();                                 // delivers what is queued
  receiver.stop();
  serving.join();
  EXPECT_EQ(disk_alerts.load(), 1);
}

}  // namespace
}  // namespace dbaas::control
