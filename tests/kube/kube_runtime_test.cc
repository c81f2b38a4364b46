// dbaasd --runtime kubernetes end to end, through the REST API: a real dbaasd against the
// FAKE API server (tests/kube/fake_kube_apiserver.h), whose pods the NODE SIMULATOR runs
// (tests/kube/node_simulator.h): the real in-pod agent and a real PostgreSQL, each pod in a
// network namespace of its own. What a client, the daemon and the cluster each see.
#include <signal.h>
#include <unistd.h>

#include <chrono>
#include <cstdlib>
#include <sstream>
#include <thread>

#include <fmt/format.h>
#include <gtest/gtest.h>

#include <nlohmann/json.hpp>

#include "api/daemon.h"
#include "base/base64.h"
#include "base/files.h"
#include "engines/maria_test_tools.h"
#include "engines/postgres/pg_connection.h"
#include "engines/postgres/pg_instance.h"
#include "kube/api_client.h"
#include "kube/cluster_access.h"
#include "kube/fake_kube_apiserver.h"
#include "kube/node_simulator.h"
#include "kube/resources.h"
#include "kube_runtime/agent_authority.h"
#include "kube_runtime/agent_client.h"
#include "kube_runtime/kube_engines.h"
#include "storage/wal_archive.h"
#include "test_util.h"

namespace dbaas::testing {
namespace {

using nlohmann::json;
using std::chrono::milliseconds;
using std::chrono::seconds;

class KubeRuntimeTest : public ::testing::Test {
 protected:
  // Against the fake by default; with DBAAS_TEST_KUBECONFIG (an administrator's), against
  // that real API server and its controller-manager (by hand: docs/KUBERNETES.md), the
  // simulator then playing the kubelet only.
  void SetUp() override {
    ASSERT_EQ(::chmod(root_.path().c_str(), 0711), 0);
    NodeSimulatorOptions node;
    if (const char* real = std::getenv("DBAAS_TEST_KUBECONFIG"); real && *real) {
      kubeconfig_ = real;
      auto access = kube::LoadKubeconfig(kubeconfig_);
      ASSERT_TRUE(access.ok()) << access.status().ToString();
      node.access = *access;
      node.play_statefulset_controller = false;
      // The daemon as its own account (deploy/rbac.yaml), when given.
      if (const char* daemon = std::getenv("DBAAS_TEST_DAEMON_KUBECONFIG"))
        daemon_kubeconfig_ = daemon;
    } else {
      ASSERT_TRUE(MakeDirs(root_ / "apiserver", 0700).ok());
      auto api = FakeKubeApiServer::Start(root_ / "apiserver");
      ASSERT_TRUE(api.ok()) << api.status().ToString();
      fake_ = std::move(api).value();
      kubeconfig_ = root_ / "kubeconfig";
      ASSERT_TRUE(fake_->WriteKubeconfig(kubeconfig_).ok());
      node.access = fake_->Access();
    }
    auto client = kube::ApiClient::Create(node.access);
    ASSERT_TRUE(client.ok()) << client.status().ToString();
    api_ = std::move(client).value();
    node.dir = root_ / "node";
    node.dbaas_binary = DBAAS_CLI_BINARY;
    node.pods = 2;
    auto simulator = NodeSimulator::Start(node);
    if (!simulator.ok()) GTEST_SKIP() << simulator.status().ToString();
    node_ = std::move(simulator).value();
    StartDaemon();
  }

  void TearDown() override {
    if (daemon_.pid() > 0) {
      auto code = daemon_.Stop();
      EXPECT_TRUE(code.ok() && *code == 0) << "dbaasd did not exit cleanly on SIGTERM";
    }
    node_.reset();
  }

  void StartDaemon(const std::vector<std::string>& more = {}) {
    std::vector<std::string> args = {"--runtime",
                                     "kubernetes",
                                     "--kubeconfig",
                                     daemon_kubeconfig_.empty() ? kubeconfig_ : daemon_kubeconfig_,
                                     "--kube-image",
                                     "registry.example/dbaas:test",
                                     "--volume-check-interval",
                                     "1"};
    args.insert(args.end(), more.begin(), more.end());
    Status st = daemon_.Start({}, args);
    ASSERT_TRUE(st.ok()) << st.ToString();
  }

  json Instance(const std::string& name, bool secrets = false) {
    auto got = daemon_.Get("/instances/" + name + (secrets ? "?showSecrets=true" : ""));
    EXPECT_EQ(got.status, 200) << got.raw;
    return got.body.value("instance", json::object());
  }

  // The object at a REST path as the API server has it; null when there is none.
  json Stored(const std::string& path) {
    auto got = api_->GetPath(path);
    if (!got.ok()) {
      EXPECT_EQ(got.status().code(), StatusCode::kNotFound) << got.status().ToString();
      return nullptr;
    }
    return *got;
  }

  // The pod's IP as the cluster records it.
  std::string PodIp(const std::string& ns, const std::string& pod) {
    json stored = Stored(fmt::format("/api/v1/namespaces/{}/pods/{}", ns, pod));
    return stored.is_object() ? stored["status"].value("podIP", "") : "";
  }

  static double SecondsSince(std::chrono::steady_clock::time_point t) {
    return std::chrono::duration<double>(std::chrono::steady_clock::now() - t).count();
  }

  bool Eventually(const std::function<bool()>& done, seconds timeout = seconds(60)) {
    const auto deadline = std::chrono::steady_clock::now() + timeout;
    while (std::chrono::steady_clock::now() < deadline) {
      if (done()) return true;
      std::this_thread::sleep_for(milliseconds(200));
    }
    return done();
  }

  // The instance's agent, as the daemon calls it (its token from the Secret, its
  // certificate under the daemon's CA).
  json AgentState(const std::string& name, const std::string& engine = "postgresql") {
    const std::string ns = "dbaas-" + name;
    json secret = Stored(fmt::format("/api/v1/namespaces/{}/secrets/{}-credentials", ns, name));
    if (!secret.is_object()) return nullptr;
    kube_runtime::AgentEndpoint agent;
    agent.dns_name = kube_runtime::AgentDnsName({}, name, engine);
    agent.address = PodIp(ns, fmt::format("{}-{}-local-0", name, engine));
    agent.token = Base64Decode(secret["data"].value("agent-token", "")).value_or("");
    auto ours = kube_runtime::AgentAuthority::LoadOrCreate(daemon_.data_root());
    if (!ours.ok()) return nullptr;
    kube_runtime::AgentClient client(ours->ca_pem());
    auto answer = client.Call(agent, "GET", "/v1/instance", seconds(10));
    EXPECT_TRUE(answer.ok()) << answer.status().ToString();
    return answer.value_or(nullptr);
  }

  // A PostgreSQL client tool at the instance's pod, as `login` (the agent's login or
  // superuser object) in its database.
  ProcessOptions PgTool(const std::string& tool, const json& login, std::vector<std::string> args) {
    ProcessOptions o;
    o.argv = {JoinPath(bin_dir_, tool),
              "-h",
              login.value("host", ""),
              "-p",
              std::to_string(login.value("port", 0)),
              "-U",
              login.value("user", "")};
    if (tool != "pg_amcheck") o.argv.insert(o.argv.end(), {"-d", login.value("database", "")});
    o.argv.insert(o.argv.end(), args.begin(), args.end());
    o.env = {"PGPASSWORD=" + login.value("password", ""), "PGCONNECT_TIMEOUT=10"};
    return o;
  }

