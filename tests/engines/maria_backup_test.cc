// Consistent online backup and restore with real MariaDB 10.11 servers, by both methods:
// reflink clones (on a loop-mounted XFS; needs root) and mariadb-backup (anywhere).
#include "engines/mariadb/maria_backup.h"

#include <signal.h>
#include <sys/stat.h>
#include <unistd.h>

#include <atomic>
#include <random>
#include <thread>

#include <fmt/format.h>
#include <gtest/gtest.h>

#include "base/files.h"
#include "base/kill_points.h"
#include "engines/maria_test_tools.h"
#include "test_util.h"

namespace dbaas::engines {
namespace {

using std::chrono::seconds;

// Runs a statement; a failure fails the test with the server's message.
#define ASSERT_SQL(conn, sql)                       \
  do {                                              \
    auto _r = (conn).Query(sql);                    \
    ASSERT_TRUE(_r.ok()) << _r.status().ToString(); \
  } while (0)

std::string MethodName(MariaBackupMethod m) {
  return m == MariaBackupMethod::kReflink ? "Reflink" : "MariaBackup";
}

class MariaBackupTest : public ::testing::TestWithParam<MariaBackupMethod> {
 protected:
  void SetUp() override {
    if (::access("/usr/sbin/mariadbd", X_OK) != 0) GTEST_SKIP() << "mariadb-server missing";
    ::chmod(tmp_.path().c_str(), 0711);
    base_ = tmp_.path();
    if (GetParam() == MariaBackupMethod::kReflink) {
      xfs_ = std::make_unique<testing::XfsMount>(tmp_.path());
      std::string why = xfs_->Make("4G");
      if (!why.empty()) GTEST_SKIP() << why;
      base_ = xfs_->path();
    }
    ASSERT_TRUE(storage::Repository::Init(JoinPath(base_, "repo"), {}).ok());
    repo_ = std::move(storage::Repository::Open(JoinPath(base_, "repo")).value());
    auto made = MariaInstance::Create(Spec("source"));
    ASSERT_TRUE(made.ok()) << made.status().ToString();
    source_ = std::move(made.value());
    ASSERT_TRUE(source_->Start().ok());
  }

  InstanceSpec Spec(const std::string& name) {
    InstanceSpec spec;
    spec.name = name;
    spec.type = "mariadb";
    spec.data_root = JoinPath(base_, "instances");
    // A smaller redo log than the default 96M: five backups' copies fit the test's XFS.
    spec.config = {{"innodb_log_file_size", "32M"}};
    return spec;
  }

  MariaConnection Connect(const MariaInstance& inst) {
    auto c = MariaConnection::Connect(inst.client());
    EXPECT_TRUE(c.ok()) << c.status().ToString();
    return std::move(c.value());
  }

  Result<MariaBackupInfo> Backup(const std::string& name) {
    return BackupMaria(*source_, *repo_, name, GetParam());
  }

