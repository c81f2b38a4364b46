#include "engines/mariadb/maria_connection.h"

#include <mysql.h>
#include <mysqld_error.h>

#include <mutex>

#include <fmt/format.h>

namespace dbaas::engines {
namespace {

// mysql_init() initializes the library on first use, which is not thread-safe.
void InitLibraryOnce() {
  static std::once_flag once;
  std::call_once(once, [] { mysql_library_init(0, nullptr, nullptr); });
}

Result<st_mysql*> Open(const MariaEndpoint& e) {
  InitLibraryOnce();
  MYSQL* m = mysql_init(nullptr);
  if (m == nullptr) return Status::Internal("mysql_init: out of memory");
  unsigned timeout = static_cast<unsigned>(e.timeout.count());
  mysql_options(m, MYSQL_OPT_CONNECT_TIMEOUT, &timeout);
  mysql_options(m, MYSQL_OPT_READ_TIMEOUT, &timeout);
  mysql_options(m, MYSQL_OPT_WRITE_TIMEOUT, &timeout);
  // Only this instance's option files matter: read none of the machine's.
  const bool tcp = e.socket.empty();
  unsigned protocol = tcp ? MYSQL_PROTOCOL_TCP : MYSQL_PROTOCOL_SOCKET;
  mysql_options(m, MYSQL_OPT_PROTOCOL, &protocol);
  if (mysql_real_connect(m, tcp ? e.host.c_str() : nullptr, e.user.c_str(), e.password.c_str(),
                         e.database.empty() ? nullptr : e.database.c_str(), tcp ? e.port : 0,
                         tcp ? nullptr : e.socket.c_str(), 0) == nullptr) {
    unsigned code = mysql_errno(m);
    std::string message = mysql_error(m);
    mysql_close(m);
    return Status(
        code == ER_ACCESS_DENIED_ERROR ? StatusCode::kFailedPrecondition : StatusCode::kIoError,
        fmt::format("connect to MariaDB at {}: {} (error {})", e.socket, message, code),
        "is the instance running? see its mariadb.log");
  }
  return m;
}

}  // namespace

void MariaConnection::Closer::operator()(st_mysql* conn) const { mysql_close(conn); }

MariaConnection::~MariaConnection() = default;

Result<MariaConnection> MariaConnection::Connect(const MariaEndpoint& endpoint) {
  ASSIGN_OR_RETURN(st_mysql * m, Open(endpoint));
  return MariaConnection(m);
}

bool MariaConnection::Answers(const MariaEndpoint& endpoint) {
  MariaEndpoint quick = endpoint;
  quick.timeout = std::chrono::seconds(2);
  auto m = Open(quick);
  if (m.ok()) {
    mysql_close(m.value());
    return true;
  }
  return m.status().code() == StatusCode::kFailedPrecondition;  // access denied: it answers
}

Result<std::vector<MariaRow>> MariaConnection::Query(const std::string& sql) {
  return Run(sql, nullptr);
}

Status MariaConnection::ExecuteSecret(const std::string& sql, const std::string& what) {
  MYSQL* m = conn_.get();
  if (mysql_real_query(m, sql.data(), sql.size()) != 0) {
    return Status::IoError(
        fmt::format("MariaDB: {} failed: {} (error {})", what, mysql_error(m), mysql_errno(m)));
  }
  if (MYSQL_RES* res = mysql_store_result(m)) mysql_free_result(res);
  return Status::Ok();
}

Result<std::vector<std::map<std::string, std::string>>> MariaConnection::QueryNamed(
    const std::string& sql) {
  std::vector<std::string> names;
  ASSIGN_OR_RETURN(std::vector<MariaRow> rows, Run(sql, &names));
  std::vector<std::map<std::string, std::string>> out;
  for (const MariaRow& row : rows) {
    std::map<std::string, std::string> named;
    for (size_t i = 0; i < row.size() && i < names.size(); ++i) named[names[i]] = row[i];
    out.push_back(std::move(named));
  }
  return out;
}

Result<std::vector<MariaRow>> MariaConnection::Run(const std::string& sql,
                                                   std::vector<std::string>* names) {
  MYSQL* m = conn_.get();
  if (mysql_real_query(m, sql.data(), sql.size()) != 0) {
    return Status::IoError(fmt::format("MariaDB query '{}' failed: {} (error {})", sql,
                                       mysql_error(m), mysql_errno(m)));
  }
  std::vector<MariaRow> rows;
  MYSQL_RES* res = mysql_store_result(m);
  if (res == nullptr) {
    if (mysql_field_count(m) != 0) {
      return Status::IoError(
          fmt::format("MariaDB query '{}': reading the result failed: {}", sql, mysql_error(m)));
    }
    return rows;  // a command: no result set
  }
  unsigned fields = mysql_num_fields(res);
  if (names) {
    MYSQL_FIELD* described = mysql_fetch_fields(res);
    for (unsigned i = 0; i < fields; ++i) names->emplace_back(described[i].name);
  }
  while (MYSQL_ROW row = mysql_fetch_row(res)) {
    unsigned long* lengths = mysql_fetch_lengths(res);
    MariaRow out(fields);
    for (unsigned i = 0; i < fields; ++i) {
      if (row[i] != nullptr) out[i].assign(row[i], lengths[i]);
    }
    rows.push_back(std::move(out));
  }
  mysql_free_result(res);
  return rows;
}

Result<std::string> MariaConnection::QueryValue(const std::string& sql) {
  ASSIGN_OR_RETURN(auto rows, Query(sql));
  if (rows.empty() || rows[0].empty()) {
    return Status::IoError(fmt::format("MariaDB query '{}' returned no value", sql));
  }
  return rows[0][0];
}

Result<std::string> MariaConnection::GlobalStatus(const std::string& name) {
  ASSIGN_OR_RETURN(auto rows, Query(fmt::format("SHOW GLOBAL STATUS LIKE {}", MariaQuote(name))));
  if (rows.empty() || rows[0].size() < 2) {
    return Status::NotFound(fmt::format("MariaDB has no status variable '{}'", name));
  }
  return rows[0][1];
}

std::string MariaQuote(const std::string& value) {
  std::string out = "'";
  for (char c : value) {
    if (c == '\'' || c == '\\') out += '\\';
    out += c;
  }
  return out + "'";
}

}  // namespace dbaas::engines
