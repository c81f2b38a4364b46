// The daemon's side of backup mode in a pod (kube_runtime/pod_backup_session.h) against a
// FAKE AGENT (kube/fake_agent.h) that answers as a tenant's pod might: an end that names
// files or log a MariaDB server has none of, facts that lie, WAL segments that are not the
// backup's span. The pod's answers are input: what the daemon keeps is its own.
#include "kube_runtime/pod_backup_session.h"

#include <chrono>
#include <mutex>
#include <string>
#include <thread>
#include <utility>
#include <vector>

#include <gtest/gtest.h>
#include <httplib.h>

#include <nlohmann/json.hpp>

#include "base/clock.h"
#include "kube/fake_agent.h"
#include "test_util.h"

namespace dbaas::testing {
namespace {

using nlohmann::json;
using std::chrono::milliseconds;
using std::chrono::steady_clock;

constexpr char kId[] = "0123abcd";

class PodBackupSessionTest : public ::testing::Test {
 protected:
  void SetUp() override {
    ASSERT_EQ(agent_.error(), "");
    httplib::SSLServer& server = agent_.server();
    server.Post("/v1/backups", [this](const httplib::Request& req, httplib::Response& res) {
      std::lock_guard lock(mu_);
      begun_with_ = json::parse(req.body, nullptr, false);
      res.set_content(json{{"id", kId}}.dump(), "application/json");
    });
    server.Post(
        "/v1/backups/0123abcd/end", [this](const httplib::Request&, httplib::Response& res) {
          std::this_thread::sleep_for(milliseconds(200));  // commits "blocked" this long at least
          std::lock_guard lock(mu_);
          res.set_content(end_.dump(), "application/json");
        });
    server.Delete("/v1/backups/0123abcd", [this](const httplib::Request&, httplib::Response& res) {
      std::lock_guard lock(mu_);
      ++abandoned_;
      res.status = 204;
    });
    ASSERT_TRUE(agent_.Start()) << agent_.error();
  }
  // Begun for `engine`, ended with what the fake agent says; the time from asking for the
  // begin to the end's answer in `waited`.
  Result<kube_runtime::PodBackupEnd> BeginAndEnd(
      const std::string& engine, const json& end, double* waited = nullptr,
      kube_runtime::PodCopy copy = kube_runtime::PodCopy::kVolumeSnapshot) {
    {
      std::lock_guard lock(mu_);
      end_ = end;
    }
    const auto asked = steady_clock::now();
    auto session = kube_runtime::PodBackupSession::Begin(agent_.client(), agent_.endpoint(), engine,
                                                         copy, "test", "backup b of 'i'");
    if (!session.ok()) return session.status();
    auto ended = (*session)->End();
    if (waited) *waited = std::chrono::duration<double>(steady_clock::now() - asked).count();
    return ended;
  }

  int abandoned() {
    std::lock_guard lock(mu_);
    return abandoned_;
  }

  json begun_with() {
    std::lock_guard lock(mu_);
    return begun_with_;
  }

