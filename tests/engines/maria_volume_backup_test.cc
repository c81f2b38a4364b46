// MariaDB's volume backup (engines/mariadb/maria_volume_backup.h) with a real MariaDB 10.11
// server under the transfer load: commits wait while it is held, the copy is what a storage
// snapshot cuts (the volume at one instant: here the server paused while its data
// directory is copied, as the node simulator's snapshotter does), and the restore of that
// copy recovers by itself to a consistent, writable database.
#include "engines/mariadb/maria_volume_backup.h"

#include <signal.h>
#include <sys/stat.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <functional>
#include <map>
#include <thread>
#include <vector>

#include <fmt/format.h>
#include <gtest/gtest.h>

#include "base/files.h"
#include "base/process.h"
#include "engines/maria_test_tools.h"
#include "test_util.h"

namespace dbaas::engines {
namespace {

using std::chrono::milliseconds;
using std::chrono::seconds;
using testing::MariaTransferLoad;

bool Eventually(const std::function<bool()>& done, seconds timeout) {
  const auto deadline = std::chrono::steady_clock::now() + timeout;
  while (!done()) {
    if (std::chrono::steady_clock::now() >= deadline) return false;
    std::this_thread::sleep_for(milliseconds(50));
  }
  return true;
}

class MariaVolumeBackupTest : public ::testing::Test {
 protected:
  void SetUp() override {
    if (::access("/usr/sbin/mariadbd", X_OK) != 0) GTEST_SKIP() << "mariadb-server missing";
    ::chmod(tmp_.path().c_str(), 0711);
  }

  void StartSource(const std::map<std::string, std::string>& config = {}) {
    InstanceSpec spec = Spec("source");
    spec.config = config;
    auto made = MariaInstance::Create(spec);
    ASSERT_TRUE(made.ok()) << made.status().ToString();
    source_ = std::move(made.value());
    ASSERT_TRUE(source_->Start().ok());
    ASSERT_EQ(MariaTransferLoad::CreateSchema(source_->client()), "");
  }

  InstanceSpec Spec(const std::string& name) {
    InstanceSpec spec;
    spec.name = name;
    spec.type = "mariadb";
    spec.data_root = JoinPath(tmp_.path(), "instances");
    return spec;
  }

  // The copy a storage snapshot would cut: the source's directory with its server paused.
  std::string CutCopy(const std::string& name = "snapshot") {
    const std::string copy = JoinPath(tmp_.path(), name);
    const pid_t pid = source_->server_pid();
    EXPECT_GT(pid, 0);
    EXPECT_EQ(::kill(pid, SIGSTOP), 0);
    ProcessOptions cp;
    cp.argv = {"cp", "-a", source_->dir(), copy};
    auto copied = CheckExit(RunProcess(cp, std::chrono::minutes(5)), "cp");
    EXPECT_EQ(::kill(pid, SIGCONT), 0);
    EXPECT_TRUE(copied.ok()) << copied.status().ToString();
    return copy;
  }

  // Under 4 transfer writers: a backup held 800 ms, the copy cut, the backup ended; the
  // copy restored by itself holds exactly the transfers committed before the backup.
  void BackUpUnderLoadAndRestoreExactly();

