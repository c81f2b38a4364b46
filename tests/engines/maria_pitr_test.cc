// Point-in-time recovery of real MariaDB 10.11 servers from binlogs archived into the
// repository, with both backup methods: reflink clones (on a loop-mounted XFS; needs root)
// and mariadb-backup.
#include "engines/mariadb/maria_pitr.h"

#include <signal.h>
#include <sys/stat.h>
#include <unistd.h>

#include <chrono>
#include <optional>
#include <thread>

#include <fmt/format.h>
#include <gtest/gtest.h>

#include "base/files.h"
#include "engines/engine.h"
#include "engines/log_spool.h"
#include "engines/maria_test_tools.h"
#include "engines/mariadb/maria_backup.h"
#include "engines/mariadb/maria_log_archiving.h"
#include "test_util.h"

namespace dbaas::engines {
namespace {

using std::chrono::milliseconds;

int64_t NowUs() {
  return std::chrono::duration_cast<std::chrono::microseconds>(
             std::chrono::system_clock::now().time_since_epoch())
      .count();
}

class MariaPitrTest : public ::testing::TestWithParam<MariaBackupMethod> {
 protected:
  void SetUp() override {
    if (::access("/usr/sbin/mariadbd", X_OK) != 0) GTEST_SKIP() << "mariadb-server missing";
    ::chmod(tmp_.path().c_str(), 0711);
    base_ = tmp_.path();
    if (GetParam() == MariaBackupMethod::kReflink) {
      xfs_ = std::make_unique<testing::XfsMount>(tmp_.path());
      std::string why = xfs_->Make("3G");
      if (!why.empty()) GTEST_SKIP() << why;
      base_ = xfs_->path();
    }
    ASSERT_TRUE(storage::Repository::Init(repo_path(), {}).ok());
    repo_ = std::move(storage::Repository::Open(repo_path()).value());
    engines_ = PackagedEngines(runtime::Local());
    engine_ = engines_->For("mariadb").value();
    auto made = MariaInstance::Create(Spec("source"));
    ASSERT_TRUE(made.ok()) << made.status().ToString();
    source_ = std::move(made.value());
    ASSERT_TRUE(source_->Start().ok());
    ASSERT_FALSE(source_->log_archive_id().empty());
  }

  std::string repo_path() const { return JoinPath(base_, "repo"); }

  InstanceSpec Spec(const std::string& name) {
    InstanceSpec spec;
    spec.name = name;
    spec.type = "mariadb";
    spec.data_root = JoinPath(base_, "instances");
    spec.config = {{"innodb_log_file_size", "32M"}};
    spec.archiving = {repo_path(), "/usr/bin/true", "", "",
                      ""};  // MariaDB's archiving runs no binary
    return spec;
  }

  MariaConnection Connect(const MariaInstance& inst) {
    auto c = MariaConnection::Connect(inst.client());
    EXPECT_TRUE(c.ok()) << c.status().ToString();
    return std::move(c.value());
  }

  std::string Value(const MariaInstance& inst, const std::string& sql) {
    return Connect(inst).QueryValue(sql).value_or("(error)");
  }

  Result<std::unique_ptr<Instance>> RestoreTo(const MariaBackupInfo& backup,
                                              const std::string& name, RecoveryTarget target) {
    target.archive_id = source_->log_archive_id();
    return engine_->Restore(*repo_, backup.snapshot, Spec(name), source_->endpoint().password,
                            target, nullptr, nullptr);
  }

  storage::WalArchive Archive() {
    return storage::WalArchive::Open(repo_path(), source_->log_archive_id()).value();
  }