  // Instance `name` made through the API with pgbench's tables (scale 2): its agent's state,
  // null (and a failure) if not.
  json MakePgbenchInstance(const std::string& name) {
    auto made = daemon_.Post("/instances", json{{"name", name}, {"type", "postgresql"}});
    EXPECT_EQ(made.status, 201) << made.raw << "\n" << node_->Log();
    if (made.status != 201) return json();
    json state = AgentState(name);
    EXPECT_TRUE(state.is_object());
    if (!state.is_object()) return json();
    auto init = RunProcess(PgTool("pgbench", state["login"], {"-i", "-s", "2", "-q"}),
                           std::chrono::minutes(3));
    EXPECT_TRUE(init.ok() && init->exit_code == 0) << (init.ok() ? init->output : "");
    return init.ok() && init->exit_code == 0 ? state : json();
  }

  // dbaasd started again to hold at the kill point backup-mode; instance `name` made and its
  // backup "cut-off" (with `body`'s fields) begun and held there with backup mode on.
  bool HoldABackupInBackupMode(const std::string& name, json body) {
    auto stopped = daemon_.Stop();
    EXPECT_TRUE(stopped.ok() && *stopped == 0);
    StartDaemon({"--test-hold", "backup-mode=60000"});
    auto made = daemon_.Post("/instances", json{{"name", name}, {"type", "postgresql"}});
    EXPECT_EQ(made.status, 201) << made.raw << "\n" << node_->Log();
    body["backupName"] = "cut-off";
    auto started = daemon_.Post("/instances/" + name + "/backup?async=true", body);
    EXPECT_EQ(started.status, 202) << started.raw;
    return made.status == 201 && started.status == 202 &&
           daemon_.WaitLogSays("holding at backup-mode");
  }

  // How many slots of backup mode (dbaas_backup_*) the server holds.
  static std::string BackupSlots(engines::PgConnection& su) {
    return su
        .QueryValue(
            "select count(*) from pg_replication_slots where slot_name like 'dbaas_backup_%'")
        .value_or("?");
  }

  // 1,000 rows committed in table before_backup.
  bool AddRowsBeforeBackup(const json& state) {
    auto conn = engines::PgConnection::Connect(state["login"].value("uri", ""));
    EXPECT_TRUE(conn.ok()) << conn.status().ToString();
    return conn.ok() && conn->Query("create table before_backup (id int)").ok() &&
           conn->Query("insert into before_backup select generate_series(1, 1000)").ok();
  }

  // pgbench's writers (4 clients) for `for_seconds`, running for 3 s already when it returns.
  Result<Process> StartLoad(const json& state, int for_seconds) {
    auto load =
        Process::Start(PgTool("pgbench", state["login"],
                              {"-n", "-c", "4", "-j", "2", "-T", std::to_string(for_seconds)}));
    if (load.ok()) std::this_thread::sleep_for(std::chrono::seconds(3));
    return load;
  }

  // pgbench's invariant (the balances of accounts, tellers and branches and the history's
  // deltas sum alike) and pg_amcheck --heapallindexed on the instance; the history's rows.
  long ExpectPgbenchConsistent(const std::string& name) {
    const json state = AgentState(name);
    auto amcheck = RunProcess(PgTool("pg_amcheck", state["superuser"],
                                     {"--install-missing", "--heapallindexed", "-d", "app"}),
                              std::chrono::minutes(5));
    EXPECT_TRUE(amcheck.ok() && amcheck->exit_code == 0)
        << name << ": " << (amcheck.ok() ? amcheck->output : amcheck.status().ToString());
    auto conn = engines::PgConnection::Connect(state["login"].value("uri", ""));
    EXPECT_TRUE(conn.ok()) << conn.status().ToString();
    if (!conn.ok()) return -1;
    auto sums = conn->QueryValue(
        "select (select sum(abalance) from pgbench_accounts) || ',' || (select sum(tbalance) "
        "from pgbench_tellers) || ',' || (select sum(bbalance) from pgbench_branches) || ',' "
        "|| (select coalesce(sum(delta), 0) from pgbench_history) || ',' || (select count(*) "
        "from pgbench_history)");
    EXPECT_TRUE(sums.ok()) << sums.status().ToString();
    std::vector<std::string> v;
    std::stringstream in(sums.value_or(""));
    for (std::string f; std::getline(in, f, ',');) v.push_back(f);
    EXPECT_EQ(v.size(), 5u) << sums.value_or("");
    if (v.size() != 5) return -1;
    EXPECT_EQ(v[0], v[1]) << name;
    EXPECT_EQ(v[1], v[2]) << name;
    EXPECT_EQ(v[2], v[3]) << name;
    return std::stol(v[4]);
  }

