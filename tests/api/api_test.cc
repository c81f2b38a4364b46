// The REST API end to end: a real dbaasd, real PostgreSQL servers, every route with its
// successes and its failures. (docs/api/openapi.yaml is checked by openapi_test.py.)
#include <sys/stat.h>
#include <unistd.h>

#include <gtest/gtest.h>

#include "daemon.h"
#include "storage/repository.h"
#include "test_util.h"

namespace dbaas::testing {
namespace {

using nlohmann::json;

class ApiTest : public ::testing::Test {
 protected:
  void SetUp() override {
    ::chmod(root_.path().c_str(), 0711);  // the servers' user must reach the data root
    Status st = daemon_.Start();
    ASSERT_TRUE(st.ok()) << st.ToString();
  }
  void TearDown() override {
    auto code = daemon_.Stop();
    EXPECT_TRUE(code.ok() && code.value() == 0) << "dbaasd did not exit cleanly on SIGTERM";
    EXPECT_TRUE(PostmastersUnder(daemon_.data_root()).empty()) << "servers left running";
  }
  void CreateInstance(const std::string& name) {
    auto a = daemon_.Post("/instances", json{{"name", name}, {"type", "postgresql"}});
    ASSERT_EQ(a.status, 201) << a.raw;
  }
  static std::string ErrorCode(const HttpAnswer& a) {
    return a.body.is_object() && a.body.contains("error") ? a.body["error"].value("code", "") : "";
  }