  testing::TempDir tmp_;
  std::unique_ptr<testing::XfsMount> xfs_;
  std::string base_;
  std::unique_ptr<storage::Repository> repo_;
  std::unique_ptr<MariaInstance> source_;
};

TEST_P(MariaBackupTest, RoundTripIntoANewInstance) {
  MariaConnection conn = Connect(*source_);
  ASSERT_SQL(conn, "CREATE DATABASE shop");
  ASSERT_SQL(conn,
             "CREATE TABLE shop.items (id INT PRIMARY KEY, v VARCHAR(64)) "
             "ENGINE=InnoDB");
  ASSERT_SQL(conn, "INSERT INTO shop.items SELECT seq, MD5(seq) FROM mysql.seq_1_to_20000");
  ASSERT_SQL(conn, "CREATE TABLE shop.notes (id INT PRIMARY KEY, v TEXT) ENGINE=Aria");
  ASSERT_SQL(conn,
             "INSERT INTO shop.notes SELECT seq, REPEAT('n', seq % 100) FROM "
             "mysql.seq_1_to_500");
  auto checksums = [](MariaConnection& c) {
    auto rows = c.Query("CHECKSUM TABLE shop.items, shop.notes");
    EXPECT_TRUE(rows.ok()) << rows.status().ToString();
    return rows.ok() && rows->size() == 2 ? rows.value()[0][1] + "/" + rows.value()[1][1] : "";
  };
  std::string checksum = checksums(conn);
  ASSERT_FALSE(checksum.empty());

  auto backup = Backup("first");
  ASSERT_TRUE(backup.ok()) << backup.status().ToString();
  EXPECT_EQ(backup->method,
            GetParam() == MariaBackupMethod::kReflink ? "reflink" : "mariadb-backup");
  EXPECT_NE(backup->server_version.find("MariaDB"), std::string::npos);
  EXPECT_EQ(backup->snapshot.kind, GetParam() == MariaBackupMethod::kReflink
                                       ? storage::SnapshotKind::kThin
                                       : storage::SnapshotKind::kRepository);
  // Changes after the backup are not in it.
  ASSERT_SQL(conn, "DELETE FROM shop.items WHERE id <= 100");

  auto restored =
      RestoreMaria(*repo_, backup->snapshot, Spec("copy"), source_->endpoint().password);
  ASSERT_TRUE(restored.ok()) << restored.status().ToString();
  MariaConnection copy = Connect(**restored);
  EXPECT_EQ(copy.QueryValue("SELECT COUNT(*) FROM shop.items").value(), "20000");
  EXPECT_EQ(checksums(copy), checksum);
  auto bad = CheckAllTables((*restored)->client());
  ASSERT_TRUE(bad.ok()) << bad.status().ToString();
  EXPECT_TRUE(bad->empty());
  // The copy is a database of its own: writable, on its own port and socket.
  EXPECT_NE((*restored)->endpoint().port, source_->endpoint().port);
  EXPECT_TRUE(copy.Query("INSERT INTO shop.items VALUES (0, 'new')").ok());
  EXPECT_EQ(Connect(*source_).QueryValue("SELECT COUNT(*) FROM shop.items WHERE id = 0").value(),
            "0");
}

// A tenant's innodb_flush_log_at_trx_commit = 0 acknowledges commits whose redo is still in
// the log buffer (written once per innodb_flush_log_at_timeout, here the most it can be):
// a backup taken after they were acknowledged holds every one of them.
TEST_P(MariaBackupTest, CommitsWhoseRedoIsStillBufferedAreInTheBackup) {
  InstanceSpec spec = Spec("buffered");
  spec.config["innodb-flush-log-at-trx-commit"] = "0";
  spec.config["innodb-flush-log-at-timeout"] = "2700";
  auto made = MariaInstance::Create(spec);
  ASSERT_TRUE(made.ok()) << made.status().ToString();
  std::unique_ptr<MariaInstance> buffered = std::move(made.value());
  ASSERT_TRUE(buffered->Start().ok());
  ASSERT_EQ(testing::MariaTransferLoad::CreateSchema(buffered->client()), "");
  long acknowledged = 0;
  {
    testing::MariaTransferLoad load(buffered->client(), 3);
    std::this_thread::sleep_for(std::chrono::milliseconds(1000));
    load.Stop();
    EXPECT_EQ(load.errors(), 0);
    acknowledged = load.committed();
  }
  ASSERT_GT(acknowledged, 0) << "the load does not commit";
  auto backup = BackupMaria(*buffered, *repo_, "buffered", GetParam());
  ASSERT_TRUE(backup.ok()) << backup.status().ToString();
  EXPECT_EQ(Connect(*buffered)
                .QueryValue("SELECT CONCAT(@@GLOBAL.innodb_flush_log_at_trx_commit, ' ', "
                            "@@GLOBAL.innodb_flush_log_at_timeout)")
                .value_or(""),
            "0 2700")
      << "the backup left the tenant's settings changed";
  const std::string root_password = buffered->endpoint().password;
  ASSERT_TRUE(buffered->Delete().ok());  // room on the test filesystem
  auto restored = RestoreMaria(*repo_, backup->snapshot, Spec("restored"), root_password);
  ASSERT_TRUE(restored.ok()) << restored.status().ToString();
  EXPECT_EQ(testing::MariaTransferLoad::CheckInvariants((*restored)->client()), "");
  EXPECT_EQ(Connect(**restored).QueryValue("SELECT n FROM bank.counter").value_or(""),
            std::to_string(acknowledged))
      << "the backup lacks commits acknowledged before it began";
}

// Transfers between accounts (the total never changes) and a ledger row and a counter per
// transfer, from several connections, while backups are taken; every backup restores to a
// database where the invariants hold and CHECK TABLE finds nothing. The full-size run is
// bench/mariadb_torture.sh (DBAAS_TORTURE_BACKUPS, DBAAS_TORTURE_WRITERS).
TEST_P(MariaBackupTest, BackupsUnderTransferLoadRestoreConsistent) {
  const int backups =
      std::getenv("DBAAS_TORTURE_BACKUPS") ? std::atoi(std::getenv("DBAAS_TORTURE_BACKUPS")) : 5;
  const int writers =
      std::getenv("DBAAS_TORTURE_WRITERS") ? std::atoi(std::getenv("DBAAS_TORTURE_WRITERS")) : 3;
  ASSERT_EQ(testing::MariaTransferLoad::CreateSchema(source_->client()), "");
  testing::MariaTransferLoad load(source_->client(), writers);
  std::vector<MariaBackupInfo> taken;
  long during_backups = 0;
  for (int i = 0; i < backups; ++i) {
    std::this_thread::sleep_for(std::chrono::milliseconds(400));
    long before = load.committed();
    auto backup = Backup("load-" + std::to_string(i));
    during_backups += load.committed() - before;
    ASSERT_TRUE(backup.ok()) << backup.status().ToString();
    taken.push_back(std::move(backup.value()));
  }
  load.Stop();
  EXPECT_EQ(load.errors(), 0);
  // The load really ran while backups were taken.
  EXPECT_GT(during_backups, 0);
  std::cout << load.committed() << " transfers committed, " << during_backups
            << " while backing up; writes blocked (s):";
  for (const auto& b : taken) std::cout << " " << b.seconds_writes_blocked;
  std::cout << "\n";

  for (size_t i = 0; i < taken.size(); ++i) {
    std::string name = "restored-" + std::to_string(i);
    auto restored =
        RestoreMaria(*repo_, taken[i].snapshot, Spec(name), source_->endpoint().password);
    ASSERT_TRUE(restored.ok()) << "backup " << i << ": " << restored.status().ToString();
    EXPECT_EQ(testing::MariaTransferLoad::CheckInvariants((*restored)->client()), "")
        << "backup " << i;
    ASSERT_TRUE((*restored)->Delete().ok());  // room on the test filesystem for the next
  }
}

// Not a test by itself: the process the kill test starts, and kills inside the backup.
TEST(MariaBackupKillTestChild, BackUpAndHold) {
  const char* base = std::getenv("DBAAS_KILL_TEST_BASE");
  const char* method = std::getenv("DBAAS_KILL_TEST_METHOD");
  if (!base || !method) GTEST_SKIP() << "runs only as the kill test's child";
  ArmKillPoint(KillPoint::kBackupMode, std::chrono::seconds(60));
  auto inst = MariaInstance::Open(JoinPath(base, "instances"), "source");
  ASSERT_TRUE(inst.ok()) << inst.status().ToString();
  auto repo = storage::Repository::Open(JoinPath(base, "repo"));
  ASSERT_TRUE(repo.ok()) << repo.status().ToString();
  auto m = std::string(method) == "reflink" ? MariaBackupMethod::kReflink
                                            : MariaBackupMethod::kMariaBackup;
  auto backup = BackupMaria(**inst, *repo.value(), "doomed", m);
  ASSERT_TRUE(backup.ok()) << backup.status().ToString();
}

TEST_P(MariaBackupTest, KilledMidBackupLeavesTheServerWritable) {
  MariaConnection conn = Connect(*source_);
  ASSERT_SQL(conn, "CREATE DATABASE probe");
  ASSERT_SQL(conn,
             "CREATE TABLE probe.t (id INT AUTO_INCREMENT PRIMARY KEY) "
             "ENGINE=InnoDB");
  ASSERT_SQL(conn, "INSERT INTO probe.t VALUES ()");
  bool reflink = GetParam() == MariaBackupMethod::kReflink;
  ProcessOptions child;
  child.argv = {"/proc/self/exe", "--gtest_filter=MariaBackupKillTestChild.*"};
  child.env = {"DBAAS_KILL_TEST_BASE=" + base_,
               std::string("DBAAS_KILL_TEST_METHOD=") + (reflink ? "reflink" : "mariadb-backup")};
  child.output_path = JoinPath(tmp_.path(), "child.log");
  auto doomed = Process::Start(child);
  ASSERT_TRUE(doomed.ok()) << doomed.status().ToString();
  auto deadline = std::chrono::steady_clock::now() + seconds(60);
  if (reflink) {
    // Inside the hold, commits are blocked: an insert times out.
    ASSERT_SQL(conn, "SET SESSION lock_wait_timeout = 1");
    while (conn.Query("INSERT INTO probe.t VALUES ()").ok()) {
      ASSERT_LT(std::chrono::steady_clock::now(), deadline)
          << "commits were never blocked: "
          << testing::ReadFile(JoinPath(tmp_.path(), "child.log"));
      std::this_thread::sleep_for(std::chrono::milliseconds(50));
    }
  } else {
    // Inside mariadb-backup's copy: its staging directory exists.
    while (!PathExists(JoinPath(source_->dir(), "backup-stage"))) {
      ASSERT_LT(std::chrono::steady_clock::now(), deadline)
          << "the backup never started: " << testing::ReadFile(JoinPath(tmp_.path(), "child.log"));
      std::this_thread::sleep_for(std::chrono::milliseconds(5));
    }
  }
  ASSERT_TRUE(doomed->Signal(SIGKILL).ok());
  auto code = doomed->Wait(seconds(30));
  ASSERT_TRUE(code.ok());
  ASSERT_EQ(code.value(), 128 + SIGKILL) << "the backup finished before it was killed";

  // The server takes writes again (the killed session's backup locks went with it).
  ASSERT_SQL(conn, "SET SESSION lock_wait_timeout = 60");
  auto inserted = conn.Query("INSERT INTO probe.t VALUES ()");
  EXPECT_TRUE(inserted.ok()) << inserted.status().ToString();
  auto reopened = storage::Repository::Open(JoinPath(base_, "repo"));
  ASSERT_TRUE(reopened.ok());
  EXPECT_TRUE(reopened.value()->ListSnapshots()->empty()) << "a half backup is listed";
  // The next backup works, and cleans up what the killed one left.
  auto next = BackupMaria(*source_, *reopened.value(), "next", GetParam());
  ASSERT_TRUE(next.ok()) << next.status().ToString();
  EXPECT_FALSE(PathExists(JoinPath(source_->dir(), "backup-stage")));
}

// The reflink method keeps recovery's start at the checkpoint it pinned; if the circular redo
// log is overwritten past it during the copy, the copy could not be recovered: the backup
// must fail, say why, and leave nothing listed.
TEST_P(MariaBackupTest, ARedoLogThatWrapsDuringTheCopyFailsTheBackup) {
  if (GetParam() != MariaBackupMethod::kReflink) GTEST_SKIP() << "reflink method only";
  InstanceSpec spec = Spec("tinylog");
  spec.config = {{"innodb_log_file_size", "4M"}};
  auto made = MariaInstance::Create(spec);
  ASSERT_TRUE(made.ok()) << made.status().ToString();
  MariaInstance& inst = **made;
  ASSERT_TRUE(inst.Start().ok());
  MariaConnection conn = Connect(inst);
  ASSERT_SQL(conn, "CREATE DATABASE w");
  ASSERT_SQL(conn, "CREATE TABLE w.t (id INT PRIMARY KEY, v VARCHAR(1000)) ENGINE=InnoDB");
  // While the backup holds commits, one transaction writes ~30 MB of redo into a 4 MB log.
  ArmKillPoint(KillPoint::kBackupMode, std::chrono::seconds(3));
  std::thread writer([&] {
    std::this_thread::sleep_for(std::chrono::milliseconds(500));
    MariaConnection c = Connect(inst);
    EXPECT_TRUE(c.Query("START TRANSACTION").ok());
    auto big = c.Query("INSERT INTO w.t SELECT seq, REPEAT('x', 1000) FROM mysql.seq_1_to_30000");
    EXPECT_TRUE(big.ok()) << big.status().ToString();
    EXPECT_TRUE(c.Query("ROLLBACK").ok());
  });
  auto backup = BackupMaria(inst, *repo_, "wrapped", MariaBackupMethod::kReflink);
  ArmKillPoint(KillPoint::kBackupMode, std::chrono::milliseconds(0));
  writer.join();
  ASSERT_FALSE(backup.ok()) << "a copy whose redo log wrapped was accepted";
  EXPECT_EQ(backup.status().code(), StatusCode::kBusy) << backup.status().ToString();
  EXPECT_NE(backup.status().ToString().find("wrapped"), std::string::npos);
  EXPECT_NE(backup.status().ToString().find("innodb_log_file_size"), std::string::npos);
  EXPECT_TRUE(repo_->ListSnapshots()->empty()) << "a failed backup is listed";
  // The server is writable, and a backup without the flood works.
  ASSERT_SQL(conn, "INSERT INTO w.t VALUES (1, 'after')");
  auto next = BackupMaria(inst, *repo_, "calm", MariaBackupMethod::kReflink);
  EXPECT_TRUE(next.ok()) << next.status().ToString();
}

INSTANTIATE_TEST_SUITE_P(Methods, MariaBackupTest,
                         ::testing::Values(MariaBackupMethod::kMariaBackup,
                                           MariaBackupMethod::kReflink),
                         [](const auto& p) { return MethodName(p.param); });

TEST(RedoHeaderTest, TheNewerValidCheckpointBlockWins) {
  std::string header(kRedoHeaderSize, '\0');
  header.replace(0, 4, "Phys");
  auto put = [&](size_t at, uint64_t v) {
    for (int i = 7; i >= 0; --i, v >>= 8) header[at + i] = static_cast<char>(v & 0xff);
  };
  put(4096, 0x5000);
  put(4096 + 8, 0x6000);
  put(8192, 0x7000);
  put(8192 + 8, 0x7100);
  auto c = ParseRedoHeader(header);
  ASSERT_TRUE(c.ok()) << c.status().ToString();
  EXPECT_EQ(c->checkpoint_lsn, 0x7000u);
  EXPECT_EQ(c->end_lsn, 0x7100u);
  put(8192 + 8, 0x10);  // end before checkpoint: not a valid block
  EXPECT_EQ(ParseRedoHeader(header)->checkpoint_lsn, 0x5000u);
  EXPECT_FALSE(ParseRedoHeader(std::string(kRedoHeaderSize, '\0')).ok());
  EXPECT_FALSE(ParseRedoHeader("Phys").ok());
}

// mariadb-backup's copy is staged beside the data: refused before anything is written when
// the filesystem cannot hold it and leave room for the server's writes meanwhile.
TEST(RoomForCopyTest, ACopyMustFitWithAReserveForTheServer) {
  constexpr uint64_t kMiB = uint64_t{1} << 20;
  // A 10 GiB filesystem keeps 204 MiB (a fiftieth); a 1 GiB one 64 MiB (the least).
  EXPECT_TRUE(RoomForCopy(1000 * kMiB, 1204 * kMiB + kMiB, 10240 * kMiB, "s").ok());
  Status tight = RoomForCopy(1000 * kMiB, 1204 * kMiB - kMiB, 10240 * kMiB, "/v/i/backup-stage");
  EXPECT_EQ(tight.code(), StatusCode::kFailedPrecondition);
  EXPECT_NE(tight.message().find("/v/i/backup-stage"), std::string::npos) << tight.ToString();
  EXPECT_NE(tight.message().find("1000 MiB"), std::string::npos) << tight.ToString();
  EXPECT_NE(tight.hint().find("volumeSnapshot"), std::string::npos) << tight.ToString();
  EXPECT_TRUE(RoomForCopy(100 * kMiB, 164 * kMiB, 1024 * kMiB, "s").ok());
  EXPECT_FALSE(RoomForCopy(100 * kMiB, 163 * kMiB, 1024 * kMiB, "s").ok());
  // A 4 TiB filesystem keeps 1 GiB, not a fiftieth.
  EXPECT_TRUE(RoomForCopy(1000 * kMiB, 2024 * kMiB, uint64_t{4} << 40, "s").ok());
  EXPECT_FALSE(RoomForCopy(1000 * kMiB, 2023 * kMiB, uint64_t{4} << 40, "s").ok());
  // Less free than the reserve alone: no underflow into "room".
  EXPECT_FALSE(RoomForCopy(0, 10 * kMiB, 1024 * kMiB, "s").ok());
}

}  // namespace
}  // namespace dbaas::engines
