#include "pg_test_tools.h"

#include <sys/stat.h>

#include <gtest/gtest.h>

#include "base/files.h"
#include "engines/postgres/pg_connection.h"

namespace dbaas::engines {

void PgRepositoryTest::SetUp() {
  auto bin = FindPgBinDir();
  if (!bin.ok()) GTEST_SKIP() << "PostgreSQL 15 is not installed";
  bin_ = bin.value();
  ::chmod(root_.path().c_str(), 0711);
  ASSERT_TRUE(storage::Repository::Init(root_ / "repo", {}).ok());
  repo_ = std::move(storage::Repository::Open(root_ / "repo").value());
}

ProcessOptions PgRepositoryTest::Tool(const std::string& name, std::vector<std::string> args,
                                      const PgInstance& inst) const {
  return PgTool(bin_, name, std::move(args), inst);
}

std::string SqlValue(PgConnection& conn, const std::string& sql) {
  auto rows = conn.Query(sql);
  EXPECT_TRUE(rows.ok()) << sql << ": " << rows.status().ToString();
  if (!rows.ok() || rows->empty() || rows->at(0).empty()) return "";
  return rows->at(0).at(0);
}

ProcessOptions PgTool(const std::string& bin_dir, const std::string& name,
                      std::vector<std::string> args, const PgInstance& inst) {
  ProcessOptions o;
  o.argv = {JoinPath(bin_dir, name)};
  o.argv.insert(o.argv.end(), args.begin(), args.end());
  PgConnectionInfo c = inst.connection();
  o.env = {"PGHOST=" + c.socket_dir, "PGPORT=" + std::to_string(c.port), "PGUSER=postgres",
           "PGPASSWORD=" + c.password, "PGDATABASE=postgres"};
  return o;
}

void ExpectPgbenchConsistent(const std::string& bin_dir, const PgInstance& inst) {
  auto amcheck =
      RunProcess(PgTool(bin_dir, "pg_amcheck",
                        {"--install-missing", "--heapallindexed", "-d", "postgres"}, inst),
                 std::chrono::seconds(300));
  ASSERT_TRUE(amcheck.ok());
  EXPECT_EQ(amcheck->exit_code, 0) << amcheck->output;
  auto conn = PgConnection::Connect(inst.connection().SocketConninfo());
  ASSERT_TRUE(conn.ok());
  auto sums = conn->Query(
      "select (select sum(abalance) from pgbench_accounts), (select sum(tbalance) from "
      "pgbench_tellers), (select sum(bbalance) from pgbench_branches), (select "
      "coalesce(sum(delta), 0) from pgbench_history), (select count(*) from pgbench_history)");
  ASSERT_TRUE(sums.ok()) << sums.status().ToString();
  const auto& row = sums.value()[0];
  EXPECT_EQ(row[0], row[1]);
  EXPECT_EQ(row[1], row[2]);
  EXPECT_EQ(row[2], row[3]);
  EXPECT_NE(row[4], "0") << "the backup saw no transactions: the load was not running";
}

}  // namespace dbaas::engines