  TempDir root_;
  Daemon daemon_{root_ / "data"};
};

TEST_F(ApiTest, HealthNeedsNoTokenEverythingElseDoes) {
  httplib::Client anon("127.0.0.1", daemon_.port());
  auto health = anon.Get("/healthz");
  ASSERT_TRUE(health);
  EXPECT_EQ(health->status, 200);
  for (const char* path : {"/instances", "/jobs", "/instances/x/backups"}) {
    auto res = anon.Get(path);
    ASSERT_TRUE(res);
    EXPECT_EQ(res->status, 401) << path;
    EXPECT_EQ(json::parse(res->body)["error"]["code"], "unauthorized");
  }
  anon.set_bearer_token_auth(std::string(daemon_.token().size(), 'a').c_str());
  EXPECT_EQ(anon.Get("/instances")->status, 401) << "a wrong token of the right length";
  struct stat st;
  ASSERT_EQ(::stat((daemon_.data_root() + "/api-token").c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 0777, 0600u);
  EXPECT_GE(daemon_.token().size(), 64u);
}

TEST_F(ApiTest, InstanceLifecycleWithAWorkingConnection) {
  auto created = daemon_.Post("/instances", json{{"name", "shop"},
                                                 {"type", "postgresql"},
                                                 {"size", "1Gi"},
                                                 {"config", {{"work_mem", "8MB"}}}});
  ASSERT_EQ(created.status, 201) << created.raw;
  const json& inst = created.body["instance"];
  EXPECT_EQ(created.body["message"], "Instance created successfully");
  EXPECT_EQ(inst["name"], "shop");
  EXPECT_EQ(inst["type"], "postgresql");
  EXPECT_EQ(inst["status"], "running");
  EXPECT_EQ(inst["size"], "1Gi");
  EXPECT_EQ(inst["connection"]["host"], "127.0.0.1");
  EXPECT_FALSE(inst["connection"].contains("password"));
  // The tenant's login: the owner of its own database, not the superuser.
  EXPECT_EQ(inst["connection"]["user"], "app");
  EXPECT_EQ(inst["connection"]["database"], "app");
  EXPECT_EQ(inst["connection"]["uri"].get<std::string>().rfind("postgresql://app@", 0), 0u)
      << "no password in the URI without showSecrets: " << inst["connection"]["uri"];

  auto secret = daemon_.Get("/instances/shop?showSecrets=true");
  ASSERT_EQ(secret.status, 200);
  std::string password = secret.body["instance"]["connection"]["password"];
  EXPECT_NE(secret.body["instance"]["connection"]["uri"].get<std::string>().find(password),
            std::string::npos);
  auto setting = Psql(daemon_, "shop", "show work_mem");
  ASSERT_TRUE(setting.ok()) << setting.status().ToString();
  EXPECT_EQ(setting.value(), "8MB") << "config reached the server";

  auto list = daemon_.Get("/instances");
  ASSERT_EQ(list.status, 200);
  EXPECT_EQ(list.body["count"], 1);
  EXPECT_EQ(list.body["instances"][0]["name"], "shop");

  auto dup = daemon_.Post("/instances", json{{"name", "shop"}, {"type", "postgresql"}});
  EXPECT_EQ(dup.status, 409);
  EXPECT_EQ(ErrorCode(dup), "already_exists");

  auto deleted = daemon_.Delete("/instances/shop");
  ASSERT_EQ(deleted.status, 200) << deleted.raw;
  EXPECT_EQ(daemon_.Get("/instances/shop").status, 404);
  EXPECT_EQ(daemon_.Delete("/instances/shop").status, 404);
  EXPECT_TRUE(PostmastersUnder(daemon_.data_root()).empty());
  struct stat st;
  EXPECT_NE(::stat((daemon_.data_root() + "/instances/shop").c_str(), &st), 0)
      << "the instance's directory is gone";
}

TEST_F(ApiTest, BackupRestoreKeepsExactlyTheDataOfItsMoment) {
  CreateInstance("src");
  ASSERT_TRUE(Psql(daemon_, "src",
                   "create table t (id int primary key, v text); "
                   "insert into t select g, md5(g::text) from generate_series(1, 5000) g")
                  .ok());
  auto backup =
      // A string, as the original design's documented requests send it.
      daemon_.Post("/instances/src/backup", json{{"backupName", "first"}, {"retentionDays", "7"}});
  ASSERT_EQ(backup.status, 201) << backup.raw;
  const json& b = backup.body["backup"];
  EXPECT_EQ(backup.body["message"], "Backup created successfully");
  for (const char* key :
       {"backupName", "namespace", "pvcName", "instanceType", "status", "createdAt", "size"}) {
    EXPECT_TRUE(b.contains(key)) << key;
  }
  // The original design's values (issue 21): its status, its volume quantity, its names.
  EXPECT_EQ(b["backupName"], "first");
  EXPECT_EQ(b["status"], "completed");
  EXPECT_EQ(b["state"], "ready");
  EXPECT_EQ(b["instanceType"], "postgresql");
  EXPECT_EQ(b["size"], "10Gi") << "the instance's volume: the default size";
  EXPECT_EQ(b["namespace"], "dbaas-src");
  EXPECT_EQ(b["pvcName"], "data-src-postgresql-local-0");
  EXPECT_GT(b["dataBytes"].get<uint64_t>(), 1u << 20);
  EXPECT_GT(b["storedBytes"].get<uint64_t>(), 0u);
  EXPECT_EQ(b["retentionDays"], 7);
  EXPECT_FALSE(b["expiresAt"].is_null());

  ASSERT_TRUE(Psql(daemon_, "src", "insert into t values (5001, 'after the backup')").ok());
  auto restored = daemon_.Post("/instances/src/restore",
                               json{{"backupName", "first"}, {"newInstanceName", "copy"}});
  ASSERT_EQ(restored.status, 201) << restored.raw;
  EXPECT_EQ(restored.body["message"], "Instance restored from backup successfully");
  const json& inst = restored.body["instance"];
  EXPECT_EQ(inst["name"], "copy");
  EXPECT_EQ(inst["type"], "postgresql");
  EXPECT_EQ(inst["status"], "running");
  EXPECT_EQ(inst["size"], "10Gi") << "the source's volume size";
  EXPECT_FALSE(inst["restoredFrom"]["restoredAt"].get<std::string>().empty());
  EXPECT_EQ(inst["restoredFrom"]["sourceInstance"], "src");
  EXPECT_EQ(inst["restoredFrom"]["backupName"], "first");
  EXPECT_EQ(Psql(daemon_, "copy", "select count(*), max(id) from t").value(), "5000|5000");
  EXPECT_EQ(Psql(daemon_, "src", "select count(*) from t").value(), "5001");

  // An unnamed backup gets <instance>-backup-<time>; the list is newest first.
  auto second = daemon_.Post("/instances/src/backup", std::string());
  ASSERT_EQ(second.status, 201) << second.raw;
  std::string second_name = second.body["backup"]["backupName"];
  EXPECT_EQ(second_name.rfind("src-backup-", 0), 0u) << second_name;
  auto list = daemon_.Get("/instances/src/backups");
  ASSERT_EQ(list.status, 200);
  ASSERT_EQ(list.body["count"], 2);
  EXPECT_EQ(list.body["backups"][0]["backupName"], second_name);
  EXPECT_EQ(daemon_.Get("/instances/src/backups/first").body["backup"]["backupName"], "first");
  {
    // The incremental stored the changed pages as page patches, which the daemon then
    // stored again as deltas of their base chunks (a gc, as `dbaas repo gc` does).
    auto repo = storage::Repository::Open(daemon_.data_root() + "/repository");
    ASSERT_TRUE(repo.ok()) << repo.status().ToString();
    size_t patches = 0, loose = 0;
    Status walked = (*repo)->ForEachBlob([&](const storage::BlobLocation& loc) {
      if (loc.entry.type != storage::BlobType::kPagePatch) return Status::Ok();
      ++patches;
      if (loc.entry.compression != storage::Compression::kZstdDelta) ++loose;
      return Status::Ok();
    });
    ASSERT_TRUE(walked.ok()) << walked.ToString();
    EXPECT_GT(patches, 0u);
    EXPECT_EQ(loose, 0u);
  }

  // Backups outlive their instance: delete it, restore the newest, then delete with them.
  ASSERT_EQ(daemon_.Delete("/instances/src").status, 200);
  EXPECT_EQ(daemon_.Get("/instances/src/backups").body["count"], 2);
  auto again = daemon_.Post("/instances/src/restore",
                            json{{"backupName", second_name}, {"newInstanceName", "revived"}});
  ASSERT_EQ(again.status, 201) << again.raw;
  EXPECT_EQ(Psql(daemon_, "revived", "select count(*) from t").value(), "5001");

  EXPECT_EQ(daemon_.Delete("/instances/src/backups/first").status, 200);
  EXPECT_EQ(daemon_.Get("/instances/src/backups/first").status, 404);
  EXPECT_EQ(daemon_.Delete("/instances/src/backups/first").status, 404);
  ASSERT_EQ(daemon_.Delete("/instances/copy?deleteBackups=true").status, 200);
  EXPECT_EQ(daemon_.Get("/instances/src/backups").body["count"], 1)
      << "deleteBackups takes the instance's own backups only";
}

TEST_F(ApiTest, MariaDbInstancesBackUpAndRestoreThroughTheApi) {
  if (::access("/usr/sbin/mariadbd", X_OK) != 0) GTEST_SKIP() << "mariadb-server missing";
  auto created = daemon_.Post(
      "/instances",
      json{{"name", "shop"}, {"type", "mariadb"}, {"config", {{"max_connections", 55}}}});
  ASSERT_EQ(created.status, 201) << created.raw;
  const json& inst = created.body["instance"];
  EXPECT_EQ(inst["type"], "mariadb");
  EXPECT_EQ(inst["status"], "running");
  EXPECT_EQ(inst["connection"]["user"], "app");
  EXPECT_EQ(inst["connection"]["uri"].get<std::string>().rfind("mysql://app@127.0.0.1:", 0), 0u)
      << inst.dump();
  EXPECT_FALSE(inst["connection"].contains("password"));
  std::string socket = inst["connection"]["socket"];
  EXPECT_TRUE(socket.ends_with("/shop/run/mariadb.sock")) << socket;
  EXPECT_EQ(MariaSql(daemon_, "shop", "SELECT @@max_connections").value(), "55");
  ASSERT_TRUE(MariaSql(daemon_, "shop",
                       "CREATE TABLE app.t (id INT PRIMARY KEY, v TEXT); "
                       "INSERT INTO app.t SELECT seq, MD5(seq) FROM app.seq_1_to_3000")
                  .ok());

  auto backup = daemon_.Post("/instances/shop/backup", json{{"backupName", "nightly"}});
  ASSERT_EQ(backup.status, 201) << backup.raw;
  const json& b = backup.body["backup"];
  EXPECT_EQ(b["instanceType"], "mariadb");
  EXPECT_EQ(b["status"], "completed");
  EXPECT_EQ(b["pvcName"], "data-shop-mariadb-local-0");
  EXPECT_TRUE(b["method"] == "reflink" || b["method"] == "mariadb-backup") << b.dump();
  EXPECT_GE(b["secondsWritesBlocked"].get<double>(), 0.0);
  EXPECT_NE(b["serverVersion"].get<std::string>().find("MariaDB"), std::string::npos);

  ASSERT_TRUE(MariaSql(daemon_, "shop", "INSERT INTO app.t VALUES (3001, 'later')").ok());
  auto restored = daemon_.Post("/instances/shop/restore",
                               json{{"backupName", "nightly"}, {"newInstanceName", "shop-copy"}});
  ASSERT_EQ(restored.status, 201) << restored.raw;
  EXPECT_EQ(restored.body["instance"]["type"], "mariadb");
  EXPECT_EQ(restored.body["instance"]["config"]["max_connections"], "55");
  EXPECT_EQ(MariaSql(daemon_, "shop-copy", "SELECT COUNT(*), MAX(id) FROM app.t").value(),
            "3000\t3000");
  EXPECT_EQ(MariaSql(daemon_, "shop", "SELECT COUNT(*) FROM app.t").value(), "3001");

  // An option the server refuses is a 400 and leaves nothing.
  auto refused = daemon_.Post(
      "/instances",
      json{{"name", "odd"}, {"type", "mariadb"}, {"config", {{"sql_mode", "no_such_mode"}}}});
  EXPECT_EQ(refused.status, 400) << refused.raw;
  EXPECT_EQ(daemon_.Get("/instances/odd").status, 404);

  // Type mysql without a MySQL server: served by MariaDB, and the instance says so.
  auto mysql = daemon_.Post("/instances", json{{"name", "legacy"}, {"type", "mysql"}});
  ASSERT_EQ(mysql.status, 201) << mysql.raw;
  EXPECT_EQ(mysql.body["instance"]["type"], "mysql");
  if (MariaSql(daemon_, "legacy", "SELECT VERSION()").value_or("").find("MariaDB") !=
      std::string::npos) {
    EXPECT_NE(mysql.body["instance"].value("statusMessage", "").find("served by MariaDB"),
              std::string::npos)
        << mysql.raw;
  }
  for (const char* name : {"shop", "shop-copy", "legacy"}) {
    EXPECT_EQ(daemon_.Delete(std::string("/instances/") + name + "?deleteBackups=true").status,
              200);
  }
}

TEST_F(ApiTest, APostWithoutALengthHasAnEmptyBody) {
  CreateInstance("quick");
  // `curl -X POST URL` sends neither Content-Length nor a body, and keeps the connection
  // open for the answer.
  auto started = std::chrono::steady_clock::now();
  int status = RawRequest(daemon_.port(),
                          "POST /instances/quick/backup HTTP/1.1\r\nHost: x\r\n"
                          "Authorization: Bearer " +
                              daemon_.token() + "\r\nConnection: close\r\n\r\n",
                          /*close_sending=*/false);
  EXPECT_EQ(status, 201);
  EXPECT_LT(std::chrono::steady_clock::now() - started, std::chrono::seconds(5))
      << "the server waited for a body that was never coming";
}

TEST_F(ApiTest, AsyncJobsAnswerAtOnceAndReportTheirEnd) {
  httplib::Client c("127.0.0.1", daemon_.port());
  c.set_bearer_token_auth(daemon_.token().c_str());
  auto res = c.Post("/instances?async=true", R"({"name":"later","type":"postgresql"})",
                    "application/json");
  ASSERT_TRUE(res);
  ASSERT_EQ(res->status, 202) << res->body;
  json body = json::parse(res->body);
  std::string id = body["jobId"];
  EXPECT_EQ(res->get_header_value("Location"), "/jobs/" + id);
  EXPECT_EQ(body["job"]["type"], "create-instance");
  json job = daemon_.WaitJob(id);
  EXPECT_EQ(job["status"], "succeeded") << job.dump();
  EXPECT_EQ(job["progress"], 1.0);
  EXPECT_FALSE(job["finishedAt"].is_null());
  EXPECT_EQ(daemon_.Get("/instances/later").body["instance"]["status"], "running");
  auto jobs = daemon_.Get("/jobs");
  ASSERT_EQ(jobs.status, 200);
  EXPECT_EQ(jobs.body["jobs"][0]["id"], id);
  EXPECT_EQ(daemon_.Get("/jobs/0123456789abcdef").status, 404);
  EXPECT_EQ(daemon_.Get("/jobs/not-a-job").status, 400);
}

TEST_F(ApiTest, BadInputIsRefusedWithTheRightStatusAndChangesNothing) {
  CreateInstance("keep");
  ASSERT_EQ(daemon_.Post("/instances/keep/backup", json{{"backupName", "b"}}).status, 201);
  std::string before = daemon_.Get("/instances").raw + daemon_.Get("/instances/keep/backups").raw;
  struct Case {
    std::string method, path, body;
    int status;
    std::string code;
  };
  std::vector<Case> cases = {
      {"POST", "/instances", "{not json", 400, "invalid_argument"},
      {"POST", "/instances", "[1,2]", 400, "invalid_argument"},
      {"POST", "/instances", R"({"name":"x","type":"oracle"})", 400, "invalid_argument"},
      {"POST", "/instances", R"({"name":"x","type":"mariadb","config":{"socket":"/tmp/s"}})", 400,
       "invalid_argument"},
      {"POST", "/instances", R"({"name":"x","type":"mariadb","config":{"a":"1;2"}})", 400,
       "invalid_argument"},
      {"POST", "/instances", R"({"name":"Bad_Name","type":"postgresql"})", 400, "invalid_argument"},
      {"POST", "/instances", R"({"name":"../etc","type":"postgresql"})", 400, "invalid_argument"},
      {"POST", "/instances", R"({"name":5,"type":"postgresql"})", 400, "invalid_argument"},
      {"POST", "/instances", R"({"type":"postgresql"})", 400, "invalid_argument"},
      {"POST", "/instances", R"({"name":"x","type":"postgresql","sise":"1Gi"})", 400,
       "invalid_argument"},
      {"POST", "/instances", R"({"name":"x","type":"postgresql","size":"lots"})", 400,
       "invalid_argument"},
      {"POST", "/instances", R"({"name":"x","type":"postgresql","config":{"port":"1"}})", 400,
       "invalid_argument"},
      {"POST", "/instances", R"({"name":"x","type":"postgresql","config":{"a":{"b":1}}})", 400,
       "invalid_argument"},
      {"POST", "/instances", R"({"name":"x","type":"postgresql","config":{"work_mem":"1\n2"}})",
       400, "invalid_argument"},
      {"POST", "/instances",
       R"({"name":"x","type":"postgresql","config":{"shared_buffers":"lots"}})", 400,
       "invalid_argument"},
      // Settings that widen a tenant's reach (docs/SECURITY.md): each refused, whatever
      // prefix, abbreviation or case MariaDB would have read it through.
      {"POST", "/instances",
       R"({"name":"x","type":"mariadb","config":{"loose-bind-address":"0.0.0.0"}})", 400,
       "invalid_argument"},
      {"POST", "/instances", R"({"name":"x","type":"mariadb","config":{"skip-grant-table":"1"}})",
       400, "invalid_argument"},
      {"POST", "/instances", R"({"name":"x","type":"mariadb","config":{"plugin-load-ad":"x"}})",
       400, "invalid_argument"},
      {"POST", "/instances",
       R"({"name":"x","type":"postgresql","config":{"recovery_end_command":"id"}})", 400,
       "invalid_argument"},
      {"POST", "/instances",
       R"({"name":"x","type":"postgresql","config":{"archive_cleanup_command":"id"}})", 400,
       "invalid_argument"},
      {"POST", "/instances",
       R"({"name":"x","type":"postgresql","config":{"ssl_passphrase_command":"id"}})", 400,
       "invalid_argument"},
      {"POST", "/instances",
       R"({"name":"x","type":"postgresql","config":{"dynamic_library_path":"/tmp"}})", 400,
       "invalid_argument"},
      {"POST", "/instances", R"({"name":"keep","type":"postgresql"})", 409, "already_exists"},
      {"POST", "/instances?async=perhaps", R"({"name":"x","type":"postgresql"})", 400,
       "invalid_argument"},
      {"POST", "/instances/nope/backup", "", 404, "not_found"},
      {"POST", "/instances/keep/backup", R"({"backupName":"b"})", 409, "already_exists"},
      {"POST", "/instances/keep/backup", R"({"retentionDays":"seven"})", 400, "invalid_argument"},
      {"POST", "/instances/keep/backup", R"({"retentionDays":"7 "})", 400, "invalid_argument"},
      {"POST", "/instances/keep/backup", R"({"retentionDays":"0x7"})", 400, "invalid_argument"},
      {"POST", "/instances/keep/backup", R"({"retentionDays":"99999999999"})", 400,
       "invalid_argument"},
      {"POST", "/instances/keep/backup", R"({"retentionDays":0})", 400, "invalid_argument"},
      {"POST", "/instances/keep/backup", R"({"retentionDays":1e300})", 400, "invalid_argument"},
      {"POST", "/instances/keep/backup", R"({"backupName":"UPPER"})", 400, "invalid_argument"},
      {"POST", "/instances/keep/backup", R"({"repository":"s3"})", 400, "invalid_argument"},
      {"POST", "/instances/keep/backup", R"({"repository":"volumeSnapshot"})", 400,
       "invalid_argument"},
      {"POST", "/instances/keep/backup", R"({"repository":7})", 400, "invalid_argument"},
      {"GET", "/instances/keep/backups/nope", "", 404, "not_found"},
      {"GET", "/instances/nope/backups", "", 404, "not_found"},
      {"GET", "/instances/nope", "", 404, "not_found"},
      {"GET", "/instances/..", "", 400, "invalid_argument"},
      {"DELETE", "/instances/nope", "", 404, "not_found"},
      {"POST", "/instances/keep/restore", R"({"backupName":"nope","newInstanceName":"y"})", 404,
       "not_found"},
      {"POST", "/instances/keep/restore", R"({"backupName":"b"})", 400, "invalid_argument"},
      {"POST", "/instances/keep/restore", R"({"backupName":"b","newInstanceName":"keep"})", 409,
       "already_exists"},
      {"POST", "/instances/keep/restore",
       R"({"backupName":"b","newInstanceName":"y","size":"1Ki"})", 400, "invalid_argument"},
      {"POST", "/instances/other/restore", R"({"backupName":"b","newInstanceName":"y"})", 404,
       "not_found"},
      {"GET", "/no/such/route", "", 404, "not_found"},
      {"POST", "/instances", std::string(2 << 20, ' '), 413, "payload_too_large"},
  };
  httplib::Client c("127.0.0.1", daemon_.port());
  c.set_bearer_token_auth(daemon_.token().c_str());
  // A setting's value is checked by the server itself (a trial start: seconds under ASan
  // on a loaded machine), longer than the client's default 5 s.
  c.set_read_timeout(120, 0);
  for (const Case& k : cases) {
    httplib::Result res = k.method == "GET"    ? c.Get(k.path)
                          : k.method == "POST" ? c.Post(k.path, k.body, "application/json")
                                               : c.Delete(k.path);
    ASSERT_TRUE(res) << k.method << " " << k.path << " " << k.body.substr(0, 80) << ": "
                     << httplib::to_string(res.error());
    EXPECT_EQ(res->status, k.status)
        << k.method << " " << k.path << " " << k.body.substr(0, 80) << " -> " << res->body;
    json body = json::parse(res->body, nullptr, false);
    ASSERT_TRUE(body.is_object()) << res->body;
    EXPECT_EQ(body["success"], false);
    EXPECT_EQ(body["error"]["code"], k.code) << k.path << " " << res->body;
    EXPECT_FALSE(body["error"]["message"].get<std::string>().empty());
  }
  std::string after = daemon_.Get("/instances").raw + daemon_.Get("/instances/keep/backups").raw;
  EXPECT_EQ(before, after);
  struct stat st;
  EXPECT_NE(::stat((daemon_.data_root() + "/instances/x").c_str(), &st), 0);
  EXPECT_NE(::stat((daemon_.data_root() + "/instances/y").c_str(), &st), 0);
}

}  // namespace
}  // namespace dbaas::testing
