// The in-pod agent (`dbaas agent`, agent/pod_agent.h) as a pod runs it: the real binary in
// a network namespace of its own (a test host standing for the pod's network), as an
// unprivileged user (a pod's uid), with its Secret's files and settings as the kubelet
// mounts them. The daemon's side (this test) reaches the agent and the server across the
// bridge, at the pod's address: nothing is on loopback.
#include <signal.h>
#include <sys/stat.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <map>
#include <optional>
#include <set>
#include <thread>

#include <fmt/format.h>
#include <gtest/gtest.h>
#include <httplib.h>

#include <nlohmann/json.hpp>

#include "base/files.h"
#include "base/hex.h"
#include "base/process.h"
#include "engines/mariadb/maria_connection.h"
#include "engines/postgres/pg_backup.h"
#include "engines/postgres/pg_connection.h"
#include "runtime/instance_users.h"
#include "storage/manifest.h"
#include "test_hosts.h"
#include "test_util.h"

namespace dbaas::testing {
namespace {

using nlohmann::json;
using std::chrono::milliseconds;
using std::chrono::seconds;

constexpr uint16_t kDatabasePort = 5432;  // the pod's own network: the standard port

class PodAgentTest : public ::testing::Test {
 protected:
  void SetUp() override {
    // A refused upload's connection may close before its body is sent.
    ::signal(SIGPIPE, SIG_IGN);
    auto hosts = TestHosts::Make(2);
    if (!hosts.ok()) GTEST_SKIP() << "no network namespaces here: " << hosts.status().ToString();
    pod_ = std::move(hosts).value();
    auto nobody = LookupUser("nobody");
    ASSERT_TRUE(nobody.ok()) << nobody.status().ToString();
    user_ = *nobody;
    // The pod's user passes through the test's directory to the volume and its mounts.
    ASSERT_EQ(::chmod(root_.path().c_str(), 0711), 0);
    for (const char* dir : {"volume", "secrets", "config"}) {
      ASSERT_TRUE(MakeDirs(root_ / dir, 0755).ok());
    }
    ASSERT_EQ(::chown((root_ / "volume").c_str(), user_.uid, user_.gid), 0);
    // Where the agent (the pod's user) writes its port, whatever its volume.
    ASSERT_TRUE(MakeDirs(root_ / "port", 0755).ok());
    ASSERT_EQ(::chown((root_ / "port").c_str(), user_.uid, user_.gid), 0);
    // The Secret: a token, and a certificate for the pod's address.
    token_ = RandomHex(32);
    WriteSecret("agent-token", token_ + "\n");
    MakeSelfSignedCertificate(root_ / "secrets/agent.crt", root_ / "secrets/agent.key",
                              "IP:" + pod_->address(0) + ",IP:" + pod_->address(1));
    for (const char* file : {"agent.key", "agent.crt"}) {
      ASSERT_EQ(::chown((root_ / ("secrets/" + std::string(file))).c_str(), user_.uid, user_.gid),
                0);
      ASSERT_EQ(::chmod((root_ / ("secrets/" + std::string(file))).c_str(), 0400), 0);
    }
    WriteFile(root_ / "config/settings.json", R"({"work_mem": "12MB"})");
  }

  void TearDown() override {
    if (agent_) StopAgent();
  }

  void WriteSecret(const std::string& file, const std::string& content) {
    const std::string path = root_ / ("secrets/" + std::string(file));
    WriteFile(path, content);
    ASSERT_EQ(::chown(path.c_str(), user_.uid, user_.gid), 0);
    ASSERT_EQ(::chmod(path.c_str(), 0400), 0);
  }

  // The pod's address: a rescheduled pod (`host_` 1) gets another.
  const std::string& address() const { return pod_->address(host_); }

  ProcessOptions AgentCommand() { return AgentCommand(engine_); }
  ProcessOptions AgentCommand(const std::string& engine) {
    ProcessOptions o;
    o.argv = {DBAAS_CLI_BINARY, "agent",
              "--engine",       engine,
              "--name",         name_,
              "--data",         root_ / (volume_ + "/data"),
              "--settings",     root_ / "config/settings.json",
              "--secrets",      root_ / "secrets",
              "--listen",       ":0",
              "--port-file",    root_ / "port/agent-port"};
    o.argv.insert(o.argv.end(), more_args_.begin(), more_args_.end());
    o.env = {"POD_IP=" + address()};
    o.user = user_;
    o.network_namespace = "/run/netns/" + pod_->name(host_);
    o.output_path = root_ / "agent.log";
    return o;
  }

  // Starts the agent and waits until it listens; its port.
  int StartAgent() {
    (void)::unlink((root_ / "port/agent-port").c_str());
    auto started = Process::Start(AgentCommand());
    EXPECT_TRUE(started.ok()) << started.status().ToString();
    if (!started.ok()) return 0;
    agent_.emplace(std::move(started).value());
    for (int i = 0; i < 600; ++i) {
      auto port = ReadFileToString(root_ / "port/agent-port");
      if (port.ok() && !port->empty()) return std::stoi(*port);
      auto exited = agent_->Wait(milliseconds(100));
      if (exited.ok()) {
        ADD_FAILURE() << "the agent exited with " << *exited << ":\n" << Log();
        agent_.reset();
        return 0;
      }
    }
    ADD_FAILURE() << "the agent did not listen within 60 s:\n" << Log();
    return 0;
  }

  // SIGTERM, as the kubelet stops a container; the exit code.
  int StopAgent() {
    EXPECT_TRUE(agent_->Signal(SIGTERM).ok());
    auto code = agent_->Wait(seconds(60));
    EXPECT_TRUE(code.ok()) << "the agent did not stop within 60 s";
    agent_.reset();
    return code.value_or(-1);
  }

  std::string Log() { return ReadFile(root_ / "agent.log"); }

  // A request to the agent over HTTPS, trusting its certificate only; `token` "" sends no
  // Authorization.
  httplib::Result Call(const std::string& method, int port, const std::string& path,
                       const std::string& token, const std::string& body = "") {
    httplib::SSLClient c(address(), port);
    c.set_ca_cert_path((root_ / "secrets/agent.crt").c_str());
    c.enable_server_certificate_verification(true);
    c.set_connection_timeout(seconds(5));
    c.set_read_timeout(seconds(90));
    httplib::Headers headers;
    if (!token.empty()) headers.emplace("Authorization", "Bearer " + token);
    if (method == "POST") return c.Post(path, headers, body, "application/json");
    if (method == "PUT") return c.Put(path, headers, body, "application/octet-stream");
    if (method == "DELETE") return c.Delete(path, headers);
    return c.Get(path, headers);
  }
  int Status(const std::string& method, int port, const std::string& path,
             const std::string& token = "") {
    auto res = Call(method, port, path, token);
    return res ? res->status : -1;
  }

