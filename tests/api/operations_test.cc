// Operations through the REST API with a real dbaasd and real PostgreSQL servers: a
// schedule at a fast cadence (cron's seconds field) making backups that retention expires,
// restore drills on a good and on a corrupted backup with a webhook receiver on loopback,
// /metrics parsed and watched, a missed slot run once at start, and copies of backups and
// WAL in an S3 bucket (a loopback s3rver) that survive the bucket failing for a while.
#include <sys/stat.h>

#include <ctime>
#include <filesystem>
#include <fstream>
#include <mutex>
#include <regex>
#include <thread>

#include <fmt/format.h>
#include <gtest/gtest.h>

#include "base/process.h"
#include "catalog/catalog.h"
#include "daemon.h"
#include "engines/instance.h"
#include "objstore/s3_client.h"
#include "objstore/s3_test_server.h"
#include "observers.h"
#include "test_util.h"

namespace dbaas::testing {
namespace {

using nlohmann::json;
using std::chrono::seconds;

class ApiOperationsTest : public ::testing::Test {
 protected:
  void SetUp() override { ::chmod(root_.path().c_str(), 0711); }
  void TearDown() override {
    auto code = daemon_.Stop();
    EXPECT_TRUE(code.ok() && code.value() == 0) << "dbaasd did not exit cleanly on SIGTERM";
    EXPECT_TRUE(PostmastersUnder(daemon_.data_root()).empty()) << "servers left running";
  }
  void StartDaemon(const std::vector<std::string>& args = {}) {
    Status st = daemon_.Start({}, args);
    ASSERT_TRUE(st.ok()) << st.ToString();
  }
  void CreateInstanceWithRows(const std::string& name, int rows) {
    auto made = daemon_.Post("/instances", json{{"name", name}, {"type", "postgresql"}});
    ASSERT_EQ(made.status, 201) << made.raw;
    ASSERT_TRUE(Psql(daemon_, name,
                     fmt::format("create table t as select g as id, md5(g::text) as v "
                                 "from generate_series(1, {}) g",
                                 rows))
                    .ok());
  }
  std::map<std::string, double> Metrics() {
    auto answer = daemon_.Get("/metrics");
    EXPECT_EQ(answer.status, 200);
    return ParseMetrics(answer.raw);
  }
  json Backups(const std::string& instance) {
    return daemon_.Get("/instances/" + instance + "/backups").body["backups"];
  }
  int ReadyBackups(const std::string& instance) {
    int n = 0;
    for (const json& b : Backups(instance)) n += b["state"] == "ready";
    return n;
  }
  size_t SnapshotFiles() {
    size_t n = 0;
    for (const auto& e :
         std::filesystem::directory_iterator(daemon_.data_root() + "/repository/snapshots")) {
      n += e.path().extension() == ".manifest";
    }
    return n;
  }
  void WaitNoJobs() {
    for (int i = 0; i < 600 && Metrics()["dbaas_jobs_in_flight"] > 0; ++i) {
      std::this_thread::sleep_for(std::chrono::milliseconds(100));
    }
  }