  TempDir root_;
  std::unique_ptr<FakeKubeApiServer> fake_;  // unless a real server is given
  std::string kubeconfig_;
  std::string daemon_kubeconfig_;
  std::unique_ptr<kube::ApiClient> api_;
  std::unique_ptr<NodeSimulator> node_;
  Daemon daemon_{root_ / "data"};
  std::string bin_dir_ = engines::FindPgBinDir().value_or("/usr/lib/postgresql/15/bin");
};

TEST_F(KubeRuntimeTest, AnInstanceIsMadeInItsNamespaceServedFromItsPodOutlivesTheDaemonAndGoes) {
  const auto asked = std::chrono::steady_clock::now();
  auto created = daemon_.Post("/instances", json{{"name", "orders"},
                                                 {"type", "postgresql"},
                                                 {"size", "2Gi"},
                                                 {"config", {{"work_mem", "12MB"}}}});
  ASSERT_EQ(created.status, 201) << created.raw << "\n" << node_->Log();
  // For bench/kube_runtime_bench.sh.
  fmt::print("kube runtime: created and running in {:.2f} s\n",
             std::chrono::duration<double>(std::chrono::steady_clock::now() - asked).count());
  json inst = Instance("orders", true);
  EXPECT_EQ(inst["status"], "running") << inst.dump();
  // Clients reach it through its Service, by its DNS name.
  EXPECT_EQ(inst["connection"]["host"], "orders.dbaas-orders.svc");
  EXPECT_EQ(inst["connection"]["port"], 5432);
  EXPECT_EQ(inst["connection"]["user"], "app");

  // Its objects, as the original design lays them out, in its namespace.
  const std::string ns = "dbaas-orders";
  json set = Stored("/apis/apps/v1/namespaces/dbaas-orders/statefulsets/orders-postgresql-local");
  ASSERT_TRUE(set.is_object());
  EXPECT_EQ(set["spec"]["volumeClaimTemplates"][0]["spec"]["resources"]["requests"]["storage"],
            "2Gi");
  EXPECT_EQ(set["spec"]["template"]["spec"]["containers"][0]["image"],
            "registry.example/dbaas:test");
  json secret = Stored("/api/v1/namespaces/dbaas-orders/secrets/orders-credentials");
  ASSERT_TRUE(secret.is_object());
  EXPECT_GE(Base64Decode(secret["data"].value("agent-token", "")).value_or("").size(), 64u);
  EXPECT_NE(
      Base64Decode(secret["data"].value("agent.crt", "")).value_or("").find("BEGIN CERTIFICATE"),
      std::string::npos);
  // The claim the StatefulSet made holds the instance's files.
  EXPECT_TRUE(PathExists(node_->ClaimDir(ns, "data-orders-postgresql-local-0") +
                         "/data/orders/data/PG_VERSION"));

  // A client on the cluster's network, at the pod's address, with the login the API gave.
  const std::string ip = PodIp(ns, "orders-postgresql-local-0");
  ASSERT_FALSE(ip.empty()) << node_->Log();
  const std::string password = inst["connection"]["password"];
  // The agent's HTTPS: believed under the daemon's CA only, answering the instance's token
  // only.
  {
    kube_runtime::AgentEndpoint agent;
    agent.dns_name = kube_runtime::AgentDnsName({}, "orders", "postgresql");
    agent.address = ip;
    agent.token = Base64Decode(secret["data"].value("agent-token", "")).value_or("");
    auto ours = kube_runtime::AgentAuthority::LoadOrCreate(daemon_.data_root());
    ASSERT_TRUE(ours.ok()) << ours.status().ToString();
    kube_runtime::AgentClient client(ours->ca_pem());
    auto answer = client.Call(agent, "GET", "/v1/instance", seconds(10));
    ASSERT_TRUE(answer.ok()) << answer.status().ToString();
    EXPECT_EQ((*answer)["login"]["password"], password);
    ASSERT_TRUE(MakeDirs(root_ / "other-ca", 0700).ok());
    auto other = kube_runtime::AgentAuthority::LoadOrCreate(root_ / "other-ca");
    ASSERT_TRUE(other.ok());
    kube_runtime::AgentClient stranger(other->ca_pem());
    auto unverified = stranger.Call(agent, "GET", "/v1/instance", seconds(10));
    ASSERT_FALSE(unverified.ok());
    EXPECT_NE(unverified.status().hint().find("not the one dbaasd issued"), std::string::npos)
        << unverified.status().ToString();
    agent.token = std::string(64, '0');
    auto refused = client.Call(agent, "GET", "/v1/instance", seconds(10));
    ASSERT_FALSE(refused.ok());
    EXPECT_NE(refused.status().message().find("wrong bearer token"), std::string::npos)
        << refused.status().ToString();
    EXPECT_EQ(refused.status().message().find(password), std::string::npos);
  }
  const std::string conninfo = fmt::format(
      "host={} port=5432 user=app password={} dbname=app connect_timeout=5", ip, password);
  {
    auto conn = engines::PgConnection::Connect(conninfo);
    ASSERT_TRUE(conn.ok()) << conn.status().ToString();
    EXPECT_EQ(conn->QueryValue("show work_mem").value_or(""), "12MB");
    ASSERT_TRUE(conn->Query("create table t (id int primary key)").ok());
    ASSERT_TRUE(conn->Query("insert into t select generate_series(1, 42)").ok());
  }

  // Its volume's usage, as the agent measures it.
  EXPECT_TRUE(Eventually([&] { return Instance("orders")["volume"]["usedBytes"].is_number(); }))
      << Instance("orders").dump();
  EXPECT_GT(Instance("orders")["volume"].value("usedBytes", 0), 20 << 20) << "initdb's files";

  // The daemon restarts (a rolling update of its Deployment): the pod runs on, untouched,
  // and the next daemon finds the instance through its Secret.
  const int pid = node_->PodPid(ns, "orders-postgresql-local-0");
  ASSERT_GT(pid, 0);
  auto stopped = daemon_.Stop();
  ASSERT_TRUE(stopped.ok() && *stopped == 0);
  {
    auto conn = engines::PgConnection::Connect(conninfo);
    ASSERT_TRUE(conn.ok()) << "the instance stopped with the daemon: " << conn.status().ToString();
    EXPECT_EQ(conn->QueryValue("select count(*) from t").value_or(""), "42");
  }
  EXPECT_EQ(node_->PodPid(ns, "orders-postgresql-local-0"), pid);
  StartDaemon();
  EXPECT_TRUE(Eventually([&] { return Instance("orders")["status"] == "running"; }))
      << Instance("orders").dump();
  EXPECT_EQ(Instance("orders", true)["connection"]["password"], password);

  // The kubelet's count of the container's restarts (each a restart of the server) reaches
  // the instance's through the pod watch, beside the agent's own.
  EXPECT_EQ(Instance("orders").value("restarts", -1), 0) << Instance("orders").dump();
  {
    auto pod = api_->Get({&kube::KnownKind("v1", "Pod"), ns, "orders-postgresql-local-0"});
    ASSERT_TRUE(pod.ok()) << pod.status().ToString();
    ASSERT_TRUE((*pod)["status"]["containerStatuses"].is_array()) << pod->dump();
    (*pod)["status"]["containerStatuses"][0]["restartCount"] = 3;
    ASSERT_TRUE(api_->ReplaceStatus(*pod).ok());
  }
  EXPECT_TRUE(Eventually([&] { return Instance("orders").value("restarts", 0) == 3; }))
      << Instance("orders").dump();

  // A schedule whose backups go into the daemon's repository, through the agent (the fake
  // serves the VolumeSnapshot API: a backup's default would be a VolumeSnapshot).
  auto schedule = daemon_.Post("/instances/orders/schedules",
                               json{{"cron", "*/2 * * * * *"}, {"repository", "local"}});
  ASSERT_EQ(schedule.status, 201) << schedule.raw;
  EXPECT_EQ(schedule.body["schedule"]["repository"], "local");
  json scheduled;
  EXPECT_TRUE(Eventually([&] {
    const json backups = daemon_.Get("/instances/orders/backups").body["backups"];
    for (const json& b : backups) {
      if (b.value("state", "") == "ready") scheduled = b;
    }
    return scheduled.is_object();
  })) << daemon_.Get("/instances/orders/schedules").raw
      << "\n"
      << node_->Log();
  EXPECT_EQ(scheduled["snapshotKind"], "repository") << scheduled.dump();
  ASSERT_EQ(daemon_
                .Delete("/instances/orders/schedules/" +
                        schedule.body["schedule"]["id"].get<std::string>())
                .status,
            200);
  EXPECT_TRUE(Eventually([&] {  // a run under way ends before the instance is deleted
    const json jobs = daemon_.Get("/jobs").body["jobs"];
    for (const json& job : jobs) {
      if (job["instance"] == "orders" &&
          (job["status"] == "queued" || job["status"] == "running")) {
        return false;
      }
    }
    return true;
  }));

  // Refused with the reason, nothing made: a name too long for a StatefulSet's pods, an
  // engine it does not run.
  auto long_name =
      daemon_.Post("/instances", json{{"name", std::string(36, 'a')}, {"type", "postgresql"}});
  EXPECT_EQ(long_name.status, 400) << long_name.raw;
  EXPECT_NE(long_name.raw.find("at most 35"), std::string::npos) << long_name.raw;
  // Namespaces that are not an instance's are never touched: dbaasd's own, and one someone
  // else made under an instance's name.
  auto own = daemon_.Post("/instances", json{{"name", "system"}, {"type", "postgresql"}});
  EXPECT_EQ(own.status, 400) << own.raw;
  ASSERT_TRUE(api_->Create({{"apiVersion", "v1"},
                            {"kind", "Namespace"},
                            {"metadata", {{"name", "dbaas-theirs"}}}})
                  .ok());
  auto theirs = daemon_.Post("/instances", json{{"name", "theirs"}, {"type", "postgresql"}});
  EXPECT_EQ(theirs.status, 409) << theirs.raw;
  EXPECT_NE(theirs.raw.find("not instance 'theirs'"), std::string::npos) << theirs.raw;
  EXPECT_TRUE(Stored("/api/v1/namespaces/dbaas-theirs").is_object()) << "a foreign namespace went";
  (void)api_->Delete({&kube::KnownKind("v1", "Namespace"), "", "dbaas-theirs"});
  auto mysql = daemon_.Post("/instances", json{{"name", "shop"}, {"type", "mysql"}});
  EXPECT_EQ(mysql.status, 400) << mysql.raw;
  EXPECT_NE(mysql.raw.find("use mariadb"), std::string::npos) << mysql.raw;
  EXPECT_FALSE(Stored("/api/v1/namespaces/dbaas-shop").is_object());

  // Delete: the namespace goes with everything in it; the pod is stopped, its claim gone.
  auto gone = daemon_.Delete("/instances/orders");
  ASSERT_EQ(gone.status, 200) << gone.raw;
  EXPECT_FALSE(Stored("/api/v1/namespaces/dbaas-orders").is_object());
  EXPECT_TRUE(Eventually([&] { return node_->PodPid(ns, "orders-postgresql-local-0") < 0; }))
      << node_->Log();
  EXPECT_TRUE(Eventually([&] {
    return !PathExists(node_->ClaimDir(ns, "data-orders-postgresql-local-0"));
  })) << node_->Log();
  EXPECT_FALSE(engines::PgConnection::Connect(conninfo).ok());
  EXPECT_EQ(daemon_.Get("/instances/orders").status, 404);
}

// The volumeSnapshot method under pgbench load: backup mode at the agent, the claim's
// snapshot cut by the simulator's CSI snapshotter with the pod's processes stopped (a
// storage snapshot is atomic; a copy beside the writes would let the checks pass by luck),
// the WAL from start to stop into the repository. Restored into another namespace (the
// snapshot imported there, its claim made from it, the agent's restore): consistent
// (pg_amcheck, pgbench's invariant), holding what was committed before the backup began
// and only transactions that committed. The backup outlives its instance (its content
// retained) and restores again after it, to a restore point made after the backup (the
// storage snapshot and the archive the pod's spool was drained into); deleted, its storage
// snapshot goes; a restored instance deleted, its imported snapshot content goes.
TEST_F(KubeRuntimeTest, AVolumeSnapshotBackupUnderWriteLoadRestoresConsistentInAnotherNamespace) {
  const json source = MakePgbenchInstance("orders");
  ASSERT_TRUE(source.is_object());
  ASSERT_TRUE(AddRowsBeforeBackup(source));
  auto load = StartLoad(source, 25);  // writers throughout the backup
  ASSERT_TRUE(load.ok()) << load.status().ToString();
  const auto asked = std::chrono::steady_clock::now();
  auto backup = daemon_.Post("/instances/orders/backup", json{{"backupName", "under-load"}});
  ASSERT_EQ(backup.status, 201) << backup.raw << "\n" << node_->Log();
  fmt::print("kube runtime: volume snapshot backup in {:.2f} s\n",
             std::chrono::duration<double>(std::chrono::steady_clock::now() - asked).count());
  auto finished = load->Wait(seconds(60));
  ASSERT_TRUE(finished.ok() && *finished == 0) << "pgbench failed during the backup";
  const json b = backup.body["backup"];
  EXPECT_EQ(b["state"], "ready");
  EXPECT_EQ(b["snapshotKind"], "volume");
  EXPECT_EQ(b["volumeSnapshot"], "dbaas-orders/under-load");
  EXPECT_FALSE(b.value("startLsn", "").empty());
  EXPECT_FALSE(b.value("stopLsn", "").empty());
  json snapshot =
      Stored("/apis/snapshot.storage.k8s.io/v1/namespaces/dbaas-orders/volumesnapshots/under-load");
  ASSERT_TRUE(snapshot.is_object());
  EXPECT_EQ(snapshot["status"]["readyToUse"], true);
  EXPECT_EQ(snapshot["metadata"]["labels"]["dbaas.io/backup-source"], "orders");
  EXPECT_NE(node_->Log().find("processes paused"), std::string::npos) << node_->Log();

  const auto restore_asked = std::chrono::steady_clock::now();
  auto restored = daemon_.Post("/instances/orders/restore",
                               json{{"backupName", "under-load"}, {"newInstanceName", "copy"}});
  ASSERT_EQ(restored.status, 201) << restored.raw << "\n" << node_->Log();
  fmt::print(
      "kube runtime: restored from the volume snapshot in {:.2f} s\n",
      std::chrono::duration<double>(std::chrono::steady_clock::now() - restore_asked).count());
  EXPECT_EQ(restored.body["instance"]["status"], "running");
  json claim =
      Stored("/api/v1/namespaces/dbaas-copy/persistentvolumeclaims/data-copy-postgresql-local-0");
  ASSERT_TRUE(claim.is_object());
  EXPECT_EQ(claim["spec"]["dataSource"]["kind"], "VolumeSnapshot");
  EXPECT_EQ(claim["metadata"]["labels"]["dbaas.io/restored-from"], "orders");
  const long history = ExpectPgbenchConsistent("copy");
  EXPECT_GT(history, 0) << "no transaction of the load is in the backup";
  const json copy = AgentState("copy");
  {
    auto conn = engines::PgConnection::Connect(copy["login"].value("uri", ""));
    ASSERT_TRUE(conn.ok()) << conn.status().ToString();
    EXPECT_EQ(conn->QueryValue("select count(*) from before_backup").value_or(""), "1000");
    ASSERT_TRUE(conn->Query("insert into before_backup values (0)").ok()) << "not writable";
  }
  EXPECT_NE(copy["login"]["password"], source["login"]["password"])
      << "the copy's tenant has a login of its own";
  EXPECT_GE(ExpectPgbenchConsistent("orders"), history) << "the source runs on";

  // The backup outlives its instance: the namespace takes the VolumeSnapshot, the retained
  // content keeps the storage snapshot, and a restore from it works.
  const std::string content = b.value("volumeSnapshotContent", "");
  ASSERT_FALSE(content.empty()) << b.dump();
  const std::string content_path =
      "/apis/snapshot.storage.k8s.io/v1/volumesnapshotcontents/" + content;
  EXPECT_EQ(Stored(content_path)["spec"]["deletionPolicy"], "Retain");
  const std::string handle = Stored(content_path)["status"].value("snapshotHandle", "");
  ASSERT_FALSE(handle.empty());
  // What was committed after the backup, up to a restore point, outlives the instance too:
  // the restore below is to that point, from the storage snapshot and the archive.
  {
    auto conn = engines::PgConnection::Connect(source["login"].value("uri", ""));
    ASSERT_TRUE(conn.ok()) << conn.status().ToString();
    ASSERT_TRUE(conn->Query("create table after_backup as select 7 as id").ok());
  }
  auto point = daemon_.Post("/instances/orders/restore-points", json{{"name", "last-words"}});
  ASSERT_EQ(point.status, 201) << point.raw;
  ASSERT_EQ(daemon_.Delete("/instances/orders").status, 200);
  EXPECT_FALSE(Stored("/apis/snapshot.storage.k8s.io/v1/namespaces/dbaas-orders/volumesnapshots/"
                      "under-load")
                   .is_object());
  EXPECT_TRUE(Stored(content_path).is_object());
  auto again = daemon_.Post("/instances/orders/restore", json{{"backupName", "under-load"},
                                                              {"targetName", "last-words"},
                                                              {"newInstanceName", "again"}});
  ASSERT_EQ(again.status, 201) << again.raw << "\n" << node_->Log();
  {
    auto conn = engines::PgConnection::Connect(AgentState("again")["login"].value("uri", ""));
    ASSERT_TRUE(conn.ok()) << conn.status().ToString();
    EXPECT_EQ(conn->QueryValue("select count(*) from before_backup").value_or(""), "1000");
    EXPECT_EQ(conn->QueryValue("select string_agg(id::text, ',') from after_backup").value_or(""),
              "7")
        << "the point in time after the backup was not reached";
  }
  ExpectPgbenchConsistent("again");

  // The backup deleted: its content goes, and its storage snapshot with it. A restored
  // instance deleted: its imported content.
  ASSERT_EQ(daemon_.Delete("/instances/orders/backups/under-load").status, 200);
  EXPECT_FALSE(Stored(content_path).is_object());
  EXPECT_TRUE(Eventually([&] {
    return node_->Log().find("its storage snapshot " + handle + " with it") != std::string::npos;
  })) << node_->Log();
  for (const char* restored_name : {"copy", "again"}) {
    ASSERT_EQ(daemon_.Delete(std::string("/instances/") + restored_name).status, 200);
    EXPECT_FALSE(Stored(fmt::format("/apis/snapshot.storage.k8s.io/v1/volumesnapshotcontents/"
                                    "dbaas-{}-restore-of-orders",
                                    restored_name))
                     .is_object());
  }
}

// MariaDB in pods (engines/mariadb/maria_volume_backup.h): made in its namespace and reached
// by its tenant at the pod's address; a volumeSnapshot backup under the transfer load, its
// commits blocked only while the snapshot is cut; the restore into another namespace
// recovers by itself (no label, no log: the volume holds its redo log), consistent and
// writable. A repository backup under the same load: mariadb-backup's copy made in the pod,
// read through the agent, gone from the volume after; the restores to a point start from it
// (sent to an empty claim through the new pod's agent). Its binlog is archived through the agent
// into its own archive in the daemon's repository (the binlogs the server finished, fetched,
// stored, then purged in the pod): a restore point made after the backup is a target that an
// instance in a new namespace reaches by replaying the staged binlogs from the backup's position
// (the transfers the load committed after the backup included, consistent), and "latest" holds what
// was committed after the point.
TEST_F(KubeRuntimeTest, AMariaDbBackupByEitherMethodUnderWriteLoadRestoresConsistentElsewhere) {
  const auto create_asked = std::chrono::steady_clock::now();
  auto made = daemon_.Post("/instances", json{{"name", "ledger"}, {"type", "mariadb"}});
  ASSERT_EQ(made.status, 201) << made.raw << "\n" << node_->Log();
  fmt::print("kube runtime: MariaDB created and running in {:.2f} s\n", SecondsSince(create_asked));
  EXPECT_EQ(made.body["instance"]["type"], "mariadb");
  const json state = AgentState("ledger", "mariadb");
  ASSERT_TRUE(state.is_object());
  EXPECT_EQ(state["login"]["host"], PodIp("dbaas-ledger", "ledger-mariadb-local-0"));
  EXPECT_EQ(state["login"]["port"], 3306);
  auto tenant = [](const json& login) {
    engines::MariaEndpoint e;
    e.host = login.value("host", "");
    e.port = static_cast<uint16_t>(login.value("port", 0));
    e.user = login.value("user", "");
    e.password = login.value("password", "");
    e.database = login.value("database", "");
    return e;
  };
  ASSERT_EQ(state["login"]["user"], "app");
  ASSERT_EQ(MariaTransferLoad::CreateSchema(tenant(state["login"]), "app"), "");
  engines::MariaEndpoint root = tenant(state["login"]);
  root.user = "root";
  root.password = state["superuser"].value("password", "");
  root.database.clear();
  EXPECT_FALSE(engines::MariaConnection::Connect(root).ok()) << "root from outside the pod";

  long before = 0;
  {
    MariaTransferLoad load(tenant(state["login"]), 4, "app");
    std::this_thread::sleep_for(seconds(2));
    before = load.committed();
    ASSERT_GT(before, 0) << "the load does not commit";
    const auto backup_asked = std::chrono::steady_clock::now();
    auto backup = daemon_.Post("/instances/ledger/backup", json{{"backupName", "under-load"}});
    ASSERT_EQ(backup.status, 201) << backup.raw << "\n" << node_->Log();
    const double backup_seconds = SecondsSince(backup_asked);
    const json b = backup.body["backup"];
    EXPECT_EQ(b["snapshotKind"], "volume");
    EXPECT_EQ(b["volumeSnapshot"], "dbaas-ledger/under-load");
    EXPECT_GT(b.value("secondsWritesBlocked", 0.0), 0.0) << b.dump();
    // The daemon's own facts: blocked no longer than the daemon waited for the backup.
    EXPECT_LE(b.value("secondsWritesBlocked", 1e9), backup_seconds) << b.dump();
    EXPECT_NE(b.value("serverVersion", ""), "") << b.dump();
    EXPECT_EQ(b["method"], "backup-stage") << b.dump();
    fmt::print(
        "kube runtime: MariaDB volume snapshot backup in {:.2f} s, commits blocked {:.3f} s\n",
        backup_seconds, b.value("secondsWritesBlocked", 0.0));
    // The repository method: mariadb-backup's copy made in the pod, read through its agent
    // into the daemon's repository; the newest backup, so the restores to a point below
    // start from it.
    const auto copy_asked = std::chrono::steady_clock::now();
    auto by_copy = daemon_.Post("/instances/ledger/backup",
                                json{{"backupName", "by-copy"}, {"repository", "local"}});
    ASSERT_EQ(by_copy.status, 201) << by_copy.raw << "\n" << node_->Log();
    const json c = by_copy.body["backup"];
    EXPECT_EQ(c["snapshotKind"], "repository") << c.dump();
    EXPECT_EQ(c["method"], "mariadb-backup") << c.dump();
    EXPECT_FALSE(c.contains("volumeSnapshot")) << c.dump();
    EXPECT_TRUE(c.value("binlogPosition", "").starts_with("binlog.")) << c.dump();
    EXPECT_FALSE(c.value("gtidPosition", "").empty()) << c.dump();
    fmt::print("kube runtime: MariaDB repository backup in {:.2f} s ({} bytes stored)\n",
               SecondsSince(copy_asked), c.value("storedBytes", 0));
    const std::string instance_dir =
        node_->ClaimDir("dbaas-ledger", "data-ledger-mariadb-local-0") + "/data/ledger";
    ASSERT_TRUE(PathExists(instance_dir + "/instance.json")) << instance_dir;
    EXPECT_FALSE(PathExists(instance_dir + "/backup-stage"))
        << "the repository backup's copy stayed on the volume";
    std::this_thread::sleep_for(seconds(1));
    EXPECT_GT(load.committed(), before) << "commits did not resume after the backup";
    load.Stop();
    EXPECT_EQ(load.errors(), 0);
  }
  EXPECT_NE(node_->Log().find("processes paused"), std::string::npos) << node_->Log();

  // The binlog: archived from the pod into the archive the Secret names, purged there.
  const json secret = Stored("/api/v1/namespaces/dbaas-ledger/secrets/ledger-credentials");
  ASSERT_TRUE(secret.is_object());
  const std::string archive = Base64Decode(secret["data"].value("wal-archive", "")).value_or("");
  ASSERT_TRUE(archive.starts_with("ledger.")) << secret.dump();
  {
    auto marks = engines::MariaConnection::Connect(tenant(state["login"]));
    ASSERT_TRUE(marks.ok()) << marks.status().ToString();
    ASSERT_TRUE(marks->Query("CREATE TABLE marks (id INT PRIMARY KEY)").ok());
    ASSERT_TRUE(marks->Query("INSERT INTO marks VALUES (1)").ok());
    auto point = daemon_.Post("/instances/ledger/restore-points", json{{"name", "before-two"}});
    ASSERT_EQ(point.status, 201) << point.raw << "\n" << node_->Log();
    ASSERT_TRUE(marks->Query("INSERT INTO marks VALUES (2)").ok());
  }
  auto window = daemon_.Get("/instances/ledger/recovery-window");
  ASSERT_EQ(window.status, 200) << window.raw;
  EXPECT_EQ(window.body["recoveryWindow"]["walArchive"], archive) << window.raw;
  const std::string binlog_dir =
      node_->ClaimDir("dbaas-ledger", "data-ledger-mariadb-local-0") + "/data/ledger/binlog";
  // Purged by the server once InnoDB no longer needs it (its binlog checkpoint): a later
  // drain's purge.
  EXPECT_TRUE(Eventually([&] { return !PathExists(binlog_dir + "/binlog.000001"); }))
      << "archived, yet kept in the pod";
  auto archived = storage::WalArchive::Open(daemon_.data_root() + "/repository", archive);
  ASSERT_TRUE(archived.ok()) << archived.status().ToString();
  EXPECT_TRUE(archived->RawSize("binlog.000001").ok()) << "the first binlog is not archived";

  // To the restore point: the backup, then the binlog replayed from its position.
  const auto pit_asked = std::chrono::steady_clock::now();
  auto pit = daemon_.Post("/instances/ledger/restore",
                          json{{"targetName", "before-two"}, {"newInstanceName", "ledgerpit"}});
  ASSERT_EQ(pit.status, 201) << pit.raw << "\n" << node_->Log();
  fmt::print("kube runtime: MariaDB restored to a restore point in {:.2f} s\n",
             SecondsSince(pit_asked));
  EXPECT_FALSE(Stored("/api/v1/namespaces/dbaas-ledgerpit/persistentvolumeclaims/"
                      "data-ledgerpit-mariadb-local-0")["spec"]
                   .contains("dataSource"))
      << "not restored from the repository backup (the newest), sent through the agent";
  {
    const json restored_state = AgentState("ledgerpit", "mariadb");
    ASSERT_TRUE(restored_state.is_object());
    EXPECT_EQ(MariaTransferLoad::CheckInvariants(tenant(restored_state["login"]), "app"), "");
    auto at = engines::MariaConnection::Connect(tenant(restored_state["login"]));
    ASSERT_TRUE(at.ok()) << at.status().ToString();
    EXPECT_EQ(at->QueryValue("SELECT GROUP_CONCAT(id ORDER BY id) FROM marks").value_or(""), "1");
    ASSERT_TRUE(at->Query("INSERT INTO marks VALUES (3)").ok()) << "not writable";
  }
  ASSERT_EQ(daemon_.Delete("/instances/ledgerpit").status, 200);  // the simulator runs 2 pods
  // Ledger restored to "latest" as `name`: the ids of its marks ("" when it failed).
  auto latest_marks = [&](const std::string& name) -> std::string {
    auto latest = daemon_.Post("/instances/ledger/restore",
                               json{{"target", "latest"}, {"newInstanceName", name}});
    EXPECT_EQ(latest.status, 201) << latest.raw << "\n" << node_->Log();
    const json restored_state = AgentState(name, "mariadb");
    if (latest.status != 201 || !restored_state.is_object()) return "";
    auto now = engines::MariaConnection::Connect(tenant(restored_state["login"]));
    EXPECT_TRUE(now.ok()) << now.status().ToString();
    if (!now.ok()) return "";
    return now->QueryValue("SELECT GROUP_CONCAT(id ORDER BY id) FROM marks").value_or("");
  };
  EXPECT_EQ(latest_marks("ledgernow"), "1,2");
  ASSERT_EQ(daemon_.Delete("/instances/ledgernow").status, 200);
  // A GTID no server wrote: refused before anything is made.
  auto unreached = daemon_.Post("/instances/ledger/restore", json{{"targetGtid", "0-1-999999999"},
                                                                  {"newInstanceName", "never"}});
  EXPECT_EQ(unreached.status, 400) << unreached.raw;
  EXPECT_FALSE(Stored("/api/v1/namespaces/dbaas-never").is_object());

  const auto restore_asked = std::chrono::steady_clock::now();
  auto restored =
      daemon_.Post("/instances/ledger/restore",
                   json{{"backupName", "under-load"}, {"newInstanceName", "ledgercopy"}});
  ASSERT_EQ(restored.status, 201) << restored.raw << "\n" << node_->Log();
  fmt::print("kube runtime: MariaDB restored from the volume snapshot in {:.2f} s\n",
             SecondsSince(restore_asked));
  json claim = Stored(
      "/api/v1/namespaces/dbaas-ledgercopy/persistentvolumeclaims/"
      "data-ledgercopy-mariadb-local-0");
  ASSERT_TRUE(claim.is_object());
  EXPECT_EQ(claim["spec"]["dataSource"]["kind"], "VolumeSnapshot");
  const json copy = AgentState("ledgercopy", "mariadb");
  ASSERT_TRUE(copy.is_object());
  EXPECT_EQ(MariaTransferLoad::CheckInvariants(tenant(copy["login"]), "app"), "");
  auto conn = engines::MariaConnection::Connect(tenant(copy["login"]));
  ASSERT_TRUE(conn.ok()) << conn.status().ToString();
  const long transfers =
      std::stol(conn->QueryValue("SELECT n FROM counter WHERE id = 1").value_or("-1"));
  EXPECT_GE(transfers, before) << "transfers committed before the backup are missing";
  ASSERT_TRUE(conn->Query("INSERT INTO counter VALUES (2, 0)").ok()) << "not writable";
  EXPECT_NE(copy["login"]["password"], state["login"]["password"])
      << "the copy's tenant has a login of its own";
  engines::MariaEndpoint old_password = tenant(copy["login"]);
  old_password.password = state["login"].value("password", "");
  EXPECT_FALSE(engines::MariaConnection::Connect(old_password).ok())
      << "the source's tenant password opens the copy";

  // The daemon restarted: each instance opened as its engine's. Restarted with a short wait
  // for new pods: with two pods running, the simulator has no room for a third, which the
  // scheduler's condition says, and the create fails saying so, leaving nothing.
  auto stopped = daemon_.Stop();
  ASSERT_TRUE(stopped.ok() && *stopped == 0);
  StartDaemon({"--kube-pod-start-timeout", "6"});
  auto no_room = daemon_.Post("/instances", json{{"name", "third"}, {"type", "mariadb"}});
  EXPECT_EQ(no_room.status, 500) << no_room.raw;
  EXPECT_NE(no_room.raw.find("is Pending (Unschedulable: 0/1 nodes are available: 1 Too many pods"),
            std::string::npos)
      << no_room.raw;
  EXPECT_FALSE(Stored("/api/v1/namespaces/dbaas-third").is_object());
  EXPECT_EQ(daemon_.Get("/instances/third").status, 404);
  EXPECT_TRUE(Eventually([&] { return Instance("ledgercopy").value("status", "") == "running"; }))
      << Instance("ledgercopy").dump();
  EXPECT_EQ(Instance("ledgercopy")["type"], "mariadb");
  for (const char* name : {"ledger", "ledgercopy"}) {
    if (std::string_view(name) == "ledger") {
      // A row in the binlog in progress: the deletion stops the server and drains its pod
      // whole first (the last binlog closed at shutdown), so "latest" holds it after.
      auto last = engines::MariaConnection::Connect(tenant(state["login"]));
      ASSERT_TRUE(last.ok()) << last.status().ToString();
      ASSERT_TRUE(last->Query("INSERT INTO marks VALUES (4)").ok());
    }
    ASSERT_EQ(daemon_.Delete(std::string("/instances/") + name).status, 200);
    EXPECT_FALSE(Stored(std::string("/api/v1/namespaces/dbaas-") + name).is_object());
  }
  EXPECT_EQ(latest_marks("ledgerlast"), "1,2,4")
      << "what the deleted instance committed last was not archived";
  ASSERT_EQ(daemon_.Delete("/instances/ledgerlast").status, 200);
}

// The repository method (kube_runtime/repository_backup.h): the pod's files read through
// its agent into dbaasd's repository while the agent holds backup mode, under pgbench load;
// the second backup stores only what changed (the first is its parent: the agent's listing
// shows the files unchanged); the restore sends the copy to an empty volume in another
// namespace, where the engines' restore makes a consistent, writable instance of it.
TEST_F(KubeRuntimeTest,
       ARepositoryBackupUnderWriteLoadIsIncrementalAndRestoresConsistentElsewhere) {
  const json source = MakePgbenchInstance("shop");
  ASSERT_TRUE(source.is_object());
  const auto first_asked = std::chrono::steady_clock::now();
  auto first = daemon_.Post("/instances/shop/backup",
                            json{{"backupName", "first"}, {"repository", "local"}});
  ASSERT_EQ(first.status, 201) << first.raw << "\n" << node_->Log();
  fmt::print("kube runtime: first repository backup in {:.2f} s\n",
             std::chrono::duration<double>(std::chrono::steady_clock::now() - first_asked).count());
  EXPECT_EQ(first.body["backup"]["snapshotKind"], "repository");
  EXPECT_FALSE(first.body["backup"].contains("volumeSnapshot"));
  ASSERT_TRUE(AddRowsBeforeBackup(source));
  auto load = StartLoad(source, 15);
  ASSERT_TRUE(load.ok()) << load.status().ToString();
  const auto asked = std::chrono::steady_clock::now();
  auto second = daemon_.Post("/instances/shop/backup",
                             json{{"backupName", "second"}, {"repository", "local"}});
  ASSERT_EQ(second.status, 201) << second.raw << "\n" << node_->Log();
  fmt::print("kube runtime: repository backup under load in {:.2f} s ({} of {} bytes stored)\n",
             std::chrono::duration<double>(std::chrono::steady_clock::now() - asked).count(),
             second.body["backup"].value("storedBytes", 0),
             second.body["backup"].value("dataBytes", 0));
  auto finished = load->Wait(seconds(60));
  ASSERT_TRUE(finished.ok() && *finished == 0) << "pgbench failed during the backup";
  const json b = second.body["backup"];
  EXPECT_EQ(b["state"], "ready");
  EXPECT_EQ(b["snapshotKind"], "repository");
  EXPECT_FALSE(b.value("stopLsn", "").empty());
  EXPECT_GT(b.value("dataBytes", 0), 20 << 20) << b.dump();
  EXPECT_LT(b.value("storedBytes", 0), b.value("dataBytes", 0) / 2)
      << "the incremental stored more than half the data: " << b.dump();
  EXPECT_FALSE(Stored("/apis/snapshot.storage.k8s.io/v1/namespaces/dbaas-shop/volumesnapshots/"
                      "second")
                   .is_object());

  const auto restore_asked = std::chrono::steady_clock::now();
  auto restored = daemon_.Post("/instances/shop/restore",
                               json{{"backupName", "second"}, {"newInstanceName", "shopcopy"}});
  ASSERT_EQ(restored.status, 201) << restored.raw << "\n" << node_->Log();
  fmt::print(
      "kube runtime: restored from the repository in {:.2f} s\n",
      std::chrono::duration<double>(std::chrono::steady_clock::now() - restore_asked).count());
  EXPECT_EQ(restored.body["instance"]["status"], "running");
  json claim = Stored(
      "/api/v1/namespaces/dbaas-shopcopy/persistentvolumeclaims/data-shopcopy-postgresql-local-0");
  ASSERT_TRUE(claim.is_object());
  EXPECT_FALSE(claim["spec"].contains("dataSource")) << "filled by the agent, not a snapshot";
  const long history = ExpectPgbenchConsistent("shopcopy");
  EXPECT_GT(history, 0) << "no transaction of the load is in the backup";
  const json copy = AgentState("shopcopy");
  {
    auto conn = engines::PgConnection::Connect(copy["login"].value("uri", ""));
    ASSERT_TRUE(conn.ok()) << conn.status().ToString();
    EXPECT_EQ(conn->QueryValue("select count(*) from before_backup").value_or(""), "1000");
    ASSERT_TRUE(conn->Query("insert into before_backup values (0)").ok()) << "not writable";
  }
  EXPECT_NE(copy["login"]["password"], source["login"]["password"]);
  for (const char* name : {"shopcopy", "shop"}) {
    ASSERT_EQ(daemon_.Delete(std::string("/instances/") + name).status, 200);
  }
}

// Point-in-time recovery in pods: the server archives into a spool on its volume, which
// the daemon drains through the agent into the instance's archive in its repository; a
// restore point made under pgbench load is a target that an instance in a new namespace
// recovers to, from a repository backup and the archive (staged, sent to its agent,
// replayed in its pod); "latest" holds what was committed after it. What the tenant plants
// in its spool is refused, reported in the instance's status and left there.
TEST_F(KubeRuntimeTest, APointInTimeRestoreUnderWriteLoadStopsAtTheRestorePointInANewNamespace) {
  const json source = MakePgbenchInstance("ledger");
  ASSERT_TRUE(source.is_object());
  const json secret = Stored("/api/v1/namespaces/dbaas-ledger/secrets/ledger-credentials");
  ASSERT_TRUE(secret.is_object());
  const std::string archive = Base64Decode(secret["data"].value("wal-archive", "")).value_or("");
  ASSERT_TRUE(archive.starts_with("ledger.")) << secret.dump();
  ASSERT_TRUE(AddRowsBeforeBackup(source));
  auto base = daemon_.Post("/instances/ledger/backup",
                           json{{"backupName", "base"}, {"repository", "local"}});
  ASSERT_EQ(base.status, 201) << base.raw << "\n" << node_->Log();

  auto conn = engines::PgConnection::Connect(source["login"].value("uri", ""));
  ASSERT_TRUE(conn.ok()) << conn.status().ToString();
  ASSERT_TRUE(conn->Query("create table marks (id int)").ok());
  auto load = StartLoad(source, 12);
  ASSERT_TRUE(load.ok()) << load.status().ToString();
  ASSERT_TRUE(conn->Query("insert into marks values (1)").ok());
  auto point = daemon_.Post("/instances/ledger/restore-points", json{{"name", "before-two"}});
  ASSERT_EQ(point.status, 201) << point.raw << "\n" << node_->Log();
  ASSERT_TRUE(conn->Query("insert into marks values (2)").ok());
  auto finished = load->Wait(seconds(60));
  ASSERT_TRUE(finished.ok() && *finished == 0) << "pgbench failed";

  // The tenant owns its volume: a link and a file no server writes, planted in the spool.
  const std::string spool = node_->ClaimDir("dbaas-ledger", "data-ledger-postgresql-local-0") +
                            "/data/ledger/wal-spool." + archive;
  ASSERT_EQ(::symlink("/etc/passwd", (spool + "/000000010000000000000077").c_str()), 0);
  WriteFile(spool + "/000000010000000000000078", "not a segment");
  EXPECT_TRUE(Eventually([&] {
    const std::string note = Instance("ledger").value("statusMessage", "");
    return note.find("000000010000000000000077: not a regular file") != std::string::npos &&
           note.find("000000010000000000000078: 13 bytes") != std::string::npos;
  })) << Instance("ledger").dump();
  EXPECT_TRUE(PathExists(spool + "/000000010000000000000078")) << "left where it was";

  auto window = daemon_.Get("/instances/ledger/recovery-window");
  ASSERT_EQ(window.status, 200) << window.raw;
  EXPECT_EQ(window.body["recoveryWindow"]["walArchive"], archive) << window.raw;

  const auto restore_asked = std::chrono::steady_clock::now();
  auto restored = daemon_.Post("/instances/ledger/restore", json{{"targetName", "before-two"},
                                                                 {"newInstanceName", "ledgerpit"}});
  ASSERT_EQ(restored.status, 201) << restored.raw << "\n" << node_->Log();
  fmt::print(
      "kube runtime: restored to a restore point in {:.2f} s\n",
      std::chrono::duration<double>(std::chrono::steady_clock::now() - restore_asked).count());
  EXPECT_GT(ExpectPgbenchConsistent("ledgerpit"), 0) << "no transaction of the load replayed";
  {
    auto pit = engines::PgConnection::Connect(AgentState("ledgerpit")["login"].value("uri", ""));
    ASSERT_TRUE(pit.ok()) << pit.status().ToString();
    EXPECT_EQ(pit->QueryValue("select string_agg(id::text, ',') from marks").value_or(""), "1");
    EXPECT_EQ(pit->QueryValue("select count(*) from before_backup").value_or(""), "1000");
    ASSERT_TRUE(pit->Query("insert into marks values (3)").ok()) << "not writable";
  }
  ASSERT_EQ(daemon_.Delete("/instances/ledgerpit").status, 200);  // the simulator runs 2 pods
  auto latest = daemon_.Post("/instances/ledger/restore",
                             json{{"target", "latest"}, {"newInstanceName", "ledgernow"}});
  ASSERT_EQ(latest.status, 201) << latest.raw << "\n" << node_->Log();
  {
    auto now = engines::PgConnection::Connect(AgentState("ledgernow")["login"].value("uri", ""));
    ASSERT_TRUE(now.ok()) << now.status().ToString();
    EXPECT_EQ(
        now->QueryValue("select string_agg(id::text, ',' order by id) from marks").value_or(""),
        "1,2");
  }
  for (const char* name : {"ledgernow", "ledger"}) {
    ASSERT_EQ(daemon_.Delete(std::string("/instances/") + name).status, 200) << name;
  }
}

// kill -9 of dbaasd in the middle of a volume snapshot backup (the snapshot cut, backup
// mode held at the agent): at the restart the cut-off backup is gone from the catalog with
// its VolumeSnapshot, and the agent left backup mode by itself when the lease the daemon no
// longer renewed ran out: no slot holds WAL. The next backup is made.
TEST_F(KubeRuntimeTest, AVolumeSnapshotBackupCutOffByAKillOfDbaasdLeavesNothingBehind) {
  ASSERT_TRUE(HoldABackupInBackupMode("cutb", json::object()));
  const std::string snapshot_path =
      "/apis/snapshot.storage.k8s.io/v1/namespaces/dbaas-cutb/volumesnapshots/cut-off";
  const json cut = Stored(snapshot_path);
  ASSERT_TRUE(cut.is_object());
  const std::string content = cut["status"].value("boundVolumeSnapshotContentName", "");
  ASSERT_FALSE(content.empty()) << cut.dump();
  auto su = engines::PgConnection::Connect(AgentState("cutb")["superuser"].value("uri", ""));
  ASSERT_TRUE(su.ok()) << su.status().ToString();
  auto slots = [&] { return BackupSlots(*su); };
  EXPECT_EQ(slots(), "1") << "backup mode's slot";
  daemon_.Kill();

  StartDaemon();
  EXPECT_EQ(daemon_.Get("/instances/cutb/backups/cut-off").status, 404);
  EXPECT_FALSE(Stored(snapshot_path).is_object()) << "the cut-off backup's VolumeSnapshot stayed";
  EXPECT_TRUE(Eventually([&] {
    return !Stored("/apis/snapshot.storage.k8s.io/v1/volumesnapshotcontents/" + content)
                .is_object();
  })) << "its content (and storage snapshot) stayed";
  EXPECT_TRUE(Eventually([&] { return slots() == "0"; }, seconds(45)))
      << "the agent still holds backup mode for a daemon that is gone";
  auto after = daemon_.Post("/instances/cutb/backup", json{{"backupName", "after"}});
  EXPECT_EQ(after.status, 201) << after.raw;
  su = Status::Internal("closed");  // before the instance goes
  EXPECT_EQ(daemon_.Delete("/instances/cutb").status, 200);
}

// kill -9 of dbaasd in the middle of a repository backup (the pod's files read into the
// repository, backup mode held before the end): at the restart the backup is gone from the
// catalog, the agent left backup mode when the lease the daemon no longer renewed ran out,
// and the next backup is made.
TEST_F(KubeRuntimeTest, ARepositoryBackupCutOffByAKillOfDbaasdLeavesNothingBehind) {
  ASSERT_TRUE(HoldABackupInBackupMode("cutr", json{{"repository", "local"}}));
  auto su = engines::PgConnection::Connect(AgentState("cutr")["superuser"].value("uri", ""));
  ASSERT_TRUE(su.ok()) << su.status().ToString();
  auto slots = [&] { return BackupSlots(*su); };
  EXPECT_EQ(slots(), "1") << "backup mode's slot";
  daemon_.Kill();

  StartDaemon();
  EXPECT_EQ(daemon_.Get("/instances/cutr/backups/cut-off").status, 404);
  EXPECT_TRUE(Eventually([&] { return slots() == "0"; }, seconds(45)))
      << "the agent still holds backup mode for a daemon that is gone";
  auto after = daemon_.Post("/instances/cutr/backup",
                            json{{"backupName", "after"}, {"repository", "local"}});
  ASSERT_EQ(after.status, 201) << after.raw;
  EXPECT_EQ(after.body["backup"]["snapshotKind"], "repository");
  const json listed = daemon_.Get("/instances/cutr/backups").body;
  ASSERT_TRUE(listed["backups"].is_array()) << listed.dump();
  EXPECT_EQ(listed["backups"].size(), 1u) << listed.dump();
  for (const auto& backup : listed["backups"]) {
    EXPECT_NE(backup.value("backupName", ""), "cut-off");
  }
  su = Status::Internal("closed");  // before the instance goes
  EXPECT_EQ(daemon_.Delete("/instances/cutr").status, 200);
}

// kill -9 of dbaasd while a new instance's pod is on its way: at the restart the half-made
// instance is discarded with its namespace (pod and claim with it), and the name is free.
TEST_F(KubeRuntimeTest, AnInstanceCutOffByAKillOfDbaasdGoesWithItsNamespaceAtTheRestart) {
  auto stopped = daemon_.Stop();
  ASSERT_TRUE(stopped.ok() && *stopped == 0);
  StartDaemon({"--test-hold", "objects-applied=60000"});
  auto started =
      daemon_.Post("/instances?async=true", json{{"name", "cut"}, {"type", "postgresql"}});
  ASSERT_EQ(started.status, 202) << started.raw;
  ASSERT_TRUE(daemon_.WaitLogSays("holding at objects-applied"));
  EXPECT_TRUE(Stored("/api/v1/namespaces/dbaas-cut").is_object());
  daemon_.Kill();

  StartDaemon();
  EXPECT_EQ(daemon_.Get("/instances/cut").status, 404);
  EXPECT_FALSE(Stored("/api/v1/namespaces/dbaas-cut").is_object())
      << "the cut-off instance's namespace outlived the restart";
  EXPECT_TRUE(Eventually([&] { return node_->PodPid("dbaas-cut", "cut-postgresql-local-0") < 0; }))
      << node_->Log();
  auto again = daemon_.Post("/instances", json{{"name", "cut"}, {"type", "postgresql"}});
  ASSERT_EQ(again.status, 201) << again.raw << "\n" << node_->Log();
  EXPECT_EQ(Instance("cut")["status"], "running");
  EXPECT_EQ(daemon_.Delete("/instances/cut").status, 200);
}

// An apply the API server refuses part-way (here RBAC on StatefulSets, after the namespace,
// Secret and Services were made): the create fails naming the missing permission, and
// nothing of the instance stays on the cluster or in the catalog.
TEST_F(KubeRuntimeTest, ACreateTheApiServerRefusesPartWayLeavesNothing) {
  if (!fake_) GTEST_SKIP() << "needs the fake API server's RBAC switch";
  fake_->Deny("apps", "statefulsets", "patch");
  auto created = daemon_.Post("/instances", json{{"name", "denied"}, {"type", "postgresql"}});
  EXPECT_GE(created.status, 400) << created.raw;
  EXPECT_NE(created.raw.find("statefulsets"), std::string::npos) << created.raw;
  EXPECT_NE(created.raw.find("patch"), std::string::npos) << created.raw;
  EXPECT_FALSE(Stored("/api/v1/namespaces/dbaas-denied").is_object())
      << "the half-made instance's namespace stayed";
  EXPECT_EQ(daemon_.Get("/instances/denied").status, 404);
}

}  // namespace
}  // namespace dbaas::testing