  testing::TempDir tmp_;
  std::unique_ptr<testing::XfsMount> xfs_;
  std::string base_;
  std::unique_ptr<storage::Repository> repo_;
  std::unique_ptr<EngineSet> engines_;
  const Engine* engine_ = nullptr;
  std::unique_ptr<MariaInstance> source_;
};

// Rows written in phases more than two seconds apart (event times are whole seconds):
// restores to a time between phases, to the GTID and the binlog position after a phase,
// and to the latest hold exactly the rows committed before each target.
TEST_P(MariaPitrTest, RestoresHoldExactlyWhatWasCommittedBeforeTheTarget) {
  MariaConnection conn = Connect(*source_);
  ASSERT_TRUE(conn.Query("CREATE TABLE app.rows (id INT PRIMARY KEY, phase INT)").ok());
  auto backup = BackupMaria(*source_, *repo_, "base", GetParam());
  ASSERT_TRUE(backup.ok()) << backup.status().ToString();
  BackupFacts facts = backup->Facts("mariadb");
  ASSERT_TRUE(ParseBinlogPosition(facts.stop_lsn).has_value()) << facts.stop_lsn;
  EXPECT_EQ(facts.wal_archive, source_->log_archive_id());

  struct Phase {
    int64_t committed_us;
    std::string gtid, position;
  };
  std::vector<Phase> phases;
  for (int p = 1; p <= 3; ++p) {
    if (p > 1) std::this_thread::sleep_for(milliseconds(2200));
    for (int i = 0; i < 10; ++i) {
      ASSERT_TRUE(
          conn.Query(fmt::format("INSERT INTO app.rows VALUES ({}, {})", p * 100 + i, p)).ok());
    }
    auto point = CurrentBinlogPoint(conn);
    ASSERT_TRUE(point.ok()) << point.status().ToString();
    phases.push_back({NowUs(), point->gtid, point->position});
  }
  ASSERT_TRUE(engine_->ArchiveNow(*source_, std::chrono::seconds(10)).ok());

  auto end = engine_->ScanArchive(repo_path(), source_->log_archive_id(), facts.stop_lsn);
  ASSERT_TRUE(end.ok()) << end.status().ToString();
  EXPECT_EQ(end->last_gtid, phases.back().gtid);
  ASSERT_TRUE(end->last_commit_unix_us.has_value());
  EXPECT_LE(*end->last_commit_unix_us, phases.back().committed_us);

  auto rows_of = [&](Instance& restored) {
    auto* maria = dynamic_cast<MariaInstance*>(&restored);
    return Value(*maria, "SELECT CONCAT(COUNT(*), ':', COALESCE(MAX(phase), 0)) FROM app.rows");
  };
  for (int p = 0; p < 3; ++p) {
    RecoveryTarget at_time;
    at_time.kind = RecoveryTarget::Kind::kTime;
    at_time.time_unix_us = phases[p].committed_us + 1000000;
    auto restored = RestoreTo(*backup, fmt::format("time-{}", p), at_time);
    ASSERT_TRUE(restored.ok()) << restored.status().ToString();
    EXPECT_EQ(rows_of(**restored), fmt::format("{}:{}", (p + 1) * 10, p + 1)) << "phase " << p;
    ASSERT_TRUE((*restored)->Delete().ok());
  }
  RecoveryTarget at_gtid;
  at_gtid.kind = RecoveryTarget::Kind::kGtid;
  at_gtid.gtid = phases[1].gtid;
  auto by_gtid = RestoreTo(*backup, "by-gtid", at_gtid);
  ASSERT_TRUE(by_gtid.ok()) << by_gtid.status().ToString();
  EXPECT_EQ(rows_of(**by_gtid), "20:2");
  ASSERT_TRUE((*by_gtid)->Delete().ok());

  // The backup's own GTID position is a target too: nothing after it replayed.
  RecoveryTarget at_backup;
  at_backup.kind = RecoveryTarget::Kind::kGtid;
  at_backup.gtid = facts.gtid_position;
  auto by_backup_gtid = RestoreTo(*backup, "by-backup-gtid", at_backup);
  ASSERT_TRUE(by_backup_gtid.ok()) << by_backup_gtid.status().ToString();
  EXPECT_EQ(rows_of(**by_backup_gtid), "0:0");
  ASSERT_TRUE((*by_backup_gtid)->Delete().ok());

  RecoveryTarget at_position;
  at_position.kind = RecoveryTarget::Kind::kLsn;
  at_position.lsn = phases[0].position;
  auto by_position = RestoreTo(*backup, "by-position", at_position);
  ASSERT_TRUE(by_position.ok()) << by_position.status().ToString();
  EXPECT_EQ(rows_of(**by_position), "10:1");
  ASSERT_TRUE((*by_position)->Delete().ok());

  RecoveryTarget latest;
  latest.kind = RecoveryTarget::Kind::kLatest;
  auto all = RestoreTo(*backup, "latest", latest);
  ASSERT_TRUE(all.ok()) << all.status().ToString();
  EXPECT_EQ(rows_of(**all), "30:3");
  // A restored copy begins a history of its own: its own archive and server_id.
  EXPECT_NE((*all)->log_archive_id(), source_->log_archive_id());
  EXPECT_NE(Value(*dynamic_cast<MariaInstance*>(all->get()), "SELECT @@server_id"),
            Value(*source_, "SELECT @@server_id"));

  // A GTID the source never reached is refused before anything is made.
  RecoveryTarget beyond;
  beyond.kind = RecoveryTarget::Kind::kGtid;
  beyond.gtid = "0-1-999999";
  auto refused = RestoreTo(*backup, "beyond", beyond);
  EXPECT_EQ(refused.status().code(), StatusCode::kInvalidArgument) << refused.status().ToString();
  EXPECT_FALSE(PathExists(JoinPath(JoinPath(base_, "instances"), "beyond")));
}

// A binlog missing from the middle of the archive: no restore replays across it; targets
// before it are still reached. A server killed mid-write leaves a file (its in-use flag set,
// its format description's checksum computed without it) that is archived and replayed.
TEST_P(MariaPitrTest, HolesAreNeverReplayedAcrossAndACrashedServersFileIsReplayed) {
  if (GetParam() != MariaBackupMethod::kMariaBackup) GTEST_SKIP() << "one backup method is enough";
  MariaConnection conn = Connect(*source_);
  ASSERT_TRUE(conn.Query("CREATE TABLE app.rows (id INT PRIMARY KEY, phase INT)").ok());
  auto backup = BackupMaria(*source_, *repo_, "base", GetParam());
  ASSERT_TRUE(backup.ok()) << backup.status().ToString();
  std::vector<std::string> ends;  // the binlog position after each phase
  for (int p = 1; p <= 3; ++p) {
    ASSERT_TRUE(conn.Query(fmt::format("INSERT INTO app.rows VALUES ({}, {})", p, p)).ok());
    ends.push_back(CurrentBinlogPoint(conn)->position);
    if (p == 2) {
      // Killed with the phase committed: the file it wrote stays in use.
      ASSERT_EQ(::kill(source_->server_pid(), SIGKILL), 0);
      for (int i = 0; i < 300 && !MariaConnection::Connect(source_->client()).ok(); ++i) {
        std::this_thread::sleep_for(milliseconds(100));
      }
      conn = Connect(*source_);
    } else {
      ASSERT_TRUE(engine_->ArchiveNow(*source_, std::chrono::seconds(10)).ok());
    }
  }
  ASSERT_TRUE(engine_->ArchiveNow(*source_, std::chrono::seconds(10)).ok());
  auto rows_of = [&](Instance& restored) {
    return Value(*dynamic_cast<MariaInstance*>(&restored), "SELECT COUNT(*) FROM app.rows");
  };
  RecoveryTarget latest;
  latest.kind = RecoveryTarget::Kind::kLatest;
  auto all = RestoreTo(*backup, "all", latest);
  ASSERT_TRUE(all.ok()) << all.status().ToString();
  EXPECT_EQ(rows_of(**all), "3") << "phase 2 was committed before the crash";
  ASSERT_TRUE((*all)->Delete().ok());

  // Phase 2's file goes missing.
  const std::string missing =
      JoinPath(Archive().dir(), BinlogFileName(ParseBinlogPosition(ends[1])->file));
  ASSERT_EQ(::rename(missing.c_str(), (missing + ".away").c_str()), 0);
  auto refused = RestoreTo(*backup, "across", latest);
  EXPECT_EQ(refused.status().code(), StatusCode::kCorruption) << refused.status().ToString();
  EXPECT_NE(refused.status().message().find("hole"), std::string::npos);
  RecoveryTarget before_hole;
  before_hole.kind = RecoveryTarget::Kind::kLsn;
  before_hole.lsn = ends[0];
  auto reached = RestoreTo(*backup, "before-hole", before_hole);
  ASSERT_TRUE(reached.ok()) << reached.status().ToString();
  EXPECT_EQ(rows_of(**reached), "1");
  auto end = engine_->ScanArchive(repo_path(), source_->log_archive_id(),
                                  backup->Facts("mariadb").stop_lsn);
  ASSERT_TRUE(end.ok()) << end.status().ToString();
  EXPECT_LT(ParseBinlogPosition(end->last_lsn)->file, ParseBinlogPosition(ends[1])->file)
      << "the window ends before the hole: " << end->last_lsn;
}

// Under the transfer load, a backup, more load, and a restore to a time in the middle of it:
// the copy keeps the invariants (nothing half-replayed, nothing lost at the backup's point).
TEST_P(MariaPitrTest, ARestoreToATimeUnderTransferLoadIsConsistent) {
  ASSERT_EQ(testing::MariaTransferLoad::CreateSchema(source_->client()), "");
  testing::MariaTransferLoad load(source_->client(), 3);
  std::this_thread::sleep_for(milliseconds(500));
  auto backup = BackupMaria(*source_, *repo_, "under-load", GetParam());
  ASSERT_TRUE(backup.ok()) << backup.status().ToString();
  std::this_thread::sleep_for(milliseconds(1500));
  const int64_t target = NowUs();
  const long committed_at_target = load.committed();
  std::this_thread::sleep_for(milliseconds(1500));
  load.Stop();
  ASSERT_EQ(load.errors(), 0);
  ASSERT_TRUE(engine_->ArchiveNow(*source_, std::chrono::seconds(10)).ok());

  RecoveryTarget at_time;
  at_time.kind = RecoveryTarget::Kind::kTime;
  at_time.time_unix_us = target;
  auto restored = RestoreTo(*backup, "mid-load", at_time);
  ASSERT_TRUE(restored.ok()) << restored.status().ToString();
  auto* copy = dynamic_cast<MariaInstance*>(restored->get());
  EXPECT_EQ(testing::MariaTransferLoad::CheckInvariants(copy->client()), "");
  // Replayed past the backup, not beyond the target's second.
  long transfers = std::stol(Value(*copy, "SELECT n FROM bank.counter"));
  EXPECT_GT(transfers, 0);
  EXPECT_LT(transfers, load.committed());
  std::cout << "transfers: " << load.committed() << " in all, " << committed_at_target
            << " at the target, " << transfers << " in the copy\n";
}

// The file in progress is closed once it holds a transaction older than the recovery point
// objective; a binlog that cannot be archived stays on the server.
TEST_P(MariaPitrTest, TheFileInProgressIsArchivedInTimeAndNothingIsPurgedUnarchived) {
  if (GetParam() != MariaBackupMethod::kMariaBackup) GTEST_SKIP() << "no backup involved";
  auto spool = source_->log_spool();
  ASSERT_TRUE(spool.has_value());
  spool->close_after = std::chrono::seconds(1);
  MariaConnection conn = Connect(*source_);
  ASSERT_TRUE(conn.Query("CREATE TABLE app.t (id INT PRIMARY KEY)").ok());
  auto first = CurrentBinlogPoint(conn);
  ASSERT_TRUE(first.ok());
  std::this_thread::sleep_for(milliseconds(1200));
  auto drained = DrainLogSpool(*spool);  // closes the file
  ASSERT_TRUE(drained.ok()) << drained.status().ToString();
  drained = DrainLogSpool(*spool);  // archives it
  ASSERT_TRUE(drained.ok()) << drained.status().ToString();
  auto end =
      MariaScanArchive(repo_path(), source_->log_archive_id(),
                       BinlogPosition{ParseBinlogPosition(first->position)->file, 4}.ToString());
  ASSERT_TRUE(end.ok()) << end.status().ToString();
  EXPECT_EQ(end->last_gtid, first->gtid);

  // The archive cannot be written (a file where its directory was): the drain fails, says
  // so, and the server keeps every binlog.
  ASSERT_TRUE(conn.Query("INSERT INTO app.t VALUES (1)").ok());
  ASSERT_TRUE(conn.Query("FLUSH BINARY LOGS").ok());
  const std::string dir = Archive().dir();
  ASSERT_EQ(::rename(dir.c_str(), (dir + ".away").c_str()), 0);
  testing::WriteFile(dir, "not a directory");
  auto listed = [&] {
    std::vector<std::string> names;
    auto rows = conn.Query("SHOW BINARY LOGS");
    if (!rows.ok()) return names;
    for (const auto& row : *rows) names.push_back(row[0]);
    return names;
  };
  const std::vector<std::string> before = listed();
  ASSERT_GE(before.size(), 2u);
  auto failed = DrainLogSpool(*spool);
  EXPECT_FALSE(failed.ok());
  EXPECT_NE(LogSpoolNote(*spool), "");
  EXPECT_EQ(listed(), before);
  ASSERT_EQ(::unlink(dir.c_str()), 0);
  ASSERT_EQ(::rename((dir + ".away").c_str(), dir.c_str()), 0);
  ASSERT_TRUE(DrainLogSpool(*spool).ok());
  EXPECT_EQ(LogSpoolNote(*spool), "");
  for (size_t i = 0; i + 1 < before.size(); ++i) {
    EXPECT_TRUE(Archive().RawSize(before[i]).ok()) << before[i];
  }
  // Purged once archived (the server holds a file back while InnoDB still needs it).
  for (int i = 0; i < 50 && listed().size() > 1; ++i) {
    std::this_thread::sleep_for(milliseconds(100));
    ASSERT_TRUE(DrainLogSpool(*spool).ok());
  }
  EXPECT_EQ(listed().size(), 1u);
}

// A pod's server (spec.archiving.spool_archive_id): binlogs written for an archive the
// daemon keeps elsewhere, none made here. Its agent lists only the binlogs the server
// finished, sends only those, and purges them once the daemon stored them; the file in
// progress is closed once it holds a transaction older than closeAfter; a server stopped
// cleanly has closed its last file, which is then finished too.
TEST(MariaPodBinlogTest, OnlyFinishedBinlogsAreListedAndSentAndPurgedWhenStored) {
  if (::access("/usr/sbin/mariadbd", X_OK) != 0) GTEST_SKIP() << "mariadb-server missing";
  testing::TempDir tmp;
  ::chmod(tmp.path().c_str(), 0711);
  InstanceSpec spec;
  spec.name = "podmaria";
  spec.type = "mariadb";
  spec.data_root = JoinPath(tmp.path(), "instances");
  spec.config = {{"innodb_log_file_size", "32M"}};
  spec.archiving.spool_archive_id = "podmaria.0a0b0c0d";
  auto made = MariaInstance::Create(spec);
  ASSERT_TRUE(made.ok()) << made.status().ToString();
  std::unique_ptr<MariaInstance> inst = std::move(made).value();
  EXPECT_EQ(inst->log_archive_id(), "podmaria.0a0b0c0d");
  EXPECT_FALSE(inst->HasLocalArchive());
  ASSERT_TRUE(inst->Start().ok());
  const BinlogSpool spool = *inst->binlog_spool();
  auto names = [&](std::chrono::seconds close_after) {
    std::string out;
    auto listed = ListFinishedBinlogs(spool, close_after);
    EXPECT_TRUE(listed.ok()) << listed.status().ToString();
    for (const FinishedBinlog& f : listed.value_or(std::vector<FinishedBinlog>{})) {
      out += (out.empty() ? "" : ",") + f.name;
    }
    return out;
  };
  EXPECT_EQ(names(std::chrono::seconds(0)), "") << "the file in progress is not finished";
  auto connected = MariaConnection::Connect(inst->client());
  ASSERT_TRUE(connected.ok()) << connected.status().ToString();
  std::optional<MariaConnection> conn(std::move(connected).value());
  ASSERT_TRUE(conn->Query("CREATE TABLE app.t (id INT PRIMARY KEY)").ok());
  auto in_progress = ReadFinishedBinlog(spool, "binlog.000001");
  EXPECT_EQ(in_progress.status().code(), StatusCode::kFailedPrecondition)
      << in_progress.status().ToString();
  for (const char* bad : {"../binlog.000001", "binlog.0000001", "binlog.index"}) {
    EXPECT_EQ(ReadFinishedBinlog(spool, bad).status().code(), StatusCode::kInvalidArgument) << bad;
  }

  // Closed once its first transaction is older than closeAfter: listed at the next call.
  std::this_thread::sleep_for(std::chrono::milliseconds(2100));
  EXPECT_EQ(names(std::chrono::seconds(1)), "");
  EXPECT_EQ(names(std::chrono::seconds(1)), "binlog.000001");
  auto sent = ReadFinishedBinlog(spool, "binlog.000001");
  ASSERT_TRUE(sent.ok()) << sent.status().ToString();
  auto on_disk = ReadFileToString(JoinPath(spool.dir, "binlog.000001"), 1 << 30);
  ASSERT_TRUE(on_disk.ok());
  EXPECT_EQ(std::string(sent->begin(), sent->end()), *on_disk);

  // Purged once stored (InnoDB may still need it for a moment: its binlog checkpoint).
  bool purged = false;
  for (int i = 0; i < 50 && !purged; ++i) {
    ASSERT_TRUE(PurgeStoredBinlogs(spool, "binlog.000001").ok());
    purged = !PathExists(JoinPath(spool.dir, "binlog.000001"));
    if (!purged) std::this_thread::sleep_for(std::chrono::milliseconds(100));
  }
  EXPECT_TRUE(purged) << "binlog.000001 was not purged";
  EXPECT_EQ(ReadFinishedBinlog(spool, "binlog.000001").status().code(), StatusCode::kNotFound);
  EXPECT_TRUE(PathExists(JoinPath(spool.dir, "binlog.000002"))) << "the file in progress went";

  // Stopped cleanly: its last file closed, finished; a purge while it is down purges
  // nothing and is no failure (the daemon drains a stopped pod before deleting it).
  ASSERT_TRUE(conn->Query("INSERT INTO app.t VALUES (1)").ok());
  conn.reset();
  ASSERT_TRUE(inst->Stop().ok());
  EXPECT_EQ(names(std::chrono::seconds(0)), "binlog.000002");
  EXPECT_TRUE(ReadFinishedBinlog(spool, "binlog.000002").ok());
  Status purge_while_down = PurgeStoredBinlogs(spool, "binlog.000002");
  EXPECT_TRUE(purge_while_down.ok()) << purge_while_down.ToString();
  EXPECT_TRUE(PathExists(JoinPath(spool.dir, "binlog.000002")));
  ASSERT_TRUE(inst->Delete().ok());
}

INSTANTIATE_TEST_SUITE_P(Methods, MariaPitrTest,
                         ::testing::Values(MariaBackupMethod::kReflink,
                                           MariaBackupMethod::kMariaBackup),
                         [](const auto& p) {
                           return p.param == MariaBackupMethod::kReflink ? "Reflink"
                                                                         : "MariaBackup";
                         });

}  // namespace
}  // namespace dbaas::engines
