// MariaDB point-in-time recovery through the REST API: a real dbaasd archiving the binlogs
// of real MariaDB servers into its repository, with a short recovery point objective
// (binlogArchiveSeconds), and shipping them to an S3 bucket (a loopback s3rver).
#include <sys/stat.h>
#include <unistd.h>

#include <chrono>
#include <filesystem>
#include <thread>

#include <fmt/format.h>
#include <gtest/gtest.h>

#include "catalog/catalog.h"
#include "daemon.h"
#include "objstore/s3_client.h"
#include "objstore/s3_test_server.h"
#include "observers.h"
#include "test_util.h"

namespace dbaas::testing {
namespace {

using nlohmann::json;
using std::chrono::milliseconds;

class ApiMariaPitrTest : public ::testing::Test {
 protected:
  void SetUp() override {
    if (::access("/usr/sbin/mariadbd", X_OK) != 0) GTEST_SKIP() << "mariadb-server missing";
    ::chmod(root_.path().c_str(), 0711);
    WriteFile(root_ / "dbaasd.json", json{{"binlogArchiveSeconds", 2}}.dump());
    Status st =
        daemon_.Start({}, {"--config", root_ / "dbaasd.json", "--alert-webhook", hooks_.url()});
    ASSERT_TRUE(st.ok()) << st.ToString();
    started_ = true;
    ASSERT_EQ(daemon_.Post("/instances", json{{"name", "shop"}, {"type", "mariadb"}}).status, 201);
    ASSERT_TRUE(Sql("CREATE TABLE rows_ (id INT AUTO_INCREMENT PRIMARY KEY, batch INT)").ok());
  }
  void TearDown() override {
    if (!started_) return;
    auto code = daemon_.Stop();
    EXPECT_TRUE(code.ok() && code.value() == 0) << "dbaasd did not exit cleanly on SIGTERM";
  }
  Result<std::string> Sql(const std::string& sql, const std::string& instance = "shop") {
    return MariaSql(daemon_, instance, "USE app; " + sql);
  }
  void Insert(int batch) {
    ASSERT_TRUE(
        Sql(fmt::format("INSERT INTO rows_ (batch) SELECT {} FROM seq_1_to_50", batch)).ok());
  }
  std::string Batches(const std::string& instance) {
    return Sql("SELECT GROUP_CONCAT(CONCAT(batch, ':', n) ORDER BY batch) FROM "
               "(SELECT batch, COUNT(*) n FROM rows_ GROUP BY batch) s",
               instance)
        .value_or("query failed");
  }
  HttpAnswer RestoreTo(const std::string& name, json target) {
    target["newInstanceName"] = name;
    return daemon_.Post("/instances/shop/restore", target);
  }
  std::string Gtid() { return Sql("SELECT @@gtid_binlog_pos").value_or(""); }

