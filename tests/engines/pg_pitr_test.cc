// Point-in-time recovery with real PostgreSQL 15 servers archiving through the dbaas CLI
// built here (DBAAS_CLI_BINARY): rows committed across several WAL segments around a
// backup, restores to several targets, a restore after the source is gone, and archive
// failures that must never lose WAL.
#include "engines/postgres/pg_pitr.h"
#include "engines/log_spool.h"

#include <sys/mount.h>
#include <sys/stat.h>
#include <unistd.h>

#include <filesystem>
#include <thread>

#include <fmt/format.h>
#include <gtest/gtest.h>

#include "base/files.h"
#include "engines/postgres/pg_backup.h"
#include "engines/postgres/pg_connection.h"
#include "pg_test_tools.h"
#include "storage/wal_archive.h"
#include "test_util.h"

namespace dbaas::engines {
namespace {

// What the instance's status says of its archiving (the service reads it so).
std::string ArchivingNote(const PgInstance& instance) {
  auto spool = instance.log_spool();
  return spool ? LogSpoolNote(*spool) : "";
}

// Every incremental here also reads what the WAL says did not change, and reports misses.
const PgBackupOptions kRepositoryMode{.mode = storage::SnapshotMode::kRepository,
                                      .check_changed_blocks = true};

using std::chrono::seconds;

class PgPitrTest : public ::testing::Test {
 protected:
  void SetUp() override {
    if (!FindPgBinDir().ok()) GTEST_SKIP() << "PostgreSQL 15 is not installed";
    ::chmod(root_.path().c_str(), 0711);
    ASSERT_TRUE(storage::Repository::Init(root_ / "repo", {}).ok());
    repo_ = std::move(storage::Repository::Open(root_ / "repo").value());
    auto inst = PgInstance::Create(Spec("source"));
    ASSERT_TRUE(inst.ok()) << inst.status().ToString();
    source_.emplace(std::move(inst.value()));
    ASSERT_TRUE(source_->Start().ok());
    ASSERT_FALSE(source_->log_archive_id().empty());
    conn_.emplace(std::move(PgConnection::Connect(source_->connection().SocketConninfo()).value()));
    Sql("create table t (id serial primary key, batch int not null, "
        "at timestamptz not null default clock_timestamp())");
  }

  PgInstanceSpec Spec(const std::string& name) {
    PgInstanceSpec spec;
    spec.name = name;
    spec.data_root = root_ / "instances";
    spec.archiving = {root_ / "repo", DBAAS_CLI_BINARY, "", "", ""};
    return spec;
  }

  std::string Sql(const std::string& sql) { return SqlValue(*conn_, sql); }

  // `n` rows of batch `batch`, each its own transaction.
  void InsertBatch(int batch, int n) {
    for (int i = 0; i < n; ++i) Sql(fmt::format("insert into t (batch) values ({})", batch));
  }

  PgBackupInfo Backup(const std::string& name) {
    auto b = BackupPostgres(*source_, *repo_, name, kRepositoryMode);
    EXPECT_TRUE(b.ok()) << b.status().ToString();
    return b.ok() ? std::move(b.value()) : PgBackupInfo{};
  }

  // Restores `backup` to `target` and returns "batch:count,..." of the restored table.
  std::string RestoreAndCount(const PgBackupInfo& backup, RecoveryTarget target,
                              const std::string& name) {
    target.archive_id = backup.wal_archive;
    auto restored = RestorePostgres(*repo_, backup.snapshot, Spec(name),
                                    source_->connection().password, target);
    EXPECT_TRUE(restored.ok()) << restored.status().ToString();
    if (!restored.ok()) return "restore failed";
    auto c = PgConnection::Connect(restored->connection().SocketConninfo());
    EXPECT_TRUE(c.ok());
    // Promoted on a new timeline, writable, archiving to an archive of its own.
    EXPECT_EQ(c->QueryValue("select pg_is_in_recovery()").value(), "f");
    EXPECT_GT(std::stoi(c->QueryValue("select timeline_id from pg_control_checkpoint()").value()),
              1);
    EXPECT_TRUE(c->Query("insert into t (batch) values (99)").ok());
    EXPECT_NE(restored->log_archive_id(), backup.wal_archive);
    auto counts = c->Query(
        "select string_agg(batch || ':' || n, ',' order by batch) from "
        "(select batch, count(*) n from t where batch <> 99 group by batch) s");
    EXPECT_TRUE(counts.ok());
    EXPECT_TRUE(restored->Delete().ok());
    return counts.ok() ? counts->at(0).at(0) : "";
  }