  json Instance(int port) {
    auto res = Call("GET", port, "/v1/instance", token_);
    EXPECT_TRUE(res && res->status == 200) << (res ? res->body : "no answer");
    return res ? json::parse(res->body, nullptr, false) : json();
  }

  // The agent's run that ends by itself (refused): exit code and log.
  std::pair<int, std::string> RunRefused(const ProcessOptions& o) {
    (void)::unlink((root_ / "agent.log").c_str());
    auto ran = RunProcess(o, seconds(60));
    EXPECT_TRUE(ran.ok()) << ran.status().ToString();
    return {ran.ok() ? ran->exit_code : -1, Log() + (ran.ok() ? ran->output : "")};
  }

  TempDir root_;
  std::unique_ptr<TestHosts> pod_;
  UserIds user_;
  std::string token_;
  int host_ = 0;
  // The agent's instance, its volume (a directory under root_) and further arguments.
  std::string name_ = "orders";
  std::string engine_ = "postgresql";
  std::string volume_ = "volume";
  std::vector<std::string> more_args_;
  std::optional<Process> agent_;
};

TEST_F(PodAgentTest,
       MakesTheInstanceInAnEmptyVolumeServesItAtThePodAddressAndKeepsItAcrossRestarts) {
  int port = StartAgent();
  ASSERT_GT(port, 0);
  // The probes need no token; everything else does.
  EXPECT_EQ(Status("GET", port, "/healthz"), 200) << "no answer over HTTPS at " << address();
  EXPECT_EQ(Status("GET", port, "/readyz"), 200);
  for (const std::string& wrong :
       {std::string(), std::string("x"), token_ + "0", token_.substr(1)}) {
    auto refused = Call("GET", port, "/v1/instance", wrong);
    ASSERT_TRUE(refused);
    EXPECT_EQ(refused->status, 401) << wrong;
    EXPECT_EQ(refused->body.find("password"), std::string::npos);
  }
  EXPECT_EQ(Status("POST", port, "/v1/stop"), 401);
  // Its Secret names no archive: the server does not archive, and says so.
  EXPECT_EQ(Status("GET", port, "/v1/wal", token_), 409);
  EXPECT_EQ(Status("POST", port, "/v1/wal/switch", token_), 409);

  json inst = Instance(port);
  EXPECT_EQ(inst["name"], "orders");
  EXPECT_EQ(inst["running"], true);
  EXPECT_EQ(inst["answers"], true);
  EXPECT_EQ(inst["login"]["host"], address());
  EXPECT_EQ(inst["login"]["port"], kDatabasePort);
  EXPECT_EQ(inst["login"]["user"], "app");
  // A client elsewhere on the cluster's network reaches the server at the pod's address,
  // with the password; the settings from the ConfigMap apply.
  const std::string uri = inst["login"]["uri"];
  auto conn = engines::PgConnection::Connect(uri);
  ASSERT_TRUE(conn.ok()) << conn.status().ToString() << "\n" << Log();
  EXPECT_EQ(conn->QueryValue("show work_mem").value_or(""), "12MB");
  EXPECT_EQ(conn->QueryValue("select inet_server_addr()").value_or(""), address());
  ASSERT_TRUE(conn->Query("create table t (id int primary key)").ok());
  ASSERT_TRUE(conn->Query("insert into t select generate_series(1, 100)").ok());
  auto wrong_password = engines::PgConnection::Connect(
      fmt::format("host={} port={} user=app password=wrong dbname=app connect_timeout=5", address(),
                  kDatabasePort));
  EXPECT_FALSE(wrong_password.ok());
  // The server's files are the pod user's, in the volume.
  struct stat st {};
  ASSERT_EQ(::stat((root_ / "volume/data/orders/data").c_str(), &st), 0);
  EXPECT_EQ(st.st_uid, user_.uid);

  // Stop and start through the agent.
  auto stopped = Call("POST", port, "/v1/stop", token_);
  ASSERT_TRUE(stopped);
  EXPECT_EQ(stopped->status, 200) << stopped->body;
  EXPECT_EQ(json::parse(stopped->body)["running"], false);
  EXPECT_EQ(Status("GET", port, "/readyz"), 503);
  EXPECT_FALSE(engines::PgConnection::Connect(uri + "?connect_timeout=3").ok());
  // The pod restarted meanwhile (its node rebooted): the server stays down until started.
  EXPECT_EQ(StopAgent(), 0) << Log();
  port = StartAgent();
  ASSERT_GT(port, 0);
  EXPECT_NE(Log().find("stays down until"), std::string::npos) << Log();
  EXPECT_EQ(Instance(port)["running"], false);
  EXPECT_EQ(Status("GET", port, "/readyz"), 503);
  EXPECT_FALSE(engines::PgConnection::Connect(uri + "?connect_timeout=3").ok());
  auto started = Call("POST", port, "/v1/start", token_);
  ASSERT_TRUE(started);
  EXPECT_EQ(started->status, 200) << started->body;
  EXPECT_EQ(Status("GET", port, "/readyz"), 200);

  // SIGTERM: a clean shutdown, the server gone with the agent.
  conn = engines::PgConnection::Connect(uri);
  ASSERT_TRUE(conn.ok());
  EXPECT_EQ(StopAgent(), 0) << Log();
  EXPECT_NE(Log().find("SIGTERM"), std::string::npos);
  EXPECT_FALSE(engines::PgConnection::Connect(uri + "?connect_timeout=3").ok());
  auto shutdown_log = ReadFileToString(root_ / "volume/data/orders/postgres.log");
  EXPECT_NE(shutdown_log.value_or("").find("database system is shut down"), std::string::npos);

  // The pod again, rescheduled with another address: the instance is opened, not made, and
  // serves at the new address with the same logins and rows.
  host_ = 1;
  const int again = StartAgent();
  ASSERT_GT(again, 0);
  EXPECT_NE(Log().find("opened in"), std::string::npos) << Log();
  json reopened = Instance(again);
  EXPECT_EQ(reopened["login"]["password"], inst["login"]["password"]);
  EXPECT_EQ(reopened["superuser"]["password"], inst["superuser"]["password"]);
  EXPECT_EQ(reopened["login"]["host"], address());
  auto back = engines::PgConnection::Connect(reopened["login"]["uri"].get<std::string>());
  ASSERT_TRUE(back.ok()) << back.status().ToString() << "\n" << Log();
  EXPECT_EQ(back->QueryValue("select inet_server_addr()").value_or(""), address());
  EXPECT_EQ(back->QueryValue("select count(*) from t").value_or(""), "100");
}

// With an archive named in its Secret the server archives its WAL into a spool on the
// volume (`dbaas wal-push`, as on a machine), which the daemon lists, reads and empties
// through the agent; a switch or a restore point waits until the spool holds its segment.
// Only WAL file names are read or deleted, and only in the spool.
TEST_F(PodAgentTest, TheServerArchivesIntoASpoolTheDaemonListsReadsAndEmpties) {
  WriteSecret("wal-archive", "orders.5eed\n");
  const int port = StartAgent();
  ASSERT_GT(port, 0);
  const std::string spool = root_ / "volume/data/orders/wal-spool.orders.5eed";
  auto conn = engines::PgConnection::Connect(Instance(port)["login"]["uri"].get<std::string>());
  ASSERT_TRUE(conn.ok()) << conn.status().ToString() << "\n" << Log();
  ASSERT_TRUE(conn->Query("create table t as select generate_series(1, 1000) id").ok());
  const std::string segment =
      conn->QueryValue("select pg_walfile_name(pg_current_wal_lsn())").value_or("");
  ASSERT_EQ(segment.size(), 24u);
  EXPECT_EQ(Status("POST", port, "/v1/wal/switch"), 401);
  for (const char* bad : {R"({"timeoutSeconds": 0})", R"({"timeoutSeconds": "5"})", "[]"}) {
    auto refused = Call("POST", port, "/v1/wal/switch", token_, bad);
    ASSERT_TRUE(refused);
    EXPECT_EQ(refused->status, 400) << bad;
  }
  auto switched = Call("POST", port, "/v1/wal/switch", token_, R"({"timeoutSeconds": 20})");
  ASSERT_TRUE(switched);
  ASSERT_EQ(switched->status, 204) << switched->body << "\n" << Log();
  EXPECT_TRUE(PathExists(JoinPath(spool, segment))) << "not spooled on the volume";

  auto listed = Call("GET", port, "/v1/wal", token_);
  ASSERT_TRUE(listed && listed->status == 200) << (listed ? listed->body : "");
  json listing = json::parse(listed->body);
  EXPECT_EQ(listing["archiveId"], "orders.5eed");
  EXPECT_EQ(Instance(port)["archiveFailure"], "") << "archive_command fails";
  bool found = false;
  for (const json& f : listing["files"]) {
    if (f["name"] == segment) {
      found = true;
      EXPECT_EQ(f["size"], 16 << 20);
      EXPECT_EQ(f["regular"], true);
    }
  }
  EXPECT_TRUE(found) << listing.dump();
  auto bytes = Call("GET", port, "/v1/wal/file?name=" + segment, token_);
  ASSERT_TRUE(bytes && bytes->status == 200);
  EXPECT_EQ(bytes->body, ReadFile(JoinPath(spool, segment)));
  // Nothing but a WAL file's name, and nothing outside the spool.
  for (const char* name : {"../../../secrets/agent-token", "pg_hba.conf", "", ".tmp.x",
                           "%2Fetc%2Fpasswd", "..%2Fpostgres.log"}) {
    EXPECT_EQ(Status("GET", port, std::string("/v1/wal/file?name=") + name, token_), 400) << name;
    EXPECT_EQ(Status("DELETE", port, std::string("/v1/wal/file?name=") + name, token_), 400)
        << name;
  }
  EXPECT_EQ(Status("GET", port, "/v1/wal/file?name=0000000100000000000000AA", token_), 410);
  EXPECT_EQ(Status("DELETE", port, "/v1/wal/file?name=" + segment), 401);
  EXPECT_EQ(Status("DELETE", port, "/v1/wal/file?name=" + segment, token_), 204);
  EXPECT_FALSE(PathExists(JoinPath(spool, segment)));
  EXPECT_EQ(Status("DELETE", port, "/v1/wal/file?name=" + segment, token_), 204) << "idempotent";
  EXPECT_TRUE(PathExists(root_ / "volume/data/orders/postgres.log"));

  // A restore point: its LSN, its segment spooled.
  auto point = Call("POST", port, "/v1/wal/restore-point", token_, R"({"name": "before"})");
  ASSERT_TRUE(point);
  ASSERT_EQ(point->status, 200) << point->body;
  const std::string lsn = json::parse(point->body).value("lsn", "");
  EXPECT_TRUE(engines::ParseLsn(lsn).ok()) << point->body;
  const std::string point_segment =
      conn->QueryValue(fmt::format("select pg_walfile_name('{}')", lsn)).value_or("");
  EXPECT_TRUE(PathExists(JoinPath(spool, point_segment))) << point_segment;
  EXPECT_EQ(Call("POST", port, "/v1/wal/restore-point", token_, "{}")->status, 400);

  // A spool the server cannot write to: its archive_command fails, and the agent says why
  // in its state (the daemon shows it as the instance's status) until archiving works again.
  ASSERT_EQ(::chmod(spool.c_str(), 0500), 0);
  ASSERT_TRUE(conn->Query("insert into t select generate_series(1, 1000)").ok());
  auto su = engines::PgConnection::Connect(Instance(port)["superuser"]["uri"].get<std::string>());
  ASSERT_TRUE(su.ok()) << su.status().ToString();
  ASSERT_TRUE(su->Query("select pg_switch_wal()").ok());
  std::string failure;
  for (int i = 0; i < 100 && failure.empty(); ++i) {
    std::this_thread::sleep_for(milliseconds(100));
    failure = Instance(port).value("archiveFailure", "");
  }
  EXPECT_NE(failure.find("WAL archiving is failing"), std::string::npos) << failure;
  ASSERT_EQ(::chmod(spool.c_str(), 0700), 0);
  auto resumed = Call("POST", port, "/v1/wal/switch", token_, R"({"timeoutSeconds": 90})");
  ASSERT_TRUE(resumed);
  EXPECT_EQ(resumed->status, 204) << resumed->body;
  EXPECT_EQ(Instance(port)["archiveFailure"], "");

  // A restart of the pod opens the instance, which archives on into the same spool.
  EXPECT_EQ(StopAgent(), 0) << Log();
  const int again = StartAgent();
  ASSERT_GT(again, 0);
  listed = Call("GET", again, "/v1/wal", token_);
  ASSERT_TRUE(listed && listed->status == 200) << (listed ? listed->body : "");
  EXPECT_EQ(json::parse(listed->body)["archiveId"], "orders.5eed");
}

// The volume backup the daemon holds while it cuts a VolumeSnapshot: backup mode from begin
// to end, what the copy needs at the end (its label, and its WAL until released), one at a
// time, and never past its lease.
TEST_F(PodAgentTest, AVolumeBackupHoldsBackupModeUntilItEndsAndNeverPastItsLease) {
  const int port = StartAgent();
  ASSERT_GT(port, 0);
  std::optional<engines::PgConnection> su;
  {
    auto connected =
        engines::PgConnection::Connect(Instance(port)["superuser"]["uri"].get<std::string>());
    ASSERT_TRUE(connected.ok()) << connected.status().ToString();
    su.emplace(std::move(connected).value());
  }
  // The session holding backup mode holds a slot reserving the WAL from its start.
  auto held = [&] {
    return su
        ->QueryValue(
            "select count(*) from pg_replication_slots where slot_name like 'dbaas_backup_%'")
        .value_or("?");
  };
  // A session's temporary slot goes when its server process exits, just after it is closed.
  auto released = [&] {
    for (int i = 0; i < 100 && held() != "0"; ++i) std::this_thread::sleep_for(milliseconds(50));
    return held() == "0";
  };
  auto begin = [&](const std::string& body) {
    auto res = Call("POST", port, "/v1/backups", token_, body);
    EXPECT_TRUE(res);
    return res ? std::make_pair(res->status, json::parse(res->body, nullptr, false))
               : std::make_pair(-1, json());
  };
  EXPECT_EQ(Status("POST", port, "/v1/backups"), 401);
  for (const char* bad : {R"({"leaseSeconds": 0})", R"({"leaseSeconds": 3601})",
                          R"({"label": "two\nlines"})", R"({"label": 7})", "[1]"}) {
    auto [status, body] = begin(bad);
    EXPECT_EQ(status, 400) << bad << ": " << body.dump();
  }
  EXPECT_EQ(held(), "0");

  auto [status, begun] = begin(R"({"label": "snap-1", "leaseSeconds": 60})");
  ASSERT_EQ(status, 201) << begun.dump() << "\n" << Log();
  const std::string id = begun["id"];
  EXPECT_EQ(begun["begun"]["engine"], "postgresql");
  const std::string start_lsn = begun["begun"]["start_lsn"];
  EXPECT_FALSE(start_lsn.empty());
  EXPECT_EQ(held(), "1");
  auto [busy, why] = begin("");
  EXPECT_EQ(busy, 409) << why.dump();
  EXPECT_EQ(why["error"]["code"], "backup_in_progress");
  EXPECT_EQ(why["id"], id) << why.dump();
  ASSERT_TRUE(su->Query("create table during (id int)").ok());  // the WAL moves on meanwhile
  EXPECT_EQ(Status("POST", port, "/v1/backups/0123456789abcdef/end", token_), 404);

  auto ended = Call("POST", port, "/v1/backups/" + id + "/end", token_);
  ASSERT_TRUE(ended);
  ASSERT_EQ(ended->status, 200) << ended->body;
  json end = json::parse(ended->body);
  EXPECT_EQ(end["facts"]["start_lsn"], start_lsn);
  const std::string stop_lsn = end["facts"]["stop_lsn"];
  EXPECT_GT(engines::ParseLsn(stop_lsn).value_or(0), engines::ParseLsn(start_lsn).value_or(0));
  const std::string label = end["files"]["backup_label"];
  EXPECT_NE(label.find("LABEL: snap-1"), std::string::npos) << label;
  EXPECT_NE(label.find("START WAL LOCATION: " + start_lsn), std::string::npos) << label;
  EXPECT_FALSE(end["files"].contains("tablespace_map"));
  // Backup mode is over (the label is pg_backup_stop's), but the WAL from start to stop (the
  // backup-end record is written after the copy) stays held until the daemon has it.
  EXPECT_EQ(held(), "1");
  auto again = Call("POST", port, "/v1/backups/" + id + "/end", token_);  // a lost answer
  ASSERT_TRUE(again);
  EXPECT_EQ(again->status, 200) << again->body;
  EXPECT_EQ(json::parse(again->body)["facts"]["stop_lsn"], stop_lsn);
  const json log_files = end["logFiles"];
  ASSERT_TRUE(log_files.is_array() && !log_files.empty()) << end.dump();
  const std::string last_segment = log_files.back();
  EXPECT_TRUE(last_segment.starts_with("pg_wal/000000010")) << last_segment;
  auto segment = Call("GET", port, "/v1/backups/" + id + "/file?path=" + last_segment, token_);
  ASSERT_TRUE(segment);
  ASSERT_EQ(segment->status, 200) << segment->body;
  EXPECT_EQ(segment->body.size(), 16u << 20);
  // Only the files the end listed: no other path of the pod's volume.
  for (const char* other : {"backup_label", "pg_wal/../postgresql.conf", "/etc/passwd",
                            "pg_wal/000000010000000000000063"}) {
    EXPECT_EQ(Status("GET", port, "/v1/backups/" + id + "/file?path=" + other, token_), 404)
        << other;
  }
  EXPECT_EQ(Status("GET", port, "/v1/backups/" + id + "/file?path=" + last_segment), 401);
  EXPECT_EQ(Status("DELETE", port, "/v1/backups/" + id, token_), 204);
  EXPECT_TRUE(released());
  EXPECT_NE(Log().find("released: the daemon has its log"), std::string::npos) << Log();
  EXPECT_EQ(Status("POST", port, "/v1/backups/" + id + "/end", token_), 404);

  // A lease that runs out: the agent leaves backup mode by itself.
  auto [s2, lapsed] = begin(R"({"leaseSeconds": 1})");
  ASSERT_EQ(s2, 201) << lapsed.dump();
  EXPECT_TRUE(released());
  EXPECT_EQ(Status("POST", port, "/v1/backups/" + lapsed["id"].get<std::string>() + "/end", token_),
            404);
  EXPECT_NE(Log().find("lease ran out"), std::string::npos) << Log();

  // A renewed lease holds; an abandoned backup ends at once.
  auto [s3, renewed] = begin(R"({"leaseSeconds": 2})");
  ASSERT_EQ(s3, 201) << renewed.dump();
  const std::string rid = renewed["id"];
  auto renew =
      Call("POST", port, "/v1/backups/" + rid + "/renew", token_, R"({"leaseSeconds": 60})");
  ASSERT_TRUE(renew);
  EXPECT_EQ(renew->status, 200) << renew->body;
  std::this_thread::sleep_for(milliseconds(2500));
  EXPECT_EQ(held(), "1");
  EXPECT_EQ(Status("DELETE", port, "/v1/backups/" + rid, token_), 204);
  EXPECT_TRUE(released());

  // Stopping the server abandons a backup held; a backup of a stopped server is refused.
  auto [s4, last] = begin("");
  ASSERT_EQ(s4, 201) << last.dump();
  su.reset();  // before the server goes
  ASSERT_EQ(Status("POST", port, "/v1/stop", token_), 200);
  EXPECT_NE(Log().find("the server is being stopped"), std::string::npos) << Log();
  auto [s5, refused] = begin("");
  EXPECT_EQ(s5, 409) << refused.dump();
  EXPECT_EQ(refused["error"]["code"], "not_running");
  ASSERT_EQ(Status("POST", port, "/v1/start", token_), 200);
  EXPECT_EQ(StopAgent(), 0) << Log();
}

// The restore's half in the pod: a copy of the volume made in backup mode while rows are
// written (not atomic: what pg_basebackup copies are), its label and its WAL from start to
// stop as the daemon collects them; a second agent started on the copy with --restore-from
// (under the source's name, so the copy must be moved aside first) waits for them, refusing
// everything else, then makes the instance from the copy with the engines' own restore:
// every row committed before the backup ended, none lost. Restarted, it opens the restored
// instance.
TEST_F(PodAgentTest, AnInstanceIsRestoredFromACopyOfItsVolumeMadeInBackupMode) {
  int port = StartAgent();
  ASSERT_GT(port, 0);
  const json source = Instance(port);
  std::optional<engines::PgConnection> su;
  {
    auto connected = engines::PgConnection::Connect(source["superuser"]["uri"].get<std::string>());
    ASSERT_TRUE(connected.ok()) << connected.status().ToString();
    su.emplace(std::move(connected).value());
  }
  ASSERT_TRUE(su->Query("create table t (id int primary key, v text)").ok());
  ASSERT_TRUE(
      su->Query("insert into t select g, md5(g::text) from generate_series(1, 1000) g").ok());
  auto begun = Call("POST", port, "/v1/backups", token_, R"({"label": "copy"})");
  ASSERT_TRUE(begun && begun->status == 201) << (begun ? begun->body : "");
  const std::string id = json::parse(begun->body)["id"];
  // Rows written while the volume is copied, file by file.
  std::atomic<bool> writing{true};
  std::atomic<int> committed{1000};
  std::thread writer([&] {
    auto conn = engines::PgConnection::Connect(source["superuser"]["uri"].get<std::string>());
    if (!conn.ok()) return;
    while (writing) {
      const int next = committed + 1;
      if (!conn->Query(fmt::format("insert into t values ({}, repeat('x', 500))", next)).ok()) {
        return;
      }
      committed = next;
    }
  });
  std::this_thread::sleep_for(milliseconds(300));
  ProcessOptions cp;
  cp.argv = {"cp", "-a", root_ / "volume", root_ / "copy"};
  auto copied = RunProcess(cp, seconds(120));
  std::this_thread::sleep_for(milliseconds(300));
  writing = false;
  writer.join();
  ASSERT_TRUE(copied.ok() && copied->exit_code == 0) << (copied.ok() ? copied->output : "");
  ASSERT_GT(committed.load(), 1000) << "no row was written during the copy";
  auto ended = Call("POST", port, "/v1/backups/" + id + "/end", token_);
  ASSERT_TRUE(ended && ended->status == 200) << (ended ? ended->body : "");
  const json end = json::parse(ended->body);
  std::map<std::string, std::string> log_files;
  for (const json& path : end["logFiles"]) {
    auto got =
        Call("GET", port, "/v1/backups/" + id + "/file?path=" + path.get<std::string>(), token_);
    ASSERT_TRUE(got && got->status == 200);
    log_files[path] = got->body;
  }
  EXPECT_EQ(Status("DELETE", port, "/v1/backups/" + id, token_), 204);
  const int rows = committed.load();
  su.reset();
  EXPECT_EQ(StopAgent(), 0) << Log();

  // The copy, in another pod, as an instance of the same name (the source's gone): the copy
  // is moved aside before the instance is made where it was.
  volume_ = "copy";
  more_args_ = {"--restore-from", "orders"};
  host_ = 1;
  port = StartAgent();
  ASSERT_GT(port, 0);
  EXPECT_NE(Log().find("waiting for the daemon to restore it"), std::string::npos) << Log();
  json waiting = Instance(port);
  EXPECT_EQ(waiting["restoring"], true) << waiting.dump();
  EXPECT_EQ(Status("GET", port, "/readyz"), 503);
  EXPECT_EQ(Status("POST", port, "/v1/start", token_), 409);
  auto no_backup = Call("POST", port, "/v1/backups", token_, "{}");
  EXPECT_TRUE(no_backup && no_backup->status == 409);
  json request = {{"source", "orders"},
                  {"password", source["superuser"]["password"]},
                  {"files", end["files"]},
                  {"logFiles", end["logFiles"]}};
  // Refused, nothing touched: a log file not sent yet, another source, a file that is not
  // the backup's, a path outside pg_wal, no token.
  auto refused = [&](const json& body) {
    auto res = Call("POST", port, "/v1/restore", token_, body.dump());
    return res ? res->status : -1;
  };
  EXPECT_EQ(refused(request), 400) << "before the log files came";
  for (const auto& [path, bytes] : log_files) {
    EXPECT_EQ(Call("PUT", port, "/v1/restore/file?path=" + path, "", "x")->status, 401);
    auto put = Call("PUT", port, "/v1/restore/file?path=" + path, token_, bytes);
    ASSERT_TRUE(put);
    EXPECT_EQ(put->status, 204) << put->body;
  }
  EXPECT_EQ(Call("PUT", port, "/v1/restore/file?path=../postgresql.conf", token_, "x")->status,
            400);
  // The volume holds the copy: none is sent besides it.
  EXPECT_EQ(Call("PUT", port, "/v1/restore/copy?path=PG_VERSION&offset=0", token_, "9")->status,
            409);
  json other = request;
  other["source"] = "shop";
  EXPECT_EQ(refused(other), 400);
  json foreign = request;
  foreign["files"]["postgresql.auto.conf"] = "shared_preload_libraries = 'evil'";
  EXPECT_EQ(refused(foreign), 400);
  EXPECT_TRUE(PathExists(root_ / "copy/data/orders/data/PG_VERSION")) << "the copy was touched";

  auto restored = Call("POST", port, "/v1/restore", token_, request.dump());
  ASSERT_TRUE(restored);
  ASSERT_EQ(restored->status, 200) << restored->body << "\n" << Log();
  const json copy = json::parse(restored->body);
  EXPECT_EQ(copy["name"], "orders");
  EXPECT_EQ(copy["answers"], true);
  EXPECT_EQ(refused(request), 409) << "restored once";
  auto check = [&](const json& state) {
    auto conn = engines::PgConnection::Connect(state["superuser"]["uri"].get<std::string>());
    ASSERT_TRUE(conn.ok()) << conn.status().ToString();
    EXPECT_EQ(conn->QueryValue("select count(*) from t").value_or(""), std::to_string(rows));
    EXPECT_EQ(conn->QueryValue("select max(id) from t").value_or(""), std::to_string(rows));
    EXPECT_EQ(conn->QueryValue("select inet_server_addr()").value_or(""), address());
  };
  check(copy);
  EXPECT_FALSE(PathExists(root_ / "copy/data/.volume-copy")) << "the copy's remains stayed";
  EXPECT_TRUE(PathExists(root_ / "copy/data/.restored"));
  EXPECT_NE(copy["login"]["password"], source["login"]["password"]);
  // Restarted (the pod again): the restored instance is opened, not restored again.
  EXPECT_EQ(StopAgent(), 0) << Log();
  port = StartAgent();
  ASSERT_GT(port, 0);
  EXPECT_NE(Log().find("opened in"), std::string::npos) << Log();
  check(Instance(port));
}

// MariaDB in a pod: its tenant reached at the pod's address (root only inside the pod); a
// volume backup holds its commits (BACKUP STAGE BLOCK_COMMIT) for a copy cut at one instant
// (the server paused, as a storage snapshot is atomic), serves no files to copy one by one,
// and ends with neither label nor log; the copy restores in another pod by itself.
TEST_F(PodAgentTest, AMariaDbInstanceIsReachedAtThePodAddressAndRestoredFromAVolumeCopy) {
  engine_ = "mariadb";
  WriteFile(root_ / "config/settings.json", R"({"max_connections": "50"})");
  int port = StartAgent();
  ASSERT_GT(port, 0);
  const json source = Instance(port);
  EXPECT_EQ(source["type"], "mariadb");
  EXPECT_EQ(source["login"]["host"], address());
  EXPECT_EQ(source["login"]["port"], 3306);
  auto tenant = [&](const json& state, const std::string& password) {
    engines::MariaEndpoint e;
    e.host = state["login"].value("host", "");
    e.port = static_cast<uint16_t>(state["login"].value("port", 0));
    e.user = "app";
    e.password = password;
    e.database = "app";
    return engines::MariaConnection::Connect(e);
  };
  {
    auto conn = tenant(source, source["login"].value("password", ""));
    ASSERT_TRUE(conn.ok()) << conn.status().ToString() << "\n" << Log();
    ASSERT_TRUE(conn->Query("CREATE TABLE t (id INT PRIMARY KEY, v TEXT) ENGINE=InnoDB").ok());
    ASSERT_TRUE(conn->Query("INSERT INTO t SELECT seq, MD5(seq) FROM seq_1_to_1000").ok());
    EXPECT_EQ(conn->QueryValue("SELECT @@max_connections").value_or(""), "50");
    engines::MariaEndpoint root;
    root.host = address();
    root.port = 3306;
    root.password = source["superuser"].value("password", "");
    EXPECT_FALSE(engines::MariaConnection::Connect(root).ok()) << "root from outside the pod";
  }
  auto begun = Call("POST", port, "/v1/backups", token_, R"({"label": "copy"})");
  ASSERT_TRUE(begun && begun->status == 201) << (begun ? begun->body : "");
  const std::string id = json::parse(begun->body)["id"];
  auto tree = Call("GET", port, "/v1/backups/" + id + "/tree", token_);
  ASSERT_TRUE(tree);
  EXPECT_EQ(tree->status, 409) << tree->body;
  EXPECT_NE(tree->body.find("no_file_copy"), std::string::npos) << tree->body;
  // The cut: the server paused while its volume is copied.
  auto pid = ReadFileToString(root_ / "volume/data/orders/run/mariadb.pid");
  ASSERT_TRUE(pid.ok()) << pid.status().ToString();
  ASSERT_EQ(::kill(std::stoi(*pid), SIGSTOP), 0);
  ProcessOptions cp;
  cp.argv = {"cp", "-a", root_ / "volume", root_ / "copy"};
  auto copied = RunProcess(cp, seconds(120));
  ASSERT_EQ(::kill(std::stoi(*pid), SIGCONT), 0);
  ASSERT_TRUE(copied.ok() && copied->exit_code == 0) << (copied.ok() ? copied->output : "");
  auto ended = Call("POST", port, "/v1/backups/" + id + "/end", token_);
  ASSERT_TRUE(ended && ended->status == 200) << (ended ? ended->body : "");
  const json end = json::parse(ended->body);
  EXPECT_TRUE(end["files"].empty()) << end.dump();
  EXPECT_TRUE(end["logFiles"].empty()) << end.dump();
  EXPECT_EQ(end["facts"].value("snapshot_kind", ""), "volume") << end.dump();
  EXPECT_FALSE(end["facts"].value("seconds_writes_blocked", "").empty()) << end.dump();
  EXPECT_EQ(Status("DELETE", port, "/v1/backups/" + id, token_), 204);

  // For a copy read file by file (the repository method): mariadb-backup's prepared copy,
  // made beside the data, served as the tree, gone with the backup.
  auto not_bool = Call("POST", port, "/v1/backups", token_, R"({"copy": "yes"})");
  ASSERT_TRUE(not_bool);
  EXPECT_EQ(not_bool->status, 400) << not_bool->body;
  const std::string stage = root_ / "volume/data/orders/backup-stage";
  // Made without the agent's backup lock: a second begin meanwhile is refused at once.
  int begun_status = 0;
  std::string begun_body;
  std::thread copying([&] {
    auto first = Call("POST", port, "/v1/backups", token_, R"({"copy": true})");
    if (!first) return;
    begun_status = first->status;
    begun_body = first->body;
  });
  const auto copy_deadline = std::chrono::steady_clock::now() + seconds(30);
  while (!PathExists(stage) && std::chrono::steady_clock::now() < copy_deadline) {
    std::this_thread::sleep_for(std::chrono::milliseconds(5));
  }
  auto second = Call("POST", port, "/v1/backups", token_, R"({"copy": true})");
  copying.join();
  ASSERT_TRUE(second);
  EXPECT_EQ(second->status, 409) << second->body;
  EXPECT_NE(second->body.find("being made"), std::string::npos) << second->body;
  ASSERT_EQ(begun_status, 201) << begun_body << "\n" << Log();
  const std::string copy_id = json::parse(begun_body)["id"];
  EXPECT_TRUE(PathExists(JoinPath(stage, "xtrabackup_checkpoints"))) << "no prepared copy";
  auto copy_tree = Call("GET", port, "/v1/backups/" + copy_id + "/tree", token_);
  ASSERT_TRUE(copy_tree);
  ASSERT_EQ(copy_tree->status, 200) << copy_tree->body;
  auto listed = storage::ParseManifest(copy_tree->body);
  ASSERT_TRUE(listed.ok()) << listed.status().ToString();
  std::set<std::string> paths;
  for (const storage::TreeEntry& e : listed->entries) paths.insert(e.path);
  EXPECT_TRUE(paths.count("ibdata1") && paths.count("app/t.ibd")) << copy_tree->body.size();
  EXPECT_FALSE(paths.count("xtrabackup_checkpoints")) << "mariadb-backup's records are no data";
  auto page =
      Call("GET", port, "/v1/backups/" + copy_id + "/range?path=app/t.ibd&offset=0&length=16384",
           token_);
  ASSERT_TRUE(page && page->status == 200) << (page ? page->body : "");
  EXPECT_EQ(page->body, ReadFile(JoinPath(stage, "app/t.ibd")).substr(0, 16384));
  auto copy_ended = Call("POST", port, "/v1/backups/" + copy_id + "/end", token_);
  ASSERT_TRUE(copy_ended && copy_ended->status == 200) << (copy_ended ? copy_ended->body : "");
  EXPECT_EQ(json::parse(copy_ended->body)["facts"].value("method", ""), "mariadb-backup");
  EXPECT_EQ(Status("DELETE", port, "/v1/backups/" + copy_id, token_), 204);
  EXPECT_FALSE(PathExists(stage)) << "the copy stayed on the volume";
  // What a pod killed during a copy leaves is removed as the agent starts again.
  ASSERT_TRUE(MakeDirs(JoinPath(stage, "app"), 0700).ok());
  WriteFile(JoinPath(stage, "app/t.ibd"), std::string(1 << 20, 'x'));
  WriteFile(stage + ".cnf", "[client]\npassword=secret\n");
  for (const std::string& planted :
       {stage, JoinPath(stage, "app"), JoinPath(stage, "app/t.ibd"), stage + ".cnf"}) {
    ASSERT_EQ(::chown(planted.c_str(), user_.uid, user_.gid), 0) << planted;  // the pod's
  }
  EXPECT_EQ(StopAgent(), 0) << Log();
  port = StartAgent();
  ASSERT_GT(port, 0) << Log();
  EXPECT_FALSE(PathExists(stage)) << "a cut-off copy stayed on the volume";
  EXPECT_FALSE(PathExists(stage + ".cnf"));
  EXPECT_EQ(StopAgent(), 0) << Log();

  volume_ = "copy";
  more_args_ = {"--restore-from", "orders"};
  host_ = 1;
  port = StartAgent();
  ASSERT_GT(port, 0);
  json request = {{"source", "orders"}, {"password", source["superuser"]["password"]}};
  // A label or a log is no MariaDB copy's: refused, the copy untouched.
  json labelled = request;
  labelled["files"] = {{"backup_label", "START WAL LOCATION: 0/0"}};
  auto refused = Call("POST", port, "/v1/restore", token_, labelled.dump());
  ASSERT_TRUE(refused);
  EXPECT_EQ(refused->status, 400) << refused->body;
  EXPECT_TRUE(PathExists(root_ / "copy/data/orders/data/ibdata1")) << "the copy was touched";
  auto restored = Call("POST", port, "/v1/restore", token_, request.dump());
  ASSERT_TRUE(restored);
  ASSERT_EQ(restored->status, 200) << restored->body << "\n" << Log();
  const json copy = json::parse(restored->body);
  EXPECT_EQ(copy["login"]["host"], address());
  EXPECT_NE(copy["login"]["password"], source["login"]["password"]);
  EXPECT_FALSE(tenant(copy, source["login"].value("password", "")).ok())
      << "the source's tenant password opens the copy";
  auto conn = tenant(copy, copy["login"].value("password", ""));
  ASSERT_TRUE(conn.ok()) << conn.status().ToString();
  EXPECT_EQ(conn->QueryValue("SELECT COUNT(*) FROM t").value_or(""), "1000");
  EXPECT_TRUE(conn->Query("INSERT INTO t VALUES (0, 'new')").ok()) << "not writable";
}

// The repository method's half in the pod: in backup mode the data directory is listed (a
// manifest without content, the engine's filter applied) and read range by range; nothing
// outside it, nothing through a link, nothing once backup mode has ended.
TEST_F(PodAgentTest, InBackupModeTheDataDirectoryIsListedAndReadAndNothingOnceItEnds) {
  const int port = StartAgent();
  ASSERT_GT(port, 0);
  const std::string data_dir = root_ / (volume_ + "/data/" + name_ + "/data");
  ASSERT_TRUE(PathExists(JoinPath(data_dir, "PG_VERSION"))) << data_dir;
  // A link a tenant could have made, to a file of the pod's.
  ASSERT_EQ(::symlink("/etc", JoinPath(data_dir, "escape").c_str()), 0);
  auto begun = Call("POST", port, "/v1/backups", token_, R"({"label": "files"})");
  ASSERT_TRUE(begun && begun->status == 201) << (begun ? begun->body : "");
  const std::string id = json::parse(begun->body)["id"];
  const std::string base = "/v1/backups/" + id;
  EXPECT_EQ(Status("GET", port, base + "/tree"), 401);

  auto tree = Call("GET", port, base + "/tree", token_);
  ASSERT_TRUE(tree);
  ASSERT_EQ(tree->status, 200) << tree->body;
  auto listed = storage::ParseManifest(tree->body);
  ASSERT_TRUE(listed.ok()) << listed.status().ToString();
  std::map<std::string, storage::TreeEntry> entries;
  for (const storage::TreeEntry& e : listed->entries) entries[e.path] = e;
  ASSERT_TRUE(entries.count("global/pg_control"));
  EXPECT_EQ(entries["global/pg_control"].size, 8192u);
  EXPECT_EQ(entries["escape"].type, storage::EntryType::kSymlink) << "listed, not followed";
  EXPECT_FALSE(entries.count("postmaster.pid")) << "what pg_basebackup leaves out stays out";
  ASSERT_TRUE(entries.count("pg_wal"));
  for (const auto& [path, e] : entries) EXPECT_FALSE(path.starts_with("pg_wal/")) << path;

  auto range = [&](const std::string& query) {
    return Call("GET", port, base + "/range?" + query, token_);
  };
  auto version = range("path=PG_VERSION&offset=0&length=100");
  ASSERT_TRUE(version);
  ASSERT_EQ(version->status, 200) << version->body;
  EXPECT_EQ(version->body, ReadFile(JoinPath(data_dir, "PG_VERSION")));
  auto tail = range("path=global/pg_control&offset=8000&length=4096");
  ASSERT_TRUE(tail);
  EXPECT_EQ(tail->status, 200);
  EXPECT_EQ(tail->body.size(), 192u) << "short only at the file's end";
  auto gone = range("path=base/1/999999&offset=0&length=10");
  ASSERT_TRUE(gone);
  EXPECT_EQ(gone->status, 410) << gone->body;
  for (const char* bad :
       {"path=../../secrets/agent-token&offset=0&length=10", "path=/etc/passwd&offset=0&length=10",
        "path=.&offset=0&length=10", "path=PG_VERSION&offset=x&length=10",
        "path=PG_VERSION&offset=0", "path=PG_VERSION&offset=0&length=16777217"}) {
    auto res = range(bad);
    ASSERT_TRUE(res);
    EXPECT_EQ(res->status, 400) << bad << ": " << res->body;
  }
  auto through_link = range("path=escape/passwd&offset=0&length=100");
  ASSERT_TRUE(through_link);
  EXPECT_NE(through_link->status, 200) << "read through a link: " << through_link->body;
  EXPECT_EQ(through_link->body.find("root:"), std::string::npos);
  EXPECT_EQ(Status("GET", port, "/v1/backups/0123456789abcdef/tree", token_), 404);

  auto ended = Call("POST", port, base + "/end", token_);
  ASSERT_TRUE(ended && ended->status == 200) << (ended ? ended->body : "");
  EXPECT_EQ(Status("GET", port, base + "/tree", token_), 409);
  auto after = range("path=PG_VERSION&offset=0&length=100");
  ASSERT_TRUE(after);
  EXPECT_EQ(after->status, 409) << "a file read after the end is no part of the copy";
  EXPECT_EQ(Status("DELETE", port, base, token_), 204);
}

// The restore's half of the repository method: into an empty volume, the daemon sends the
// copy file by file; every path stays inside the copy's directory.
TEST_F(PodAgentTest, ACopySentToAnEmptyVolumeIsWrittenThereAndNowhereElse) {
  more_args_ = {"--restore-from", "orders"};
  name_ = "fresh";
  const int port = StartAgent();
  ASSERT_GT(port, 0);
  const std::string copy = root_ / (volume_ + "/data/.volume-copy/data");
  auto put = [&](const std::string& query, const std::string& body) {
    auto res = Call("PUT", port, "/v1/restore/copy?" + query, token_, body);
    return res ? res->status : -1;
  };
  // Before any copy came, a restore says the volume holds none (and makes nothing).
  auto staged =
      Call("PUT", port, "/v1/restore/file?path=pg_wal/000000010000000000000001", token_, "wal");
  ASSERT_TRUE(staged && staged->status == 204) << (staged ? staged->body : "");
  const json early = {{"source", "orders"},
                      {"password", "secret"},
                      {"files", {{"backup_label", "START WAL LOCATION: 0/1000028\n"}}},
                      {"logFiles", {"pg_wal/000000010000000000000001"}}};
  auto no_copy = Call("POST", port, "/v1/restore", token_, early.dump());
  ASSERT_TRUE(no_copy);
  EXPECT_EQ(no_copy->status, 409) << no_copy->body;
  EXPECT_NE(no_copy->body.find("holds no copy of instance 'orders'"), std::string::npos)
      << no_copy->body;
  EXPECT_FALSE(PathExists(root_ / (volume_ + "/data/fresh"))) << "an instance was made";

  EXPECT_EQ(put("path=base&directory=1", ""), 204);
  EXPECT_EQ(put("path=base/5/1259&offset=0", "hello "), 204);
  EXPECT_EQ(put("path=base/5/1259&offset=6", "world"), 204);
  EXPECT_EQ(ReadFile(JoinPath(copy, "base/5/1259")), "hello world");
  struct stat st {};
  ASSERT_EQ(::stat(JoinPath(copy, "base/5/1259").c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 0777, 0600u);
  EXPECT_EQ(put("path=empty&offset=0", ""), 204);
  EXPECT_TRUE(PathExists(JoinPath(copy, "empty")));
  for (const char* bad : {"path=../../escaped&offset=0", "path=/tmp/x&offset=0", "path=.&offset=0",
                          "path=base/f", "path=base/f&offset=-1"}) {
    EXPECT_EQ(put(bad, "x"), 400) << bad;
  }
  EXPECT_FALSE(PathExists(root_ / (volume_ + "/escaped")));
  // A link in the copy (none is sent, but the volume is the pod's) leads nowhere.
  const std::string outside = root_ / "outside";
  ASSERT_TRUE(MakeDirs(outside).ok());
  ASSERT_EQ(::chmod(outside.c_str(), 0777), 0);
  ASSERT_EQ(::symlink(outside.c_str(), JoinPath(copy, "link").c_str()), 0);
  EXPECT_NE(put("path=link/f&offset=0", "x"), 204);
  EXPECT_FALSE(PathExists(JoinPath(outside, "f")));
  auto no_token = Call("PUT", port, "/v1/restore/copy?path=a&offset=0", "", "x");
  ASSERT_TRUE(no_token);
  EXPECT_EQ(no_token->status, 401);
}

TEST_F(PodAgentTest, AnInstanceWhoseMakingWasCutOffIsMadeAgain) {
  // A pod killed during initdb leaves a directory without instance.json.
  ASSERT_TRUE(MakeDirs(root_ / "volume/data/orders/data", 0700).ok());
  WriteFile(root_ / "volume/data/orders/data/PG_VERSION", "15\n");
  ASSERT_EQ(::chown((root_ / "volume/data").c_str(), user_.uid, user_.gid), 0);
  ASSERT_TRUE(runtime::ChownTree(root_ / "volume/data/orders", user_).ok());
  const int port = StartAgent();
  ASSERT_GT(port, 0);
  EXPECT_NE(Log().find("cut off"), std::string::npos) << Log();
  json inst = Instance(port);
  EXPECT_EQ(inst["answers"], true);
  auto conn = engines::PgConnection::Connect(inst["login"]["uri"].get<std::string>());
  EXPECT_TRUE(conn.ok()) << conn.status().ToString();
}

TEST_F(PodAgentTest, BadSettingsAndSecretsAreRefusedWithTheReasonAndMakeNothing) {
  // A setting the engine does not take.
  WriteFile(root_ / "config/settings.json", R"({"no_such_setting": "1"})");
  auto [code, log] = RunRefused(AgentCommand());
  EXPECT_NE(code, 0);
  EXPECT_NE(log.find("no_such_setting"), std::string::npos) << log;
  EXPECT_FALSE(PathExists(root_ / "volume/data/orders"));
  // Settings that are not an object of strings.
  WriteFile(root_ / "config/settings.json", R"({"work_mem": 12})");
  std::tie(code, log) = RunRefused(AgentCommand());
  EXPECT_NE(code, 0);
  EXPECT_NE(log.find("not a string"), std::string::npos) << log;
  WriteFile(root_ / "config/settings.json", "{}");
  // An engine the agent does not run, said so.
  std::tie(code, log) = RunRefused(AgentCommand("mysql"));
  EXPECT_NE(code, 0);
  EXPECT_NE(log.find("PostgreSQL and MariaDB instances, not 'mysql'"), std::string::npos) << log;
  // A token too short to be the daemon's.
  WriteSecret("agent-token", "short\n");
  std::tie(code, log) = RunRefused(AgentCommand());
  EXPECT_NE(code, 0);
  EXPECT_NE(log.find("agent-token"), std::string::npos) << log;
  // No token at all.
  ASSERT_EQ(::unlink((root_ / "secrets/agent-token").c_str()), 0);
  std::tie(code, log) = RunRefused(AgentCommand());
  EXPECT_NE(code, 0);
  EXPECT_NE(log.find("agent-token"), std::string::npos) << log;
  EXPECT_FALSE(PathExists(root_ / "volume/data/orders"));
}

}  // namespace
}  // namespace dbaas::testing
