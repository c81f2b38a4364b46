// Standbys through the REST API with a real dbaasd and real PostgreSQL 15 servers: members
// and their replication status, the multi-host URI that follows the primary, a clean
// switchover, and failovers under load in synchronous mode where the primary is killed
// (kill -9, its in-place restart blocked), hung (SIGSTOP) or cut off the network (its test
// host's link down: the members run on test hosts, tests/test_hosts.h): every commit a
// client saw acknowledged is on the new primary, pgbench's invariant and pg_amcheck hold,
// there is exactly one primary, and the old primary comes back as a standby.
#include <arpa/inet.h>
#include <netinet/in.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include <array>
#include <atomic>
#include <filesystem>
#include <mutex>
#include <set>
#include <thread>

#include <fmt/format.h>
#include <fmt/ranges.h>
#include <gtest/gtest.h>

#include "base/files.h"
#include "base/scope_exit.h"
#include "daemon.h"
#include "engines/postgres/pg_backup.h"
#include "engines/postgres/pg_connection.h"
#include "test_hosts.h"
#include "test_util.h"

namespace dbaas::testing {
namespace {

using nlohmann::json;
using std::chrono::milliseconds;
using std::chrono::seconds;

// How many failovers the torture runs here; bench/failover_bench.sh runs more.
int Rounds() {
  const char* env = ::getenv("DBAAS_FAILOVER_ROUNDS");
  return env ? std::max(1, std::atoi(env)) : 3;
}

double SecondsSince(std::chrono::steady_clock::time_point start) {
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
}

// A client that inserts ids into `table` through `uri`, one transaction each, opening a
// new connection after any failure (the URI finds the primary, wherever it is), and logs
// the ids whose commit it saw acknowledged.
class AckedWriter {
 public:
  AckedWriter(std::string uri, std::string table, int64_t first_id)
      : uri_(std::move(uri)), table_(std::move(table)), next_(first_id) {
    thread_ = std::thread([this] { Run(); });
  }
  ~AckedWriter() { Stop(); }
  void Stop() {
    stop_ = true;
    if (thread_.joinable()) thread_.join();
  }
  std::vector<int64_t> acknowledged() const {
    std::lock_guard lock(mu_);
    return acked_;
  }
  // Writes that failed with the session still up: an error the client sees beyond losing
  // its connection (a read-only primary, say). Each with the server's message.
  std::vector<std::string> refused() const {
    std::lock_guard lock(mu_);
    return refused_;
  }
  // Sessions the server closed under a write (each costs a reconnect).
  int connections_lost() const {
    std::lock_guard lock(mu_);
    return connections_lost_;
  }

 private:
  void Run() {
    std::optional<engines::PgConnection> conn;
    while (!stop_) {
      if (!conn) {
        auto made = engines::PgConnection::Connect(uri_);
        if (!made.ok()) {
          std::this_thread::sleep_for(milliseconds(50));
          continue;
        }
        conn.emplace(std::move(made).value());
      }
      int64_t id = next_++;
      auto written = conn->Query(fmt::format("insert into {} values ({})", table_, id));
      std::lock_guard lock(mu_);
      if (written.ok()) {
        acked_.push_back(id);
      } else if (conn->Broken()) {
        ++connections_lost_;
        conn.reset();
      } else {
        refused_.push_back(written.status().ToString());
        conn.reset();
      }
    }
  }
  const std::string uri_;
  const std::string table_;
  int64_t next_;  // the writer thread's
  std::atomic<bool> stop_{false};
  mutable std::mutex mu_;
  std::vector<int64_t> acked_;        // guarded by mu_
  std::vector<std::string> refused_;  // guarded by mu_
  int connections_lost_ = 0;          // guarded by mu_
  std::thread thread_;
};

class ApiReplicationTest : public ::testing::Test {
 protected:
  void SetUp() override {
    ::chmod(root_.path().c_str(), 0711);
    Status st = daemon_.Start({}, {"--failover-delay", "2"});
    ASSERT_TRUE(st.ok()) << st.ToString();
  }
  void TearDown() override {
    for (int fd : blocked_ports_) ::close(fd);
    if (daemon_.pid() < 0) return;
    auto code = daemon_.Stop();
    EXPECT_TRUE(code.ok() && code.value() == 0) << "dbaasd did not exit cleanly on SIGTERM";
    EXPECT_TRUE(PostmastersUnder(daemon_.data_root()).empty()) << "a server outlived dbaasd";
  }

  json Instance(const std::string& name, bool secrets = false) {
    auto got = daemon_.Get("/instances/" + name + (secrets ? "?showSecrets=true" : ""));
    EXPECT_EQ(got.status, 200) << got.raw;
    return got.body.value("instance", json::object());
  }

  // Polls GET /instances/:name until `ready` holds of it (up to 90 s).
  json WaitFor(const std::string& name, const std::function<bool(const json&)>& ready,
               const std::string& what) {
    json inst;
    for (int i = 0; i < 900; ++i) {
      inst = Instance(name);
      if (ready(inst)) return inst;
      std::this_thread::sleep_for(milliseconds(100));
    }
    ADD_FAILURE() << "timed out waiting for " << what << ": " << inst.dump();
    return inst;
  }

  // Every member running, every standby streaming (and, synchronous, in the quorum).
  static bool AllStreaming(const json& inst, size_t members, bool synchronous) {
    if (!inst.contains("members") || inst["members"].size() != members) return false;
    if (inst["members"][0]["name"] != inst["primary"]) return false;
    for (const json& m : inst["members"]) {
      if (m["state"] != "running") return false;
      if (m["role"] == "standby") {
        if (!m["replication"].is_object() || m["replication"]["state"] != "streaming") return false;
        if (synchronous && m["replication"]["syncState"] != "quorum") return false;
      }
    }
    return true;
  }

