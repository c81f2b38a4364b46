#include "engines/mariadb/maria_check.h"

#include <fmt/format.h>

#include "engines/mariadb/maria_connection.h"

namespace dbaas::engines {
namespace {

std::string QuoteIdentifier(const std::string& name) {
  std::string out = "`";
  for (char c : name) out += c == '`' ? std::string("``") : std::string(1, c);
  return out + "`";
}

}  // namespace

Result<IntegrityReport> CheckMaria(const MariaInstance& instance) {
  IntegrityReport report;
  report.checker = "CHECK TABLE";
  ASSIGN_OR_RETURN(MariaConnection conn, MariaConnection::Connect(instance.client()));
  ASSIGN_OR_RETURN(auto databases,
                   conn.Query("select schema_name from information_schema.schemata where "
                              "schema_name not in ('mysql', 'information_schema', "
                              "'performance_schema', 'sys') order by 1"));
  report.databases = static_cast<int>(databases.size());
  ASSIGN_OR_RETURN(auto tables,
                   conn.Query("select table_schema, table_name from information_schema.tables "
                              "where table_type = 'BASE TABLE' and table_schema not in ('mysql', "
                              "'information_schema', 'performance_schema', 'sys') order by 1, 2"));
  for (const auto& row : tables) {
    std::string table = QuoteIdentifier(row.at(0)) + "." + QuoteIdentifier(row.at(1));
    std::string label = row.at(0) + "." + row.at(1);
    // CHECK TABLE answers rows of (Table, Op, Msg_type, Msg_text); the last says status OK
    // for a sound table.
    auto checked = conn.Query("CHECK TABLE " + table);
    if (!checked.ok()) {
      report.problems.push_back(fmt::format("{}: {}", label, checked.status().message()));
      continue;
    }
    for (const auto& r : checked.value()) {
      if (r.size() < 4) continue;
      bool bad = r[2] == "error" || (r[2] == "status" && r[3] != "OK");
      if (bad) report.problems.push_back(fmt::format("{}: {} {}", label, r[2], r[3]));
    }
    auto count = conn.QueryValue("select count(*) from " + table);
    if (!count.ok()) {
      report.problems.push_back(
          fmt::format("{}: cannot be read: {}", label, count.status().message()));
      continue;
    }
    uint64_t n = std::stoull(count.value());
    report.rows += n;
    report.tables += 1;
    report.row_counts[label] = n;
  }
  return report;
}

}  // namespace dbaas::engines
