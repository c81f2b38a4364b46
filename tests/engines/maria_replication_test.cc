// MariaDB's GTID replication between real MariaDB 10.11 servers, through the engine
// interface the service uses: a standby made from a backup and the archived binlogs since
// replicates every commit, is promoted after a clean stop of the primary, and the old
// primary, fenced, follows it; an old primary with a transaction the new one lacks is
// refused as diverged.
#include "engines/mariadb/maria_replication.h"

#include <sys/stat.h>
#include <unistd.h>

#include <thread>

#include <fmt/format.h>
#include <gtest/gtest.h>

#include "base/files.h"
#include "engines/engine.h"
#include "engines/mariadb/maria_connection.h"
#include "runtime/runtime.h"
#include "test_util.h"

namespace dbaas::engines {
namespace {

using std::chrono::seconds;

class MariaReplicationTest : public ::testing::Test {
 protected:
  void SetUp() override {
    if (::access("/usr/sbin/mariadbd", X_OK) != 0) GTEST_SKIP() << "mariadb-server missing";
    ::chmod(tmp_.path().c_str(), 0711);
    ASSERT_TRUE(storage::Repository::Init(tmp_ / "repo", {}).ok());
    repo_ = std::move(storage::Repository::Open(tmp_ / "repo").value());
    engines_ = PackagedEngines(runtime::Local());
    engine_ = engines_->For("mariadb").value();
    ASSERT_EQ(::mkdir((tmp_ / "members").c_str(), 0711), 0);
    auto made = engine_->Create(Spec("shop", "instances"));
    ASSERT_TRUE(made.ok()) << made.status().ToString();
    primary_ = std::move(made).value();
    ASSERT_TRUE(primary_->Start().ok());
    Sql(*primary_, "CREATE TABLE app.t (id INT PRIMARY KEY)");
  }

  InstanceSpec Spec(const std::string& name, const std::string& dir) {
    InstanceSpec spec;
    spec.name = name;
    spec.type = "mariadb";
    spec.data_root = tmp_ / dir;
    spec.config = {{"innodb_log_file_size", "32M"}};
    spec.archiving = {tmp_ / "repo", "/usr/bin/true", "", "", ""};
    return spec;
  }

  static const MariaInstance& Maria(const Instance& inst) {
    return static_cast<const MariaInstance&>(inst);
  }

  std::string Sql(const Instance& inst, const std::string& sql) {
    auto conn = MariaConnection::Connect(Maria(inst).client());
    EXPECT_TRUE(conn.ok()) << conn.status().ToString();
    if (!conn.ok()) return "";
    auto rows = conn->Query(sql);
    EXPECT_TRUE(rows.ok()) << rows.status().ToString();
    return rows.ok() && !rows->empty() && !rows->at(0).empty() ? rows->at(0).at(0) : "";
  }

  void Insert(const Instance& inst, int from, int to) {
    Sql(inst, fmt::format("INSERT INTO app.t SELECT seq FROM mysql.seq_{}_to_{}", from, to));
  }

  bool Eventually(const Instance& inst, const std::string& rows) {
    for (int i = 0; i < 300; ++i) {
      auto conn = MariaConnection::Connect(Maria(inst).client());
      if (conn.ok()) {
        auto n = conn->QueryValue("SELECT COUNT(*) FROM app.t");
        if (n.ok() && n.value() == rows) return true;
      }
      std::this_thread::sleep_for(std::chrono::milliseconds(100));
    }
    return false;
  }

