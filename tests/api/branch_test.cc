// Branches through the REST API: a real dbaasd on a loop-mounted XFS (where branches are
// reflink clones), real PostgreSQL and MariaDB servers under write load while they are
// branched. Each branch must be consistent (pgbench's invariant and pg_amcheck; the
// transfer invariant and CHECK TABLE), writable, independent of its source and siblings,
// and survive its source's deletion; no backup is left behind.
#include <sys/stat.h>

#include <atomic>
#include <filesystem>
#include <map>
#include <thread>

#include <fmt/format.h>
#include <gtest/gtest.h>

#include "daemon.h"
#include "test_util.h"

namespace dbaas::testing {
namespace {

using nlohmann::json;

class ApiBranchTest : public ::testing::Test {
 protected:
  void SetUp() override {
    ::chmod(root_.path().c_str(), 0711);
    std::string why = xfs_.Make("3G");
    if (!why.empty()) GTEST_SKIP() << why;
    Status st = daemon_.Start({}, {"--volume-check-interval", "1"});
    ASSERT_TRUE(st.ok()) << st.ToString();
  }
  void TearDown() override {
    if (daemon_.pid() < 0) return;  // skipped
    auto code = daemon_.Stop();
    EXPECT_TRUE(code.ok() && code.value() == 0) << "dbaasd did not exit cleanly on SIGTERM";
  }

  HttpAnswer Branch(const std::string& source, json body) {
    return daemon_.Post("/instances/" + source + "/branch", body);
  }
  // The snapshots in the repository (a branch's transient one must not stay).
  size_t Snapshots() {
    std::string dir = daemon_.data_root() + "/repository/snapshots";
    size_t n = 0;
    if (std::filesystem::exists(dir)) {
      for (const auto& e : std::filesystem::directory_iterator(dir)) n += e.is_regular_file();
    }
    return n;
  }
  // pgbench's invariant: the balances of accounts, tellers and branches and the history's
  // deltas all sum alike; pg_amcheck finds nothing. Returns the history's row count.
  long ExpectPgbenchConsistent(const std::string& instance) {
    auto amcheck = PgClient(daemon_, instance, "pg_amcheck",
                            {"--install-missing", "--heapallindexed", "-d", "app"}, true);
    EXPECT_TRUE(amcheck.ok()) << amcheck.status().ToString();
    if (amcheck.ok()) {
      auto ran = RunProcess(*amcheck, std::chrono::minutes(5));
      EXPECT_TRUE(ran.ok() && ran->exit_code == 0)
          << instance << ": " << (ran.ok() ? ran->output : ran.status().ToString());
    }
    auto sums = Psql(daemon_, instance,
                     "select (select sum(abalance) from pgbench_accounts) || ',' || (select "
                     "sum(tbalance) from pgbench_tellers) || ',' || (select sum(bbalance) from "
                     "pgbench_branches) || ',' || (select coalesce(sum(delta), 0) from "
                     "pgbench_history) || ',' || (select count(*) from pgbench_history)");
    EXPECT_TRUE(sums.ok()) << sums.status().ToString();
    std::vector<std::string> v;
    std::stringstream in(sums.value_or(""));
    for (std::string f; std::getline(in, f, ',');) v.push_back(f);
    EXPECT_EQ(v.size(), 5u) << sums.value_or("");
    if (v.size() != 5 || v[4].empty()) return -1;
    EXPECT_EQ(v[0], v[1]) << instance;
    EXPECT_EQ(v[1], v[2]) << instance;
    EXPECT_EQ(v[2], v[3]) << instance;
    return std::stol(v[4]);
  }
  // The instance's members once its standby streams (up to 30 s; as they are then).
  json StreamingMembers(const std::string& instance) {
    json members;
    for (int i = 0; i < 300; ++i) {
      members = daemon_.Get("/instances/" + instance).body["instance"]["members"];
      if (members.size() == 2 && members[1]["replication"].is_object() &&
          members[1]["replication"]["state"] == "streaming") {
        break;
      }
      std::this_thread::sleep_for(std::chrono::milliseconds(100));
    }
    return members;
  }
  std::string Value(const std::string& instance, const std::string& sql) {
    return Psql(daemon_, instance, sql).value_or("query failed");
  }

