#include "engines/postgres/pg_check.h"

#include <fmt/format.h>

#include "base/files.h"
#include "base/process.h"
#include "engines/postgres/pg_connection.h"

namespace dbaas::engines {
namespace {

// At most this many problems are kept: a badly damaged copy reports thousands of lines.
constexpr size_t kMaxProblems = 20;

Status CountTables(const PgConnectionInfo& info, const std::string& database,
                   IntegrityReport& report) {
  PgConnectionInfo db = info;
  db.database = database;
  ASSIGN_OR_RETURN(PgConnection conn, PgConnection::ConnectOwn(db.SocketConninfo()));
  ASSIGN_OR_RETURN(auto tables,
                   conn.Query("select format('%I.%I', n.nspname, c.relname) from pg_class c "
                              "join pg_namespace n on n.oid = c.relnamespace "
                              "where c.relkind in ('r', 'm') and n.nspname not in "
                              "('pg_catalog', 'information_schema') and n.nspname !~ '^pg_toast' "
                              "order by 1"));
  for (const auto& row : tables) {
    const std::string& table = row.at(0);
    auto count = conn.QueryValue("select count(*) from " + table);
    if (!count.ok()) {
      report.problems.push_back(
          fmt::format("{}.{}: cannot be read: {}", database, table, count.status().message()));
      continue;
    }
    uint64_t n = std::stoull(count.value());
    report.rows += n;
    report.tables += 1;
    report.row_counts[database + "." + table] = n;
  }
  return Status::Ok();
}

}  // namespace

Result<IntegrityReport> CheckPostgres(const PgInstance& instance) {
  IntegrityReport report;
  report.checker = "pg_amcheck";
  const PgConnectionInfo& info = instance.connection();
  ASSIGN_OR_RETURN(PgConnection conn, PgConnection::ConnectOwn(info.SocketConninfo()));
  ASSIGN_OR_RETURN(auto databases,
                   conn.Query("select datname from pg_database where datallowconn and not "
                              "datistemplate order by 1"));
  for (const auto& row : databases) {
    RETURN_IF_ERROR(CountTables(info, row.at(0), report));
    report.databases += 1;
  }

  // pg_amcheck exits non-zero and prints what it found when a page or an index is damaged.
  ProcessOptions amcheck;
  amcheck.argv = {JoinPath(instance.bin_dir(), "pg_amcheck"),
                  "--host",
                  info.socket_dir,
                  "--port",
                  std::to_string(info.port),
                  "--username",
                  info.user,
                  "--no-password",
                  "--all",
                  "--install-missing",
                  "--heapallindexed"};
  amcheck.env = {"PGPASSWORD=" + info.password, "PGCONNECT_TIMEOUT=10"};
  ASSIGN_OR_RETURN(RunResult ran, RunProcess(amcheck, std::chrono::minutes(30)));
  if (ran.exit_code != 0) {
    std::string out = ran.output;
    size_t start = 0;
    while (start < out.size() && report.problems.size() < kMaxProblems) {
      size_t end = out.find('\n', start);
      if (end == std::string::npos) end = out.size();
      if (end > start) report.problems.push_back("pg_amcheck: " + out.substr(start, end - start));
      start = end + 1;
    }
    if (report.problems.empty()) {
      report.problems.push_back(fmt::format("pg_amcheck exited with {}", ran.exit_code));
    }
  }
  return report;
}

}  // namespace dbaas::engines