  TempDir root_;
  std::mutex mu_;
  json end_;           // guarded by mu_
  json begun_with_;    // the last begin's body: guarded by mu_
  int abandoned_ = 0;  // guarded by mu_
  // Last: destroyed (stopped) first, before what its routes use.
  FakeAgent agent_{root_ / "agent"};
};

TEST_F(PodBackupSessionTest, AMariaDbEndThatNamesFilesOrLogIsRefusedAndTheBackupAbandoned) {
  for (const json& end : {json{{"id", kId}, {"files", {{"backup_label", "START WAL ..."}}}},
                          json{{"id", kId}, {"logFiles", {"pg_wal/000000010000000000000001"}}}}) {
    const int before = abandoned();
    auto ended = BeginAndEnd("mariadb", end);
    ASSERT_FALSE(ended.ok()) << end.dump();
    EXPECT_EQ(ended.status().code(), StatusCode::kIoError) << ended.status().ToString();
    EXPECT_NE(ended.status().message().find("names files or log"), std::string::npos)
        << ended.status().ToString();
    EXPECT_NE(ended.status().message().find("backup b of 'i'"), std::string::npos)
        << "the error does not say which backup";
    EXPECT_EQ(abandoned(), before + 1) << "a refused end left the backup held at the agent";
  }
}

TEST_F(PodBackupSessionTest, AMariaDbBackupsFactsAreTheDaemonsOwn) {
  // The agent lies: another engine, a method, a log position no server writes, a blocked
  // time longer than the daemon waited, a version that is no version.
  double waited = 0;
  auto ended = BeginAndEnd("mariadb",
                           {{"id", kId},
                            {"facts",
                             {{"engine", "postgresql"},
                              {"method", "mariadb-backup"},
                              {"start_lsn", "binlog.000001:4'; DROP TABLE backups; --"},
                              {"stop_lsn", "binlog.000001:4'; DROP TABLE backups; --"},
                              {"gtid_position", "0-1-42"},
                              {"seconds_writes_blocked", "86400.000"},
                              {"server_version_num", "10.11.6'; DROP TABLE backups; --"}}}},
                           &waited);
  ASSERT_TRUE(ended.ok()) << ended.status().ToString();
  const engines::BackupFacts& facts = ended->facts;
  EXPECT_EQ(facts.engine, "mariadb");
  EXPECT_EQ(facts.method, "backup-stage");
  EXPECT_EQ(facts.snapshot_kind, "volume");
  EXPECT_EQ(facts.stop_lsn, "") << "a position no server writes was kept";
  EXPECT_EQ(facts.gtid_position, "") << "a GTID position without its binlog position was kept";
  EXPECT_FALSE(facts.stop_time_unix_us.has_value());
  EXPECT_EQ(facts.server_version, "") << "a version that is no version was kept";
  ASSERT_TRUE(facts.seconds_writes_blocked.has_value());
  EXPECT_GE(*facts.seconds_writes_blocked, 0.2) << "the daemon's own bound is the time it waited";
  EXPECT_LE(*facts.seconds_writes_blocked, waited);

  // An honest agent's figure, within the bound, and its version are kept.
  ended = BeginAndEnd(
      "mariadb",
      {{"id", kId},
       {"facts",
        {{"seconds_writes_blocked", "0.050"},
         {"start_lsn", "binlog.000002:1234"},
         {"stop_lsn", "binlog.000002:1234"},
         {"gtid_position", "0-1-42,1-7-3"},
         // A pod's clock a year ahead: bounded by the daemon's.
         {"stop_time_unix_us", std::to_string(NowUnixNs() / 1000 + 365ll * 86400 * 1000000)},
         {"server_version_num", "10.11.6-MariaDB-0+deb12u1"}}}});
  ASSERT_TRUE(ended.ok()) << ended.status().ToString();
  EXPECT_DOUBLE_EQ(ended->facts.seconds_writes_blocked.value_or(-1), 0.05);
  EXPECT_EQ(ended->facts.server_version, "10.11.6-MariaDB-0+deb12u1");
  EXPECT_EQ(ended->facts.start_lsn, "binlog.000002:1234");
  EXPECT_EQ(ended->facts.stop_lsn, "binlog.000002:1234");
  EXPECT_EQ(ended->facts.gtid_position, "0-1-42,1-7-3");
  ASSERT_TRUE(ended->facts.stop_time_unix_us.has_value());
  EXPECT_LE(*ended->facts.stop_time_unix_us, NowUnixNs() / 1000);
  EXPECT_GE(*ended->facts.stop_time_unix_us, NowUnixNs() / 1000 - 60ll * 1000000);
  EXPECT_EQ(begun_with().value("copy", true), false) << begun_with().dump();

  // A copy read through the agent (the repository method): asked for as such, and named
  // by the daemon as what it asked for, whatever the agent says.
  ended = BeginAndEnd(
      "mariadb", {{"id", kId}, {"facts", {{"method", "backup-stage"}, {"snapshot_kind", "x"}}}},
      nullptr, kube_runtime::PodCopy::kFiles);
  ASSERT_TRUE(ended.ok()) << ended.status().ToString();
  EXPECT_EQ(begun_with().value("copy", false), true) << begun_with().dump();
  EXPECT_EQ(ended->facts.method, "mariadb-backup");
  EXPECT_EQ(ended->facts.snapshot_kind, "repository");
}

TEST_F(PodBackupSessionTest, APostgresEndWhoseWalIsNotTheBackupsSpanIsRefused) {
  const json facts = {{"engine", "postgresql"},
                      {"timeline", "1"},
                      {"start_lsn", "0/2000028"},
                      {"stop_lsn", "0/3000100"}};
  const json label = {{"backup_label", "START WAL LOCATION: 0/2000028"}};
  // Segments 2 and 3 are the span's: accepted, with the engine the daemon's.
  auto ended = BeginAndEnd(
      "postgresql",
      {{"id", kId},
       {"facts", facts},
       {"files", label},
       {"logFiles", {"pg_wal/000000010000000000000002", "pg_wal/000000010000000000000003"}}});
  ASSERT_TRUE(ended.ok()) << ended.status().ToString();
  EXPECT_EQ(ended->segment_size, uint64_t{16} << 20);
  EXPECT_EQ(ended->facts.engine, "postgresql");
  // One missing, one outside the span, a path out of pg_wal, no label: each refused, and
  // for its own reason.
  const std::vector<std::pair<json, std::string>> refusals = {
      {json{"pg_wal/000000010000000000000002"}, "are not the WAL segments from 0/2000028"},
      {json{"pg_wal/000000010000000000000002", "pg_wal/000000010000000000000009"},
       "are not the WAL segments from 0/2000028"},
      {json{"pg_wal/000000010000000000000002", "../000000010000000000000003"},
       "name '../000000010000000000000003'"}};
  for (const auto& [log, why] : refusals) {
    auto refused = BeginAndEnd(
        "postgresql", {{"id", kId}, {"facts", facts}, {"files", label}, {"logFiles", log}});
    EXPECT_EQ(refused.status().code(), StatusCode::kIoError) << log.dump();
    EXPECT_NE(refused.status().message().find(why), std::string::npos)
        << refused.status().ToString();
  }
  auto no_label = BeginAndEnd(
      "postgresql",
      {{"id", kId},
       {"facts", facts},
       {"logFiles", {"pg_wal/000000010000000000000002", "pg_wal/000000010000000000000003"}}});
  EXPECT_EQ(no_label.status().code(), StatusCode::kIoError) << no_label.status().ToString();
  EXPECT_NE(no_label.status().message().find("no backup_label"), std::string::npos)
      << no_label.status().ToString();
}

}  // namespace
}  // namespace dbaas::testing
