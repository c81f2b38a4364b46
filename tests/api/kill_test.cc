// kill -9 of dbaasd in the middle of a backup and of a restore, then a restart: the
// catalog is consistent, the repository verifies, no server is left orphaned, and the next
// backup and restore work. Kill points (environment variables read by the PostgreSQL
// engine) hold the operation at its most delicate moment so the kill lands there.
#include <pwd.h>
#include <sys/stat.h>

#include <thread>

#include <gtest/gtest.h>

#include "daemon.h"
#include "storage/repo_maintenance.h"
#include "test_util.h"

namespace dbaas::testing {
namespace {

using nlohmann::json;

class KillTest : public ::testing::Test {
 protected:
  void SetUp() override { ::chmod(root_.path().c_str(), 0711); }
  void TearDown() override {
    (void)daemon_.Stop();
    EXPECT_TRUE(PostmastersUnder(daemon_.data_root()).empty()) << "servers left running";
  }

  // After a restart: every instance has exactly one postmaster, and it is the new
  // daemon's child.
  void ExpectServersOwnedBy(pid_t daemon, size_t instances) {
    auto servers = PostmastersUnder(daemon_.data_root());
    EXPECT_EQ(servers.size(), instances);
    for (auto [pid, parent] : servers) {
      EXPECT_EQ(parent, daemon) << "postmaster " << pid << " is not the new daemon's";
    }
  }

  void ExpectRepositoryVerifies() {
    auto report = storage::VerifyRepository(daemon_.data_root() + "/repository");
    ASSERT_TRUE(report.ok()) << report.status().ToString();
    EXPECT_TRUE(report->ok()) << report->errors.front();
  }

  void CreateWithData(const std::string& name, int rows) {
    auto a = daemon_.Post("/instances", json{{"name", name}, {"type", "postgresql"}});
    ASSERT_EQ(a.status, 201) << a.raw;
    ASSERT_TRUE(Psql(daemon_, name,
                     "create table t (id int primary key); insert into t select "
                     "generate_series(1, " +
                         std::to_string(rows) + ")")
                    .ok());
  }

