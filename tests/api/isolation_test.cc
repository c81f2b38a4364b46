// Tenant isolation end to end (docs/SECURITY.md): a real dbaasd, real PostgreSQL servers,
// and attacks made with the tenant's own means, a superuser login's COPY ... TO PROGRAM,
// which runs a program as the server's OS user. Each asserts that the attack fails.
#include <dirent.h>
#include <pwd.h>
#include <sys/stat.h>
#include <unistd.h>

#include <chrono>
#include <filesystem>
#include <set>
#include <sstream>
#include <thread>

#include <fmt/format.h>
#include <gtest/gtest.h>

#include "base/files.h"
#include "daemon.h"
#include "test_util.h"

namespace dbaas::testing {
namespace {

using nlohmann::json;
namespace fs = std::filesystem;

constexpr char kCanary[] = "canary-7d1e-not-for-servers";

class IsolationTest : public ::testing::Test {
 protected:
  void SetUp() override {
    ::chmod(root_.path().c_str(), 0711);  // the servers' user must reach the data root
    Status st = daemon_.Start({fmt::format("DBAAS_ISOLATION_CANARY={}", kCanary)});
    ASSERT_TRUE(st.ok()) << st.ToString();
  }
  void TearDown() override {
    auto code = daemon_.Stop();
    EXPECT_TRUE(code.ok() && code.value() == 0) << "dbaasd did not exit cleanly on SIGTERM";
  }
  // With superuser access: the attacks below are a superuser tenant's, the strongest.
  void Create(const std::string& name) {
    auto a = daemon_.Post("/instances",
                          json{{"name", name}, {"type", "postgresql"}, {"superuserAccess", true}});
    ASSERT_EQ(a.status, 201) << a.raw;
  }
  std::string InstanceDir(const std::string& name) {
    return daemon_.data_root() + "/instances/" + name;
  }
  // Runs `command` through the shell as the server's OS user, as a superuser tenant can.
  void AsTenant(const std::string& instance, const std::string& command) {
    std::string quoted;
    for (char c : command) quoted += c == '\'' ? std::string("''") : std::string(1, c);
    auto r = Psql(daemon_, instance, fmt::format("COPY (SELECT 1) TO PROGRAM '{}'", quoted),
                  /*superuser=*/true);
    ASSERT_TRUE(r.ok()) << r.status().ToString();
  }