  // How many members answer as primaries (not in recovery), by their addresses.
  int Primaries(const json& inst, const std::string& password) {
    int primaries = 0;
    for (const json& m : inst["members"]) {
      auto conn = engines::PgConnection::Connect(
          fmt::format("host={} port={} user=app dbname=app password={} connect_timeout=3",
                      m["host"].get<std::string>(), m["port"].get<int>(), password));
      if (!conn.ok()) continue;
      auto in_recovery = conn->QueryValue("select pg_is_in_recovery()");
      if (in_recovery.ok() && in_recovery.value() == "f") ++primaries;
    }
    return primaries;
  }

  // Listens on a member's address and port so that a server killed there cannot start
  // again in place (its port is taken): what a primary whose host is gone looks like to
  // the daemon.
  void BlockPort(const json& member) {
    const int port = member["port"];
    if (hosts_ && hosts_->IndexOf(member["host"]) >= 0) {
      for (int i = 0; i < 200; ++i) {
        auto fd = hosts_->Listen(hosts_->IndexOf(member["host"]), static_cast<uint16_t>(port));
        if (fd.ok()) {
          blocked_ports_.push_back(*fd);
          return;
        }
        std::this_thread::sleep_for(milliseconds(5));
      }
      FAIL() << "port " << port << " could not be taken on " << member["host"];
    }
    for (int i = 0; i < 200; ++i) {
      int fd = ::socket(AF_INET, SOCK_STREAM, 0);
      int one = 1;
      ::setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
      sockaddr_in addr{};
      addr.sin_family = AF_INET;
      addr.sin_port = htons(static_cast<uint16_t>(port));
      addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
      if (::bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) == 0 &&
          ::listen(fd, 1) == 0) {
        blocked_ports_.push_back(fd);
        return;
      }
      ::close(fd);
      std::this_thread::sleep_for(milliseconds(5));
    }
    FAIL() << "port " << port << " could not be taken";
  }
  void UnblockPorts() {
    for (int fd : blocked_ports_) ::close(fd);
    blocked_ports_.clear();
  }

  // The postmaster listening on `port` (a member's), from its command line's data dir.
  pid_t PostmasterOf(const std::string& member) {
    for (const auto& [pid, parent] : PostmastersUnder(daemon_.data_root())) {
      auto cmdline = ReadFileToString(fmt::format("/proc/{}/cmdline", pid));
      if (cmdline.ok() && cmdline->find("/" + member + "/data") != std::string::npos) return pid;
    }
    return -1;
  }

  // A postmaster and its children, by their parent in /proc/PID/stat.
  static std::vector<pid_t> ServerProcesses(pid_t postmaster) {
    std::vector<pid_t> pids = {postmaster};
    for (const auto& entry : std::filesystem::directory_iterator("/proc")) {
      auto stat = ReadFileToString(entry.path().string() + "/stat");
      if (!stat.ok()) continue;
      size_t close = stat->rfind(')');  // after the command's name, which may hold spaces
      if (close == std::string::npos) continue;
      int parent = 0;
      if (std::sscanf(stat->c_str() + close + 1, " %*c %d", &parent) == 1 && parent == postmaster) {
        pids.push_back(std::atoi(entry.path().filename().c_str()));
      }
    }
    return pids;
  }

  // MariaDB instance `shop` with one standby.
  HttpAnswer MakeMariaDbWithStandby() {
    return daemon_.Post("/instances", json{{"name", "shop"}, {"type", "mariadb"}, {"replicas", 1}});
  }

  // A member's mariadbd, from its command line's option file.
  pid_t ServerOf(const std::string& member) {
    for (const auto& entry : std::filesystem::directory_iterator("/proc")) {
      auto cmdline = ReadFileToString(entry.path().string() + "/cmdline");
      if (!cmdline.ok() || cmdline->find("mariadbd") == std::string::npos) continue;
      if (cmdline->find(daemon_.data_root() + "/") == std::string::npos) continue;
      if (cmdline->find("/" + member + "/my.cnf") != std::string::npos) {
        return std::atoi(entry.path().filename().c_str());
      }
    }
    return -1;
  }

  // pgbench's invariant on the primary, and pg_amcheck.
  void ExpectConsistent(const std::string& instance) {
    auto amcheck = PgClient(daemon_, instance, "pg_amcheck",
                            {"--install-missing", "--heapallindexed", "-d", "app"}, true);
    ASSERT_TRUE(amcheck.ok()) << amcheck.status().ToString();
    auto ran = RunProcess(*amcheck, std::chrono::minutes(5));
    EXPECT_TRUE(ran.ok() && ran->exit_code == 0)
        << (ran.ok() ? ran->output : ran.status().ToString());
    auto sums = Psql(daemon_, instance,
                     "select (select sum(abalance) from pgbench_accounts) = (select "
                     "sum(tbalance) from pgbench_tellers) and (select sum(tbalance) from "
                     "pgbench_tellers) = (select sum(bbalance) from pgbench_branches) and "
                     "(select sum(bbalance) from pgbench_branches) = (select "
                     "coalesce(sum(delta), 0) from pgbench_history)");
    EXPECT_EQ(sums.value_or(sums.status().ToString()), "t");
  }

  // dbaasd started again with its PostgreSQL servers on `count` test hosts.
  void RestartOnTestHosts(int count) {
    ASSERT_TRUE(daemon_.Stop().ok());
    auto made = TestHosts::Make(count);
    ASSERT_TRUE(made.ok()) << made.status().ToString();
    hosts_ = std::move(made).value();
    Status st = daemon_.Start({}, {"--failover-delay", "2", "--test-hosts", hosts_->Flag()});
    ASSERT_TRUE(st.ok()) << st.ToString();
  }