  TempDir root_;
  Daemon daemon_{root_ / "data"};
};

TEST_F(ApiOperationsTest, AScheduleMakesBackupsThatRetentionExpires) {
  StartDaemon();
  CreateInstanceWithRows("ops", 1000);
  ASSERT_EQ(daemon_.Post("/instances/ops/backup", json{{"backupName", "kept-pinned"}}).status, 201);
  ASSERT_EQ(daemon_.Post("/instances/ops/backup", json{{"backupName", "kept-asked"}}).status, 201);
  auto pinned = daemon_.Patch("/instances/ops/backups/kept-pinned", json{{"pinned", true}});
  ASSERT_EQ(pinned.status, 200) << pinned.raw;
  EXPECT_EQ(pinned.body["backup"]["pinned"], true);

  // Bad schedules are refused and leave none behind.
  for (const json& bad :
       {json{{"cron", "61 * * * *"}}, json{{"cron", "* * * *"}},
        json{{"cron", "0 3 * * *"}, {"timeZone", "Mars/Olympus"}},
        json{{"cron", "0 3 * * *"}, {"keepDaily", -1}}, json{{"cron", "0 0 30 2 *"}},
        json{{"cron", "0 3 * * *"}, {"retentionDays", 0}}, json{{"cron", "0 3 * * *"}, {"x", 1}},
        json{{"cron", 5}}, json::object(),
        // Backups go into the daemon's repository or a VolumeSnapshot (not on this runtime).
        json{{"cron", "0 3 * * *"}, {"repository", "volumeSnapshot"}},
        json{{"cron", "0 3 * * *"}, {"repository", "s3"}},
        json{{"cron", "0 3 * * *"}, {"repository", 7}}}) {
    auto refused = daemon_.Post("/instances/ops/schedules", bad);
    EXPECT_EQ(refused.status, 400) << bad.dump() << " -> " << refused.raw;
    EXPECT_FALSE(refused.body["error"]["message"].get<std::string>().empty());
  }
  EXPECT_EQ(daemon_.Post("/instances/nobody/schedules", json{{"cron", "0 3 * * *"}}).status, 404);
  EXPECT_EQ(daemon_.Get("/instances/ops/schedules").body["count"], 0);
  auto minute = daemon_.Post("/instances/ops/schedules", json{{"cron", "61 * * * *"}});
  EXPECT_NE(minute.raw.find("minute"), std::string::npos) << minute.raw;

  // Every 2 s, keeping the newest of the day: each new backup expires the one before.
  auto made =
      daemon_.Post("/instances/ops/schedules",
                   json{{"cron", "*/2 * * * * *"}, {"keepDaily", 1}, {"repository", "local"}});
  ASSERT_EQ(made.status, 201) << made.raw;
  std::string id = made.body["schedule"]["id"];
  EXPECT_EQ(made.body["schedule"]["repository"], "local");
  EXPECT_EQ(made.body["schedule"]["timeZone"], "UTC");
  EXPECT_FALSE(made.body["schedule"]["nextRunAt"].is_null());
  EXPECT_EQ(Metrics()["dbaas_schedules"], 1);

  const std::string ok_backups = R"(dbaas_backups_total{instance="ops",result="success"})";
  const std::string expired = R"(dbaas_backups_expired_total{instance="ops"})";
  const std::string last_good = R"(dbaas_last_good_backup_timestamp_seconds{instance="ops"})";
  double first_good = Metrics()[last_good];
  EXPECT_GT(first_good, 0);
  // At least three scheduled runs, two of them expired, one scheduled backup left.
  auto scheduled = [&] {
    int n = 0;
    for (const json& b : Backups("ops")) n += b["schedule"] == id;
    return n;
  };
  auto deadline = std::chrono::steady_clock::now() + seconds(90);
  while (std::chrono::steady_clock::now() < deadline &&
         !(Metrics()[ok_backups] >= 5 && Metrics()[expired] >= 2 && scheduled() == 1)) {
    std::this_thread::sleep_for(std::chrono::milliseconds(200));
  }
  auto m = Metrics();
  EXPECT_GE(m[ok_backups], 5);
  EXPECT_GE(m[expired], 2);
  EXPECT_GT(m[last_good], first_good) << "the newest good backup's time moves forward";
  EXPECT_GT(m[R"(dbaas_backup_duration_seconds_count{instance="ops"})"], 4);
  EXPECT_GT(m["dbaas_repository_stored_bytes"], 0);
  EXPECT_GT(m["dbaas_repository_logical_bytes"], m["dbaas_repository_stored_bytes"]);
  EXPECT_GT(m["dbaas_data_root_size_bytes"], m["dbaas_data_root_used_bytes"]);
  auto sched = daemon_.Get("/instances/ops/schedules").body["schedules"][0];
  EXPECT_FALSE(sched["lastRunAt"].is_null());

  ASSERT_EQ(daemon_.Delete("/instances/ops/schedules/" + id).status, 200);
  EXPECT_EQ(daemon_.Delete("/instances/ops/schedules/" + id).status, 404);
  WaitNoJobs();
  std::this_thread::sleep_for(seconds(2));  // a retention pass after the last backup
  json backups = Backups("ops");
  std::set<std::string> names;
  for (const json& b : backups) names.insert(b["backupName"]);
  EXPECT_TRUE(names.count("kept-pinned"));
  EXPECT_TRUE(names.count("kept-asked")) << "no retentionDays, no schedule: kept";
  EXPECT_LE(scheduled(), 2);  // the newest, and one that ended as the schedule went
  EXPECT_EQ(Metrics()["dbaas_schedules"], 0);
  // Expired backups' snapshots are gone from the repository, not only from the list.
  EXPECT_EQ(SnapshotFiles(), backups.size());
  // The remaining backups restore.
  auto restored =
      daemon_.Post("/instances/ops/restore",
                   json{{"backupName", backups[0]["backupName"]}, {"newInstanceName", "ops-copy"}});
  ASSERT_EQ(restored.status, 201) << restored.raw;
  EXPECT_EQ(Psql(daemon_, "ops-copy", "select count(*) from t").value_or(""), "1000");
  EXPECT_EQ(Metrics()[R"(dbaas_restores_total{instance="ops",result="success"})"], 1);

  // The repository's sizes are kept between scrapes, and read again once a backup is
  // deleted (or made): a scrape right after shows the change.
  const std::string logical = "dbaas_repository_logical_bytes";
  double before = Metrics()[logical];
  EXPECT_EQ(Metrics()[logical], before);
  ASSERT_EQ(daemon_.Delete("/instances/ops/backups/kept-asked").status, 200);
  double after_delete = Metrics()[logical];
  EXPECT_LT(after_delete, before);
  ASSERT_EQ(daemon_.Post("/instances/ops/backup", json{{"backupName", "again"}}).status, 201);
  EXPECT_GT(Metrics()[logical], after_delete);
}

// Flips bytes in the middle of every pack of the repository.
void CorruptPacks(const std::string& repository) {
  for (const auto& e : std::filesystem::recursive_directory_iterator(repository + "/packs")) {
    if (e.path().extension() != ".pack") continue;
    std::fstream f(e.path(), std::ios::in | std::ios::out | std::ios::binary);
    auto size = std::filesystem::file_size(e.path());
    std::string bytes(64, '\0');
    f.seekg(static_cast<std::streamoff>(size / 2));
    f.read(bytes.data(), 64);
    for (char& c : bytes) c = static_cast<char>(~c);
    f.seekp(static_cast<std::streamoff>(size / 2));
    f.write(bytes.data(), 64);
  }
}

TEST_F(ApiOperationsTest, ADrillPassesOnAGoodBackupAndFailsAndAlertsOnACorruptedOne) {
  WebhookReceiver hooks;
  StartDaemon({"--alert-webhook", hooks.url()});
  CreateInstanceWithRows("drilled", 5000);
  ASSERT_EQ(daemon_.Post("/instances/drilled/backup", json{{"backupName", "b1"}}).status, 201);

  auto good = daemon_.Post("/instances/drilled/backups/b1/verify", json::object());
  ASSERT_EQ(good.status, 200) << good.raw;
  EXPECT_EQ(good.body["passed"], true) << good.raw;
  json drill = good.body["drill"];
  EXPECT_EQ(drill["status"], "passed");
  EXPECT_EQ(drill["checker"], "pg_amcheck");
  EXPECT_EQ(drill["fileChecker"], "pg_verifybackup");  // before the server first started
  EXPECT_GT(drill["fileCheckSeconds"].get<double>(), 0);
  EXPECT_GT(drill["seconds"].get<double>(),
            drill["rtoSeconds"].get<double>() + drill["fileCheckSeconds"].get<double>());
  EXPECT_EQ(drill["problems"], json::array());
  EXPECT_EQ(drill["rows"], 5000);
  EXPECT_EQ(drill["rowCounts"]["app.public.t"], 5000);
  EXPECT_GT(drill["rtoSeconds"].get<double>(), 0);
  EXPECT_EQ(daemon_.Get("/instances/drilled/backups/b1").body["backup"]["drill"]["status"],
            "passed");
  // The scratch instance is gone, its server with it.
  EXPECT_TRUE(std::filesystem::is_empty(daemon_.data_root() + "/drills"));
  EXPECT_TRUE(PostmastersUnder(daemon_.data_root() + "/drills").empty());
  auto m = Metrics();
  EXPECT_EQ(m[R"(dbaas_drills_total{instance="drilled",result="success"})"], 1);
  EXPECT_GT(m[R"(dbaas_last_drill_rto_seconds{instance="drilled"})"], 0);
  EXPECT_EQ(m[R"(dbaas_backups_drill_failed{instance="drilled"})"], 0);

  EXPECT_EQ(daemon_.Post("/instances/drilled/backups/nope/verify", json::object()).status, 404);
  EXPECT_EQ(daemon_.Post("/instances/drilled/backups/b1/verify", json{{"x", 1}}).status, 400);

  CorruptPacks(daemon_.data_root() + "/repository");
  auto bad = daemon_.Post("/instances/drilled/backups/b1/verify", json::object());
  ASSERT_EQ(bad.status, 200) << bad.raw;
  EXPECT_EQ(bad.body["passed"], false);
  EXPECT_EQ(bad.body["drill"]["status"], "failed");
  // Which check catches the damage depends on where it fell: the blob's checksum or its
  // decompression.
  std::string problem = bad.body["drill"]["problems"][0];
  EXPECT_NE(problem.find("restore failed: corruption"), std::string::npos) << problem;
  EXPECT_EQ(daemon_.Get("/instances/drilled/backups/b1").body["backup"]["drill"]["status"],
            "failed");
  m = Metrics();
  EXPECT_EQ(m[R"(dbaas_drills_total{instance="drilled",result="failure"})"], 1);
  EXPECT_EQ(m[R"(dbaas_backups_drill_failed{instance="drilled"})"], 1);
  EXPECT_EQ(m.count(R"(dbaas_last_good_backup_timestamp_seconds{instance="drilled"})"), 0u)
      << "a backup that failed its drill is not a good backup";

  auto alert = hooks.WaitFor("drill_failed", seconds(20));
  ASSERT_TRUE(alert.has_value()) << "no drill_failed alert reached the webhook";
  EXPECT_EQ((*alert)["instance"], "drilled");
  EXPECT_EQ((*alert)["backup"], "b1");
  EXPECT_NE((*alert)["message"].get<std::string>().find("corruption"), std::string::npos);
  // The delivery is counted once the receiver has answered, which may be after the test
  // saw the body.
  double delivered = 0;
  for (int i = 0; i < 50 && delivered < 1; ++i) {
    delivered = Metrics()[R"(dbaas_alerts_total{kind="drill_failed",result="delivered"})"];
    if (delivered < 1) std::this_thread::sleep_for(std::chrono::milliseconds(100));
  }
  EXPECT_EQ(delivered, 1);
  // The failed backup is not the instance's last good one: nothing protects it from
  // deletion, but the instance itself is untouched.
  EXPECT_EQ(Psql(daemon_, "drilled", "select count(*) from t").value_or(""), "5000");
}

TEST_F(ApiOperationsTest, ADrillCutOffByAKillLeavesNoScratchInstanceAfterRestart) {
  StartDaemon();
  CreateInstanceWithRows("cut", 200000);
  ASSERT_EQ(daemon_.Post("/instances/cut/backup", json{{"backupName", "c1"}}).status, 201);
  auto started = daemon_.Post("/instances/cut/backups/c1/verify?async=true", json::object());
  ASSERT_EQ(started.status, 202) << started.raw;
  std::string job = started.body["jobId"];
  // Killed once the scratch instance exists (its server may be up already).
  std::string drills = daemon_.data_root() + "/drills";
  for (int i = 0; i < 600 && std::filesystem::is_empty(drills); ++i) {
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  ASSERT_FALSE(std::filesystem::is_empty(drills)) << "the drill never made its scratch instance";
  daemon_.Kill();
  StartDaemon();
  EXPECT_TRUE(std::filesystem::is_empty(drills));
  EXPECT_TRUE(PostmastersUnder(drills).empty()) << "a scratch server outlived the restart";
  json ended = daemon_.Get("/jobs/" + job).body["job"];
  EXPECT_EQ(ended["status"], "failed");
  EXPECT_EQ(ended["error"]["code"], "interrupted");
  // The backup is not marked by the cut-off drill, and a new drill passes.
  EXPECT_TRUE(daemon_.Get("/instances/cut/backups/c1").body["backup"]["drill"].is_null());
  auto again = daemon_.Post("/instances/cut/backups/c1/verify", json::object());
  EXPECT_EQ(again.body["passed"], true) << again.raw;
}

// Runs chattr on `path` (the immutable flag stops even root from making files in it).
bool Chattr(const std::string& flag, const std::string& path) {
  ProcessOptions o;
  o.argv = {"chattr", flag, path};
  auto ran = RunProcess(o, seconds(10));
  return ran.ok() && ran->exit_code == 0;
}

TEST_F(ApiOperationsTest, FailingBackupsAStaleScheduleAndAFullDiskAlertOnce) {
  WebhookReceiver hooks;
  // Any disk is more than 1% full: the disk alert must fire, once. A dead receiver comes
  // first: it must not hold up the live one (each retries on its own).
  StartDaemon({"--alert-webhook", "http://127.0.0.1:1/dead", "--alert-webhook", hooks.url(),
               "--disk-alert-percent", "1"});
  auto disk = hooks.WaitFor("disk_usage_high", seconds(30));
  ASSERT_TRUE(disk.has_value()) << "no disk_usage_high alert";
  EXPECT_GE((*disk)["details"]["usedPercent"].get<double>(), 1);
  CreateInstanceWithRows("stale", 10);

  // Backups fail while the repository's tmp/ (where packs are written) takes no files.
  std::string tmp = daemon_.data_root() + "/repository/tmp";
  if (!Chattr("+i", tmp)) GTEST_SKIP() << "chattr +i is not possible here (needs root, ext4)";
  struct Unfreeze {
    std::string path;
    void Now() {
      if (!path.empty()) Chattr("-i", path);
      path.clear();
    }
    ~Unfreeze() { Now(); }
  } unfreeze{tmp};
  auto made = daemon_.Post("/instances/stale/schedules", json{{"cron", "*/2 * * * * *"}});
  ASSERT_EQ(made.status, 201) << made.raw;
  std::string id = made.body["schedule"]["id"];
  auto failed = hooks.WaitFor("backup_failed", seconds(30));
  ASSERT_TRUE(failed.has_value()) << "no backup_failed alert";
  EXPECT_EQ((*failed)["instance"], "stale");
  EXPECT_NE((*failed)["message"].get<std::string>().find("tmp"), std::string::npos)
      << (*failed)["message"];
  // No good backup for twice the 2 s period.
  auto stale = hooks.WaitFor("no_recent_backup", seconds(40));
  ASSERT_TRUE(stale.has_value()) << "no no_recent_backup alert";
  EXPECT_EQ((*stale)["instance"], "stale");
  EXPECT_EQ((*stale)["details"]["schedule"], id);
  EXPECT_GE(Metrics()[R"(dbaas_backups_total{instance="stale",result="failure"})"], 1);
  // Runs alternate between started and failed every 2 s.
  bool seen_failed = false;
  for (int i = 0; i < 100 && !seen_failed; ++i) {
    seen_failed =
        daemon_.Get("/instances/stale/schedules").body["schedules"][0]["lastStatus"] == "failed";
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
  }
  EXPECT_TRUE(seen_failed);
  EXPECT_EQ(ReadyBackups("stale"), 0) << "a failed backup is never ready";

  // Repaired: backups succeed again; each condition alerted once per episode.
  unfreeze.Now();
  auto deadline = std::chrono::steady_clock::now() + seconds(60);
  while (std::chrono::steady_clock::now() < deadline && ReadyBackups("stale") == 0) {
    std::this_thread::sleep_for(std::chrono::milliseconds(200));
  }
  EXPECT_GT(ReadyBackups("stale"), 0);
  ASSERT_EQ(daemon_.Delete("/instances/stale/schedules/" + id).status, 200);
  WaitNoJobs();
  EXPECT_EQ(hooks.Count("disk_usage_high"), 1);
  EXPECT_EQ(hooks.Count("no_recent_backup"), 1);
  // The dead receiver's deliveries end as failures after their retries, and are counted.
  const std::string undelivered = R"(dbaas_alerts_total{kind="disk_usage_high",result="failed"})";
  for (int i = 0; i < 300 && Metrics()[undelivered] < 1; ++i) {
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
  }
  EXPECT_EQ(Metrics()[undelivered], 1);
  EXPECT_EQ(Metrics()[R"(dbaas_alerts_total{kind="disk_usage_high",result="delivered"})"], 1);
}

TEST_F(ApiOperationsTest, AMariaDbDrillChecksEveryTableAndCountsItsRows) {
  StartDaemon();
  // Superuser access: the drill must find a database of any name.
  auto made = daemon_.Post("/instances",
                           json{{"name", "maria"}, {"type", "mariadb"}, {"superuserAccess", true}});
  ASSERT_EQ(made.status, 201) << made.raw;
  auto loaded = MariaSql(daemon_, "maria",
                         "create database shop; create table shop.orders (id int primary key, "
                         "v varchar(40)) engine=InnoDB; insert into shop.orders select seq, "
                         "md5(seq) from shop.seq_1_to_3000; create table shop.`odd``name` (x int); "
                         "insert into shop.`odd``name` values (1), (2)",
                         /*superuser=*/true);
  ASSERT_TRUE(loaded.ok()) << loaded.status().ToString();
  ASSERT_EQ(daemon_.Post("/instances/maria/backup", json{{"backupName", "m1"}}).status, 201);
  auto drill = daemon_.Post("/instances/maria/backups/m1/verify", json::object());
  ASSERT_EQ(drill.status, 200) << drill.raw;
  EXPECT_EQ(drill.body["passed"], true) << drill.raw;
  EXPECT_EQ(drill.body["drill"]["checker"], "CHECK TABLE");
  EXPECT_EQ(drill.body["drill"]["tables"], 2);
  EXPECT_EQ(drill.body["drill"]["rows"], 3002);
  EXPECT_EQ(drill.body["drill"]["rowCounts"]["shop.orders"], 3000);
  EXPECT_EQ(drill.body["drill"]["rowCounts"]["shop.odd`name"], 2);
  EXPECT_TRUE(std::filesystem::is_empty(daemon_.data_root() + "/drills"));
}

TEST_F(ApiOperationsTest, SlotsMissedWhileTheDaemonWasDownRunOnceAtStart) {
  StartDaemon();
  CreateInstanceWithRows("late", 10);
  // Daily at an hour twelve hours away: no slot falls due during the test by itself.
  std::time_t now = std::time(nullptr);
  std::tm utc;
  ::gmtime_r(&now, &utc);
  std::string cron = fmt::format("0 {} * * *", (utc.tm_hour + 12) % 24);
  auto made = daemon_.Post("/instances/late/schedules", json{{"cron", cron}});
  ASSERT_EQ(made.status, 201) << made.raw;
  std::string id = made.body["schedule"]["id"];
  ASSERT_TRUE(daemon_.Stop().ok());

  {
    // Three days of slots missed: the last one handled was three days ago.
    auto catalog = catalog::Catalog::Open(daemon_.data_root() + "/catalog.db");
    ASSERT_TRUE(catalog.ok());
    auto schedule = (*catalog)->GetSchedule(id);
    ASSERT_TRUE(schedule.ok());
    schedule->created_at = schedule->last_slot_at =
        catalog::FormatRfc3339(std::chrono::system_clock::now() - std::chrono::hours(72));
    ASSERT_TRUE((*catalog)->UpdateSchedule(schedule.value()).ok());
  }
  StartDaemon();
  auto deadline = std::chrono::steady_clock::now() + seconds(60);
  json s;
  while (std::chrono::steady_clock::now() < deadline) {
    s = daemon_.Get("/instances/late/schedules").body["schedules"][0];
    if (s["lastStatus"] == "succeeded") break;
    std::this_thread::sleep_for(std::chrono::milliseconds(200));
  }
  EXPECT_EQ(s["lastStatus"], "succeeded") << s.dump();
  std::this_thread::sleep_for(seconds(3));
  WaitNoJobs();
  EXPECT_EQ(Backups("late").size(), 1u) << "three missed slots run once, not three times";
  // The next run is the next slot, hours away, not another catch-up.
  auto next = catalog::ParseRfc3339(daemon_.Get("/instances/late/schedules")
                                        .body["schedules"][0]["nextRunAt"]
                                        .get<std::string>());
  ASSERT_TRUE(next.ok());
  EXPECT_GT(next.value(), (static_cast<int64_t>(std::time(nullptr)) + 3600) * 1000000);
}

TEST_F(ApiOperationsTest, BackupsAndTheirWalGoToTheBucketAndAFailedCopyIsTriedAgain) {
  auto server = S3TestServer::Start(root_ / "s3", "offsite");
  ASSERT_TRUE(server.ok()) << server.status().ToString();
  const std::string config = WriteOffsiteConfig(
      root_.path(), server->endpoint(),
      {{"copyIntervalSeconds", 0.5}, {"copyBehindSeconds", 3}, {"remoteGcGraceSeconds", 0}});
  WebhookReceiver hooks;
  StartDaemon({"--config", config, "--alert-webhook", hooks.url()});
  CreateInstanceWithRows("shipped", 2000);
  auto bucket =
      objstore::S3Client::Create(server->Location("offsite"), S3TestServer::GoodCredentials())
          .value();

  // Copied as part of the backup's job.
  auto made = daemon_.Post("/instances/shipped/backup",
                           json{{"backupName", "b1"}, {"repositories", {"offsite"}}});
  ASSERT_EQ(made.status, 201) << made.raw;
  EXPECT_EQ(made.body["backup"]["copies"]["offsite"]["state"], "copied") << made.raw;
  EXPECT_GT(made.body["backup"]["copies"]["offsite"]["bytes"].get<uint64_t>(), 100000u);
  EXPECT_EQ(bucket->List("snapshots/")->size(), 3u)
      << "the manifest, its blob list and the backup's record";
  // The WAL follows within a few copy intervals: the segment the backup ended, its history.
  bool wal_shipped = false;
  for (int i = 0; i < 100 && !wal_shipped; ++i) {
    wal_shipped = !bucket->List("wal/")->empty();
    if (!wal_shipped) std::this_thread::sleep_for(std::chrono::milliseconds(200));
  }
  EXPECT_TRUE(wal_shipped);

  // Schedules name the repositories of their backups.
  auto schedule = daemon_.Post("/instances/shipped/schedules",
                               json{{"cron", "0 3 * * *"}, {"repositories", {"offsite"}}});
  ASSERT_EQ(schedule.status, 201) << schedule.raw;
  EXPECT_EQ(schedule.body["schedule"]["repositories"], json({"offsite"}));
  EXPECT_EQ(daemon_
                .Post("/instances/shipped/schedules",
                      json{{"cron", "0 3 * * *"}, {"repositories", {"elsewhere"}}})
                .status,
            400);

  // Bad names are refused and change nothing.
  auto unknown = daemon_.Post("/instances/shipped/backup", json{{"repositories", {"elsewhere"}}});
  EXPECT_EQ(unknown.status, 400) << unknown.raw;
  EXPECT_NE(unknown.raw.find("not configured"), std::string::npos) << unknown.raw;
  EXPECT_EQ(daemon_.Post("/instances/shipped/backups/b1/copy", json{{"to", "../x"}}).status, 400);
  EXPECT_EQ(daemon_.Post("/instances/shipped/backups/nosuch/copy", json{{"to", "offsite"}}).status,
            404);
  EXPECT_EQ(ReadyBackups("shipped"), 1);

  // The bucket fails every write for a while: the backup is made, its copy says failed,
  // the lag grows and alerts; once the bucket is back, the copy is made again unasked.
  ASSERT_TRUE(
      server->InjectFault(R"({"method":"PUT","status":503,"code":"SlowDown","count":100000})")
          .ok());
  auto second = daemon_.Post("/instances/shipped/backup",
                             json{{"backupName", "b2"}, {"repositories", {"offsite"}}});
  ASSERT_EQ(second.status, 201) << second.raw;
  EXPECT_EQ(second.body["backup"]["state"], "ready");
  EXPECT_EQ(second.body["backup"]["copies"]["offsite"]["state"], "failed") << second.raw;
  EXPECT_NE(second.body["backup"]["copies"]["offsite"]["error"].get<std::string>().find("503"),
            std::string::npos);
  auto alert = hooks.WaitFor("copy_behind", seconds(30));
  ASSERT_TRUE(alert.has_value()) << "no copy_behind alert";
  EXPECT_EQ((*alert)["details"]["repository"], "offsite");
  auto metrics = Metrics();
  EXPECT_GT(metrics[R"(dbaas_repository_copy_lag_seconds{repository="offsite"})"], 2.0);
  EXPECT_GT(metrics[R"(dbaas_repository_copy_failures_total{repository="offsite"})"], 0.0);
  ASSERT_TRUE(server->ClearFaults().ok());
  std::string state;
  for (int i = 0; i < 150 && state != "copied"; ++i) {
    std::this_thread::sleep_for(std::chrono::milliseconds(200));
    state = daemon_.Get("/instances/shipped/backups/b2")
                .body["backup"]["copies"]["offsite"]
                .value("state", "");
  }
  EXPECT_EQ(state, "copied");
  EXPECT_EQ(bucket->List("snapshots/")->size(), 6u);
  metrics = Metrics();
  EXPECT_EQ(metrics[R"(dbaas_repository_copy_lag_seconds{repository="offsite"})"], 0.0);
  EXPECT_GT(metrics[R"(dbaas_repository_bytes_sent_total{repository="offsite"})"], 100000.0);

  // Asked for again: nothing is sent again, and the first copy's record stays.
  auto before = bucket->List("")->size();
  auto again = daemon_.Post("/instances/shipped/backups/b1/copy", json{{"to", "offsite"}});
  ASSERT_EQ(again.status, 200) << again.raw;
  EXPECT_EQ(again.body["copy"], made.body["backup"]["copies"]["offsite"]);
  EXPECT_EQ(bucket->List("")->size(), before);

  // The daemon killed while a copy is under way (every write held 2 s by the bucket): after
  // the restart the copy is made without being asked again.
  ASSERT_TRUE(server->InjectFault(R"({"method":"PUT","delayMs":2000,"count":100000})").ok());
  auto third = daemon_.Post("/instances/shipped/backup?async=true",
                            json{{"backupName", "b3"}, {"repositories", {"offsite"}}});
  ASSERT_EQ(third.status, 202) << third.raw;
  json b3 = json::object();
  for (int i = 0; i < 300 && b3.value("state", "") != "ready"; ++i) {
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
    json got = daemon_.Get("/instances/shipped/backups/b3").body["backup"];
    if (got.is_object()) b3 = got;
  }
  ASSERT_EQ(b3["state"], "ready");
  EXPECT_EQ(b3["copies"]["offsite"]["state"], "pending") << "killed before the copy was made";
  daemon_.Kill();
  ASSERT_TRUE(server->ClearFaults().ok());
  StartDaemon({"--config", config, "--alert-webhook", hooks.url()});
  std::string b3_copy;
  for (int i = 0; i < 150 && b3_copy != "copied"; ++i) {
    std::this_thread::sleep_for(std::chrono::milliseconds(200));
    b3_copy = daemon_.Get("/instances/shipped/backups/b3")
                  .body["backup"]["copies"]["offsite"]
                  .value("state", "");
  }
  EXPECT_EQ(b3_copy, "copied");

  // The local copy of b1 is lost (removed offline, its data collected): the next start
  // finds it gone (local: false), and a restore fetches it from the bucket first, named or
  // not (this used to fail without the bucket named).
  ASSERT_TRUE(daemon_.Stop().ok());
  std::string repository = daemon_.data_root() + "/repository";
  std::string snapshot = made.body["backup"]["snapshotId"];
  RemoveOffline(repository, snapshot);
  StartDaemon({"--config", config, "--alert-webhook", hooks.url()});
  EXPECT_EQ(daemon_.Get("/instances/shipped/backups/b1").body["backup"]["local"], false);
  auto without = daemon_.Post("/instances/shipped/restore",
                              json{{"backupName", "b1"}, {"newInstanceName", "lost"}});
  ASSERT_EQ(without.status, 201) << without.raw;
  EXPECT_EQ(Psql(daemon_, "lost", "select count(*) from t").value_or(""), "2000");
  EXPECT_EQ(daemon_.Get("/instances/shipped/backups/b1").body["backup"]["local"], true);
  ASSERT_EQ(daemon_.Delete("/instances/lost").status, 200);
  // Lost again, for what follows.
  ASSERT_TRUE(daemon_.Stop().ok());
  RemoveOffline(repository, snapshot);
  StartDaemon({"--config", config, "--alert-webhook", hooks.url()});
  auto from_bucket = daemon_.Post(
      "/instances/shipped/restore",
      json{{"backupName", "b1"}, {"newInstanceName", "fetched"}, {"repository", "offsite"}});
  ASSERT_EQ(from_bucket.status, 201) << from_bucket.raw;
  auto rows = Psql(daemon_, "fetched", "select count(*) from t");
  ASSERT_TRUE(rows.ok()) << rows.status().ToString();
  EXPECT_EQ(*rows, "2000");
  // Refused up front: a repository that is not configured, or without a copy of the backup.
  EXPECT_EQ(daemon_
                .Post("/instances/shipped/restore", json{{"backupName", "b1"},
                                                         {"newInstanceName", "again"},
                                                         {"repository", "elsewhere"}})
                .status,
            400);
  ASSERT_EQ(daemon_.Post("/instances/shipped/backup", json{{"backupName", "b4"}}).status, 201);
  auto uncopied = daemon_.Post(
      "/instances/shipped/restore",
      json{{"backupName", "b4"}, {"newInstanceName", "again"}, {"repository", "offsite"}});
  EXPECT_EQ(uncopied.status, 409) << uncopied.raw;
  EXPECT_NE(uncopied.raw.find("has no copy in repository 'offsite'"), std::string::npos);

  // The local WAL archive and b3's snapshot lost: a restore to a restore point from the
  // bucket fetches the WAL the bucket holds first, then the backup.
  ASSERT_TRUE(
      Psql(daemon_, "shipped", "insert into t select g, 'late' from generate_series(3001, 3500) g")
          .ok());
  auto point = daemon_.Post("/instances/shipped/restore-points", json{{"name", "after-late"}});
  ASSERT_EQ(point.status, 201) << point.raw;
  std::string archive = point.body["restorePoint"]["walArchive"];
  // Its segment (timeline 1) reaches the bucket with the next shipping.
  unsigned hi = 0, lo = 0;
  ASSERT_EQ(
      std::sscanf(point.body["restorePoint"]["lsn"].get<std::string>().c_str(), "%X/%X", &hi, &lo),
      2);
  std::string segment = fmt::format("wal/{}/00000001{:08X}{:08X}", archive, hi, lo >> 24);
  bool shipped = false;
  for (int i = 0; i < 150 && !shipped; ++i) {
    for (const auto& object : bucket->List("wal/").value_or(std::vector<objstore::ObjectInfo>{})) {
      shipped = shipped || object.key.starts_with(segment);
    }
    if (!shipped) std::this_thread::sleep_for(std::chrono::milliseconds(200));
  }
  ASSERT_TRUE(shipped) << segment << " never reached the bucket";
  std::string b3_snapshot =
      daemon_.Get("/instances/shipped/backups/b3").body["backup"]["snapshotId"];
  ASSERT_TRUE(daemon_.Stop().ok());
  std::filesystem::remove_all(repository + "/wal/" + archive);
  RemoveOffline(repository, b3_snapshot);
  StartDaemon({"--config", config, "--alert-webhook", hooks.url()});
  auto at_point = daemon_.Post("/instances/shipped/restore", json{{"backupName", "b3"},
                                                                  {"newInstanceName", "then"},
                                                                  {"targetName", "after-late"},
                                                                  {"repository", "offsite"}});
  ASSERT_EQ(at_point.status, 201) << at_point.raw;
  EXPECT_EQ(Psql(daemon_, "then", "select count(*) from t").value_or(""), "2500");
  // No backup named: the newest before the target copied there (b3, not the uncopied b4).
  auto newest_copied = daemon_.Post(
      "/instances/shipped/restore",
      json{{"newInstanceName", "then2"}, {"targetName", "after-late"}, {"repository", "offsite"}});
  ASSERT_EQ(newest_copied.status, 201) << newest_copied.raw;
  EXPECT_EQ(newest_copied.body["instance"]["restoredFrom"]["backupName"], "b3");
  EXPECT_EQ(Psql(daemon_, "then2", "select count(*) from t").value_or(""), "2500");
  auto not_copied = daemon_.Post("/instances/shipped/restore", json{{"backupName", "b4"},
                                                                    {"newInstanceName", "x"},
                                                                    {"target", "latest"},
                                                                    {"repository", "offsite"}});
  EXPECT_EQ(not_copied.status, 409) << not_copied.raw;

  // A deleted backup's copy goes from the bucket too (the copier's next tick), and its data
  // with the bucket's gc; the other copies stay.
  auto objects_of = [&](const std::string& snapshot_id) {
    size_t n = 0;
    for (const auto& object :
         bucket->List("snapshots/").value_or(std::vector<objstore::ObjectInfo>{})) {
      n += object.key.find(snapshot_id) != std::string::npos;
    }
    return n;
  };
  ASSERT_EQ(objects_of(b3_snapshot), 3u) << "manifest, blob list, record";
  // The WAL archive of an instance deleted without backups goes from the bucket too, once
  // the local repository drops it (with the next backup or backup deletion).
  auto fetched_wal = [&] {
    size_t n = 0;
    for (const auto& object :
         bucket->List("wal/fetched.").value_or(std::vector<objstore::ObjectInfo>{})) {
      n += object.key.starts_with("wal/fetched.");
    }
    return n;
  };
  for (int i = 0; i < 100 && fetched_wal() == 0; ++i) {
    std::this_thread::sleep_for(std::chrono::milliseconds(200));
  }
  ASSERT_GT(fetched_wal(), 0u) << "the restored instance's WAL was never shipped";
  ASSERT_EQ(daemon_.Delete("/instances/fetched").status, 200);
  ASSERT_EQ(daemon_.Delete("/instances/shipped/backups/b3").status, 200);
  for (int i = 0; i < 100 && objects_of(b3_snapshot) > 0; ++i) {
    std::this_thread::sleep_for(std::chrono::milliseconds(200));
  }
  EXPECT_EQ(objects_of(b3_snapshot), 0u) << "b3's copy stayed in the bucket";
  for (int i = 0; i < 100 && fetched_wal() > 0; ++i) {
    std::this_thread::sleep_for(std::chrono::milliseconds(200));
  }
  EXPECT_EQ(fetched_wal(), 0u) << "the deleted instance's WAL archive stayed in the bucket";
  for (const auto& object : bucket->List("wal/").value_or(std::vector<objstore::ObjectInfo>{})) {
    EXPECT_FALSE(object.key.starts_with("wal/fetched."));
  }
  EXPECT_GT(bucket->List("wal/shipped.")->size(), 0u) << "a live instance's archive stays";
  EXPECT_EQ(objects_of(snapshot), 3u) << "b1's copy stays";
  EXPECT_TRUE(daemon_.WaitLogSays("event=remote_gc repository=offsite"));
}

}  // namespace
}  // namespace dbaas::testing
