// Consistent online backup and restore with real PostgreSQL 15 servers, under pgbench load.
#include "engines/postgres/pg_backup.h"

#include <signal.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <filesystem>
#include <thread>

#include <gtest/gtest.h>

#include "base/files.h"
#include "base/kill_points.h"
#include "engines/postgres/pg_connection.h"
#include "pg_test_tools.h"
#include "storage/snapshot_restore.h"
#include "test_util.h"

namespace dbaas::engines {
namespace {

// Every incremental here also reads what the WAL says did not change, and reports misses.
const PgBackupOptions kRepositoryMode{.mode = storage::SnapshotMode::kRepository,
                                      .check_changed_blocks = true};

using std::chrono::seconds;

class PgBackupTest : public PgRepositoryTest {
 protected:
  void SetUp() override {
    PgRepositoryTest::SetUp();
    if (IsSkipped() || HasFatalFailure()) return;
    PgInstanceSpec spec;
    spec.name = "source";
    spec.data_root = root_ / "instances";
    auto inst = PgInstance::Create(spec);
    ASSERT_TRUE(inst.ok()) << inst.status().ToString();
    source_.emplace(std::move(inst.value()));
    ASSERT_TRUE(source_->Start().ok());
  }

  // pg_verifybackup on a plain restore of the snapshot, before any server touches it.
  void ExpectVerifies(const storage::Manifest& snapshot, const std::string& where,
                      const storage::Repository* repo = nullptr) {
    storage::RestoreOptions o;
    o.target = root_ / where;
    auto restored = storage::RestoreSnapshot(repo ? *repo : *repo_, snapshot, o);
    ASSERT_TRUE(restored.ok()) << restored.status().ToString();
    ProcessOptions verify;
    verify.argv = {JoinPath(bin_, "pg_verifybackup"), o.target};
    auto r = RunProcess(verify, seconds(120));
    ASSERT_TRUE(r.ok()) << r.status().ToString();
    EXPECT_EQ(r->exit_code, 0) << "pg_verifybackup on " << snapshot.id << ": " << r->output;
  }