  // Declared first: destroyed after the daemon (TearDown stops it first anyway).
  std::unique_ptr<TestHosts> hosts_;
  TempDir root_;
  Daemon daemon_{root_ / "data"};
  std::vector<int> blocked_ports_;
};

TEST_F(ApiReplicationTest, StandbysStreamASwitchoverLosesNothingAndEveryMemberGoesWithTheInstance) {
  auto created =
      daemon_.Post("/instances", json{{"name", "orders"}, {"type", "postgresql"}, {"replicas", 1}});
  ASSERT_EQ(created.status, 201) << created.raw;
  json inst = WaitFor(
      "orders", [](const json& i) { return AllStreaming(i, 2, false); }, "the standby to stream");
  EXPECT_EQ(inst["replicas"], 1);
  EXPECT_EQ(inst["synchronous"], false);
  EXPECT_EQ(inst["primary"], "orders");
  EXPECT_EQ(inst["members"][0]["name"], "orders");
  EXPECT_EQ(inst["members"][0]["role"], "primary");
  EXPECT_EQ(inst["members"][1]["name"], "orders-2");
  EXPECT_EQ(inst["members"][1]["replication"]["syncState"], "async");
  EXPECT_EQ(inst["members"][0]["timeline"], 1);
  // The URI names both members and asks for the one that takes writes.
  std::string uri = Instance("orders", true)["connection"]["uri"];
  EXPECT_NE(
      uri.find(fmt::format("127.0.0.1:{},127.0.0.1:{}/app", inst["members"][0]["port"].get<int>(),
                           inst["members"][1]["port"].get<int>())),
      std::string::npos)
      << uri;
  EXPECT_NE(uri.find("target_session_attrs=read-write"), std::string::npos) << uri;
  std::string read_only = Instance("orders", true)["connection"]["uriReadOnly"];
  EXPECT_NE(read_only.find("target_session_attrs=prefer-standby"), std::string::npos);

  auto conn = engines::PgConnection::Connect(uri);
  ASSERT_TRUE(conn.ok()) << conn.status().ToString();
  ASSERT_TRUE(conn->Query("create table t (id int primary key)").ok());
  ASSERT_TRUE(conn->Query("insert into t select generate_series(1, 1000)").ok());

  auto first = daemon_.Post("/instances/orders/backup", json{{"backupName", "before-switch"}});
  ASSERT_EQ(first.status, 201) << first.raw;
  // Synchronous from now on.
  auto sync = daemon_.Patch("/instances/orders", json{{"synchronous", true}});
  ASSERT_EQ(sync.status, 200) << sync.raw;
  WaitFor(
      "orders", [](const json& i) { return AllStreaming(i, 2, true); }, "a synchronous standby");

  // Under load (pgbench on the primary, which ends with it), two clients write through the
  // switchover, logging what was acknowledged: each may lose its session once, and sees no
  // other error.
  auto init = PgClient(daemon_, "orders", "pgbench", {"-i", "-s", "1", "-q"});
  ASSERT_TRUE(init.ok());
  ASSERT_TRUE(RunChecked(*init, std::chrono::minutes(2)).ok());
  auto bench = PgClient(daemon_, "orders", "pgbench", {"-n", "-c", "2", "-T", "30"});
  ASSERT_TRUE(bench.ok());
  auto load = Process::Start(*bench);
  ASSERT_TRUE(load.ok()) << load.status().ToString();
  AckedWriter writer(uri, "t", 100000);
  AckedWriter second(uri, "t", 200000);
  std::this_thread::sleep_for(seconds(1));
  auto over = daemon_.Post("/instances/orders/switchover", json::object());
  const size_t acked_at_switch = writer.acknowledged().size();
  std::this_thread::sleep_for(milliseconds(1500));
  writer.Stop();
  second.Stop();
  (void)load->Signal(SIGKILL);
  (void)load->Wait();
  std::vector<int64_t> acked = writer.acknowledged();
  ASSERT_EQ(over.status, 200) << over.raw;
  EXPECT_GT(acked.size(), acked_at_switch) << "no write was acknowledged after the switchover";
  for (const AckedWriter* w : {&writer, &second}) {
    fmt::print("switchover under load: {} writes acknowledged, {} session lost\n",
               w->acknowledged().size(), w->connections_lost());
    EXPECT_LE(w->connections_lost(), 1);
    EXPECT_TRUE(w->refused().empty()) << fmt::format("{}", fmt::join(w->refused(), "; "));
  }
  const std::vector<int64_t> acked_second = second.acknowledged();
  acked.insert(acked.end(), acked_second.begin(), acked_second.end());
  EXPECT_EQ(over.body["primary"], "orders-2");
  inst = WaitFor(
      "orders", [](const json& i) { return AllStreaming(i, 2, true); },
      "the old primary to follow the new one");
  EXPECT_EQ(inst["primary"], "orders-2");
  EXPECT_EQ(inst["members"][0]["name"], "orders-2");
  EXPECT_EQ(inst["members"][0]["timeline"], 2);
  EXPECT_EQ(inst["members"][1]["name"], "orders");
  EXPECT_EQ(inst["members"][1]["role"], "standby");
  EXPECT_EQ(Primaries(inst, Instance("orders", true)["connection"]["password"]), 1);
  // Nothing was lost, and the same URI now reaches the new primary.
  auto again = engines::PgConnection::Connect(uri);
  ASSERT_TRUE(again.ok()) << again.status().ToString();
  EXPECT_EQ(again->QueryValue("select count(*) from t where id <= 1000").value_or(""), "1000");
  ASSERT_GT(acked.size(), 0u);
  auto written = again->Query("select id from t where id >= 100000");
  ASSERT_TRUE(written.ok()) << written.status().ToString();
  std::set<int64_t> present;
  for (const auto& row : written.value()) present.insert(std::stoll(row[0]));
  for (int64_t id : acked) {
    EXPECT_TRUE(present.count(id)) << "acknowledged row " << id << " was lost in the switchover";
  }
  // The rest of the test counts rows below 100000.
  ASSERT_TRUE(again->Query("delete from t where id >= 100000").ok());
  EXPECT_TRUE(again->Query("insert into t values (1001)").ok());
  // Backups come from the primary, wherever it is.
  auto backup = daemon_.Post("/instances/orders/backup", json{{"backupName", "after-switch"}});
  EXPECT_EQ(backup.status, 201) << backup.raw;
  // The archive goes on across the new timeline: a backup from before the switchover
  // restores to the last commit after it.
  EXPECT_TRUE(again->Query("insert into t values (1002)").ok());
  auto restored = daemon_.Post(
      "/instances/orders/restore",
      json{{"backupName", "before-switch"}, {"newInstanceName", "copy"}, {"target", "latest"}});
  ASSERT_EQ(restored.status, 201) << restored.raw;
  EXPECT_EQ(Psql(daemon_, "copy", "select count(*) || ',' || max(id) from t").value_or(""),
            "1002,1002");
  ASSERT_EQ(daemon_.Delete("/instances/copy").status, 200);

  // A bad request changes nothing.
  EXPECT_EQ(daemon_.Post("/instances/orders/switchover", json{{"to", "orders-9"}}).status, 400);
  EXPECT_EQ(daemon_.Patch("/instances/orders", json{{"replicas", 9}}).status, 400);
  EXPECT_EQ(daemon_.Patch("/instances/orders", json{{"replicas", "many"}}).status, 400);
  EXPECT_EQ(Instance("orders")["members"].size(), 2u);

  // Down to no standby: the first member (a standby now) goes.
  auto fewer = daemon_.Patch("/instances/orders", json{{"replicas", 0}, {"synchronous", false}});
  ASSERT_EQ(fewer.status, 200) << fewer.raw;
  inst = Instance("orders");
  EXPECT_EQ(inst["replicas"], 0);
  EXPECT_EQ(inst["primary"], "orders-2");
  EXPECT_FALSE(std::filesystem::exists(daemon_.data_root() + "/instances/orders"));
  EXPECT_EQ(again->QueryValue("select count(*) from t").value_or(""), "1002");
  // And back up to two, made from the newest backup ("after-switch", taken on the other
  // member and timeline): the primary serves only the WAL since.
  auto more = daemon_.Patch("/instances/orders", json{{"replicas", 2}});
  ASSERT_EQ(more.status, 200) << more.raw;
  ASSERT_EQ(more.body["added"].size(), 2u) << more.raw;
  for (const json& added : more.body["added"]) {
    EXPECT_EQ(added["source"], "from backup after-switch") << more.raw;
  }
  inst = WaitFor(
      "orders", [](const json& i) { return AllStreaming(i, 3, false); }, "two standbys to stream");

  auto gone = daemon_.Delete("/instances/orders");
  ASSERT_EQ(gone.status, 200) << gone.raw;
  // Every member had one supervisor: none found another's server running.
  auto log = ReadFileToString(daemon_.data_root() + ".dbaasd.log");
  EXPECT_EQ(log.value_or("").find("left running by an earlier dbaasd"), std::string::npos)
      << log.value_or("");
  EXPECT_TRUE(PostmastersUnder(daemon_.data_root()).empty());
  EXPECT_FALSE(std::filesystem::exists(daemon_.data_root() + "/members/orders"));
}

// MariaDB: a standby made from a backup taken for it (the instance has none yet), its own
// link as SHOW REPLICA STATUS tells it, a clean switchover, and a standby made from the
// newest backup.
TEST_F(ApiReplicationTest, MariaDbStandbysReplicateAndSwitchOverLosingNothing) {
  if (::access("/usr/sbin/mariadbd", X_OK) != 0) GTEST_SKIP() << "mariadb-server missing";
  auto made = MakeMariaDbWithStandby();
  ASSERT_EQ(made.status, 201) << made.raw;
  json inst = WaitFor(
      "shop", [](const json& i) { return AllStreaming(i, 2, false); }, "the standby to replicate");
  EXPECT_EQ(inst["members"][1]["name"], "shop-2");
  EXPECT_EQ(inst["members"][1]["replication"]["syncState"], "async");
  // The snapshot taken for the standby is gone: no backup lists it, none is left over.
  EXPECT_EQ(daemon_.Get("/instances/shop/backups").body["count"], 0);
  EXPECT_EQ(made.body["instance"]["members"].size(), 2u) << made.raw;
  size_t snapshots = 0;
  for (const auto& e :
       std::filesystem::directory_iterator(daemon_.data_root() + "/repository/snapshots")) {
    snapshots += e.is_regular_file();
  }
  EXPECT_EQ(snapshots, 0u) << "the standby's transient snapshot was left behind";
  auto sql = [&](const std::string& q) { return MariaSql(daemon_, "shop", "USE app; " + q); };
  auto created =
      sql("CREATE TABLE t (id INT PRIMARY KEY); INSERT INTO t SELECT seq FROM "
          "seq_1_to_500");
  ASSERT_TRUE(created.ok()) << created.status().ToString();
  // Refused: synchronous standbys are PostgreSQL's.
  auto sync = daemon_.Patch("/instances/shop", json{{"synchronous", true}});
  EXPECT_EQ(sync.status, 400) << sync.raw;

  auto over = daemon_.Post("/instances/shop/switchover", json::object());
  ASSERT_EQ(over.status, 200) << over.raw;
  EXPECT_EQ(over.body["primary"], "shop-2");
  inst = WaitFor(
      "shop", [](const json& i) { return AllStreaming(i, 2, false); },
      "the old primary to follow the new one");
  EXPECT_EQ(inst["members"][0]["name"], "shop-2");
  EXPECT_EQ(inst["members"][1]["role"], "standby");
  // Through the instance's connection (the new primary's port now): every row, writable.
  EXPECT_EQ(sql("SELECT COUNT(*) FROM t").value_or(""), "500");
  EXPECT_TRUE(sql("INSERT INTO t VALUES (501)").ok());

  // A backup, then a second standby made from it.
  ASSERT_EQ(daemon_.Post("/instances/shop/backup", json{{"backupName", "nightly"}}).status, 201);
  ASSERT_TRUE(sql("INSERT INTO t VALUES (502)").ok());
  auto more = daemon_.Patch("/instances/shop", json{{"replicas", 2}});
  ASSERT_EQ(more.status, 200) << more.raw;
  ASSERT_EQ(more.body["added"].size(), 1u) << more.raw;
  EXPECT_EQ(more.body["added"][0]["source"], "from backup nightly");
  WaitFor(
      "shop", [](const json& i) { return AllStreaming(i, 3, false); }, "two standbys");
  EXPECT_EQ(daemon_.Delete("/instances/shop").status, 200);
}

// An asynchronous MariaDB failover that loses transactions: the standby is hung (SIGSTOP)
// while the primary commits, then the primary dies (kill -9, its restart blocked). The
// standby takes over without those commits; the old primary, which has them, has diverged:
// it is made again as a standby of the new primary, never followed as it is.
TEST_F(ApiReplicationTest, AMariaDbFailoverRemakesTheOldPrimaryThatDiverged) {
  if (::access("/usr/sbin/mariadbd", X_OK) != 0) GTEST_SKIP() << "mariadb-server missing";
  auto made = MakeMariaDbWithStandby();
  ASSERT_EQ(made.status, 201) << made.raw;
  json inst = WaitFor(
      "shop", [](const json& i) { return AllStreaming(i, 2, false); }, "the standby to replicate");
  auto sql = [&](const std::string& q) { return MariaSql(daemon_, "shop", "USE app; " + q); };
  ASSERT_TRUE(sql("CREATE TABLE t (id INT PRIMARY KEY); INSERT INTO t SELECT seq FROM "
                  "seq_1_to_100; CREATE TABLE big (id INT PRIMARY KEY, pad VARCHAR(200))")
                  .ok());
  WaitFor(
      "shop",
      [](const json& i) {
        return AllStreaming(i, 2, false) && i["members"][1]["lsn"] == i["members"][0]["lsn"];
      },
      "the standby to have every row");
  const json primary_member = inst["members"][0];
  pid_t standby_pid = ServerOf("shop-2"), primary_pid = ServerOf("shop");
  ASSERT_GT(standby_pid, 0);
  ASSERT_GT(primary_pid, 0);
  ASSERT_EQ(::kill(standby_pid, SIGSTOP), 0);
  // The primary's alone: a transaction of ~50 MB of binlog, more than the loopback's
  // socket buffers hold for the hung standby.
  ASSERT_TRUE(sql("INSERT INTO big SELECT seq, REPEAT('x', 200) FROM seq_1_to_200000").ok());
  ASSERT_EQ(::kill(primary_pid, SIGKILL), 0);
  BlockPort(primary_member);
  ASSERT_EQ(::kill(standby_pid, SIGCONT), 0);
  WaitFor(
      "shop", [](const json& i) { return i["primary"] == "shop-2"; }, "the standby to take over");
  // The catalog names it before its promotion ends: writable a moment later.
  for (int i = 0; i < 100 && !sql("INSERT INTO t VALUES (1000)").ok(); ++i) {
    std::this_thread::sleep_for(milliseconds(100));
  }
  EXPECT_EQ(sql("SELECT COUNT(*) FROM t").value_or(""), "101");
  EXPECT_EQ(sql("SELECT COUNT(*) FROM big").value_or(""), "0") << "async: the last commit is lost";
  UnblockPorts();
  inst = WaitFor(
      "shop", [](const json& i) { return AllStreaming(i, 2, false); },
      "the old primary, made again, to replicate");
  EXPECT_EQ(inst["members"][1]["name"], "shop");
  EXPECT_EQ(inst["failovers"], 1);
  ASSERT_TRUE(sql("INSERT INTO t VALUES (1001)").ok());
  auto log = ReadFileToString(daemon_.data_root() + ".dbaasd.log");
  EXPECT_NE(log.value_or("").find("event=standby_diverged instance=shop member=shop"),
            std::string::npos);
  EXPECT_EQ(daemon_.Delete("/instances/shop").status, 200);
}

TEST_F(ApiReplicationTest, BadReplicaCountsAreRefusedWithTheReason) {
  auto mysql =
      daemon_.Post("/instances", json{{"name", "shop"}, {"type", "mysql"}, {"replicas", 1}});
  EXPECT_EQ(mysql.status, 400) << mysql.raw;
  EXPECT_NE(mysql.raw.find("PostgreSQL's and MariaDB's"), std::string::npos) << mysql.raw;
  auto sync_alone = daemon_.Post(
      "/instances", json{{"name", "pay"}, {"type", "postgresql"}, {"synchronous", true}});
  EXPECT_EQ(sync_alone.status, 400) << sync_alone.raw;
  auto negative =
      daemon_.Post("/instances", json{{"name", "pay"}, {"type", "postgresql"}, {"replicas", -1}});
  EXPECT_EQ(negative.status, 400) << negative.raw;
  EXPECT_EQ(daemon_.Get("/instances/pay").status, 404);
  EXPECT_EQ(daemon_.Post("/instances/nothing/switchover", json::object()).status, 404);
}

// The torture: pgbench runs on the primary and a client writes ids through the multi-host
// URI, logging each one acknowledged; the primary is killed (in turn kill -9 with its
// restart blocked, SIGSTOP: hung, and its host cut off the network while it runs on) until
// the standby takes over. The members run on test hosts of their own.
TEST_F(ApiReplicationTest, FailoversUnderLoadInSynchronousModeLoseNoAcknowledgedCommit) {
  RestartOnTestHosts(2);
  auto created = daemon_.Post("/instances", json{{"name", "ledger"},
                                                 {"type", "postgresql"},
                                                 {"replicas", 1},
                                                 {"synchronous", true},
                                                 {"superuserAccess", true}});
  ASSERT_EQ(created.status, 201) << created.raw;
  WaitFor(
      "ledger", [](const json& i) { return AllStreaming(i, 2, true); }, "a synchronous standby");
  json secret = Instance("ledger", true)["connection"];
  const std::string uri = secret["uri"];
  const std::string password = secret["password"];
  auto init = PgClient(daemon_, "ledger", "pgbench", {"-i", "-s", "1", "-q"});
  ASSERT_TRUE(init.ok());
  ASSERT_TRUE(RunChecked(*init, std::chrono::minutes(2)).ok());
  ASSERT_EQ(Psql(daemon_, "ledger", "select count(*) from pgbench_branches").value_or(""), "1");
  {
    auto conn = engines::PgConnection::Connect(uri);
    ASSERT_TRUE(conn.ok());
    ASSERT_TRUE(conn->Query("create table acked (id bigint primary key)").ok());
  }

  // A client that gives up on a host that does not answer, as any should: libpq waits
  // forever by default on a connection whose peer vanished.
  AckedWriter writer(uri +
                         "&connect_timeout=2&keepalives_idle=1&keepalives_interval=1&"
                         "keepalives_count=2&tcp_user_timeout=3000",
                     "acked", 1);

  for (int round = 0; round < Rounds(); ++round) {
    SCOPED_TRACE(fmt::format("round {}", round));
    json before = Instance("ledger");
    const std::string primary = before["primary"];
    const int host = hosts_->IndexOf(before["members"][0]["host"]);
    ASSERT_GE(host, 0) << before.dump();
    ASSERT_NE(hosts_->IndexOf(before["members"][1]["host"]), host) << "members share a host";
    // Load on the primary itself: pgbench fails when it dies, which is fine.
    auto bench = PgClient(daemon_, "ledger", "pgbench", {"-n", "-c", "2", "-T", "60"});
    ASSERT_TRUE(bench.ok());
    auto load = Process::Start(*bench);
    ASSERT_TRUE(load.ok()) << load.status().ToString();
    std::this_thread::sleep_for(seconds(2));
    const size_t acked_before = writer.acknowledged().size();
    pid_t victim = PostmasterOf(primary);
    ASSERT_GT(victim, 0);
    enum { kKill, kHang, kCut } const how = static_cast<decltype(kKill)>(round % 3);
    const auto struck = std::chrono::steady_clock::now();
    if (how == kHang) {
      ASSERT_EQ(::kill(victim, SIGSTOP), 0);
    } else if (how == kKill) {
      ASSERT_EQ(::kill(victim, SIGKILL), 0);
      BlockPort(before["members"][0]);
    } else {
      ASSERT_TRUE(hosts_->Cut(host).ok());
    }
    const int timeline = before["members"][0]["timeline"];
    json after = WaitFor(
        "ledger",
        [&](const json& i) {
          return i["primary"] != primary && i["members"][0]["name"] == i["primary"] &&
                 i["members"][0]["timeline"].get<int>() > timeline;
        },
        "a failover");
    const double failed_over = SecondsSince(struck);
    // A hung primary that wakes, or one whose network comes back, finds itself fenced
    // (killed): still one primary.
    if (how == kHang) ::kill(victim, SIGCONT);
    if (how == kCut) {
      ASSERT_TRUE(hosts_->Reconnect(host).ok());
    }
    EXPECT_EQ(Primaries(after, password), 1);
    UnblockPorts();
    (void)load->Signal(SIGKILL);
    (void)load->Wait();
    // The old primary comes back as the new one's standby; writes go on.
    after = WaitFor(
        "ledger", [](const json& i) { return AllStreaming(i, 2, true); },
        "the old primary to rejoin");
    // For bench/failover_torture_bench.sh.
    fmt::print(
        "torture round {} {}: failover seen after {:.2f} s, old primary streams after "
        "{:.2f} s\n",
        round, std::array{"kill", "hang", "cut"}[how], failed_over, SecondsSince(struck));
    EXPECT_EQ(after["members"][0]["timeline"].get<int>(),
              before["members"][0]["timeline"].get<int>() + 1);
    EXPECT_EQ(Primaries(after, password), 1);
    EXPECT_EQ(Psql(daemon_, "ledger", "select count(*) from pgbench_branches").value_or("?"), "1")
        << after.dump();
    std::this_thread::sleep_for(seconds(1));
    EXPECT_GT(writer.acknowledged().size(), acked_before)
        << "no write was acknowledged after the failover";
  }
  writer.Stop();
  const std::vector<int64_t> acknowledged = writer.acknowledged();
  // Every id the client saw acknowledged is on the primary.
  auto conn = engines::PgConnection::Connect(uri);
  ASSERT_TRUE(conn.ok()) << conn.status().ToString();
  auto rows = conn->Query("select id from acked");
  ASSERT_TRUE(rows.ok()) << rows.status().ToString();
  std::set<int64_t> present;
  for (const auto& r : rows.value()) present.insert(std::stoll(r[0]));
  size_t missing = 0;
  for (int64_t id : acknowledged) missing += present.count(id) == 0;
  EXPECT_EQ(missing, 0u) << "of " << acknowledged.size() << " acknowledged commits";
  EXPECT_GT(acknowledged.size(), 0u);
  ExpectConsistent("ledger");
  EXPECT_EQ(Instance("ledger")["failovers"], Rounds());
  auto metrics = daemon_.Get("/metrics");
  EXPECT_NE(metrics.raw.find(fmt::format("dbaas_failovers{{instance=\"ledger\"}} {}", Rounds())),
            std::string::npos)
      << metrics.raw;
  EXPECT_NE(metrics.raw.find("dbaas_replication_lag_bytes{instance=\"ledger\",member="),
            std::string::npos);
  EXPECT_NE(metrics.raw.find("dbaas_replication_streaming{instance=\"ledger\",member="),
            std::string::npos);
}

// Asynchronous mode: a failover loses what the standby had not received, and no more than
// its reported position says. The standby's server is stopped (SIGSTOP, every process of
// it) while a client commits ~30 MB, more than the sockets between them hold; the
// standby's flush position is read from the instance's status; the primary dies with every
// process of it; the standby wakes and takes over. Every commit the client saw at or
// before that position is there, and commits were lost (the case is real), all of them
// beyond it.
TEST_F(ApiReplicationTest, AnAsynchronousFailoverLosesNothingBelowTheReportedPosition) {
  auto created =
      daemon_.Post("/instances", json{{"name", "cash"}, {"type", "postgresql"}, {"replicas", 1}});
  ASSERT_EQ(created.status, 201) << created.raw;
  json inst = WaitFor(
      "cash", [](const json& i) { return AllStreaming(i, 2, false); }, "the standby to stream");
  const std::string uri = Instance("cash", true)["connection"]["uri"];
  auto conn = engines::PgConnection::Connect(uri);
  ASSERT_TRUE(conn.ok()) << conn.status().ToString();
  ASSERT_TRUE(conn->Query("create table t (id bigint primary key, pad text)").ok());
  pid_t standby = PostmasterOf("cash-2"), primary = PostmasterOf("cash");
  ASSERT_GT(standby, 0);
  ASSERT_GT(primary, 0);
  // PostgreSQL's processes each lead a session of their own: signalled one by one.
  auto signal_server = [](pid_t postmaster, int sig) {
    for (pid_t pid : ServerProcesses(postmaster)) ::kill(pid, sig);
  };
  signal_server(standby, SIGSTOP);  // the walreceiver and all
  // Woken whatever happens below (the daemon's stop does not reach a stopped child that
  // leads a session of its own). Within wal_sender_timeout (60 s) the primary still
  // reports the stopped standby's link; the writes and the status take ~12 s here.
  ScopeExit wake([&] { signal_server(standby, SIGCONT); });

  // Each commit's position: the primary's WAL end once it returned (at or past its record).
  std::vector<std::pair<int64_t, uint64_t>> acked;
  for (int64_t id = 1; id <= 1000; ++id) {
    ASSERT_TRUE(conn->Query(fmt::format("insert into t select {}, string_agg(md5(random()::text), "
                                        "'') from generate_series(1, 1000)",
                                        id))
                    .ok());
    auto lsn = conn->QueryValue("select pg_current_wal_lsn() - '0/0'");
    ASSERT_TRUE(lsn.ok()) << lsn.status().ToString();
    acked.emplace_back(id, std::stoull(*lsn));
  }
  // The standby's position as the status reports it, once it shows all the writes above.
  const uint64_t written = acked.back().second;
  inst = WaitFor(
      "cash",
      [&](const json& i) {
        return i["members"].size() == 2 && i["members"][1]["replication"].is_object() &&
               i["members"][1]["replication"]["lagBytes"].get<uint64_t>() > 0 &&
               i["members"][0]["lsn"].is_string() &&
               engines::ParseLsn(i["members"][0]["lsn"]).value_or(0) >= written;
      },
      "the status to show the standby behind");
  auto flushed = engines::ParseLsn(inst["members"][1]["replication"]["flushLsn"]);
  ASSERT_TRUE(flushed.ok()) << inst.dump();
  const uint64_t reported = *flushed;
  ASSERT_LT(reported, written);
  signal_server(primary, SIGKILL);
  BlockPort(inst["members"][0]);
  signal_server(standby, SIGCONT);
  WaitFor(
      "cash", [](const json& i) { return i["primary"] == "cash-2"; }, "the standby to take over");

  // The old primary's port still answers nothing (it is held): libpq moves on after 2 s.
  auto after = engines::PgConnection::Connect(uri + "&connect_timeout=2");
  ASSERT_TRUE(after.ok()) << after.status().ToString();
  auto rows = after->Query("select id from t");
  ASSERT_TRUE(rows.ok()) << rows.status().ToString();
  std::set<int64_t> present;
  for (const auto& r : rows.value()) present.insert(std::stoll(r[0]));
  size_t lost = 0, lost_below = 0;
  for (const auto& [id, lsn] : acked) {
    if (present.count(id) != 0) continue;
    ++lost;
    lost_below += lsn <= reported;
  }
  EXPECT_EQ(lost_below, 0u) << "commits at or before the reported flush position " << reported
                            << " were lost";
  EXPECT_GT(lost, 0u) << "the standby had every commit: the case tests nothing";
  UnblockPorts();
}

}  // namespace
}  // namespace dbaas::testing

