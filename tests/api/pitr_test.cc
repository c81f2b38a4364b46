// Point-in-time recovery through the REST API: a real dbaasd archiving the WAL of real
// PostgreSQL servers into its repository with the dbaas CLI built beside it.
#include <sys/stat.h>

#include <filesystem>
#include <thread>

#include <fmt/format.h>
#include <gtest/gtest.h>

#include "daemon.h"
#include "test_util.h"

namespace dbaas::testing {
namespace {

using nlohmann::json;

class ApiPitrTest : public ::testing::Test {
 protected:
  void SetUp() override {
    ::chmod(root_.path().c_str(), 0711);
    Status st = daemon_.Start();
    ASSERT_TRUE(st.ok()) << st.ToString();
  }
  void TearDown() override {
    auto code = daemon_.Stop();
    EXPECT_TRUE(code.ok() && code.value() == 0) << "dbaasd did not exit cleanly on SIGTERM";
  }
  void Insert(const std::string& instance, int batch, int rows) {
    ASSERT_TRUE(Psql(daemon_, instance,
                     fmt::format("insert into t (batch) select {} from generate_series(1, {})",
                                 batch, rows))
                    .ok());
  }
  std::string Batches(const std::string& instance) {
    return Psql(daemon_, instance,
                "select string_agg(batch || ':' || n, ',' order by batch) from "
                "(select batch, count(*) n from t group by batch) s")
        .value_or("query failed");
  }
  HttpAnswer RestoreTo(const std::string& name, json target) {
    target["newInstanceName"] = name;
    return daemon_.Post("/instances/src/restore", target);
  }
  std::vector<std::string> Archives() {
    std::vector<std::string> ids;
    std::string wal = daemon_.data_root() + "/repository/wal";
    if (!std::filesystem::exists(wal)) return ids;
    for (const auto& e : std::filesystem::directory_iterator(wal)) {
      ids.push_back(e.path().filename().string());
    }
    return ids;
  }