  TempDir root_;
  XfsMount xfs_{root_.path()};
  Daemon daemon_{xfs_.path() + "/data"};
};

TEST_F(ApiBranchTest, BranchesOfAPostgresUnderLoadAreConsistentWritableAndIndependent) {
  auto made = daemon_.Post(
      "/instances",
      json{{"name", "src"}, {"type", "postgresql"}, {"size", "1Gi"}, {"superuserAccess", true}});
  ASSERT_EQ(made.status, 201) << made.raw;
  auto init = PgClient(daemon_, "src", "pgbench", {"-i", "-s", "5", "-q"});
  ASSERT_TRUE(init.ok()) << init.status().ToString();
  ASSERT_TRUE(RunChecked(*init, std::chrono::minutes(3)).ok());
  // The load runs through every branch below; -n: no vacuum (the tenant may not).
  auto load = PgClient(daemon_, "src", "pgbench", {"-n", "-c", "4", "-T", "600"});
  ASSERT_TRUE(load.ok());
  auto pgbench = Process::Start(*load);
  ASSERT_TRUE(pgbench.ok()) << pgbench.status().ToString();
  std::this_thread::sleep_for(std::chrono::seconds(1));

  std::vector<std::string> branches = {"b1", "b2", "b3"};
  for (const std::string& name : branches) {
    auto b = Branch("src", {{"newInstanceName", name}});
    ASSERT_EQ(b.status, 201) << b.raw;
    EXPECT_EQ(b.body["method"], "clone") << "XFS with reflinks: a clone, not a copy";
    EXPECT_EQ(b.body["branchedFrom"]["instance"], "src");
    EXPECT_TRUE(b.body["branchedFrom"]["backupName"].is_null());
    EXPECT_FALSE(b.body["branchedFrom"]["at"].get<std::string>().empty());
    EXPECT_EQ(b.body["instance"]["status"], "running");
    EXPECT_EQ(b.body["instance"]["branchedFrom"]["method"], "clone");
    EXPECT_EQ(b.body["instance"]["size"], "1Gi") << "the source's size";
    // A clone shares its parent's blocks: what it holds alone is what its own recovery and
    // start wrote (a WAL segment of 16 MiB and the pages replayed), well below the ~100 MB
    // of its data.
    ASSERT_TRUE(b.body["exclusiveBytes"].is_number()) << b.raw;
    EXPECT_LT(b.body["exclusiveBytes"].get<uint64_t>(), 48u << 20) << b.raw;
    std::this_thread::sleep_for(std::chrono::milliseconds(500));
  }
  ASSERT_TRUE(pgbench->Signal(SIGINT).ok());
  (void)pgbench->Wait();

  EXPECT_EQ(Snapshots(), 0u) << "a branch leaves no snapshot behind";
  auto backups = daemon_.Get("/instances/src/backups");
  EXPECT_EQ(backups.body["count"], 0) << "nor a backup: " << backups.raw;

  std::map<std::string, long> history;
  for (const std::string& name : branches) {
    history[name] = ExpectPgbenchConsistent(name);
    EXPECT_GT(history[name], 0) << name << " saw no transaction: the load was not running";
  }
  EXPECT_LT(history["b1"], history["b3"]) << "later branches hold later states";
  long source_rows = ExpectPgbenchConsistent("src");
  EXPECT_GE(source_rows, history["b3"]);

  // Writable, and what one writes no one else sees.
  ASSERT_TRUE(Psql(daemon_, "b1", "create table mine (x int); insert into mine values (42)").ok());
  ASSERT_TRUE(Psql(daemon_, "b2", "delete from pgbench_history").ok());
  EXPECT_EQ(Value("b1", "select x from mine"), "42");
  EXPECT_FALSE(Psql(daemon_, "b3", "select x from mine").ok()) << "a sibling saw b1's table";
  EXPECT_FALSE(Psql(daemon_, "src", "select x from mine").ok()) << "the source saw b1's table";
  EXPECT_EQ(Value("src", "select count(*) from pgbench_history"), std::to_string(source_rows));
  EXPECT_EQ(Value("b3", "select count(*) from pgbench_history"), std::to_string(history["b3"]));

  // Listed with their parent; the one that wrote most holds the most blocks of its own.
  ASSERT_TRUE(Psql(daemon_, "b2",
                   "create table big as select g, md5(g::text) m from generate_series(1, 200000) g")
                  .ok());
  auto list = daemon_.Get("/instances/src/branches");
  ASSERT_EQ(list.status, 200) << list.raw;
  EXPECT_EQ(list.body["count"], 3);
  EXPECT_EQ(daemon_.Get("/instances/b1/branches").body["count"], 0);
  std::this_thread::sleep_for(std::chrono::seconds(3));  // the volume watcher's next reading
  auto b2 = daemon_.Get("/instances/b2").body["instance"];
  auto b3 = daemon_.Get("/instances/b3").body["instance"];
  ASSERT_TRUE(b2["volume"]["exclusiveBytes"].is_number()) << b2.dump();
  EXPECT_GT(b2["volume"]["exclusiveBytes"].get<uint64_t>(),
            b3["volume"]["exclusiveBytes"].get<uint64_t>() + (8u << 20))
      << "b2 wrote a ~13 MB table of its own";
  EXPECT_LE(b2["volume"]["exclusiveBytes"].get<uint64_t>(),
            b2["volume"]["usedBytes"].get<uint64_t>());

  // Reset: b1 becomes the source as it is now; its own table is gone.
  ASSERT_TRUE(
      Psql(daemon_, "src", "create table later (y int); insert into later values (7)").ok());
  auto reset = daemon_.Post("/instances/b1/reset", json::object());
  ASSERT_EQ(reset.status, 200) << reset.raw;
  EXPECT_EQ(reset.body["method"], "clone");
  EXPECT_FALSE(Psql(daemon_, "b1", "select x from mine").ok()) << "reset kept the branch's data";
  EXPECT_EQ(Value("b1", "select y from later"), "7");
  ExpectPgbenchConsistent("b1");
  EXPECT_EQ(daemon_.Post("/instances/src/reset", json::object()).status, 409) << "not a branch";

  // Branches outlive their parent, and still list it.
  auto deleted = daemon_.Delete("/instances/src");
  ASSERT_EQ(deleted.status, 200) << deleted.raw;
  for (const std::string& name : branches) {
    EXPECT_EQ(Value(name, "select count(*) > 0 from pgbench_accounts"), "t") << name;
  }
  EXPECT_EQ(daemon_.Get("/instances/src/branches").body["count"], 3);
  EXPECT_EQ(daemon_.Get("/instances/b3").body["instance"]["branchedFrom"]["instance"], "src");
  auto orphan_reset = daemon_.Post("/instances/b3/reset", json::object());
  EXPECT_EQ(orphan_reset.status, 409) << orphan_reset.raw;
  EXPECT_NE(orphan_reset.raw.find("was deleted"), std::string::npos) << orphan_reset.raw;
  EXPECT_EQ(daemon_.Get("/instances/nothing/branches").status, 404);
}

TEST_F(ApiBranchTest, BranchAtATimeHoldsExactlyTheRowsCommittedBeforeIt) {
  ASSERT_EQ(daemon_.Post("/instances", json{{"name", "src"}, {"type", "postgresql"}}).status, 201);
  ASSERT_TRUE(Psql(daemon_, "src", "create table t (id serial primary key, batch int)").ok());
  auto insert = [&](int batch) {
    ASSERT_TRUE(
        Psql(daemon_, "src",
             fmt::format("insert into t (batch) select {} from generate_series(1, 100)", batch))
            .ok());
  };
  insert(1);
  ASSERT_EQ(daemon_.Post("/instances/src/backup", json{{"backupName", "base"}}).status, 201);
  insert(2);
  std::this_thread::sleep_for(std::chrono::milliseconds(50));
  std::string after_2 = Value("src",
                              "select to_char(clock_timestamp() at time zone 'UTC', "
                              "'YYYY-MM-DD\"T\"HH24:MI:SS.US\"Z\"')");
  std::this_thread::sleep_for(std::chrono::milliseconds(50));
  insert(3);
  std::string batches =
      "select string_agg(batch || ':' || n, ',' order by batch) from "
      "(select batch, count(*) n from t group by batch) s";

  auto at_time = Branch("src", {{"newInstanceName", "at-time"}, {"targetTime", after_2}});
  ASSERT_EQ(at_time.status, 201) << at_time.raw;
  EXPECT_EQ(at_time.body["method"], "clone") << "a thin backup, cloned";
  EXPECT_EQ(at_time.body["branchedFrom"]["backupName"], "base");
  EXPECT_EQ(at_time.body["branchedFrom"]["at"].get<std::string>().substr(0, 19),
            after_2.substr(0, 19));
  EXPECT_EQ(Value("at-time", batches), "1:100,2:100");
  // On a timeline of its own (its recovery promoted it), it still gets a standby; with one,
  // it is not reset (a reset makes one server).
  auto replicated = daemon_.Patch("/instances/at-time", json{{"replicas", 1}});
  ASSERT_EQ(replicated.status, 200) << replicated.raw;
  json members = StreamingMembers("at-time");
  ASSERT_EQ(members.size(), 2u) << members.dump();
  EXPECT_EQ(members[0]["timeline"], 2) << members.dump();
  EXPECT_EQ(members[1]["replication"]["state"], "streaming") << members.dump();
  auto refused = daemon_.Post("/instances/at-time/reset", json::object());
  EXPECT_EQ(refused.status, 409) << refused.raw;
  EXPECT_NE(refused.raw.find("a reset makes one server"), std::string::npos) << refused.raw;
  EXPECT_EQ(Value("at-time", batches), "1:100,2:100");
  auto at_backup = Branch("src", {{"newInstanceName", "at-backup"}, {"backupName", "base"}});
  ASSERT_EQ(at_backup.status, 201) << at_backup.raw;
  EXPECT_EQ(Value("at-backup", batches), "1:100");
  // A setting over the source's.
  auto tuned = Branch("src", {{"newInstanceName", "tuned"}, {"config", {{"work_mem", "8MB"}}}});
  ASSERT_EQ(tuned.status, 201) << tuned.raw;
  EXPECT_EQ(Value("tuned", "show work_mem"), "8MB");
  EXPECT_EQ(Value("tuned", batches), "1:100,2:100,3:100");
  EXPECT_EQ(daemon_.Get("/instances/src/branches").body["count"], 3);
  EXPECT_EQ(daemon_.Get("/instances/src/backups").body["count"], 1) << "only 'base'";

  // Bad input: refused with a clear error, nothing made.
  EXPECT_EQ(Branch("src", {{"newInstanceName", "tuned"}}).status, 409) << "name taken";
  EXPECT_EQ(Branch("src", {{"newInstanceName", "Bad_Name"}}).status, 400);
  EXPECT_EQ(Branch("src", json::object()).status, 400) << "no newInstanceName";
  EXPECT_EQ(Branch("src", {{"newInstanceName", "x"}, {"colour", "red"}}).status, 400);
  EXPECT_EQ(Branch("src", {{"newInstanceName", "x"}, {"size", "1Ki"}}).status, 400);
  EXPECT_EQ(
      Branch("src", {{"newInstanceName", "x"}, {"config", {{"archive_command", "sh"}}}}).status,
      400);
  EXPECT_EQ(Branch("src", {{"newInstanceName", "x"}, {"backupName", "nope"}}).status, 404);
  EXPECT_EQ(
      Branch("src", {{"newInstanceName", "x"}, {"targetTime", "2001-01-01T00:00:00Z"}}).status,
      400);
  EXPECT_EQ(Branch("nothing", {{"newInstanceName", "x"}}).status, 404);
  EXPECT_EQ(daemon_.Get("/instances/x").status, 404);
  EXPECT_EQ(Snapshots(), 1u) << "base's alone";

  // A standby of the source starts from its newest backup, a thin one: cloned, not copied
  // from the primary.
  auto seeded = daemon_.Patch("/instances/src", json{{"replicas", 1}});
  ASSERT_EQ(seeded.status, 200) << seeded.raw;
  ASSERT_EQ(seeded.body["added"].size(), 1u) << seeded.raw;
  EXPECT_EQ(seeded.body["added"][0]["source"], "from backup base");
  members = StreamingMembers("src");
  ASSERT_EQ(members.size(), 2u) << members.dump();
  EXPECT_EQ(members[1]["replication"]["state"], "streaming") << members.dump();
}

TEST_F(ApiBranchTest, KilledMidBranchOrResetLeavesNoHalfMadeBranchOrSnapshot) {
  ASSERT_TRUE(daemon_.Stop().ok());
  ASSERT_TRUE(daemon_.Start({}, {"--test-hold", "restore-filled=30000"}).ok());
  ASSERT_EQ(daemon_.Post("/instances", json{{"name", "src"}, {"type", "postgresql"}}).status, 201);
  ASSERT_TRUE(Psql(daemon_, "src", "create table t as select generate_series(1, 1000) g").ok());
  auto started = daemon_.Post("/instances/src/branch?async=true", json{{"newInstanceName", "cut"}});
  ASSERT_EQ(started.status, 202) << started.raw;
  ASSERT_TRUE(daemon_.WaitLogSays("holding at restore-filled"));
  EXPECT_EQ(Snapshots(), 1u) << "the transient snapshot exists while the branch is made";
  daemon_.Kill();
  ASSERT_TRUE(daemon_.Start().ok());
  EXPECT_EQ(daemon_.Get("/instances/cut").status, 404) << "a half-made branch is removed";
  EXPECT_EQ(Snapshots(), 0u) << "and its snapshot";
  EXPECT_FALSE(std::filesystem::exists(daemon_.data_root() + "/instances/cut"));
  auto job = daemon_.Get("/jobs/" + started.body["jobId"].get<std::string>());
  EXPECT_EQ(job.body["job"]["status"], "failed");
  // The source was not held: a branch works now.
  auto again = Branch("src", {{"newInstanceName", "cut"}});
  ASSERT_EQ(again.status, 201) << again.raw;
  EXPECT_EQ(Value("cut", "select count(*) from t"), "1000");
  ASSERT_TRUE(daemon_.Stop().ok());
  ASSERT_TRUE(daemon_.Start({}, {"--test-hold", "restore-filled=30000"}).ok());

  // Killed mid-reset: the branch stays listed, failed and empty, and a reset makes it again.
  ASSERT_TRUE(Psql(daemon_, "src", "insert into t select generate_series(1001, 1500)").ok());
  // The log is appended to across starts: it must say "holding" for this reset.
  std::filesystem::resize_file(daemon_.data_root() + ".dbaasd.log", 0);
  auto reset = daemon_.Post("/instances/cut/reset?async=true", json::object());
  ASSERT_EQ(reset.status, 202) << reset.raw;
  EXPECT_EQ(daemon_.Delete("/instances/cut").status, 409) << "a branch being reset stays";
  ASSERT_TRUE(daemon_.WaitLogSays("holding at restore-filled"));
  daemon_.Kill();
  ASSERT_TRUE(daemon_.Start().ok());
  auto cut = daemon_.Get("/instances/cut");
  ASSERT_EQ(cut.status, 200) << cut.raw;
  EXPECT_EQ(cut.body["instance"]["status"], "failed");
  EXPECT_NE(cut.raw.find("reset it again"), std::string::npos) << cut.raw;
  EXPECT_EQ(Snapshots(), 0u);
  auto redone = daemon_.Post("/instances/cut/reset", json::object());
  ASSERT_EQ(redone.status, 200) << redone.raw;
  EXPECT_EQ(Value("cut", "select count(*) from t"), "1500");
}

// A reflink backup of a MariaDB standby holds its replication source (master.info): the
// copy restored from it must not start replicating from that primary.
TEST_F(ApiBranchTest, ACopyOfAMariaDbStandbyFollowsNobody) {
  auto made = daemon_.Post("/instances", json{{"name", "m"}, {"type", "mariadb"}, {"replicas", 1}});
  ASSERT_EQ(made.status, 201) << made.raw;
  auto sql = [&](const std::string& instance, const std::string& q) {
    return MariaSql(daemon_, instance, "USE app; " + q);
  };
  ASSERT_TRUE(sql("m", "CREATE TABLE t (id INT PRIMARY KEY); INSERT INTO t VALUES (1)").ok());
  ASSERT_EQ(StreamingMembers("m").size(), 2u);
  auto backup = daemon_.Post("/instances/m/backup", json{{"backupName", "b"}, {"from", "standby"}});
  ASSERT_EQ(backup.status, 201) << backup.raw;
  auto copy =
      daemon_.Post("/instances/m/restore", json{{"backupName", "b"}, {"newInstanceName", "c"}});
  ASSERT_EQ(copy.status, 201) << copy.raw;
  EXPECT_EQ(sql("c", "SELECT COUNT(*) FROM t").value_or(""), "1");
  ASSERT_TRUE(sql("m", "INSERT INTO t VALUES (2)").ok());
  std::this_thread::sleep_for(std::chrono::seconds(2));
  EXPECT_EQ(sql("c", "SELECT COUNT(*) FROM t").value_or(""), "1")
      << "the copy replicates from the primary";
  EXPECT_TRUE(sql("c", "INSERT INTO t VALUES (3)").ok()) << "the copy is writable";
}

TEST_F(ApiBranchTest, BranchesOfAMariaDbUnderTransfersKeepTheInvariant) {
  if (::access("/usr/sbin/mariadbd", X_OK) != 0) GTEST_SKIP() << "mariadb-server missing";
  ASSERT_EQ(daemon_
                .Post("/instances",
                      json{{"name", "shop"}, {"type", "mariadb"}, {"superuserAccess", true}})
                .status,
            201);
  ASSERT_TRUE(
      MariaSql(daemon_, "shop",
               "create table app.acct (id int primary key, bal int not null) engine=innodb;"
               "create table app.ledger (id bigint auto_increment primary key, src int, dst "
               "int, amount int) engine=innodb;"
               "insert into app.acct select seq, 1000 from mysql.seq_1_to_100",
               true)
          .ok());
  std::atomic<bool> stop{false};
  std::atomic<int> transfers{0};
  // Stops and joins the load on every way out of the test (an ASSERT returns early).
  struct Joiner {
    std::atomic<bool>& stop;
    std::thread& thread;
    ~Joiner() {
      stop = true;
      if (thread.joinable()) thread.join();
    }
  };
  std::thread load;
  Joiner joiner{stop, load};
  load = std::thread([&] {
    for (int i = 0; !stop; ++i) {
      int from = i % 100 + 1, to = (i * 7) % 100 + 1, amount = i % 13 + 1;
      auto done =
          MariaSql(daemon_, "shop",
                   fmt::format("start transaction;"
                               "update app.acct set bal = bal - {2} where id = {0};"
                               "update app.acct set bal = bal + {2} where id = {1};"
                               "insert into app.ledger (src, dst, amount) values ({0},{1},{2});"
                               "commit",
                               from, to, amount));
      if (done.ok()) ++transfers;
    }
  });
  auto expect_consistent = [&](const std::string& name) {
    EXPECT_EQ(MariaSql(daemon_, name, "select sum(bal) from app.acct").value_or(""), "100000")
        << name;
    // Every account's balance is its start plus what the ledger says it got.
    EXPECT_EQ(MariaSql(daemon_, name,
                       "select count(*) from app.acct a where a.bal <> 1000 + "
                       "coalesce((select sum(amount) from app.ledger where dst = a.id), 0) - "
                       "coalesce((select sum(amount) from app.ledger where src = a.id), 0)")
                  .value_or(""),
              "0")
        << name;
    auto check = MariaSql(daemon_, name, "check table app.acct, app.ledger extended", true);
    ASSERT_TRUE(check.ok()) << check.status().ToString();
    EXPECT_EQ(check->find("error"), std::string::npos) << *check;
    EXPECT_NE(check->find("OK"), std::string::npos) << *check;
  };
  auto ledger = [&](const std::string& name) {
    auto n = MariaSql(daemon_, name, "select count(*) from app.ledger");
    return n.ok() && !n->empty() ? std::stol(*n) : -1L;
  };
  for (int i = 0; transfers < 20 && i < 600; ++i) {
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
  }
  ASSERT_GE(transfers, 20) << "the transfer load does not run";
  std::map<std::string, std::pair<long, long>> source_ledger;  // before and after each branch
  for (const std::string name : {"m1", "m2"}) {
    long before = ledger("shop");
    auto b = Branch("shop", {{"newInstanceName", name}});
    ASSERT_EQ(b.status, 201) << b.raw;
    source_ledger[name] = {before, ledger("shop")};
    EXPECT_EQ(b.body["method"], "clone");
    EXPECT_EQ(b.body["instance"]["type"], "mariadb");
    std::this_thread::sleep_for(std::chrono::milliseconds(500));
  }
  stop = true;
  load.join();
  for (const std::string name : {"m1", "m2"}) {
    expect_consistent(name);
    // The copy holds the source at an instant during its branch: between the two counts.
    auto [before, after] = source_ledger[name];
    EXPECT_LT(before, after) << "no transfer committed while " << name << " was made";
    EXPECT_GE(ledger(name), before) << name;
    EXPECT_LE(ledger(name), after) << name;
  }
  EXPECT_LT(ledger("m1"), ledger("m2"));
  // Writable without touching the source.
  ASSERT_TRUE(MariaSql(daemon_, "m1", "update app.acct set bal = 0").ok());
  EXPECT_EQ(MariaSql(daemon_, "shop", "select sum(bal) from app.acct").value_or(""), "100000");
  EXPECT_EQ(Snapshots(), 0u);
}

}  // namespace
}  // namespace dbaas::testing