namespace dbaas::testing {
namespace {

// dbaasd killed between the catalog's decision and the promotion: the next dbaasd finishes
// the handover, and there is one primary, which the other member follows.
TEST_F(ApiReplicationTest, AFailoverCutOffByAKillOfDbaasdEndsWithOnePrimaryAfterRestart) {
  ASSERT_TRUE(daemon_.Stop().ok());
  ASSERT_TRUE(
      daemon_.Start({}, {"--failover-delay", "2", "--test-hold", "primary-decided=60000"}).ok());
  auto created =
      daemon_.Post("/instances", json{{"name", "pay"}, {"type", "postgresql"}, {"replicas", 1}});
  ASSERT_EQ(created.status, 201) << created.raw;
  json inst = WaitFor(
      "pay", [](const json& i) { return AllStreaming(i, 2, false); }, "the standby to stream");
  const std::string password = Instance("pay", true)["connection"]["password"];
  const std::string uri = Instance("pay", true)["connection"]["uri"];
  {
    auto conn = engines::PgConnection::Connect(uri);
    ASSERT_TRUE(conn.ok()) << conn.status().ToString();
    ASSERT_TRUE(conn->Query("create table t as select generate_series(1, 500) id").ok());
  }
  WaitFor(
      "pay",
      [](const json& i) {
        return AllStreaming(i, 2, false) && i["members"][1]["replication"]["lagBytes"] == 0;
      },
      "the standby to catch up");
  pid_t victim = PostmasterOf("pay");
  ASSERT_GT(victim, 0);
  ASSERT_EQ(::kill(victim, SIGKILL), 0);
  BlockPort(inst["members"][0]);
  ASSERT_TRUE(daemon_.WaitLogSays("holding at primary-decided"));
  daemon_.Kill();
  UnblockPorts();
  ASSERT_TRUE(daemon_.Start({}, {"--failover-delay", "2"}).ok());
  inst = WaitFor(
      "pay", [](const json& i) { return AllStreaming(i, 2, false); },
      "one primary and its standby after the restart");
  EXPECT_EQ(inst["primary"], "pay-2");
  EXPECT_EQ(inst["members"][0]["timeline"], 2);
  EXPECT_EQ(Primaries(inst, password), 1);
  auto conn = engines::PgConnection::Connect(uri);
  ASSERT_TRUE(conn.ok()) << conn.status().ToString();
  EXPECT_EQ(conn->QueryValue("select count(*) from t").value_or(""), "500");
  EXPECT_TRUE(conn->Query("insert into t values (501)").ok());
}

// The negative control: with the fence switched off, a hung primary that wakes after the
// failover is a second primary, and the check the torture relies on sees it.
TEST_F(ApiReplicationTest, APromotionThatIgnoresTheFenceIsCaughtAsTwoPrimaries) {
  ASSERT_TRUE(daemon_.Stop().ok());
  ASSERT_TRUE(daemon_.Start({}, {"--failover-delay", "2", "--test-unfenced-failover"}).ok());
  auto created =
      daemon_.Post("/instances", json{{"name", "split"}, {"type", "postgresql"}, {"replicas", 1}});
  ASSERT_EQ(created.status, 201) << created.raw;
  WaitFor(
      "split", [](const json& i) { return AllStreaming(i, 2, false); }, "the standby to stream");
  const std::string password = Instance("split", true)["connection"]["password"];
  pid_t victim = PostmasterOf("split");
  ASSERT_GT(victim, 0);
  ASSERT_EQ(::kill(victim, SIGSTOP), 0);
  json after = WaitFor(
      "split",
      [](const json& i) {
        return i["primary"] == "split-2" && i["members"][0]["name"] == "split-2" &&
               i["members"][0]["timeline"] == 2;
      },
      "a failover, promoted");
  ASSERT_EQ(::kill(victim, SIGCONT), 0);
  EXPECT_EQ(Primaries(after, password), 2) << "the two-primaries check missed a split brain";
  ASSERT_EQ(daemon_.Delete("/instances/split").status, 200);
}

}  // namespace
}  // namespace dbaas::testing