  TempDir root_;
  WebhookReceiver hooks_;
  Daemon daemon_{root_ / "data"};
  bool started_ = false;
};

TEST_F(ApiMariaPitrTest, RestoresToTimeGtidRestorePointAndLatestEvenAfterTheSourceIsGone) {
  // No backup yet: nothing to recover from.
  EXPECT_EQ(daemon_.Get("/instances/shop/recovery-window").status, 409);
  Insert(1);
  auto base = daemon_.Post("/instances/shop/backup", json{{"backupName", "base"}});
  ASSERT_EQ(base.status, 201) << base.raw;
  auto listed = daemon_.Get("/instances/shop/backups/base");
  ASSERT_EQ(listed.status, 200) << listed.raw;
  const json& b = listed.body.contains("backup") ? listed.body["backup"] : listed.body;
  EXPECT_TRUE(b.value("binlogPosition", "").starts_with("binlog.")) << listed.raw;
  EXPECT_FALSE(b.contains("startLsn")) << listed.raw;

  Insert(2);
  const std::string after_2_gtid = Gtid();
  // Batches more than a second apart: binlog event times are whole seconds.
  std::this_thread::sleep_for(milliseconds(1200));
  const std::string between_2_and_3 =
      catalog::FormatRfc3339Us(std::chrono::duration_cast<std::chrono::microseconds>(
                                   std::chrono::system_clock::now().time_since_epoch())
                                   .count());
  std::this_thread::sleep_for(milliseconds(1200));
  Insert(3);
  auto point = daemon_.Post("/instances/shop/restore-points", json{{"name", "after-3"}});
  ASSERT_EQ(point.status, 201) << point.raw;
  EXPECT_TRUE(point.body["restorePoint"]["lsn"].get<std::string>().starts_with("binlog."));
  EXPECT_EQ(point.body["restorePoint"].value("gtid", ""), Gtid()) << point.raw;
  Insert(4);
  const std::string after_4_gtid = Gtid();

  // Within the recovery point objective (2 s), batch 4 is archived with no restore asking.
  json w;
  for (int i = 0; i < 50; ++i) {
    auto window = daemon_.Get("/instances/shop/recovery-window");
    ASSERT_EQ(window.status, 200) << window.raw;
    w = window.body["recoveryWindow"];
    if (w["latestGtid"] == after_4_gtid) break;
    std::this_thread::sleep_for(milliseconds(200));
  }
  EXPECT_EQ(w["latestGtid"], after_4_gtid) << w.dump();
  EXPECT_FALSE(w["earliestGtid"].get<std::string>().empty()) << w.dump();
  EXPECT_TRUE(w["earliestLsn"].is_null()) << w.dump();
  EXPECT_TRUE(w["lastArchivedBinlog"].get<std::string>().starts_with("binlog.")) << w.dump();
  EXPECT_LT(w["earliestTime"].get<std::string>(), between_2_and_3);

  auto at_time = RestoreTo("at-time", {{"targetTime", between_2_and_3}});
  ASSERT_EQ(at_time.status, 201) << at_time.raw;
  EXPECT_EQ(at_time.body["instance"]["restoredFrom"]["backupName"], "base");
  EXPECT_EQ(Batches("at-time"), "1:50,2:50");
  auto at_gtid = RestoreTo("at-gtid", {{"targetGtid", after_2_gtid}});
  ASSERT_EQ(at_gtid.status, 201) << at_gtid.raw;
  EXPECT_EQ(at_gtid.body["instance"]["restoredFrom"]["target"]["kind"], "gtid");
  EXPECT_EQ(Batches("at-gtid"), "1:50,2:50");
  auto at_point = RestoreTo("at-point", {{"targetName", "after-3"}});
  ASSERT_EQ(at_point.status, 201) << at_point.raw;
  EXPECT_EQ(Batches("at-point"), "1:50,2:50,3:50");

  // Out of reach: refused, nothing made.
  auto before = RestoreTo("x", {{"targetTime", "2001-01-01T00:00:00Z"}});
  EXPECT_EQ(before.status, 400) << before.raw;
  EXPECT_EQ(RestoreTo("x", {{"targetTime", "2099-01-01T00:00:00Z"}}).status, 400);
  EXPECT_EQ(RestoreTo("x", {{"targetGtid", "0-1-999999"}}).status, 400);
  EXPECT_EQ(RestoreTo("x", {{"targetGtid", "not-a-gtid"}}).status, 400);
  EXPECT_EQ(RestoreTo("x", {{"targetName", "unknown-point"}}).status, 400);
  EXPECT_EQ(daemon_.Get("/instances/x").status, 404);

  // Deleting the source archives its last writes; latest still has them.
  Insert(5);
  ASSERT_EQ(daemon_.Delete("/instances/shop").status, 200);
  auto revived = RestoreTo("revived", {{"target", "latest"}});
  ASSERT_EQ(revived.status, 201) << revived.raw;
  EXPECT_EQ(Batches("revived"), "1:50,2:50,3:50,4:50,5:50");
}

// An archive that cannot be written: the instance's status, /metrics and an alert say so,
// and the server keeps every binlog until the archive takes them.
TEST_F(ApiMariaPitrTest, AFailingArchiveIsReportedAndLosesNothing) {
  Insert(1);
  ASSERT_EQ(daemon_.Post("/instances/shop/backup", json{{"backupName", "base"}}).status, 201);
  std::string archive;
  for (const auto& e :
       std::filesystem::directory_iterator(daemon_.data_root() + "/repository/wal")) {
    if (e.path().filename().string().starts_with("shop.")) archive = e.path().string();
  }
  ASSERT_FALSE(archive.empty());
  ASSERT_EQ(::rename(archive.c_str(), (archive + ".away").c_str()), 0);
  WriteFile(archive, "not a directory");
  Insert(2);
  auto alert = hooks_.WaitFor("archiving_failed", std::chrono::seconds(30));
  ASSERT_TRUE(alert.has_value()) << "no archiving_failed alert";
  EXPECT_EQ((*alert)["instance"], "shop");
  auto status = daemon_.Get("/instances/shop");
  EXPECT_NE(status.raw.find("cannot be moved"), std::string::npos) << status.raw;
  auto metrics = ParseMetrics(daemon_.Get("/metrics").raw);
  EXPECT_EQ(metrics["dbaas_log_archiving_failing{instance=\"shop\"}"], 1);

  ASSERT_EQ(::unlink(archive.c_str()), 0);
  ASSERT_EQ(::rename((archive + ".away").c_str(), archive.c_str()), 0);
  const std::string gtid = Gtid();
  json w;
  for (int i = 0; i < 50; ++i) {
    w = daemon_.Get("/instances/shop/recovery-window").body["recoveryWindow"];
    if (w["latestGtid"] == gtid) break;
    std::this_thread::sleep_for(milliseconds(200));
  }
  EXPECT_EQ(w["latestGtid"], gtid) << "every binlog reached the archive once it could";
  EXPECT_EQ(
      ParseMetrics(daemon_.Get("/metrics").raw)["dbaas_log_archiving_failing{instance=\"shop\"}"],
      0);
  auto latest = RestoreTo("latest", {{"target", "latest"}});
  ASSERT_EQ(latest.status, 201) << latest.raw;
  EXPECT_EQ(Batches("latest"), "1:50,2:50");
}

// Binlogs go to a bucket with the backups: with the local archive and the backup lost, a
// restore to a restore point comes from the bucket.
TEST_F(ApiMariaPitrTest, BinlogsGoToTheBucketAndARestoreToAPointComesFromIt) {
  auto server = S3TestServer::Start(root_ / "s3", "offsite");
  if (!server.ok()) GTEST_SKIP() << server.status().ToString();
  const std::string config =
      WriteOffsiteConfig(root_.path(), server->endpoint(),
                         {{"copyIntervalSeconds", 0.5}, {"binlogArchiveSeconds", 2}});
  ASSERT_TRUE(daemon_.Stop().ok());
  ASSERT_TRUE(daemon_.Start({}, {"--config", config}).ok());
  auto bucket =
      objstore::S3Client::Create(server->Location("offsite"), S3TestServer::GoodCredentials())
          .value();

  Insert(1);
  auto made = daemon_.Post("/instances/shop/backup",
                           json{{"backupName", "b1"}, {"repositories", {"offsite"}}});
  ASSERT_EQ(made.status, 201) << made.raw;
  EXPECT_EQ(made.body["backup"]["copies"]["offsite"]["state"], "copied") << made.raw;
  Insert(2);
  auto point = daemon_.Post("/instances/shop/restore-points", json{{"name", "after-2"}});
  ASSERT_EQ(point.status, 201) << point.raw;
  Insert(3);  // after the point: not restored
  const std::string archive = point.body["restorePoint"]["walArchive"];
  const std::string position = point.body["restorePoint"]["lsn"];
  const std::string binlog = "wal/" + archive + "/" + position.substr(0, position.find(':'));
  bool shipped = false;
  for (int i = 0; i < 150 && !shipped; ++i) {
    for (const auto& object : bucket->List("wal/").value_or(std::vector<objstore::ObjectInfo>{})) {
      shipped = shipped || object.key.starts_with(binlog);
    }
    if (!shipped) std::this_thread::sleep_for(milliseconds(200));
  }
  ASSERT_TRUE(shipped) << binlog << " never reached the bucket";

  ASSERT_TRUE(daemon_.Stop().ok());
  const std::string repository = daemon_.data_root() + "/repository";
  std::filesystem::remove_all(repository + "/wal/" + archive);
  RemoveOffline(repository, made.body["backup"]["snapshotId"]);
  ASSERT_TRUE(daemon_.Start({}, {"--config", config}).ok());
  auto from_bucket =
      RestoreTo("from-bucket", {{"targetName", "after-2"}, {"repository", "offsite"}});
  ASSERT_EQ(from_bucket.status, 201) << from_bucket.raw;
  EXPECT_EQ(Batches("from-bucket"), "1:50,2:50");
}

}  // namespace
}  // namespace dbaas::testing