  TempDir root_;
  Daemon daemon_{root_ / "data"};
};

TEST_F(ApiPitrTest, RestoresToTimeRestorePointAndLatestAndRefusesTargetsOutOfReach) {
  ASSERT_EQ(daemon_.Post("/instances", json{{"name", "src"}, {"type", "postgresql"}}).status, 201);
  ASSERT_TRUE(Psql(daemon_, "src", "create table t (id serial primary key, batch int)").ok());
  // No backup yet: nothing to recover from.
  auto none = daemon_.Get("/instances/src/recovery-window");
  EXPECT_EQ(none.status, 409) << none.raw;
  Insert("src", 1, 100);
  ASSERT_EQ(daemon_.Post("/instances/src/backup", json{{"backupName", "base"}}).status, 201);
  Insert("src", 2, 100);
  std::this_thread::sleep_for(std::chrono::milliseconds(50));
  std::string after_2 = Psql(daemon_, "src",
                             "select to_char(clock_timestamp() at time zone 'UTC', "
                             "'YYYY-MM-DD\"T\"HH24:MI:SS.US\"Z\"')")
                            .value();
  std::this_thread::sleep_for(std::chrono::milliseconds(50));
  Insert("src", 3, 100);
  auto point = daemon_.Post("/instances/src/restore-points", json{{"name", "after-3"}});
  ASSERT_EQ(point.status, 201) << point.raw;
  EXPECT_FALSE(point.body["restorePoint"]["lsn"].get<std::string>().empty());
  EXPECT_EQ(daemon_.Post("/instances/src/restore-points", json{{"name", "after-3"}}).status, 409);
  EXPECT_EQ(daemon_.Post("/instances/src/restore-points", json{{"name", "bad name!"}}).status, 400);
  EXPECT_EQ(daemon_.Get("/instances/src/restore-points").body["count"], 1);
  Insert("src", 4, 100);

  auto window = daemon_.Get("/instances/src/recovery-window");
  ASSERT_EQ(window.status, 200) << window.raw;
  const json& w = window.body["recoveryWindow"];
  EXPECT_EQ(w["backups"], 1);
  EXPECT_LT(w["earliestTime"].get<std::string>(), after_2);
  EXPECT_GT(w["latestTime"].get<std::string>(), after_2) << "batch 3 is archived";

  auto at_time = RestoreTo("at-time", {{"targetTime", after_2}});
  ASSERT_EQ(at_time.status, 201) << at_time.raw;
  EXPECT_EQ(at_time.body["instance"]["restoredFrom"]["backupName"], "base") << "chosen for us";
  EXPECT_EQ(at_time.body["instance"]["restoredFrom"]["target"]["kind"], "time");
  EXPECT_EQ(Batches("at-time"), "1:100,2:100");
  auto at_point = RestoreTo("at-point", {{"targetName", "after-3"}});
  ASSERT_EQ(at_point.status, 201) << at_point.raw;
  EXPECT_EQ(Batches("at-point"), "1:100,2:100,3:100");
  // Batch 4 is not archived yet (no segment switch): the restore archives it first.
  auto latest = RestoreTo("at-latest", {{"target", "latest"}});
  ASSERT_EQ(latest.status, 201) << latest.raw;
  EXPECT_EQ(Batches("at-latest"), "1:100,2:100,3:100,4:100");

  // Out of reach, or not a target: refused with the window, nothing made.
  auto before = RestoreTo("x", {{"targetTime", "2001-01-01T00:00:00Z"}});
  EXPECT_EQ(before.status, 400) << before.raw;
  EXPECT_NE(before.raw.find("before the oldest backup"), std::string::npos) << before.raw;
  auto after = RestoreTo("x", {{"targetTime", "2099-01-01T00:00:00+02:00"}});
  EXPECT_EQ(after.status, 400) << after.raw;
  EXPECT_NE(after.raw.find("outside the recoverable window"), std::string::npos) << after.raw;
  EXPECT_EQ(RestoreTo("x", {{"targetLsn", "FFFF/0"}}).status, 400);
  EXPECT_EQ(RestoreTo("x", {{"targetTime", "yesterday"}}).status, 400);
  EXPECT_EQ(RestoreTo("x", {{"target", "earliest"}}).status, 400);
  EXPECT_EQ(RestoreTo("x", {{"target", "latest"}, {"targetName", "after-3"}}).status, 400);
  EXPECT_EQ(RestoreTo("x", json::object()).status, 400) << "neither a backup nor a target";
  EXPECT_EQ(daemon_.Get("/instances/x").status, 404);

  // A named backup is the base, if it ends before the target.
  ASSERT_EQ(daemon_.Post("/instances/src/backup", json{{"backupName", "later"}}).status, 201);
  auto too_late = RestoreTo("x", {{"backupName", "later"}, {"targetTime", after_2}});
  EXPECT_EQ(too_late.status, 400) << too_late.raw;
  EXPECT_NE(too_late.raw.find("ends after the target"), std::string::npos) << too_late.raw;
  auto from_base = RestoreTo("from-base", {{"backupName", "base"}, {"target", "latest"}});
  ASSERT_EQ(from_base.status, 201) << from_base.raw;
  EXPECT_EQ(from_base.body["instance"]["restoredFrom"]["backupName"], "base")
      << "the backup named, not the newest";
  EXPECT_EQ(Batches("from-base"), "1:100,2:100,3:100,4:100");
  ASSERT_EQ(daemon_.Delete("/instances/src/backups/later").status, 200);

  // Deleting the source archives its last writes; latest still has them.
  Insert("src", 5, 100);
  ASSERT_EQ(daemon_.Delete("/instances/src").status, 200);
  auto revived = RestoreTo("revived", {{"target", "latest"}});
  ASSERT_EQ(revived.status, 201) << revived.raw;
  EXPECT_EQ(Batches("revived"), "1:100,2:100,3:100,4:100,5:100");

  // WAL retention follows the backups: with the source's last backup gone, so is its archive.
  auto src_archive = [&] {
    for (const std::string& id : Archives()) {
      if (id.starts_with("src.")) return true;
    }
    return false;
  };
  EXPECT_TRUE(src_archive());
  ASSERT_EQ(daemon_.Delete("/instances/src/backups/base").status, 200);
  EXPECT_FALSE(src_archive());
  EXPECT_EQ(daemon_.Get("/instances/src/recovery-window").status, 404);
}

// A restore point made with pg_create_restore_point directly (not in the catalog): replayed
// from the backup named, wherever the point is; the server finds it in the WAL.
TEST_F(ApiPitrTest, ARestorePointTheCatalogDoesNotKnowIsReachedFromTheBackupNamed) {
  ASSERT_EQ(daemon_
                .Post("/instances",
                      json{{"name", "src"}, {"type", "postgresql"}, {"superuserAccess", true}})
                .status,
            201);
  ASSERT_TRUE(Psql(daemon_, "src", "create table t (id serial primary key, batch int)").ok());
  Insert("src", 1, 100);
  ASSERT_EQ(daemon_.Post("/instances/src/backup", json{{"backupName", "first"}}).status, 201);
  Insert("src", 2, 100);
  ASSERT_EQ(daemon_.Post("/instances/src/backup", json{{"backupName", "second"}}).status, 201);
  Insert("src", 3, 100);
  ASSERT_TRUE(Psql(daemon_, "src", "select pg_create_restore_point('raw')", true).ok());
  Insert("src", 4, 100);
  auto from_first = RestoreTo("from-first", {{"backupName", "first"}, {"targetName", "raw"}});
  ASSERT_EQ(from_first.status, 201) << from_first.raw;
  EXPECT_EQ(from_first.body["instance"]["restoredFrom"]["backupName"], "first");
  EXPECT_EQ(Batches("from-first"), "1:100,2:100,3:100");
  auto from_second = RestoreTo("from-second", {{"backupName", "second"}, {"targetName", "raw"}});
  ASSERT_EQ(from_second.status, 201) << from_second.raw;
  EXPECT_EQ(Batches("from-second"), "1:100,2:100,3:100");
}

}  // namespace
}  // namespace dbaas::testing