namespace dbaas::testing {
namespace {

// A backup taken on a standby under pgbench load restores to a consistent database (the
// CloudNativePG report of standby snapshots that restored corrupt is what this guards).
TEST_F(ApiReplicationTest, BackupsFromAStandbyUnderLoadRestoreConsistent) {
  auto created = daemon_.Post(
      "/instances",
      json{{"name", "src"}, {"type", "postgresql"}, {"replicas", 1}, {"superuserAccess", true}});
  ASSERT_EQ(created.status, 201) << created.raw;
  auto init = PgClient(daemon_, "src", "pgbench", {"-i", "-s", "2", "-q"});
  ASSERT_TRUE(init.ok());
  ASSERT_TRUE(RunChecked(*init, std::chrono::minutes(2)).ok());
  WaitFor(
      "src", [](const json& i) { return AllStreaming(i, 2, false); }, "the standby to stream");
  auto bench = PgClient(daemon_, "src", "pgbench", {"-n", "-c", "2", "-T", "60"});
  ASSERT_TRUE(bench.ok());
  auto load = Process::Start(*bench);
  ASSERT_TRUE(load.ok());
  std::this_thread::sleep_for(seconds(2));
  auto backup = daemon_.Post("/instances/src/backup",
                             json{{"backupName", "from-standby"}, {"from", "standby"}});
  ASSERT_EQ(backup.status, 201) << backup.raw;
  EXPECT_EQ(backup.body["backup"]["member"], "src-2");
  EXPECT_EQ(backup.body["backup"]["status"], "completed");
  std::this_thread::sleep_for(seconds(1));
  (void)load->Signal(SIGKILL);
  (void)load->Wait();
  auto restored = daemon_.Post("/instances/src/restore", json{{"backupName", "from-standby"},
                                                              {"newInstanceName", "src-copy"}});
  ASSERT_EQ(restored.status, 201) << restored.raw;
  ExpectConsistent("src-copy");
  EXPECT_GT(
      std::stol(Psql(daemon_, "src-copy", "select count(*) from pgbench_history").value_or("0")), 0)
      << "the load wrote nothing before the backup";

  // Bad requests change nothing.
  EXPECT_EQ(daemon_.Post("/instances/src/backup", json{{"from", "elsewhere"}}).status, 400);
  EXPECT_EQ(daemon_.Post("/instances/src-copy/backup", json{{"from", "standby"}}).status, 409);
  ASSERT_EQ(daemon_.Delete("/instances/src-copy").status, 200);
  ASSERT_EQ(daemon_.Delete("/instances/src").status, 200);
}

}  // namespace
}  // namespace dbaas::testing