  std::optional<PgInstance> source_;
};

TEST_F(PgBackupTest, RoundTripIntoANewInstance) {
  auto conn = PgConnection::Connect(source_->connection().SocketConninfo());
  ASSERT_TRUE(conn.ok());
  ASSERT_TRUE(conn->Query("create table items as select g as id, md5(g::text) as v "
                          "from generate_series(1, 10000) g")
                  .ok());
  auto backup = BackupPostgres(*source_, *repo_, "first", kRepositoryMode);
  ASSERT_TRUE(backup.ok()) << backup.status().ToString();
  EXPECT_FALSE(backup->start_lsn.empty());
  EXPECT_FALSE(backup->stop_lsn.empty());
  EXPECT_EQ(backup->timeline, 1u);
  EXPECT_TRUE(backup->server_version.starts_with("15"));
  // Recorded with the snapshot, for restores and listings later.
  auto stored = repo_->LoadSnapshot(backup->snapshot.id);
  ASSERT_TRUE(stored.ok());
  EXPECT_EQ(stored->annotations.at("stop_lsn"), backup->stop_lsn);
  EXPECT_EQ(stored->annotations.at("system_identifier"), backup->system_identifier);
  EXPECT_EQ(stored->annotations.at("engine"), "postgresql");
  // Rows written after the backup are not in it.
  ASSERT_TRUE(conn->Query("insert into items values (10001, 'late')").ok());
  ExpectVerifies(backup->snapshot, "verify");

  PgInstanceSpec spec;
  spec.name = "restored";
  spec.data_root = root_ / "instances";
  auto restored = RestorePostgres(*repo_, backup->snapshot, spec, source_->connection().password);
  ASSERT_TRUE(restored.ok()) << restored.status().ToString();
  auto rconn = PgConnection::Connect(restored->connection().Uri(true));
  ASSERT_TRUE(rconn.ok()) << rconn.status().ToString();
  EXPECT_EQ(rconn->QueryValue("select count(*) from items").value(), "10000");
  EXPECT_EQ(rconn->QueryValue("select v from items where id = 77").value(),
            conn->QueryValue("select v from items where id = 77").value());
  EXPECT_EQ(rconn->QueryValue("select pg_is_in_recovery()").value(), "f");
  EXPECT_NE(restored->connection().port, source_->connection().port);

  // The name is taken now: a second restore onto it is refused and changes nothing.
  auto again = RestorePostgres(*repo_, backup->snapshot, spec, source_->connection().password);
  ASSERT_FALSE(again.ok());
  EXPECT_EQ(again.status().code(), StatusCode::kAlreadyExists);
  EXPECT_EQ(rconn->QueryValue("select count(*) from items").value(), "10000");
}

// The negative control for the drills' file check: the backup_manifest the backup writes
// is specific enough for pg_verifybackup to catch a short file, a stray file and missing
// WAL, each named in the problems.
TEST_F(PgBackupTest, TheFileCheckFindsAShortFileAStrayFileAndMissingWal) {
  auto conn = PgConnection::Connect(source_->connection().SocketConninfo());
  ASSERT_TRUE(conn.ok());
  ASSERT_TRUE(
      conn->Query("create table items as select g as id from generate_series(1, 50000) g").ok());
  std::string relation = conn->QueryValue("select pg_relation_filepath('items')").value();
  auto backup = BackupPostgres(*source_, *repo_, "checked", kRepositoryMode);
  ASSERT_TRUE(backup.ok()) << backup.status().ToString();
  auto restore_copy = [&](const std::string& where) {
    storage::RestoreOptions o;
    o.target = root_ / where;
    auto restored = storage::RestoreSnapshot(*repo_, backup->snapshot, o);
    EXPECT_TRUE(restored.ok()) << restored.status().ToString();
    return o.target;
  };
  auto check = [&](const std::string& dir) {
    FileCheck c;
    Status ran = PgVerifyBackupFiles(bin_, dir, RunProcess, c);
    EXPECT_TRUE(ran.ok()) << ran.ToString();
    EXPECT_EQ(c.checker, "pg_verifybackup");
    std::string all;
    for (const std::string& p : c.problems) all += p + "\n";
    return all;
  };

  std::string clean = restore_copy("clean");
  EXPECT_EQ(check(clean), "");

  std::string shortened = restore_copy("short");
  ASSERT_EQ(::truncate(JoinPath(shortened, relation).c_str(), 8192), 0);
  EXPECT_NE(check(shortened).find(relation), std::string::npos) << check(shortened);

  std::string stray = restore_copy("stray");
  ASSERT_TRUE(WriteFileAtomic(JoinPath(stray, "base/stray-file"), "x", 0600).ok());
  EXPECT_NE(check(stray).find("stray-file"), std::string::npos) << check(stray);

  std::string no_wal = restore_copy("no-wal");
  for (const auto& e : std::filesystem::directory_iterator(JoinPath(no_wal, "pg_wal"))) {
    if (e.is_regular_file()) std::filesystem::remove(e.path());
  }
  std::string problems = check(no_wal);
  EXPECT_NE(problems.find("WAL"), std::string::npos) << problems;
}

// The torture test, small enough for CI (pgbench scale 2; bench/pg_backup_bench.sh runs at
// scale 70): five backups taken under pgbench write load each pass pg_verifybackup, start,
// pass pg_amcheck --heapallindexed and keep the pgbench invariant.
TEST_F(PgBackupTest, BackupsUnderWriteLoadRestoreConsistent) {
  ASSERT_TRUE(RunChecked(Tool("pgbench", {"-i", "-q", "-s", "2"}, *source_), seconds(300)).ok());
  auto load = Process::Start(Tool("pgbench", {"-n", "-c", "4", "-j", "2", "-T", "25"}, *source_));
  ASSERT_TRUE(load.ok());
  std::this_thread::sleep_for(seconds(2));
  std::vector<PgBackupInfo> backups;
  for (int i = 0; i < 5; ++i) {
    auto b = BackupPostgres(*source_, *repo_, "load-" + std::to_string(i), kRepositoryMode);
    ASSERT_TRUE(b.ok()) << b.status().ToString();
    backups.push_back(std::move(b.value()));
    std::this_thread::sleep_for(seconds(2));
  }
  auto code = load->Wait(seconds(120));
  ASSERT_TRUE(code.ok());
  EXPECT_EQ(code.value(), 0) << "pgbench failed";

  for (size_t i = 0; i < backups.size(); ++i) {
    SCOPED_TRACE("backup " + std::to_string(i));
    ExpectVerifies(backups[i].snapshot, "verify-" + std::to_string(i));
    PgInstanceSpec spec;
    spec.name = "restored-" + std::to_string(i);
    spec.data_root = root_ / "instances";
    auto restored =
        RestorePostgres(*repo_, backups[i].snapshot, spec, source_->connection().password);
    ASSERT_TRUE(restored.ok()) << restored.status().ToString();
    ExpectPgbenchConsistent(bin_, *restored);
    ASSERT_TRUE(restored->Delete().ok());
  }
}

// A tenant with the superuser's login can put its own pg_settings (and functions) before
// the system's on the search path the backup's session gets; the backup names the system's.
TEST_F(PgBackupTest, ATenantsSearchPathDoesNotReachTheBackup) {
  auto conn = PgConnection::Connect(source_->connection().SocketConninfo());
  ASSERT_TRUE(conn.ok());
  for (const char* sql :
       {"create schema evil", "create table evil.pg_settings (name text, setting text)",
        "insert into evil.pg_settings values ('wal_segment_size', '0')",
        "create function evil.pg_backup_start(text, boolean) returns pg_lsn "
        "language sql as $$ select '0/0'::pg_lsn $$",
        "alter role postgres set search_path = evil, pg_catalog"}) {
    ASSERT_TRUE(conn->Query(sql).ok()) << sql;
  }
  auto backup = BackupPostgres(*source_, *repo_, "shadowed", kRepositoryMode);
  ASSERT_TRUE(backup.ok()) << backup.status().ToString();
  EXPECT_NE(backup->start_lsn, "0/0");
  ExpectVerifies(backup->snapshot, "verify-shadowed");
}

// Negative control: the same checks catch a copy made without the backup protocol. The copy
// is the way a slow file-by-file copy goes wrong (BASELINE.md: tar czf of the live
// directory fails 5 of 5): its WAL is older than its data files and pg_control.
TEST_F(PgBackupTest, NegativeControlPlainCopyIsCaught) {
  ASSERT_TRUE(RunChecked(Tool("pgbench", {"-i", "-q", "-s", "2"}, *source_), seconds(300)).ok());
  std::string copy = root_ / "plain-copy";
  std::string data = source_->data_dir();
  std::filesystem::create_directories(copy);
  std::filesystem::copy(data + "/pg_wal", copy + "/pg_wal",
                        std::filesystem::copy_options::recursive);
  ASSERT_TRUE(
      RunChecked(Tool("pgbench", {"-n", "-c", "4", "-j", "2", "-t", "300"}, *source_), seconds(300))
          .ok());
  auto conn = PgConnection::Connect(source_->connection().SocketConninfo());
  ASSERT_TRUE(conn.ok());
  ASSERT_TRUE(conn->Query("checkpoint").ok());
  for (const auto& e : std::filesystem::directory_iterator(data)) {
    std::string name = e.path().filename();
    if (name == "pg_wal" || name == "postmaster.pid") continue;
    std::filesystem::copy(e.path(), copy + "/" + name, std::filesystem::copy_options::recursive);
  }
  PgInstanceSpec spec;
  spec.name = "plain";
  spec.data_root = root_ / "instances";
  auto inst = PgInstance::CreateFrom(spec, source_->connection().password,
                                     [&](const std::string& target) -> Status {
                                       std::filesystem::rename(copy, target);
                                       return Status::Ok();
                                     });
  ASSERT_TRUE(inst.ok()) << inst.status().ToString();
  Status started = inst->Start(seconds(60));
  bool caught = !started.ok();
  if (!caught) {
    auto amcheck = RunProcess(
        Tool("pg_amcheck", {"--install-missing", "--heapallindexed", "-d", "postgres"}, *inst),
        seconds(300));
    auto c = PgConnection::Connect(inst->connection().SocketConninfo());
    auto sums = c.ok() ? c->Query(
                             "select (select sum(abalance) from pgbench_accounts) = (select "
                             "sum(bbalance) from pgbench_branches)")
                       : Result<std::vector<PgRow>>(c.status());
    caught = !amcheck.ok() || amcheck->exit_code != 0 || !sums.ok() || sums.value()[0][0] != "t";
  }
  EXPECT_TRUE(caught) << "an inconsistent copy passed every check: the checks prove nothing";
}

// Not a test by itself: the writer the kill test starts (a fresh process, so nothing of the
// test process's state is inherited) and kills inside backup mode.
TEST(PgBackupKillTestChild, BackUpAndHoldBackupMode) {
  const char* root = std::getenv("DBAAS_KILL_TEST_ROOT");
  if (!root) GTEST_SKIP() << "runs only as the kill test's child";
  ArmKillPoint(KillPoint::kBackupMode, std::chrono::seconds(60));
  auto inst = PgInstance::Open(JoinPath(root, "instances"), "source");
  ASSERT_TRUE(inst.ok()) << inst.status().ToString();
  auto repo = storage::Repository::Open(JoinPath(root, "repo"));
  ASSERT_TRUE(repo.ok()) << repo.status().ToString();
  auto backup = BackupPostgres(*inst, *repo.value(), "doomed", kRepositoryMode);
  ASSERT_TRUE(backup.ok()) << backup.status().ToString();
}

TEST_F(PgBackupTest, KilledMidBackupLeavesServerRunningAndNothingListed) {
  ProcessOptions child;
  child.argv = {"/proc/self/exe", "--gtest_filter=PgBackupKillTestChild.*"};
  child.env = {"DBAAS_KILL_TEST_ROOT=" + root_.path()};
  child.output_path = root_ / "child.log";
  auto writer = Process::Start(child);
  ASSERT_TRUE(writer.ok()) << writer.status().ToString();
  auto conn = PgConnection::Connect(source_->connection().SocketConninfo());
  ASSERT_TRUE(conn.ok());
  const std::string in_backup =
      "select count(*) from pg_stat_activity where query like '%pg_backup_start(%' and pid <> "
      "pg_backend_pid()";
  // The child says when it holds (after pg_backup_start and the scan, before the stop):
  // pg_stat_activity shows a session's last query, which the scan's queries replace.
  auto deadline = std::chrono::steady_clock::now() + seconds(60);
  while (testing::ReadFile(root_ / "child.log").find("holding at") == std::string::npos) {
    ASSERT_LT(std::chrono::steady_clock::now(), deadline)
        << "the backup never reached its hold: " << testing::ReadFile(root_ / "child.log");
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  const std::string slots =
      "select count(*) from pg_replication_slots where slot_name like 'dbaas_backup_%'";
  ASSERT_EQ(conn->QueryValue(slots).value(), "1") << "the backup holds no WAL reservation";
  ASSERT_TRUE(writer->Signal(SIGKILL).ok());
  auto code = writer->Wait(seconds(30));
  ASSERT_TRUE(code.ok());
  ASSERT_EQ(code.value(), 128 + SIGKILL) << "the writer finished before it was killed";

  // The server runs on; the session's backup mode and WAL reservation end with it.
  EXPECT_EQ(conn->QueryValue("select 1").value(), "1");
  while (conn->QueryValue(slots).value() != "0" || conn->QueryValue(in_backup).value() != "0") {
    ASSERT_LT(std::chrono::steady_clock::now(), deadline) << "backup mode was not left";
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  auto reopened = storage::Repository::Open(root_ / "repo");
  ASSERT_TRUE(reopened.ok());
  EXPECT_TRUE(reopened.value()->ListSnapshots()->empty()) << "a half backup is listed";
  // The next backup works at once.
  auto next = BackupPostgres(*source_, *reopened.value(), "next", kRepositoryMode);
  ASSERT_TRUE(next.ok()) << next.status().ToString();
  ExpectVerifies(next->snapshot, "verify-next", reopened.value().get());
}

TEST(PgBackupFilterTest, LeavesOutWhatABaseBackupLeavesOut) {
  using storage::ScanFilter;
  EXPECT_EQ(PgBackupFilter("postmaster.pid", false), ScanFilter::kSkip);
  EXPECT_EQ(PgBackupFilter("backup_label", false), ScanFilter::kSkip);
  EXPECT_EQ(PgBackupFilter("pg_wal", true), ScanFilter::kIncludeEmpty);
  EXPECT_EQ(PgBackupFilter("pg_replslot", true), ScanFilter::kIncludeEmpty);
  EXPECT_EQ(PgBackupFilter("base/pgsql_tmp", true), ScanFilter::kIncludeEmpty);
  EXPECT_EQ(PgBackupFilter("global/pg_internal.init", false), ScanFilter::kSkip);
  EXPECT_EQ(PgBackupFilter("base/1/1259", false), ScanFilter::kInclude);
  EXPECT_EQ(PgBackupFilter("global/pg_control", false), ScanFilter::kInclude);
}

TEST(LsnTest, ParseAndFormat) {
  EXPECT_EQ(ParseLsn("16/B374D848").value(), 0x16B374D848ull);
  EXPECT_EQ(FormatLsn(0x16B374D848ull), "16/B374D848");
  EXPECT_FALSE(ParseLsn("16B374D848").ok());
  EXPECT_FALSE(ParseLsn("1/G").ok());
}

}  // namespace
}  // namespace dbaas::engines
