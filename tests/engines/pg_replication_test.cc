// Streaming replication between real PostgreSQL 15 servers, through the engine interface
// the service uses: a standby made from the running primary streams every commit, becomes
// synchronous, is promoted when the primary is killed, and the old primary, fenced, comes
// back as its standby through pg_rewind without losing or inventing a row.
#include "engines/postgres/pg_replication.h"

#include <signal.h>
#include <sys/stat.h>

#include <filesystem>
#include <thread>

#include <fmt/format.h>
#include <gtest/gtest.h>

#include "base/files.h"
#include "engines/engine.h"
#include "engines/postgres/pg_backup.h"
#include "engines/postgres/pg_connection.h"
#include "pg_test_tools.h"
#include "runtime/local_runtime.h"
#include "runtime/runtime.h"
#include "storage/wal_archive.h"
#include "test_hosts.h"

namespace dbaas::engines {
namespace {

using std::chrono::seconds;

class PgReplicationTest : public PgRepositoryTest {
 protected:
  void SetUp() override {
    PgRepositoryTest::SetUp();
    if (IsSkipped()) return;
    engines_ = PackagedEngines(runtime::Local());
    engine_ = engines_->For("postgresql").value();
    auto made = PgInstance::Create(Spec("orders", root_ / "instances"));
    ASSERT_TRUE(made.ok()) << made.status().ToString();
    primary_ = std::make_unique<PgInstance>(std::move(made).value());
    ASSERT_TRUE(primary_->Start().ok());
    Sql(*primary_, "create table t (id int primary key)");
  }

  PgInstanceSpec Spec(const std::string& name, const std::string& data_root) {
    PgInstanceSpec spec;
    spec.name = name;
    spec.data_root = data_root;
    spec.archiving = {root_ / "repo", DBAAS_CLI_BINARY, "", "", ""};
    return spec;
  }

  std::string Sql(const PgInstance& inst, const std::string& sql) {
    auto conn = PgConnection::Connect(inst.connection().SocketConninfo());
    EXPECT_TRUE(conn.ok()) << conn.status().ToString();
    return conn.ok() ? SqlValue(conn.value(), sql) : "";
  }

  void Insert(const PgInstance& inst, int from, int to) {
    Sql(inst, fmt::format("insert into t select generate_series({}, {})", from, to));
  }

  // Waits until `inst` has `rows` rows in t (a standby replays asynchronously).
  bool Eventually(const PgInstance& inst, const std::string& rows) {
    for (int i = 0; i < 300; ++i) {
      auto conn = PgConnection::Connect(inst.connection().SocketConninfo());
      if (conn.ok()) {
        auto n = conn->QueryValue("select count(*) from t");
        if (n.ok() && n.value() == rows) return true;
      }
      std::this_thread::sleep_for(std::chrono::milliseconds(100));
    }
    return false;
  }

  std::unique_ptr<PgInstance> MakeStandby(const std::string& name) {
    auto made = engine_->MakeStandby(*primary_, Spec(name, root_ / "members"), {});
    EXPECT_TRUE(made.ok()) << made.status().ToString();
    if (!made.ok()) return nullptr;
    return std::unique_ptr<PgInstance>(static_cast<PgInstance*>(made.value().release()));
  }