  TempDir root_;
  Daemon daemon_{root_ / "data"};
};

std::set<std::string> SocketsOf(pid_t pid) {
  std::set<std::string> out;
  std::error_code ec;
  for (const auto& e : fs::directory_iterator(fmt::format("/proc/{}/fd", pid), ec)) {
    std::string target = fs::read_symlink(e.path(), ec).string();
    if (target.starts_with("socket:")) out.insert(target);
  }
  return out;
}

std::vector<pid_t> ChildrenOf(pid_t parent) {
  std::vector<pid_t> out;
  std::error_code ec;
  for (const auto& e : fs::directory_iterator("/proc", ec)) {
    pid_t pid = std::atoi(e.path().filename().c_str());
    if (pid <= 0) continue;
    auto stat = ReadFileToString(fmt::format("/proc/{}/stat", pid));
    if (!stat.ok()) continue;
    auto paren = stat->rfind(')');
    if (paren != std::string::npos && std::atoi(stat->c_str() + paren + 4) == parent) {
      out.push_back(pid);
    }
  }
  return out;
}

// An API connection open while a server starts (here: one whose request is not finished)
// is not held by the server or any of its backends, and the daemon's environment does not
// reach them.
TEST_F(IsolationTest, ServersHoldNoDaemonSocketAndNoDaemonEnvironment) {
  int pending = ConnectLoopback(daemon_.port());
  ASSERT_GE(pending, 0);
  std::string partial = "GET /instances HTTP/1.1\r\nHost: x\r\n";
  ASSERT_GT(::send(pending, partial.data(), partial.size(), MSG_NOSIGNAL), 0);

  Create("held");
  ASSERT_TRUE(Psql(daemon_, "held", "SELECT 1").ok());  // a backend exists too
  std::set<std::string> daemon_sockets = SocketsOf(daemon_.pid());
  ASSERT_FALSE(daemon_sockets.empty());
  auto postmasters = PostmastersUnder(daemon_.data_root());
  ASSERT_EQ(postmasters.size(), 1u);
  std::vector<pid_t> servers = {postmasters.begin()->first};
  for (pid_t child : ChildrenOf(servers[0])) servers.push_back(child);
  ASSERT_GT(servers.size(), 3u) << "the postmaster's children (checkpointer, walwriter, ...)";
  int environments_read = 0;
  for (pid_t pid : servers) {
    for (const std::string& s : SocketsOf(pid)) {
      EXPECT_EQ(daemon_sockets.count(s), 0u) << "server process " << pid << " holds " << s;
    }
    auto env = ReadFileToString(fmt::format("/proc/{}/environ", pid));
    if (!env.ok() && pid != servers[0]) continue;  // a backend that ended meanwhile
    ASSERT_TRUE(env.ok()) << env.status().ToString();
    EXPECT_EQ(env->find(kCanary), std::string::npos) << "pid " << pid;
    ++environments_read;
  }
  EXPECT_GT(environments_read, 3);
  ::close(pending);
}

// Links and FIFOs the tenant plants in its data and run directories: the backup stores
// links as links and reads nothing through them, the restore and its configuration rewrite
// write nothing through them, a FIFO stalls no API call, and delete removes the links, not
// what they point to.
TEST_F(IsolationTest, PlantedLinksAndFifosAreNeitherFollowedNorWaitedOn) {
  const std::string secret = root_ / "secret";
  WriteFile(secret, std::string("root-only ") + kCanary + "\n");
  ASSERT_EQ(::chmod(secret.c_str(), 0600), 0);
  const std::string outside = root_ / "outside";
  ASSERT_TRUE(MakeDirs(outside, 0755).ok());
  WriteFile(outside + "/keep", "keep");
  struct stat before;
  ASSERT_EQ(::stat(secret.c_str(), &before), 0);

  Create("victim");
  const std::string data = InstanceDir("victim") + "/data";
  const std::string run = InstanceDir("victim") + "/run";
  const std::string archive_id =
      json::parse(ReadFile(InstanceDir("victim") + "/instance.json"))["wal_archive"]["id"];
  const std::string spool = InstanceDir("victim") + "/wal-spool." + archive_id;
  AsTenant("victim", fmt::format("ln -s {0} {1}/planted_link && ln -s {2} {1}/planted_dir && "
                                 "mkfifo {1}/planted_fifo && mkfifo {3}/wal-push.status && "
                                 "mv {1}/postgresql.conf {1}/postgresql.conf.orig && "
                                 "ln -s {0} {1}/postgresql.conf && "
                                 "ln -s {0} {4}/000000010000000000000099 && "
                                 "mkfifo {4}/000000010000000000000098",
                                 secret, data, outside, run, spool));

  // The FIFO where the daemon reads the archiver's status stalls nothing.
  auto start = std::chrono::steady_clock::now();
  auto list = daemon_.Get("/instances");
  EXPECT_EQ(list.status, 200) << list.raw;
  auto one = daemon_.Get("/instances/victim");
  EXPECT_EQ(one.status, 200) << one.raw;
  EXPECT_LT(std::chrono::steady_clock::now() - start, std::chrono::seconds(1));
  // The spool's drain (every second) takes neither the link nor the FIFO, and says so.
  std::string message;
  auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(20);
  while (message.find("000000010000000000000098") == std::string::npos &&
         std::chrono::steady_clock::now() < deadline) {
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
    message = daemon_.Get("/instances/victim").body["instance"].value("statusMessage", "");
  }
  EXPECT_NE(message.find("000000010000000000000099: a symbolic link"), std::string::npos)
      << message;
  const std::string archive = daemon_.data_root() + "/repository/wal/" + archive_id;
  EXPECT_FALSE(PathExists(archive + "/000000010000000000000099"));
  EXPECT_FALSE(PathExists(archive + "/000000010000000000000098"));

  auto backup = daemon_.Post("/instances/victim/backup", json{{"backupName", "b1"}});
  ASSERT_EQ(backup.status, 201) << backup.raw;
  auto restored = daemon_.Post("/instances/victim/restore",
                               json{{"backupName", "b1"}, {"newInstanceName", "copy"}});
  ASSERT_EQ(restored.status, 201) << restored.raw;
  EXPECT_EQ(Psql(daemon_, "copy", "SELECT 42").value_or(""), "42");

  // Links came back as links; the configuration the daemon rewrote is a file of its own.
  const std::string copy = InstanceDir("copy") + "/data";
  struct stat st;
  ASSERT_EQ(::lstat((copy + "/planted_link").c_str(), &st), 0);
  EXPECT_TRUE(S_ISLNK(st.st_mode));
  ASSERT_EQ(::lstat((copy + "/postgresql.conf").c_str(), &st), 0);
  EXPECT_TRUE(S_ISREG(st.st_mode)) << "the planted link was replaced, not written through";
  // No byte of the root-only file is in the restored copy.
  std::error_code ec;
  for (const auto& e : fs::recursive_directory_iterator(copy, ec)) {
    if (e.is_symlink(ec) || !e.is_regular_file(ec)) continue;
    auto text = ReadFileToString(e.path().string(), 1ull << 30);
    if (text.ok()) {
      EXPECT_EQ(text->find(kCanary), std::string::npos) << e.path();
    }
  }
  // The file the links name is as it was: not read into a backup, not rewritten, not given.
  struct stat after;
  ASSERT_EQ(::stat(secret.c_str(), &after), 0);
  EXPECT_EQ(after.st_uid, 0u);
  EXPECT_EQ(after.st_mode & 0777, 0600u);
  EXPECT_EQ(after.st_mtim.tv_nsec, before.st_mtim.tv_nsec);
  EXPECT_EQ(ReadFile(secret), std::string("root-only ") + kCanary + "\n");

  // Delete removes the links, not what they lead to.
  ASSERT_EQ(daemon_.Delete("/instances/victim").status, 200);
  EXPECT_FALSE(PathExists(InstanceDir("victim")));
  EXPECT_EQ(ReadFile(outside + "/keep"), "keep");
  EXPECT_EQ(ReadFile(secret), std::string("root-only ") + kCanary + "\n");
}

// Each instance's server runs as an OS user of its own: one tenant's programs cannot read
// or list another's data, run directory or WAL archive, nor write any archive, its own
// included (it writes its spool, which the daemon drains), and the user goes with the
// instance.
TEST_F(IsolationTest, OneTenantCannotReachAnothersFiles) {
  Create("alice");
  Create("bob");
  auto program_runs = [&](const std::string& instance, const std::string& command) {
    std::string quoted;
    for (char c : command) quoted += c == '\'' ? std::string("''") : std::string(1, c);
    return Psql(daemon_, instance, fmt::format("COPY (SELECT 1) TO PROGRAM '{}'", quoted),
                /*superuser=*/true)
        .ok();
  };
  const std::string bob = InstanceDir("bob");
  // The control: alice reaches her own files.
  EXPECT_TRUE(program_runs("alice", "cat " + InstanceDir("alice") + "/data/PG_VERSION"));
  EXPECT_FALSE(program_runs("alice", "cat " + bob + "/data/PG_VERSION"));
  EXPECT_FALSE(program_runs("alice", "ls " + bob + "/run"));
  EXPECT_FALSE(program_runs("alice", "ls " + daemon_.data_root() + "/repository/wal"));
  EXPECT_FALSE(program_runs("alice", "cat " + bob + "/password"));
  json bob_meta = json::parse(ReadFile(bob + "/instance.json"));
  ASSERT_TRUE(bob_meta.contains("wal_archive"));
  const std::string bob_archive =
      daemon_.data_root() + "/repository/wal/" + bob_meta["wal_archive"]["id"].get<std::string>();
  EXPECT_FALSE(program_runs("alice", "ls " + bob_archive));
  EXPECT_FALSE(program_runs("alice", "touch " + bob_archive + "/000000010000000000000099"));
  json alice_meta = json::parse(ReadFile(InstanceDir("alice") + "/instance.json"));
  const std::string alice_id = alice_meta["wal_archive"]["id"];
  const std::string alice_archive = daemon_.data_root() + "/repository/wal/" + alice_id;
  EXPECT_FALSE(program_runs("alice", "touch " + alice_archive + "/000000010000000000000099"));
  const std::string alice_spool = InstanceDir("alice") + "/wal-spool." + alice_id;
  EXPECT_TRUE(program_runs("alice", "ls " + alice_spool)) << "the control: her own spool";
  EXPECT_FALSE(program_runs(
      "alice", "ls " + bob + "/wal-spool." + bob_meta["wal_archive"]["id"].get<std::string>()));

  struct stat a, b;
  ASSERT_EQ(::stat((InstanceDir("alice") + "/data").c_str(), &a), 0);
  ASSERT_EQ(::stat((bob + "/data").c_str(), &b), 0);
  EXPECT_NE(a.st_uid, b.st_uid);
  EXPECT_NE(a.st_uid, 0u);
  struct passwd* owner = ::getpwuid(b.st_uid);
  ASSERT_NE(owner, nullptr);
  std::string bob_user = owner->pw_name;
  EXPECT_TRUE(bob_user.starts_with("dbaas-")) << bob_user;
  ASSERT_EQ(daemon_.Delete("/instances/bob").status, 200);
  EXPECT_EQ(::getpwnam(bob_user.c_str()), nullptr) << "the user went with the instance";
}

// The login handed out is the owner of its own database, not a superuser: it cannot run
// programs or read the server's files, and the superuser's login is not shown. A restored
// copy's login gets a password of its own.
TEST_F(IsolationTest, TheTenantLoginIsNotASuperuser) {
  auto made = daemon_.Post("/instances", json{{"name", "plain"}, {"type", "postgresql"}});
  ASSERT_EQ(made.status, 201) << made.raw;
  auto shown = daemon_.Get("/instances/plain?showSecrets=true");
  ASSERT_EQ(shown.status, 200);
  const json& c = shown.body["instance"]["connection"];
  EXPECT_EQ(c["user"], "app");
  EXPECT_FALSE(c.contains("superuser")) << c.dump();
  EXPECT_EQ(Psql(daemon_, "plain", "SELECT rolsuper FROM pg_roles WHERE rolname = current_user")
                .value_or(""),
            "f");
  // It owns its database: tables, schemas, trusted extensions.
  ASSERT_TRUE(Psql(daemon_, "plain",
                   "CREATE SCHEMA s; CREATE TABLE s.t AS SELECT 1 AS x; CREATE EXTENSION pgcrypto")
                  .ok());
  for (const char* denied :
       {"COPY (SELECT 1) TO PROGRAM 'id'", "SELECT pg_read_file('postgresql.conf')",
        "CREATE EXTENSION file_fdw", "ALTER SYSTEM SET work_mem = '1GB'"}) {
    auto r = Psql(daemon_, "plain", denied);
    EXPECT_FALSE(r.ok()) << denied;
  }
  EXPECT_FALSE(Psql(daemon_, "plain", "SELECT 1", /*superuser=*/true).ok());

  ASSERT_EQ(daemon_.Post("/instances/plain/backup", json{{"backupName", "p1"}}).status, 201);
  auto restored = daemon_.Post("/instances/plain/restore",
                               json{{"backupName", "p1"}, {"newInstanceName", "plain-copy"}});
  ASSERT_EQ(restored.status, 201) << restored.raw;
  auto copy = daemon_.Get("/instances/plain-copy?showSecrets=true");
  EXPECT_EQ(copy.body["instance"]["connection"]["user"], "app");
  EXPECT_NE(copy.body["instance"]["connection"]["password"], c["password"]);
  EXPECT_EQ(Psql(daemon_, "plain-copy", "SELECT x FROM s.t").value_or(""), "1");
}

// MariaDB the same: `app` has every privilege on its database and none beyond it.
TEST_F(IsolationTest, TheMariaDbLoginOwnsItsDatabaseOnly) {
  if (::access("/usr/sbin/mariadbd", X_OK) != 0) GTEST_SKIP() << "mariadb-server missing";
  auto made = daemon_.Post("/instances", json{{"name", "shop"}, {"type", "mariadb"}});
  ASSERT_EQ(made.status, 201) << made.raw;
  EXPECT_EQ(made.body["instance"]["connection"]["user"], "app");
  ASSERT_TRUE(
      MariaSql(daemon_, "shop", "CREATE TABLE app.t (x INT); INSERT INTO app.t VALUES (5)").ok());
  for (const char* denied : {"CREATE DATABASE other", "SELECT * FROM mysql.user",
                             "SELECT 1 INTO OUTFILE '/tmp/dbaas-isolation-outfile'",
                             "SET GLOBAL max_connections = 5", "INSTALL SONAME 'ha_blackhole'"}) {
    EXPECT_FALSE(MariaSql(daemon_, "shop", denied).ok()) << denied;
  }
  EXPECT_FALSE(MariaSql(daemon_, "shop", "SELECT 1", /*superuser=*/true).ok());
  auto grants = MariaSql(daemon_, "shop", "SHOW GRANTS");
  ASSERT_TRUE(grants.ok());
  std::istringstream lines(*grants);
  for (std::string line; std::getline(lines, line);) {
    // Global grants: none but USAGE (the right to log in).
    if (line.find(" ON *.* ") != std::string::npos) {
      EXPECT_TRUE(line.starts_with("GRANT USAGE ON *.*")) << line;
    }
  }

  ASSERT_EQ(daemon_.Post("/instances/shop/backup", json{{"backupName", "s1"}}).status, 201);
  auto restored = daemon_.Post("/instances/shop/restore",
                               json{{"backupName", "s1"}, {"newInstanceName", "shop-copy"}});
  ASSERT_EQ(restored.status, 201) << restored.raw;
  EXPECT_EQ(MariaSql(daemon_, "shop-copy", "SELECT x FROM app.t").value_or(""), "5");
  auto a = daemon_.Get("/instances/shop?showSecrets=true").body["instance"]["connection"];
  auto b = daemon_.Get("/instances/shop-copy?showSecrets=true").body["instance"]["connection"];
  EXPECT_NE(a["password"], b["password"]);
}

// An instance made by a dbaasd whose servers all ran as postgres moves to a user of its own
// when the new daemon starts, with its data.
TEST_F(IsolationTest, AnInstanceOfTheSharedUserMovesToItsOwn) {
  Create("legacy");
  ASSERT_TRUE(Psql(daemon_, "legacy", "CREATE TABLE t AS SELECT 7 AS x").ok());
  ASSERT_TRUE(daemon_.Stop().ok());
  // Make it as an older dbaasd left it: no os_user, everything the server's the postgres user's.
  const std::string meta_path = InstanceDir("legacy") + "/instance.json";
  json meta = json::parse(ReadFile(meta_path));
  std::string own = meta.at("os_user");
  meta.erase("os_user");
  WriteFile(meta_path, meta.dump(2));
  auto postgres = LookupUser("postgres");
  ASSERT_TRUE(postgres.ok());
  std::vector<std::string> owned = {InstanceDir("legacy") + "/data",
                                    InstanceDir("legacy") + "/run"};
  // Before spools, the server's user wrote its archive in the repository itself.
  ASSERT_TRUE(meta.contains("wal_archive"));
  const std::string id = meta["wal_archive"]["id"];
  const std::string archive = daemon_.data_root() + "/repository/wal/" + id;
  const std::string spool = InstanceDir("legacy") + "/wal-spool." + id;
  ASSERT_TRUE(RemoveTree(spool).ok());
  for (const std::string& path : {owned[0], owned[1], archive}) {
    ProcessOptions chown;
    chown.argv = {"chown", "-R", "postgres:postgres", path};
    ASSERT_TRUE(RunChecked(chown, std::chrono::seconds(30)).ok());
  }
  ProcessOptions del;
  del.argv = {"userdel", own};
  ASSERT_TRUE(RunChecked(del, std::chrono::seconds(30)).ok());

  ASSERT_TRUE(daemon_.Start().ok());
  EXPECT_EQ(Psql(daemon_, "legacy", "SELECT x FROM t").value_or(""), "7");
  json moved = json::parse(ReadFile(meta_path));
  ASSERT_TRUE(moved.contains("os_user"));
  std::string user = moved["os_user"];
  EXPECT_TRUE(user.starts_with("dbaas-")) << user;
  EXPECT_NE(user, own);
  for (const std::string& path : owned) {
    struct stat st;
    ASSERT_EQ(::stat(path.c_str(), &st), 0);
    EXPECT_NE(st.st_uid, postgres->uid) << path;
    EXPECT_EQ(::getpwuid(st.st_uid)->pw_name, user) << path;
  }
  // Its archive is root's now, and it archives through a spool of its own.
  struct stat st;
  ASSERT_EQ(::stat(archive.c_str(), &st), 0);
  EXPECT_EQ(st.st_uid, 0u);
  ASSERT_EQ(::stat(spool.c_str(), &st), 0);
  EXPECT_EQ(::getpwuid(st.st_uid)->pw_name, user);
  // It still backs up, and archives: a restore point waits for its WAL in the archive.
  EXPECT_EQ(daemon_.Post("/instances/legacy/backup", json{{"backupName", "after"}}).status, 201);
  auto point = daemon_.Post("/instances/legacy/restore-points", json{{"name", "migrated"}});
  EXPECT_EQ(point.status, 201) << point.raw;
}

// Nothing under the data root is readable or writable by other users; neither `nobody`
// nor the servers' user reads a pack or manifest or takes the repository's lock.
TEST_F(IsolationTest, TheDataRootAndTheRepositoryAreRootsAlone) {
  Create("private");
  ASSERT_EQ(Psql(daemon_, "private", "CREATE TABLE t AS SELECT 1 AS x").status().ok(), true);
  ASSERT_EQ(daemon_.Post("/instances/private/backup", json{{"backupName", "b"}}).status, 201);

  std::vector<std::string> open_to_others;
  for (const auto& e : fs::recursive_directory_iterator(daemon_.data_root())) {
    struct stat st;
    // A link's mode means nothing; a server's socket is 0777 by default but lives in run/,
    // which is 0700 and the instance's user's (checked below).
    if (::lstat(e.path().c_str(), &st) != 0 || S_ISLNK(st.st_mode) || S_ISSOCK(st.st_mode)) {
      continue;
    }
    if (st.st_mode & (S_IROTH | S_IWOTH)) open_to_others.push_back(e.path().string());
  }
  EXPECT_TRUE(open_to_others.empty()) << open_to_others.size() << " paths, e.g. "
                                      << (open_to_others.empty() ? "" : open_to_others[0]);

  struct stat run;
  ASSERT_EQ(::stat((InstanceDir("private") + "/run").c_str(), &run), 0);
  EXPECT_EQ(run.st_mode & 0777, 0700u);
  EXPECT_NE(run.st_uid, 0u);

  const std::string repo = daemon_.data_root() + "/repository";
  std::string a_manifest, a_pack;
  for (const auto& e : fs::recursive_directory_iterator(repo)) {
    if (e.path().extension() == ".manifest" && a_manifest.empty()) a_manifest = e.path();
    if (e.path().extension() == ".pack" && a_pack.empty()) a_pack = e.path();
  }
  ASSERT_FALSE(a_manifest.empty());
  ASSERT_FALSE(a_pack.empty());
  for (const char* name : {"nobody", "postgres"}) {
    auto user = LookupUser(name);
    ASSERT_TRUE(user.ok()) << user.status().ToString();
    for (const std::vector<std::string>& argv :
         {std::vector<std::string>{"flock", "-n", repo + "/lock", "true"},
          std::vector<std::string>{"cat", a_manifest}, std::vector<std::string>{"cat", a_pack},
          std::vector<std::string>{"cat", repo + "/config.json"},
          std::vector<std::string>{"cat", daemon_.data_root() + "/catalog.db"},
          std::vector<std::string>{"ls", daemon_.data_root() + "/instances"}}) {
      ProcessOptions o;
      o.argv = argv;
      o.user = user.value();
      auto r = RunProcess(o, std::chrono::seconds(10));
      ASSERT_TRUE(r.ok()) << r.status().ToString();
      EXPECT_NE(r->exit_code, 0) << name << " could run: " << argv[0] << " " << argv[1];
    }
  }
  // And the daemon still backs up: the lock is its own.
  EXPECT_EQ(daemon_.Post("/instances/private/backup", json{{"backupName", "b2"}}).status, 201);
}

}  // namespace
}  // namespace dbaas::testing
