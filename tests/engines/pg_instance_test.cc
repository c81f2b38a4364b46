// PostgreSQL instances with a real PostgreSQL 15 server (Debian's postgresql-15).
#include "engines/postgres/pg_instance.h"

#include <sys/stat.h>
#include <unistd.h>

#include <signal.h>

#include <filesystem>
#include <optional>
#include <thread>

#include <gtest/gtest.h>

#include "engines/postgres/pg_connection.h"
#include "test_util.h"

namespace dbaas::engines {
namespace {

class PgInstanceTest : public ::testing::Test {
 protected:
  void SetUp() override {
    if (!FindPgBinDir().ok()) GTEST_SKIP() << "PostgreSQL 15 is not installed";
    // The server's user must reach the instance directory through the temporary root.
    ::chmod(root_.path().c_str(), 0711);
  }
  PgInstanceSpec Spec(const std::string& name) {
    PgInstanceSpec spec;
    spec.name = name;
    spec.data_root = root_.path();
    return spec;
  }
  testing::TempDir root_;
};

TEST_F(PgInstanceTest, CreateStartQueryStopDelete) {
  PgInstanceSpec spec = Spec("orders-db");
  spec.config["work_mem"] = "8MB";
  auto inst = PgInstance::Create(spec);
  ASSERT_TRUE(inst.ok()) << inst.status().ToString();
  struct stat st;
  ASSERT_EQ(stat((inst->dir() + "/password").c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 0777, 0600u);

  ASSERT_TRUE(inst->Start().ok());
  PgConnectionInfo info = inst->connection();
  auto conn = PgConnection::Connect(info.SocketConninfo());
  ASSERT_TRUE(conn.ok()) << conn.status().ToString();
  EXPECT_EQ(conn->QueryValue("show max_connections").value(), "200");
  EXPECT_EQ(conn->QueryValue("show work_mem").value(), "8MB");
  EXPECT_EQ(conn->QueryValue("show data_checksums").value(), "on");
  EXPECT_EQ(conn->QueryValue("show listen_addresses").value(), "127.0.0.1");
  // Over TCP with the password (scram-sha-256), as a user's client would connect.
  auto tcp = PgConnection::Connect(info.Uri(/*with_password=*/true));
  ASSERT_TRUE(tcp.ok()) << tcp.status().ToString();
  ASSERT_TRUE(tcp->Query("create table t (id int primary key, v text)").ok());
  ASSERT_TRUE(tcp->QueryParams("insert into t values (1, $1)", {"it's; drop table t"}).ok());
  EXPECT_EQ(tcp->QueryValue("select v from t").value(), "it's; drop table t");
  // A wrong password is refused.
  PgConnectionInfo wrong = info;
  wrong.password = "nope";
  EXPECT_FALSE(PgConnection::Connect(wrong.Uri(true)).ok());

  ASSERT_TRUE(inst->Stop().ok());
  EXPECT_FALSE(inst->running());
  EXPECT_FALSE(PgConnection::Connect(info.SocketConninfo()).ok());

  // Reopened from disk, it starts again with its data.
  auto again = PgInstance::Open(root_.path(), "orders-db");
  ASSERT_TRUE(again.ok()) << again.status().ToString();
  ASSERT_TRUE(again->Start().ok());
  auto conn2 = PgConnection::Connect(again->connection().SocketConninfo());
  ASSERT_TRUE(conn2.ok());
  EXPECT_EQ(conn2->QueryValue("select count(*) from t").value(), "1");
  ASSERT_TRUE(again->Delete().ok());
  EXPECT_FALSE(std::filesystem::exists(root_.path() + "/orders-db"));
}

TEST_F(PgInstanceTest, ACrashedServerIsRestarted) {
  auto inst = PgInstance::Create(Spec("crashy"));
  ASSERT_TRUE(inst.ok()) << inst.status().ToString();
  ASSERT_TRUE(inst->Start().ok());
  {
    auto conn = PgConnection::Connect(inst->connection().SocketConninfo());
    ASSERT_TRUE(conn.ok());
    ASSERT_TRUE(conn->Query("create table kept (v int); insert into kept values (42)").ok());
  }
  pid_t first = inst->server_pid();
  ASSERT_GT(first, 0);
  ASSERT_EQ(::kill(first, SIGKILL), 0);
  // Back within the first back-off (1 s) plus crash recovery.
  auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(60);
  std::optional<PgConnection> conn;
  while (std::chrono::steady_clock::now() < deadline) {
    if (inst->server_pid() > 0 && inst->server_pid() != first) {
      auto c = PgConnection::Connect(inst->connection().SocketConninfo());
      if (c.ok()) {
        conn.emplace(std::move(c.value()));
        break;
      }
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
  }
  ASSERT_TRUE(conn) << "the server was not restarted";
  EXPECT_EQ(inst->restarts(), 1);
  EXPECT_EQ(conn->QueryValue("select v from kept").value(), "42");
  // A deliberate stop is not a crash: nothing restarts it.
  ASSERT_TRUE(inst->Stop().ok());
  std::this_thread::sleep_for(std::chrono::milliseconds(1500));
  EXPECT_FALSE(inst->running());
  EXPECT_FALSE(PgConnection::Connect(inst->connection().SocketConninfo()).ok());
}

TEST_F(PgInstanceTest, BadInputChangesNothing) {
  for (const char* bad : {"../etc", "Upper", "-x", "a_b", ""}) {
    auto inst = PgInstance::Create(Spec(bad));
    ASSERT_FALSE(inst.ok()) << bad;
    EXPECT_EQ(inst.status().code(), StatusCode::kInvalidArgument);
  }
  PgInstanceSpec reserved = Spec("db1");
  reserved.config["listen_addresses"] = "*";
  EXPECT_EQ(PgInstance::Create(reserved).status().code(), StatusCode::kInvalidArgument);
  PgInstanceSpec injection = Spec("db1");
  injection.config["work_mem"] = "1MB\nlisten_addresses = '*'";
  EXPECT_EQ(PgInstance::Create(injection).status().code(), StatusCode::kInvalidArgument);
  EXPECT_TRUE(std::filesystem::is_empty(root_.path()));

  auto first = PgInstance::Create(Spec("db1"));
  ASSERT_TRUE(first.ok()) << first.status().ToString();
  auto dup = PgInstance::Create(Spec("db1"));
  EXPECT_EQ(dup.status().code(), StatusCode::kAlreadyExists);
  EXPECT_TRUE(std::filesystem::exists(first->data_dir() + "/PG_VERSION"));
}

TEST_F(PgInstanceTest, FailedCreateLeavesNothingBehind) {
  PgInstanceSpec spec = Spec("broken");
  spec.bin_dir = "/nonexistent/bin";
  auto inst = PgInstance::Create(spec);
  ASSERT_FALSE(inst.ok());
  EXPECT_NE(inst.status().message().find("initdb"), std::string::npos) << inst.status().message();
  EXPECT_FALSE(std::filesystem::exists(root_.path() + "/broken"));
}

TEST_F(PgInstanceTest, ABadSettingMakesStartFailWithTheServersWords) {
  PgInstanceSpec spec = Spec("bad-setting");
  spec.config["shared_buffers"] = "lots";
  auto inst = PgInstance::Create(spec);
  ASSERT_TRUE(inst.ok()) << inst.status().ToString();
  Status st = inst->Start(std::chrono::seconds(30));
  ASSERT_FALSE(st.ok());
  EXPECT_NE(st.message().find("shared_buffers"), std::string::npos) << st.message();
  EXPECT_FALSE(inst->running());
}

}  // namespace
}  // namespace dbaas::engines
