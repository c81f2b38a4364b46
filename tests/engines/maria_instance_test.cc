// MariaDB instances with real MariaDB 10.11 servers (Debian's mariadb-server).
#include "engines/mariadb/maria_instance.h"
#include "engines/mariadb/maria_settings.h"

#include <signal.h>
#include <sys/stat.h>
#include <unistd.h>

#include <thread>

#include <gtest/gtest.h>

#include "base/files.h"
#include "engines/engine.h"
#include "test_util.h"

namespace dbaas::engines {
namespace {

bool MariaDbInstalled() { return ::access("/usr/sbin/mariadbd", X_OK) == 0; }

class MariaInstanceTest : public ::testing::Test {
 protected:
  void SetUp() override {
    if (!MariaDbInstalled()) GTEST_SKIP() << "mariadb-server is not installed";
    ::chmod(root_.path().c_str(), 0711);  // the mysql user reaches its directories below
  }
  InstanceSpec Spec(const std::string& name, const std::string& type = "mariadb") {
    InstanceSpec spec;
    spec.name = name;
    spec.type = type;
    spec.data_root = root_ / "instances";
    return spec;
  }
  testing::TempDir root_;
};

TEST_F(MariaInstanceTest, CreateStartConnectRestartStop) {
  InstanceSpec spec = Spec("app");
  spec.config = {{"max_connections", "77"}, {"innodb-buffer-pool-size", "64M"}};
  auto made = MariaInstance::Create(spec);
  ASSERT_TRUE(made.ok()) << made.status().ToString();
  MariaInstance& inst = **made;
  EXPECT_FALSE(inst.running());
  ASSERT_TRUE(inst.Start().ok());
  EXPECT_TRUE(inst.running());

  // Secrets are 0600 files.
  struct stat st {};
  for (const char* secret : {"password", "client.cnf"}) {
    ASSERT_EQ(::stat(JoinPath(inst.dir(), secret).c_str(), &st), 0) << secret;
    EXPECT_EQ(st.st_mode & 0777, 0600u) << secret;
  }
  auto conn = MariaConnection::Connect(inst.client());
  ASSERT_TRUE(conn.ok()) << conn.status().ToString();
  EXPECT_NE(conn->QueryValue("SELECT VERSION()").value().find("MariaDB"), std::string::npos);
  EXPECT_EQ(conn->QueryValue("SELECT @@max_connections").value(), "77");
  EXPECT_EQ(conn->QueryValue("SELECT @@innodb_buffer_pool_size").value(), std::to_string(64 << 20));
  EXPECT_EQ(conn->QueryValue("SELECT @@bind_address").value(), "127.0.0.1");
  EXPECT_EQ(conn->QueryValue("SELECT @@port").value(), std::to_string(inst.endpoint().port));
  // No anonymous users, no root reachable from other hosts, no test database.
  EXPECT_EQ(conn->QueryValue("SELECT COUNT(*) FROM mysql.user WHERE user = '' OR "
                             "host NOT IN ('localhost', '127.0.0.1')")
                .value(),
            "0");
  EXPECT_EQ(conn->QueryValue("SELECT COUNT(*) FROM information_schema.schemata WHERE "
                             "schema_name = 'test'")
                .value(),
            "0");
  if (::geteuid() == 0) {
    // As root, the server runs as the instance's own user, not the shared mysql user.
    EXPECT_EQ(conn->QueryValue("SELECT @@datadir").value(), inst.data_dir() + "/");
    ASSERT_EQ(::stat(inst.data_dir().c_str(), &st), 0);
    ASSERT_TRUE(inst.server_user().has_value());
    EXPECT_EQ(st.st_uid, inst.server_user()->uid);
    EXPECT_TRUE(inst.server_user()->name.starts_with("dbaas-")) << inst.server_user()->name;
    auto mysql = LookupUser("mysql");
    ASSERT_TRUE(mysql.ok());
    EXPECT_NE(st.st_uid, mysql->uid);
  }

  // A wrong password is refused; the right one works over TCP on 127.0.0.1 too.
  MariaEndpoint wrong = inst.client();
  wrong.password = "not-the-password";
  auto refused = MariaConnection::Connect(wrong);
  ASSERT_FALSE(refused.ok());
  EXPECT_NE(refused.status().message().find("Access denied"), std::string::npos);
  ProcessOptions tcp;
  tcp.argv = {"mariadb",
              "--no-defaults",
              "--protocol=tcp",
              "-h",
              "127.0.0.1",
              "-P",
              std::to_string(inst.endpoint().port),
              "-uroot",
              "-p" + inst.endpoint().password,
              "-N",
              "-e",
              "SELECT 40 + 2"};
  auto out = RunChecked(tcp, std::chrono::seconds(30));
  ASSERT_TRUE(out.ok()) << out.status().ToString();
  EXPECT_EQ(out.value(), "42\n");
  EXPECT_EQ(inst.endpoint().Uri(false),
            "mysql://root@127.0.0.1:" + std::to_string(inst.endpoint().port) + "/");

  // Opened again (a restarted daemon), it starts on the same data and port.
  ASSERT_TRUE(conn->Query("CREATE DATABASE shop").ok());
  ASSERT_TRUE(inst.Stop().ok());
  EXPECT_FALSE(MariaConnection::Answers(inst.client()));
  auto opened = PackagedEngines(runtime::Local())->Open(root_ / "instances", "app");
  ASSERT_TRUE(opened.ok()) << opened.status().ToString();
  ASSERT_TRUE((*opened)->Start().ok());
  auto again = MariaConnection::Connect(inst.client());
  ASSERT_TRUE(again.ok()) << again.status().ToString();
  EXPECT_EQ(again
                ->QueryValue("SELECT COUNT(*) FROM information_schema.schemata WHERE "
                             "schema_name = 'shop'")
                .value(),
            "1");
  ASSERT_TRUE((*opened)->Delete().ok());
  EXPECT_FALSE(PathExists(inst.dir()));
}

TEST_F(MariaInstanceTest, TheSupervisorRestartsAKilledServer) {
  auto made = MariaInstance::Create(Spec("crashy"));
  ASSERT_TRUE(made.ok()) << made.status().ToString();
  MariaInstance& inst = **made;
  ASSERT_TRUE(inst.Start().ok());
  auto conn = MariaConnection::Connect(inst.client());
  ASSERT_TRUE(conn.ok());
  std::string pid = conn->QueryValue("SELECT @@pid_file").value();
  auto pid_text = ReadFileToString(pid);
  ASSERT_TRUE(pid_text.ok()) << pid_text.status().ToString();
  ASSERT_EQ(::kill(std::stoi(pid_text.value()), SIGKILL), 0);
  auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(60);
  while (inst.restarts() == 0 || !MariaConnection::Connect(inst.client()).ok()) {
    ASSERT_LT(std::chrono::steady_clock::now(), deadline) << "not restarted";
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
  }
  EXPECT_TRUE(inst.running());
}

TEST_F(MariaInstanceTest, AnOptionTheServerRefusesFailsTheStartWithItsWords) {
  InstanceSpec spec = Spec("badopt");
  spec.config = {{"sql_mode", "no_such_mode"}};  // an allowed option, a value it refuses
  auto made = MariaInstance::Create(spec);
  ASSERT_TRUE(made.ok()) << made.status().ToString();
  Status st = (*made)->Start(std::chrono::seconds(30));
  ASSERT_FALSE(st.ok());
  EXPECT_EQ(st.code(), StatusCode::kInvalidArgument) << st.ToString();
  EXPECT_NE(st.ToString().find("no_such_mode"), std::string::npos) << st.ToString();
  EXPECT_FALSE((*made)->running());
}

TEST_F(MariaInstanceTest, BadInputIsRefusedAndLeavesNothingBehind) {
  auto first = MariaInstance::Create(Spec("taken"));
  ASSERT_TRUE(first.ok()) << first.status().ToString();
  auto again = MariaInstance::Create(Spec("taken"));
  ASSERT_FALSE(again.ok());
  EXPECT_EQ(again.status().code(), StatusCode::kAlreadyExists);
  EXPECT_TRUE(PathExists(JoinPath((*first)->data_dir(), "mysql")));  // the first is intact

  EXPECT_FALSE(MariaInstance::Create(Spec("../escape")).ok());
  EXPECT_FALSE(MariaInstance::Create(Spec("Upper")).ok());
  EXPECT_FALSE(PathExists(root_ / "escape"));
  InstanceSpec reserved = Spec("reserved");
  reserved.config = {{"socket", "/tmp/elsewhere.sock"}};
  EXPECT_EQ(MariaInstance::Create(reserved).status().code(), StatusCode::kInvalidArgument);
  EXPECT_FALSE(PathExists(root_ / "instances/reserved"));
}

TEST(MariaConfigTest, RefusesWhatTheInstanceOwnsAndWhatAnOptionFileCannotHold) {
  EXPECT_TRUE(ValidateMariaSettings({{"max_connections", "300"},
                                     {"innodb_buffer_pool_size", "1G"},
                                     {"innodb-flush-log-at-trx-commit", "2"},
                                     {"sql_mode", "STRICT_TRANS_TABLES,NO_ZERO_DATE"}})
                  .ok());
  for (const char* owned : {"datadir", "socket", "port", "bind-address", "bind_address", "user",
                            "skip-grant-tables", "init_file", "plugin_load_add", "log_error"}) {
    EXPECT_EQ(ValidateMariaSettings({{owned, "x"}}).code(), StatusCode::kInvalidArgument) << owned;
  }
  for (const char* key : {"", "Max", "!include", "a b", "a=b", "_x"}) {
    EXPECT_FALSE(ValidateMariaSettings({{key, "1"}}).ok()) << key;
  }
  for (const char* value : {"1\n[client]", "/etc/passwd", "a b", "x;y", "'q'", "#"}) {
    EXPECT_FALSE(ValidateMariaSettings({{"sql_mode", value}}).ok()) << value;
  }
}

TEST_F(MariaInstanceTest, TypeMySqlIsServedByMariaDbAndSaysSo) {
  auto made = MariaInstance::Create(Spec("my", "mysql"));
  ASSERT_TRUE(made.ok()) << made.status().ToString();
  if ((*made)->flavor() == MariaFlavor::kMySQL) GTEST_SKIP() << "a MySQL server is installed";
  EXPECT_NE((*made)->note().find("served by MariaDB"), std::string::npos);
  ASSERT_TRUE((*made)->Start().ok());
  EXPECT_EQ((*made)->endpoint().type, "mysql");
  EXPECT_EQ((*made)->endpoint().Uri(true).rfind("mysql://root:", 0), 0u);
}

}  // namespace
}  // namespace dbaas::engines