  std::unique_ptr<EngineSet> engines_;
  const Engine* engine_ = nullptr;
  std::unique_ptr<PgInstance> primary_;
};

TEST_F(PgReplicationTest, AStandbyStreamsIsPromotedAndTheFencedPrimaryRejoinsThroughRewind) {
  Insert(*primary_, 1, 100);
  ASSERT_TRUE(::mkdir((root_ / "members").c_str(), 0711) == 0);
  auto standby = MakeStandby("orders-2");
  ASSERT_TRUE(standby);
  EXPECT_TRUE(standby->standby());
  // It archives into the primary's archive (once promoted), through its own spool.
  EXPECT_EQ(standby->log_archive_id(), primary_->log_archive_id());
  EXPECT_NE(standby->connection().port, primary_->connection().port);
  // The same logins as the primary's: the tenant's and the superuser's.
  EXPECT_EQ(standby->login().user, "app");
  EXPECT_EQ(standby->login().password, primary_->login().password);
  EXPECT_EQ(standby->endpoint().password, primary_->endpoint().password);
  ASSERT_TRUE(standby->Start().ok());
  Insert(*primary_, 101, 200);
  ASSERT_TRUE(Eventually(*standby, "200"));

  auto at_primary = engine_->Position(*primary_);
  ASSERT_TRUE(at_primary.ok()) << at_primary.status().ToString();
  EXPECT_FALSE(at_primary->standby);
  EXPECT_EQ(at_primary->timeline, 1u);
  ASSERT_EQ(at_primary->replicas.size(), 1u);
  EXPECT_EQ(at_primary->replicas[0].member, "orders-2");
  EXPECT_EQ(at_primary->replicas[0].state, "streaming");
  EXPECT_EQ(at_primary->replicas[0].sync_state, "async");
  auto at_standby = engine_->Position(*standby);
  ASSERT_TRUE(at_standby.ok()) << at_standby.status().ToString();
  EXPECT_TRUE(at_standby->standby);
  EXPECT_GT(at_standby->lsn_value, 0u);
  // A standby refuses writes.
  auto conn = PgConnection::Connect(standby->connection().SocketConninfo());
  ASSERT_TRUE(conn.ok());
  EXPECT_FALSE(conn->Query("insert into t values (0)").ok());

  // Synchronous: a commit returns once the standby has it.
  ASSERT_TRUE(engine_->SetSynchronous(*primary_, {"orders-2"}).ok());
  bool sync = false;
  for (int i = 0; i < 100 && !sync; ++i) {
    auto pos = engine_->Position(*primary_);
    sync = pos.ok() && pos->replicas.size() == 1 && pos->replicas[0].sync_state == "quorum";
    if (!sync) std::this_thread::sleep_for(std::chrono::milliseconds(100));
  }
  EXPECT_TRUE(sync) << "the standby never became synchronous";
  Insert(*primary_, 201, 300);

  // The primary goes on alone for a while (asynchronous, its standby stopped): rows
  // 301-350 are on it only, and must be gone once it has rejoined.
  ASSERT_TRUE(engine_->SetSynchronous(*primary_, {}).ok());
  ASSERT_TRUE(standby->Stop(seconds(10)).ok());
  Insert(*primary_, 301, 350);
  // It dies (kill -9) and stays down: it is fenced, the standby promoted.
  ASSERT_EQ(::kill(primary_->server_pid(), SIGKILL), 0);
  ASSERT_TRUE(primary_->Stop(seconds(5)).ok());
  ASSERT_TRUE(engine_->Fence(*primary_, *standby).ok());
  EXPECT_TRUE(engine_->NeedsRejoin(*primary_));
  EXPECT_TRUE(primary_->standby());
  ASSERT_TRUE(standby->Start().ok());
  ASSERT_TRUE(engine_->Promote(*standby, seconds(60)).ok());
  EXPECT_FALSE(standby->standby());
  // Every commit the primary acknowledged in synchronous mode is there.
  EXPECT_EQ(Sql(*standby, "select count(*) from t"), "300");
  Insert(*standby, 351, 400);
  auto promoted = engine_->Position(*standby);
  ASSERT_TRUE(promoted.ok());
  EXPECT_FALSE(promoted->standby);
  EXPECT_EQ(promoted->timeline, 2u);

  // The old primary rejoins as the new primary's standby and catches up.
  ASSERT_TRUE(engine_->Rejoin(*primary_, *standby).ok());
  EXPECT_FALSE(engine_->NeedsRejoin(*primary_));
  ASSERT_TRUE(primary_->Start().ok());
  ASSERT_TRUE(Eventually(*primary_, "350"))
      << ReadFileToString(primary_->dir() + "/postgres.log").value_or("");
  auto rejoined = engine_->Position(*primary_);
  ASSERT_TRUE(rejoined.ok());
  EXPECT_TRUE(rejoined->standby);
  auto seen = engine_->Position(*standby);
  ASSERT_TRUE(seen.ok());
  ASSERT_EQ(seen->replicas.size(), 1u);
  EXPECT_EQ(seen->replicas[0].member, "orders");
  // The rows only the old primary had are gone: it holds exactly the new primary's.
  EXPECT_EQ(Sql(*primary_,
                "select count(*) filter (where id between 301 and 350) = 0 and "
                "count(*) = 350 and max(id) = 400 from t"),
            "t");

  // A removed member's slot goes with it (a slot kept would hold WAL forever).
  ASSERT_TRUE(primary_->Stop(seconds(10)).ok());
  ASSERT_TRUE(engine_->DropMemberSlot(*standby, "orders").ok());
  EXPECT_EQ(Sql(*standby, "select count(*) from pg_replication_slots"), "0");
}

// A daemon given test hosts after its instances were made: a new standby of a primary on
// the loopback stays on the loopback (on a test host it could not reach 127.0.0.1's
// primary, nor the primary's pg_hba.conf let it in), and streams.
TEST_F(PgReplicationTest, AStandbyOfALoopbackPrimaryStaysOnTheLoopbackWhenTestHostsExist) {
  auto hosts = testing::TestHosts::Make(1);
  ASSERT_TRUE(hosts.ok()) << hosts.status().ToString();
  runtime::LocalRuntime hosted(runtime::ParseTestHosts((*hosts)->Flag()).value());
  auto engines = PackagedEngines(hosted);
  auto made = engines->For("postgresql")
                  .value()
                  ->MakeStandby(*primary_, Spec("orders-2", root_ / "members"), {});
  ASSERT_TRUE(made.ok()) << made.status().ToString();
  auto* standby = static_cast<PgInstance*>(made->get());
  EXPECT_EQ(standby->placement().host, "");
  EXPECT_EQ(standby->connection().host, "127.0.0.1");
  ASSERT_TRUE(standby->Start().ok());
  Insert(*primary_, 1, 10);
  EXPECT_TRUE(Eventually(*standby, "10"));
  ASSERT_TRUE(standby->Delete().ok());
}

TEST_F(PgReplicationTest, AFencedPrimaryThatCannotBeRewoundIsCopiedAgain) {
  Insert(*primary_, 1, 50);
  ASSERT_TRUE(::mkdir((root_ / "members").c_str(), 0711) == 0);
  auto standby = MakeStandby("orders-2");
  ASSERT_TRUE(standby && standby->Start().ok());
  ASSERT_TRUE(Eventually(*standby, "50"));
  ASSERT_TRUE(primary_->Stop(seconds(10)).ok());
  ASSERT_TRUE(engine_->Fence(*primary_, *standby).ok());
  ASSERT_TRUE(engine_->Promote(*standby, seconds(60)).ok());
  Insert(*standby, 51, 60);
  // Its data directory damaged beyond what pg_rewind takes: copied from the new primary.
  ASSERT_EQ(::unlink((primary_->data_dir() + "/global/pg_control").c_str()), 0);
  ASSERT_TRUE(engine_->Rejoin(*primary_, *standby).ok());
  ASSERT_TRUE(primary_->Start().ok());
  EXPECT_TRUE(Eventually(*primary_, "60"));
}

// A restored copy runs on a timeline of its own (a point-in-time restore promotes; a backup
// of a promoted member was taken on a later one): its standbys need that timeline's
// history, which the copy must carry.
TEST_F(PgReplicationTest, RestoredCopiesOnLaterTimelinesGetStandbys) {
  Insert(*primary_, 1, 10);
  ASSERT_TRUE(::mkdir((root_ / "members").c_str(), 0711) == 0);
  auto backup = BackupPostgres(*primary_, *repo_, "b1", {});
  ASSERT_TRUE(backup.ok()) << backup.status().ToString();
  Insert(*primary_, 11, 20);
  ASSERT_TRUE(engine_->ArchiveNow(*primary_, seconds(30)).ok());
  RecoveryTarget latest;
  latest.kind = RecoveryTarget::Kind::kLatest;
  latest.archive_id = backup->wal_archive;
  auto pitr = RestorePostgres(*repo_, backup->snapshot, Spec("copy", root_ / "instances"),
                              primary_->connection().password, latest);
  ASSERT_TRUE(pitr.ok()) << pitr.status().ToString();
  auto copy = std::make_unique<PgInstance>(std::move(pitr).value());
  ASSERT_EQ(Sql(*copy, "select timeline_id from pg_control_checkpoint()"), "2");

  // A backup of the copy, taken on timeline 2, restored as taken: still timeline 2.
  auto second = BackupPostgres(*copy, *repo_, "b2", {});
  ASSERT_TRUE(second.ok()) << second.status().ToString();
  auto as_taken = RestorePostgres(*repo_, second->snapshot, Spec("copy2", root_ / "instances"),
                                  primary_->connection().password, RecoveryTarget{});
  ASSERT_TRUE(as_taken.ok()) << as_taken.status().ToString();
  auto copy2 = std::make_unique<PgInstance>(std::move(as_taken).value());

  for (PgInstance* source : {copy.get(), copy2.get()}) {
    SCOPED_TRACE(source->name());
    auto made = engine_->MakeStandby(*source, Spec(source->name() + "-2", root_ / "members"), {});
    ASSERT_TRUE(made.ok()) << made.status().ToString();
    ASSERT_TRUE(made.value()->Start().ok());
    Insert(*source, 21, 30);
    auto* standby = static_cast<PgInstance*>(made.value().get());
    EXPECT_TRUE(Eventually(*standby, "30"));
    EXPECT_TRUE(standby->Delete().ok());
    Sql(*source, "delete from t where id > 20");
  }
  EXPECT_TRUE(copy2->Delete().ok());

  // A backup made without the history (as backups were before they carried it): the
  // restore takes it from the archive the backup names, where the promotion put it.
  ASSERT_TRUE(engine_->ArchiveNow(*copy, seconds(30)).ok());
  ASSERT_EQ(::unlink((copy->data_dir() + "/pg_wal/00000002.history").c_str()), 0);
  auto third = BackupPostgres(*copy, *repo_, "b3", {});
  ASSERT_TRUE(third.ok()) << third.status().ToString();
  for (const auto& e : third->snapshot.entries)
    EXPECT_EQ(e.path.find(".history"), std::string::npos);
  auto old_style = RestorePostgres(*repo_, third->snapshot, Spec("copy3", root_ / "instances"),
                                   primary_->connection().password, RecoveryTarget{});
  ASSERT_TRUE(old_style.ok()) << old_style.status().ToString();
  EXPECT_TRUE(ReadFileToString(old_style->data_dir() + "/pg_wal/00000002.history")
                  .value_or("")
                  .find("0/") != std::string::npos);
  EXPECT_TRUE(old_style->Delete().ok());
  EXPECT_TRUE(copy->Delete().ok());
}

// A standby made from the primary's backup: the primary serves none of the data, the
// archive the WAL from the backup's start up to where the standby's slot begins.
TEST_F(PgReplicationTest, AStandbyFromABackupReplaysTheArchiveThenStreams) {
  Insert(*primary_, 1, 100);
  ASSERT_TRUE(::mkdir((root_ / "members").c_str(), 0711) == 0);
  // A file only the backup has: the standby's data must come from there.
  std::string marker = primary_->data_dir() + "/seeded-from-backup";
  ASSERT_TRUE(WriteFileAtomic(marker, "x", 0600).ok());
  auto backup = BackupPostgres(*primary_, *repo_, "b1", {});
  ASSERT_TRUE(backup.ok()) << backup.status().ToString();
  ASSERT_EQ(::unlink(marker.c_str()), 0);
  // Commits across several segments after the backup: the standby replays them from the
  // archive.
  for (int i = 0; i < 3; ++i) {
    Insert(*primary_, 101 + i * 100, 200 + i * 100);
    Sql(*primary_, "select pg_switch_wal()");
  }
  StandbySeed seed{repo_.get(), &backup->snapshot};
  auto made = engine_->MakeStandby(*primary_, Spec("orders-2", root_ / "members"), seed);
  ASSERT_TRUE(made.ok()) << made.status().ToString();
  auto* standby = static_cast<PgInstance*>(made.value().get());
  EXPECT_TRUE(std::filesystem::exists(standby->data_dir() + "/seeded-from-backup"));
  ASSERT_TRUE(standby->Start().ok());
  Insert(*primary_, 401, 500);
  EXPECT_TRUE(Eventually(*standby, "500"))
      << ReadFileToString(standby->dir() + "/postgres.log").value_or("");
  auto pos = engine_->Position(*primary_);
  ASSERT_TRUE(pos.ok());
  ASSERT_EQ(pos->replicas.size(), 1u);
  EXPECT_EQ(pos->replicas[0].state, "streaming");
  // The configuration names no restore_command: the slot keeps what follows.
  EXPECT_EQ(Sql(*standby, "show restore_command"), "");
  ASSERT_TRUE(standby->Delete().ok());
  ASSERT_TRUE(engine_->DropMemberSlot(*primary_, "orders-2").ok());

  // Negative control: a segment missing from the archive between the backup and the slot
  // is found before anything is made, and nothing is left behind.
  auto archived = storage::WalArchive::Open(root_ / "repo", primary_->log_archive_id());
  ASSERT_TRUE(archived.ok());
  auto files = archived->List();
  ASSERT_TRUE(files.ok());
  std::vector<std::string> segments;
  for (const auto& f : *files) {
    if (f.parsed.kind == storage::WalFileName::Kind::kSegment) segments.push_back(f.name);
  }
  ASSERT_GE(segments.size(), 4u);
  ASSERT_EQ(::unlink((archived->dir() + "/" + segments[segments.size() - 2]).c_str()), 0);
  // A new slot holds WAL from the last checkpoint's redo on: past the gap after this one.
  Sql(*primary_, "checkpoint");
  auto refused = engine_->MakeStandby(*primary_, Spec("orders-3", root_ / "members"), seed);
  ASSERT_FALSE(refused.ok());
  EXPECT_EQ(refused.status().code(), StatusCode::kFailedPrecondition);
  EXPECT_NE(refused.status().message().find("without a gap"), std::string::npos)
      << refused.status().ToString();
  EXPECT_FALSE(std::filesystem::exists(root_ / "members/orders-3"));
  EXPECT_EQ(Sql(*primary_, "select count(*) from pg_replication_slots"), "0");
  // Copied from the primary instead, it streams all the same.
  auto copied = MakeStandby("orders-3");
  ASSERT_TRUE(copied && copied->Start().ok());
  EXPECT_TRUE(Eventually(*copied, "500"));
  EXPECT_FALSE(std::filesystem::exists(copied->data_dir() + "/seeded-from-backup"));
}

}  // namespace
}  // namespace dbaas::engines