  TempDir root_;
  Daemon daemon_{root_ / "data"};
};

TEST_F(KillTest, KilledDuringABackupRestartsConsistent) {
  ASSERT_TRUE(daemon_.Start({}, {"--test-hold", "backup-mode=30000"}).ok());
  CreateWithData("db", 1000);
  auto started = daemon_.Post("/instances/db/backup?async=true", json{{"backupName", "cut"}});
  ASSERT_EQ(started.status, 202) << started.raw;
  std::string job = started.body["jobId"];
  daemon_.WaitJobRunning(job);
  // Conflicting requests while it runs.
  EXPECT_EQ(daemon_.Post("/instances/db/backup", json{{"backupName", "other"}}).status, 409);
  EXPECT_EQ(daemon_.Delete("/instances/db").status, 409);
  EXPECT_EQ(daemon_.Get("/instances/db/backups/cut").body["backup"]["state"], "creating");
  ASSERT_TRUE(daemon_.WaitLogSays("holding at backup-mode"))
      << "the backup never reached backup mode";
  daemon_.Kill();

  // The server outlived the daemon and kept accepting writes meanwhile.
  ASSERT_EQ(PostmastersUnder(daemon_.data_root()).size(), 1u);

  ASSERT_TRUE(daemon_.Start().ok());
  ExpectServersOwnedBy(daemon_.pid(), 1);
  json j = daemon_.Get("/jobs/" + job).body["job"];
  EXPECT_EQ(j["status"], "failed");
  EXPECT_EQ(j["error"]["code"], "interrupted");
  EXPECT_EQ(daemon_.Get("/instances/db/backups/cut").status, 404) << "no half backup listed";
  EXPECT_EQ(daemon_.Get("/instances/db/backups").body["count"], 0);
  EXPECT_EQ(daemon_.Get("/instances/db").body["instance"]["status"], "running");
  ExpectRepositoryVerifies();

  // The next backup works, with the same name, and restores.
  ASSERT_TRUE(Psql(daemon_, "db", "insert into t values (1001)").ok());
  auto next = daemon_.Post("/instances/db/backup", json{{"backupName", "cut"}});
  ASSERT_EQ(next.status, 201) << next.raw;
  auto restored = daemon_.Post("/instances/db/restore",
                               json{{"backupName", "cut"}, {"newInstanceName", "back"}});
  ASSERT_EQ(restored.status, 201) << restored.raw;
  EXPECT_EQ(Psql(daemon_, "back", "select count(*) from t").value(), "1001");
  EXPECT_EQ(Psql(daemon_, "db", "select count(*) from pg_replication_slots").value(), "0")
      << "the killed backup's slot ended with its session";
  ExpectRepositoryVerifies();
}

TEST_F(KillTest, KilledDuringARestoreLeavesNoHalfInstance) {
  ASSERT_TRUE(daemon_.Start({}, {"--test-hold", "restore-filled=30000"}).ok());
  CreateWithData("db", 2000);
  ASSERT_EQ(daemon_.Post("/instances/db/backup", json{{"backupName", "b"}}).status, 201);
  auto started = daemon_.Post("/instances/db/restore?async=true",
                              json{{"backupName", "b"}, {"newInstanceName", "half"}});
  ASSERT_EQ(started.status, 202) << started.raw;
  std::string job = started.body["jobId"];
  daemon_.WaitJobRunning(job);
  EXPECT_EQ(daemon_.Get("/instances/half").body["instance"]["status"], "restoring");
  EXPECT_EQ(daemon_.Delete("/instances/db/backups/b").status, 409) << "in use by the restore";
  EXPECT_EQ(daemon_.Delete("/instances/half").status, 409);
  ASSERT_TRUE(daemon_.WaitLogSays("holding at restore-filled"))
      << "the restore never reached its hold";
  struct stat st;
  ASSERT_EQ(::stat((daemon_.data_root() + "/instances/half/data").c_str(), &st), 0)
      << "the kill lands in a half-made restore";
  // Its OS user is made (and recorded) before instance.json is written.
  std::string user = ReadFile(daemon_.data_root() + "/instances/half/os-user");
  while (!user.empty() && user.back() == '\n') user.pop_back();
  ASSERT_NE(::getpwnam(user.c_str()), nullptr) << user;
  daemon_.Kill();

  ASSERT_TRUE(daemon_.Start().ok());
  ExpectServersOwnedBy(daemon_.pid(), 1);
  EXPECT_EQ(daemon_.Get("/instances/half").status, 404);
  EXPECT_NE(::stat((daemon_.data_root() + "/instances/half").c_str(), &st), 0)
      << "its directory is gone";
  EXPECT_EQ(::getpwnam(user.c_str()), nullptr) << "its OS user " << user << " is gone";
  json j = daemon_.Get("/jobs/" + job).body["job"];
  EXPECT_EQ(j["status"], "failed");
  EXPECT_EQ(j["error"]["code"], "interrupted");
  EXPECT_EQ(daemon_.Get("/instances/db/backups/b").body["backup"]["state"], "ready");
  ExpectRepositoryVerifies();

  auto again =
      daemon_.Post("/instances/db/restore", json{{"backupName", "b"}, {"newInstanceName", "half"}});
  ASSERT_EQ(again.status, 201) << again.raw;
  EXPECT_EQ(Psql(daemon_, "half", "select count(*) from t").value(), "2000");
  ExpectServersOwnedBy(daemon_.pid(), 2);
}

TEST_F(KillTest, SigtermCancelsQueuedWorkAndStopsEveryServer) {
  ASSERT_TRUE(daemon_.Start().ok());
  CreateWithData("a", 10);
  CreateWithData("b", 10);
  ASSERT_EQ(PostmastersUnder(daemon_.data_root()).size(), 2u);
  auto code = daemon_.Stop();
  ASSERT_TRUE(code.ok());
  EXPECT_EQ(code.value(), 0);
  EXPECT_TRUE(PostmastersUnder(daemon_.data_root()).empty());
  // Started again, both run again with their data.
  ASSERT_TRUE(daemon_.Start().ok());
  ExpectServersOwnedBy(daemon_.pid(), 2);
  EXPECT_EQ(Psql(daemon_, "b", "select count(*) from t").value(), "10");
}

}  // namespace
}  // namespace dbaas::testing