  void ArchiveNow(seconds timeout) {
    Status archived = PgArchiveNow(*source_, timeout);
    ASSERT_TRUE(archived.ok()) << archived.ToString();
  }

  testing::TempDir root_;
  std::unique_ptr<storage::Repository> repo_;
  std::optional<PgInstance> source_;
  std::optional<PgConnection> conn_;
};

TEST_F(PgPitrTest, RestoresToEachTargetWithExactlyTheRowsCommittedBeforeIt) {
  InsertBatch(1, 50);
  PgBackupInfo backup = Backup("base");
  ASSERT_FALSE(backup.wal_archive.empty());
  EXPECT_GT(backup.stop_time_unix_us, 0);
  // Batches 2..5 over several WAL segments, a target recorded after each.
  std::map<int, std::string> time_after, lsn_after;
  for (int batch = 2; batch <= 5; ++batch) {
    InsertBatch(batch, 40);
    if (batch % 2 == 0) Sql("select pg_switch_wal()");
    std::this_thread::sleep_for(std::chrono::milliseconds(30));
    time_after[batch] = Sql("select extract(epoch from clock_timestamp())::numeric(20,6)::text");
    lsn_after[batch] = Sql("select pg_current_wal_insert_lsn()::text");
    if (batch == 4) {
      auto lsn = PgCreateRestorePoint(*source_, "after-4", seconds(30));
      ASSERT_TRUE(lsn.ok()) << lsn.status().ToString();
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(30));
  }
  ArchiveNow(seconds(30));
  auto archive = storage::WalArchive::Open(root_ / "repo", backup.wal_archive);
  ASSERT_TRUE(archive.ok());
  EXPECT_GE(archive->List()->size(), 4u) << "the batches span several segments";

  RecoveryTarget at_time;
  at_time.kind = RecoveryTarget::Kind::kTime;
  at_time.time_unix_us = static_cast<int64_t>(std::stod(time_after[2]) * 1e6);
  EXPECT_EQ(RestoreAndCount(backup, at_time, "at-time"), "1:50,2:40");
  RecoveryTarget at_lsn;
  at_lsn.kind = RecoveryTarget::Kind::kLsn;
  at_lsn.lsn = lsn_after[3];
  EXPECT_EQ(RestoreAndCount(backup, at_lsn, "at-lsn"), "1:50,2:40,3:40");
  RecoveryTarget at_name;
  at_name.kind = RecoveryTarget::Kind::kName;
  at_name.name = "after-4";
  EXPECT_EQ(RestoreAndCount(backup, at_name, "at-name"), "1:50,2:40,3:40,4:40");
  RecoveryTarget latest;
  latest.kind = RecoveryTarget::Kind::kLatest;
  EXPECT_EQ(RestoreAndCount(backup, latest, "at-latest"), "1:50,2:40,3:40,4:40,5:40");

  // The archive's reach, read from the WAL: the last commit is batch 5's.
  auto end =
      PgScanArchive(root_ / "repo", backup.wal_archive, backup.stop_lsn, FindPgBinDir().value());
  ASSERT_TRUE(end.ok()) << end.status().ToString();
  ASSERT_TRUE(end->last_commit_unix_us.has_value());
  int64_t last_commit = *end->last_commit_unix_us;
  EXPECT_GT(last_commit, static_cast<int64_t>(std::stod(time_after[4]) * 1e6));
  EXPECT_LE(last_commit, static_cast<int64_t>(std::stod(time_after[5]) * 1e6));
  EXPECT_GE(ParseLsn(end->last_lsn).value(), ParseLsn(lsn_after[5]).value());
}

TEST_F(PgPitrTest, UnreachableTargetFailsTheRestoreAndLeavesNothing) {
  InsertBatch(1, 10);
  PgBackupInfo backup = Backup("base");
  RecoveryTarget nowhere;
  nowhere.kind = RecoveryTarget::Kind::kName;
  nowhere.name = "never-created";
  nowhere.archive_id = backup.wal_archive;
  auto restored = RestorePostgres(*repo_, backup.snapshot, Spec("nowhere"),
                                  source_->connection().password, nowhere);
  ASSERT_FALSE(restored.ok());
  EXPECT_NE(restored.status().message().find("recovery target"), std::string::npos)
      << restored.status().ToString();
  EXPECT_FALSE(PathExists(root_ / "instances/nowhere"));
}

TEST_F(PgPitrTest, LatestAfterTheSourceIsDeletedLosesNothingArchived) {
  InsertBatch(1, 20);
  PgBackupInfo backup = Backup("base");
  InsertBatch(2, 30);
  ArchiveNow(seconds(30));
  conn_.reset();
  ASSERT_TRUE(source_->Delete().ok());
  RecoveryTarget latest;
  latest.kind = RecoveryTarget::Kind::kLatest;
  EXPECT_EQ(RestoreAndCount(backup, latest, "after-delete"), "1:20,2:30");
}

// Waits until the archiver has failed at least once and dbaas has recorded why. (The
// status file is written before wal-push exits, the archiver's count after: poll both.)
void ExpectArchivingFails(PgInstance& source, PgConnection& conn) {
  auto failed_count = [&] {
    return std::stoi(conn.QueryValue("select failed_count from pg_stat_archiver").value());
  };
  auto deadline = std::chrono::steady_clock::now() + seconds(30);
  while ((ArchivingNote(source).empty() || failed_count() == 0) &&
         std::chrono::steady_clock::now() < deadline) {
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
  }
  EXPECT_NE(ArchivingNote(source).find("WAL archiving is failing"), std::string::npos)
      << ArchivingNote(source);
  EXPECT_GT(failed_count(), 0);
}

// The file that failed (a segment, or the backup's history file) is still in pg_wal,
// marked ready for archiving. Returns its name.
std::string ExpectWalKept(PgInstance& source, PgConnection& conn) {
  std::string failed = conn.QueryValue("select last_failed_wal from pg_stat_archiver").value();
  EXPECT_GE(failed.size(), 24u);
  EXPECT_TRUE(PathExists(JoinPath(source.data_dir(), "pg_wal/" + failed)));
  EXPECT_TRUE(
      PathExists(JoinPath(source.data_dir(), "pg_wal/archive_status/" + failed + ".ready")));
  return failed;
}

// A success clears the failure (wal-push's at its next push, the drain's at its next
// drain), which ArchiveNow waits for: the note clears soon after.
void ExpectNoteClears(PgInstance& source) {
  auto deadline = std::chrono::steady_clock::now() + seconds(10);
  while (!ArchivingNote(source).empty() && std::chrono::steady_clock::now() < deadline) {
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
  }
  EXPECT_EQ(ArchivingNote(source), "");
}

TEST_F(PgPitrTest, AnUnwritableSpoolIsReportedAndNoWalIsDropped) {
  InsertBatch(1, 10);
  PgBackupInfo backup = Backup("base");
  ArchiveNow(seconds(30));
  // The spool taken from the server's user: wal-push cannot write it.
  const std::string spool = source_->log_spool()->dir;
  const std::optional<UserIds>& user = source_->server_user();
  if (!user) GTEST_SKIP() << "the server runs as ourselves: file modes do not stop it";
  ASSERT_EQ(::chown(spool.c_str(), 0, 0), 0);
  InsertBatch(2, 30);
  Sql("select pg_switch_wal()");
  ExpectArchivingFails(*source_, *conn_);
  EXPECT_NE(ArchivingNote(*source_).find("Permission denied"), std::string::npos)
      << ArchivingNote(*source_);
  ExpectWalKept(*source_, *conn_);
  // A checkpoint must not recycle it either.
  Sql("checkpoint");
  ExpectWalKept(*source_, *conn_);

  ASSERT_EQ(::chown(spool.c_str(), user->uid, user->gid), 0);
  ArchiveNow(seconds(90));
  ExpectNoteClears(*source_);
  RecoveryTarget latest;
  latest.kind = RecoveryTarget::Kind::kLatest;
  EXPECT_EQ(RestoreAndCount(backup, latest, "after-repair"), "1:10,2:30");
}

TEST_F(PgPitrTest, AFullRepositoryIsReportedAndTheSpoolKeepsTheWal) {
  if (::geteuid() != 0) GTEST_SKIP() << "mounting a small tmpfs needs root";
  auto archive = storage::WalArchive::Open(root_ / "repo", source_->log_archive_id());
  ASSERT_TRUE(archive.ok());
  // The archive on a 32 MiB tmpfs, which a filler fills once the backup's WAL is in.
  std::string dir = archive->dir();
  ASSERT_EQ(::mount("tmpfs", dir.c_str(), "tmpfs", 0, "size=32m,mode=0700"), 0) << strerror(errno);
  struct Unmount {
    std::string dir;
    ~Unmount() { ::umount2(dir.c_str(), MNT_DETACH); }
  } unmount{dir};
  InsertBatch(1, 10);
  PgBackupInfo backup = Backup("base");
  ArchiveNow(seconds(30));
  // What the archiver names until it has spooled the next segment: drained already.
  const std::string drained = Sql("select last_archived_wal from pg_stat_archiver");
  {
    ProcessOptions dd;
    dd.argv = {"dd", "if=/dev/zero", "of=" + dir + "/filler", "bs=1M", "count=64"};
    (void)RunProcess(dd, seconds(30));  // stops at ENOSPC
  }
  InsertBatch(2, 30);
  // PostgreSQL archives into the spool as ever; moving it into the repository fails, and
  // says why.
  Status archived = PgArchiveNow(*source_, seconds(30));
  ASSERT_FALSE(archived.ok());
  EXPECT_NE(archived.message().find("No space left"), std::string::npos) << archived.ToString();
  EXPECT_NE(ArchivingNote(*source_).find("spool"), std::string::npos) << ArchivingNote(*source_);
  EXPECT_NE(ArchivingNote(*source_).find("No space left"), std::string::npos)
      << ArchivingNote(*source_);
  // The segment is in the spool, whole, and nothing of it in the archive. (The drain failed
  // at once, on what was spooled before; the archiver may still be spooling the segment,
  // and names the one before, drained already, until it has.)
  std::string segment;
  for (int i = 0; i < 1500 && (segment.size() != 24 || segment <= drained); ++i) {
    if (i > 0) std::this_thread::sleep_for(std::chrono::milliseconds(20));
    segment = Sql("select last_archived_wal from pg_stat_archiver");
  }
  ASSERT_EQ(segment.size(), 24u) << segment;
  ASSERT_GT(segment, drained);
  struct stat st;
  ASSERT_EQ(::stat(JoinPath(source_->log_spool()->dir, segment).c_str(), &st), 0);
  EXPECT_EQ(st.st_size, 16 << 20);
  EXPECT_EQ(archive->RawSize(segment).status().code(), StatusCode::kNotFound);
  for (const auto& entry : std::filesystem::directory_iterator(dir)) {
    EXPECT_FALSE(entry.path().filename().string().starts_with(".tmp")) << entry.path();
  }
  // A delete that cannot save the spool's WAL into the repository keeps the instance.
  conn_.reset();
  Status deleted = source_->Delete();
  ASSERT_FALSE(deleted.ok()) << "the spool's WAL was thrown away with the instance";
  EXPECT_NE(deleted.message().find("not in the repository yet"), std::string::npos)
      << deleted.ToString();
  EXPECT_TRUE(PathExists(JoinPath(source_->log_spool()->dir, segment)));
  ASSERT_TRUE(source_->Start().ok());
  conn_.emplace(std::move(PgConnection::Connect(source_->connection().SocketConninfo()).value()));

  ASSERT_EQ(::unlink((dir + "/filler").c_str()), 0);
  ArchiveNow(seconds(90));
  ExpectNoteClears(*source_);
  RecoveryTarget latest;
  latest.kind = RecoveryTarget::Kind::kLatest;
  EXPECT_EQ(RestoreAndCount(backup, latest, "after-space"), "1:10,2:30");
}

}  // namespace
}  // namespace dbaas::engines