  testing::TempDir tmp_;
  std::unique_ptr<storage::Repository> repo_;
  std::unique_ptr<EngineSet> engines_;
  const Engine* engine_ = nullptr;
  std::unique_ptr<Instance> primary_;
};

TEST_F(MariaReplicationTest, AStandbyFromABackupReplicatesIsPromotedAndTheOldPrimaryFollows) {
  Insert(*primary_, 1, 100);
  auto backup = engine_->Backup(*primary_, *repo_, "b1", nullptr);
  ASSERT_TRUE(backup.ok()) << backup.status().ToString();
  // Some of what follows only the archive has once the primary purges it, some only the
  // primary's binlog.
  Insert(*primary_, 101, 200);
  ASSERT_TRUE(engine_->ArchiveNow(*primary_, seconds(30)).ok());
  Insert(*primary_, 201, 300);

  // Without a backup there is nothing to start from: refused, nothing made.
  auto refused = engine_->MakeStandby(*primary_, Spec("shop-2", "members"), {});
  ASSERT_FALSE(refused.ok());
  EXPECT_EQ(refused.status().code(), StatusCode::kFailedPrecondition);

  auto made = engine_->MakeStandby(*primary_, Spec("shop-2", "members"),
                                   StandbySeed{repo_.get(), &backup->snapshot});
  ASSERT_TRUE(made.ok()) << made.status().ToString();
  std::unique_ptr<Instance> standby = std::move(made).value();
  EXPECT_TRUE(standby->standby());
  EXPECT_EQ(standby->login().password, primary_->login().password) << "the same tenant login";
  ASSERT_TRUE(standby->Start().ok());
  Insert(*primary_, 301, 400);
  ASSERT_TRUE(Eventually(*standby, "400"))
      << ReadFileToString(standby->dir() + "/mariadb.log").value_or("");
  EXPECT_EQ(Sql(*standby, "SELECT @@read_only"), "1");
  {
    // The tenant's account cannot write there (it lacks READ ONLY ADMIN).
    MariaEndpoint tenant = Maria(*standby).client();
    tenant.user = standby->login().user;
    tenant.password = standby->login().password;
    auto conn = MariaConnection::Connect(tenant);
    ASSERT_TRUE(conn.ok()) << conn.status().ToString();
    auto refused_write = conn->Query("INSERT INTO app.t VALUES (0)");
    ASSERT_FALSE(refused_write.ok());
    EXPECT_NE(refused_write.status().message().find("read-only"), std::string::npos)
        << refused_write.status().ToString();
  }
  EXPECT_NE(Maria(*standby).log_archive_id(), Maria(*primary_).log_archive_id());

  auto at_standby = engine_->Position(*standby);
  ASSERT_TRUE(at_standby.ok()) << at_standby.status().ToString();
  EXPECT_TRUE(at_standby->standby);
  ASSERT_TRUE(at_standby->upstream.has_value());
  EXPECT_EQ(at_standby->upstream->state, "streaming");
  EXPECT_EQ(at_standby->upstream->member, "shop-2");
  auto at_primary = engine_->Position(*primary_);
  ASSERT_TRUE(at_primary.ok());
  EXPECT_FALSE(at_primary->standby);
  EXPECT_EQ(at_standby->lsn_value, at_primary->lsn_value);

  // A switchover: the primary stops cleanly, the standby has its last transaction, is
  // promoted; the old primary, fenced, follows it.
  ASSERT_TRUE(primary_->Stop(seconds(30)).ok());
  auto last = engine_->CleanShutdownPosition(*primary_);
  ASSERT_TRUE(last.ok()) << last.status().ToString();
  EXPECT_GE(engine_->Position(*standby)->lsn_value, *last);
  ASSERT_TRUE(engine_->Fence(*primary_, *standby).ok());
  EXPECT_TRUE(engine_->NeedsRejoin(*primary_));
  ASSERT_TRUE(engine_->Promote(*standby, seconds(30)).ok());
  EXPECT_FALSE(standby->standby());
  EXPECT_EQ(Sql(*standby, "SELECT @@read_only"), "0");
  Insert(*standby, 401, 450);
  ASSERT_TRUE(engine_->Rejoin(*primary_, *standby).ok());
  EXPECT_FALSE(engine_->NeedsRejoin(*primary_));
  ASSERT_TRUE(primary_->Start().ok());
  EXPECT_TRUE(Eventually(*primary_, "450"))
      << ReadFileToString(primary_->dir() + "/mariadb.log").value_or("");
  EXPECT_EQ(Sql(*primary_, "SELECT @@read_only"), "1");
  auto rejoined = engine_->Position(*primary_);
  ASSERT_TRUE(rejoined.ok());
  EXPECT_TRUE(rejoined->standby);

  // Negative control: a transaction only the old primary has (written past read_only, as
  // root, with replication stopped) makes it diverge: refused, not silently followed.
  Sql(*primary_, "STOP SLAVE");
  Sql(*primary_, "INSERT INTO app.t VALUES (100000)");
  ASSERT_TRUE(primary_->Stop(seconds(30)).ok());
  ASSERT_TRUE(engine_->Fence(*primary_, *standby).ok());
  Status diverged = engine_->Rejoin(*primary_, *standby);
  EXPECT_EQ(diverged.code(), StatusCode::kFailedPrecondition) << diverged.ToString();
  EXPECT_NE(diverged.message().find("diverged"), std::string::npos) << diverged.ToString();
  EXPECT_TRUE(engine_->NeedsRejoin(*primary_));
  EXPECT_TRUE(standby->Delete().ok());
}

// A standby down while the primary archives and purges the binlogs it still needs cannot
// catch up when it returns (error 1236): Diverged says so, and the service makes it again.
TEST_F(MariaReplicationTest, AStandbyWhoseBinlogsWerePurgedIsFoundLost) {
  Insert(*primary_, 1, 10);
  auto backup = engine_->Backup(*primary_, *repo_, "b1", nullptr);
  ASSERT_TRUE(backup.ok()) << backup.status().ToString();
  auto made = engine_->MakeStandby(*primary_, Spec("shop-2", "members"),
                                   StandbySeed{repo_.get(), &backup->snapshot});
  ASSERT_TRUE(made.ok()) << made.status().ToString();
  std::unique_ptr<Instance> standby = std::move(made).value();
  ASSERT_TRUE(standby->Start().ok());
  ASSERT_TRUE(Eventually(*standby, "10"));
  auto following = engine_->Diverged(*standby, *primary_);
  ASSERT_TRUE(following.ok()) << following.status().ToString();
  EXPECT_FALSE(*following);

  ASSERT_TRUE(standby->Stop(seconds(30)).ok());
  for (int round = 0; round < 2; ++round) {
    Insert(*primary_, 11 + round * 10, 20 + round * 10);
    ASSERT_TRUE(engine_->ArchiveNow(*primary_, seconds(30)).ok());  // archived, then purged
  }
  ASSERT_TRUE(standby->Start().ok());
  bool lost = false;
  for (int i = 0; i < 100 && !lost; ++i) {
    auto now = engine_->Diverged(*standby, *primary_);
    lost = now.ok() && *now;
    if (!lost) std::this_thread::sleep_for(std::chrono::milliseconds(100));
  }
  EXPECT_TRUE(lost) << "the standby never reported the purged binlogs";
  EXPECT_EQ(Sql(*standby, "SELECT COUNT(*) FROM app.t"), "10") << "it stays where it was";
  EXPECT_TRUE(standby->Delete().ok());
}

TEST_F(MariaReplicationTest, SynchronousStandbysAreRefusedWithTheReason) {
  Status st = engine_->SetSynchronous(*primary_, {"shop-2"});
  EXPECT_EQ(st.code(), StatusCode::kInvalidArgument);
  EXPECT_NE(st.message().find("PostgreSQL's for now"), std::string::npos);
  EXPECT_TRUE(engine_->SetSynchronous(*primary_, {}).ok());
}

}  // namespace
}  // namespace dbaas::engines