  testing::TempDir tmp_;
  std::unique_ptr<MariaInstance> source_;
};

void MariaVolumeBackupTest::BackUpUnderLoadAndRestoreExactly() {
  long counted_before = 0;  // transfers of earlier loads
  {
    auto conn = MariaConnection::Connect(source_->client());
    ASSERT_TRUE(conn.ok()) << conn.status().ToString();
    counted_before = std::stol(conn->QueryValue("SELECT n FROM bank.counter").value_or("-1"));
  }
  MariaTransferLoad load(source_->client(), 4);
  std::this_thread::sleep_for(milliseconds(500));
  ASSERT_GT(load.committed(), 0) << "the load does not commit";

  auto begun = BeginMariaVolumeBackup(*source_, "test");
  ASSERT_TRUE(begun.ok()) << begun.status().ToString();
  VolumeBackup& backup = **begun;
  EXPECT_EQ(backup.begun().engine, "mariadb");
  EXPECT_EQ(backup.begun().snapshot_kind, "volume");
  EXPECT_FALSE(backup.copy_filter()) << "no copy file by file while commits wait";
  EXPECT_EQ(backup.data_dir(), source_->data_dir());
  // Commits wait: none is acknowledged while the backup is held (one in flight may finish
  // as BLOCK_COMMIT is granted, before the count is read).
  std::this_thread::sleep_for(milliseconds(200));
  const long held_from = load.committed();
  std::this_thread::sleep_for(milliseconds(600));
  EXPECT_EQ(load.committed(), held_from) << "a commit went through BLOCK_COMMIT";
  const std::string copy = CutCopy();
  auto ended = backup.End();
  ASSERT_TRUE(ended.ok()) << ended.status().ToString();
  EXPECT_TRUE(ended->files.empty());
  EXPECT_TRUE(ended->log_files.empty());
  ASSERT_TRUE(ended->facts.seconds_writes_blocked.has_value());
  EXPECT_GE(*ended->facts.seconds_writes_blocked, 0.8);
  EXPECT_FALSE(backup.End().ok()) << "ended twice";
  // Commits go on once it has ended.
  ASSERT_TRUE(Eventually([&] { return load.committed() > held_from + 10; }, seconds(30)))
      << "commits did not resume after the backup";
  load.Stop();
  EXPECT_EQ(load.errors(), 0);

  // The copy of a running server (its pid file and socket with it) restores by itself:
  // InnoDB's recovery from its redo log, CHECK TABLE clean, the transfers' invariants, and
  // exactly the transfers committed before the backup.
  const std::string copy_data = JoinPath(copy, "data");
  VolumeBackupEnd with_files = *ended;
  with_files.files["backup_label"] = "x";
  auto refused = RestoreMariaVolumeCopy(copy_data, with_files, Spec("refused"), "pw");
  EXPECT_EQ(refused.status().code(), StatusCode::kInvalidArgument);
  EXPECT_TRUE(PathExists(copy_data)) << "a refused restore touched the copy";
  auto restored =
      RestoreMariaVolumeCopy(copy_data, *ended, Spec("copy"), source_->endpoint().password);
  ASSERT_TRUE(restored.ok()) << restored.status().ToString();
  EXPECT_FALSE(PathExists(copy_data)) << "the copy is moved into the instance, not copied";
  EXPECT_EQ(MariaTransferLoad::CheckInvariants((*restored)->client()), "");
  auto conn = MariaConnection::Connect((*restored)->client());
  ASSERT_TRUE(conn.ok()) << conn.status().ToString();
  EXPECT_EQ(conn->QueryValue("SELECT n FROM bank.counter").value_or(""),
            std::to_string(counted_before + held_from))
      << "the copy holds other transfers than those committed before the backup";
  ASSERT_TRUE(conn->Query("INSERT INTO bank.counter VALUES (2, 0)").ok()) << "not writable";
  EXPECT_NE((*restored)->login().password, source_->login().password)
      << "the copy's tenant has a login of its own";
  MariaEndpoint renewed = (*restored)->client();
  renewed.user = "app";
  renewed.password = (*restored)->login().password;
  renewed.database = "app";
  EXPECT_TRUE(MariaConnection::Connect(renewed).ok()) << "the renewed tenant login does not work";
  ASSERT_TRUE((*restored)->Delete().ok());
}

TEST_F(MariaVolumeBackupTest, CommitsWaitWhileHeldAndTheCutCopyRestoresConsistentByItself) {
  ASSERT_NO_FATAL_FAILURE(StartSource());
  ASSERT_NO_FATAL_FAILURE(BackUpUnderLoadAndRestoreExactly());
}

// A tenant's innodb_flush_log_at_trx_commit = 0 acknowledges commits whose redo is still in
// the log buffer, written once per innodb_flush_log_at_timeout (here the most it can be):
// the backup must get it onto the storage itself before the cut.
TEST_F(MariaVolumeBackupTest, CommitsWhoseRedoIsStillBufferedAreInTheCopy) {
  ASSERT_NO_FATAL_FAILURE(StartSource(
      {{"innodb-flush-log-at-trx-commit", "0"}, {"innodb-flush-log-at-timeout", "2700"}}));
  {
    // The control: a copy cut with no backup misses acknowledged commits (the setting
    // does buffer them), which the backup below must not.
    long acknowledged = 0;
    {
      MariaTransferLoad load(source_->client(), 4);
      std::this_thread::sleep_for(milliseconds(1000));
      load.Stop();
      acknowledged = load.committed();
    }
    const std::string copy = CutCopy("control");
    auto restored = RestoreMariaVolumeCopy(JoinPath(copy, "data"), VolumeBackupEnd{},
                                           Spec("control"), source_->endpoint().password);
    ASSERT_TRUE(restored.ok()) << restored.status().ToString();
    auto conn = MariaConnection::Connect((*restored)->client());
    ASSERT_TRUE(conn.ok()) << conn.status().ToString();
    auto counted = conn->QueryValue("SELECT n FROM bank.counter");
    ASSERT_TRUE(counted.ok()) << counted.status().ToString();
    EXPECT_LT(std::stol(*counted), acknowledged)
        << "the control's copy lost no commit: the setting did not buffer the redo";
    EXPECT_EQ(MariaTransferLoad::CheckInvariants((*restored)->client()), "");
    ASSERT_TRUE((*restored)->Delete().ok());
  }
  ASSERT_NO_FATAL_FAILURE(BackUpUnderLoadAndRestoreExactly());
  auto conn = MariaConnection::Connect(source_->client());
  ASSERT_TRUE(conn.ok()) << conn.status().ToString();
  EXPECT_EQ(conn->QueryValue("SELECT @@GLOBAL.innodb_flush_log_at_trx_commit").value_or(""), "0")
      << "the backup left the tenant's setting changed";
}

TEST_F(MariaVolumeBackupTest, ABackupAbandonedLetsCommitsGoOn) {
  ASSERT_NO_FATAL_FAILURE(StartSource());
  MariaTransferLoad load(source_->client(), 2);
  {
    auto begun = BeginMariaVolumeBackup(*source_, "abandoned");
    ASSERT_TRUE(begun.ok()) << begun.status().ToString();
    std::this_thread::sleep_for(milliseconds(300));
  }  // destroyed without End
  const long after = load.committed();
  EXPECT_TRUE(Eventually([&] { return load.committed() > after + 10; }, seconds(30)))
      << "commits stayed blocked after the backup was abandoned";
  // And the next backup begins (no stage left held on the server).
  auto again = BeginMariaVolumeBackup(*source_, "again");
  ASSERT_TRUE(again.ok()) << again.status().ToString();
  EXPECT_TRUE((*again)->End().ok());
  load.Stop();
  ASSERT_TRUE(source_->Stop().ok());
  auto stopped = BeginMariaVolumeBackup(*source_, "stopped");
  EXPECT_EQ(stopped.status().code(), StatusCode::kFailedPrecondition)
      << stopped.status().ToString();
}

// A tenant's MyISAM table written all along (no transactions, its key blocks its own): its
// writes wait while the backup is held too, and the copy holds every row written before,
// its data and index files agreeing (the restore's CHECK TABLE).
TEST_F(MariaVolumeBackupTest, AMyIsamTableWrittenAllAlongIsHeldAndCopiedWhole) {
  ASSERT_NO_FATAL_FAILURE(StartSource());
  {
    auto conn = MariaConnection::Connect(source_->client());
    ASSERT_TRUE(conn.ok()) << conn.status().ToString();
    ASSERT_TRUE(conn->Query("CREATE TABLE bank.notes (id INT AUTO_INCREMENT PRIMARY KEY, "
                            "v CHAR(32), KEY (v)) ENGINE=MyISAM")
                    .ok());
  }
  std::atomic<bool> stop{false};
  std::atomic<long> inserted{0};
  std::atomic<int> failed{0};
  std::vector<std::thread> writers;
  for (int w = 0; w < 2; ++w) {
    writers.emplace_back([&] {
      auto conn = MariaConnection::Connect(source_->client());
      if (!conn.ok()) {
        ++failed;
        return;
      }
      while (!stop) {
        if (conn->Query("INSERT INTO bank.notes (v) VALUES (MD5(RAND()))").ok()) {
          ++inserted;
        } else {
          ++failed;
        }
      }
    });
  }
  std::this_thread::sleep_for(milliseconds(500));
  auto begun = BeginMariaVolumeBackup(*source_, "myisam");
  ASSERT_TRUE(begun.ok()) << begun.status().ToString();
  std::this_thread::sleep_for(milliseconds(100));  // a statement in flight may finish
  const long held_from = inserted;
  std::this_thread::sleep_for(milliseconds(500));
  EXPECT_EQ(inserted, held_from) << "a MyISAM write went through the backup's hold";
  const std::string copy = CutCopy();
  ASSERT_TRUE((*begun)->End().ok());
  stop = true;
  for (std::thread& writer : writers) writer.join();
  EXPECT_EQ(failed, 0);
  EXPECT_GT(inserted, held_from) << "writes did not resume after the backup";
  auto restored = RestoreMariaVolumeCopy(JoinPath(copy, "data"), VolumeBackupEnd{}, Spec("copy"),
                                         source_->endpoint().password);
  ASSERT_TRUE(restored.ok()) << restored.status().ToString();
  auto conn = MariaConnection::Connect((*restored)->client());
  ASSERT_TRUE(conn.ok()) << conn.status().ToString();
  EXPECT_EQ(conn->QueryValue("SELECT COUNT(*) FROM bank.notes").value_or(""),
            std::to_string(held_from));
}

// A stage that cannot be had (here: another backup holds the server) fails the backup after
// lock_wait_timeout (5 s) with what failed, instead of waiting behind it for a day (the
// server's default), and leaves nothing queued.
TEST_F(MariaVolumeBackupTest, ABackupThatCannotHaveItsStageFailsInSecondsAndLeavesNothing) {
  ASSERT_NO_FATAL_FAILURE(StartSource());
  auto first = BeginMariaVolumeBackup(*source_, "first");
  ASSERT_TRUE(first.ok()) << first.status().ToString();
  const auto asked = std::chrono::steady_clock::now();
  auto second = BeginMariaVolumeBackup(*source_, "second");
  const auto waited = std::chrono::steady_clock::now() - asked;
  ASSERT_FALSE(second.ok()) << "two backups held the server at once";
  EXPECT_NE(second.status().message().find("volume backup of instance 'source'"), std::string::npos)
      << second.status().ToString();
  EXPECT_LT(waited, seconds(60)) << "the stage was waited for as long as the server's default";
  ASSERT_TRUE((*first)->End().ok());
  auto third = BeginMariaVolumeBackup(*source_, "third");
  ASSERT_TRUE(third.ok()) << "the failed backup left a stage queued: " << third.status().ToString();
  EXPECT_TRUE((*third)->End().ok());
}

}  // namespace
}  // namespace dbaas::engines
