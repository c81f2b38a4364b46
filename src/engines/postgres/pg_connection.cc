#include "engines/postgres/pg_connection.h"

#include <libpq-fe.h>

#include <fmt/format.h>
#include <spdlog/spdlog.h>

namespace dbaas::engines {
namespace {

std::string ErrorText(PGconn* conn) {
  std::string msg = PQerrorMessage(conn);
  while (!msg.empty() && (msg.back() == '\n' || msg.back() == ' ')) msg.pop_back();
  return msg;
}

Result<std::vector<PgRow>> Collect(PGconn* conn, PGresult* res, const std::string& sql) {
  std::unique_ptr<PGresult, decltype(&PQclear)> guard(res, &PQclear);
  ExecStatusType st = PQresultStatus(res);
  if (st != PGRES_TUPLES_OK && st != PGRES_COMMAND_OK) {
    std::string msg = PQresultErrorMessage(res);
    while (!msg.empty() && msg.back() == '\n') msg.pop_back();
    if (msg.empty()) msg = ErrorText(conn);
    return Status::IoError(fmt::format("query '{}' failed: {}", sql.substr(0, 80), msg));
  }
  std::vector<PgRow> rows(static_cast<size_t>(PQntuples(res)));
  int cols = PQnfields(res);
  for (size_t r = 0; r < rows.size(); ++r) {
    for (int c = 0; c < cols; ++c) {
      rows[r].emplace_back(PQgetvalue(res, static_cast<int>(r), c),
                           static_cast<size_t>(PQgetlength(res, static_cast<int>(r), c)));
    }
  }
  return rows;
}

}  // namespace

void PgConnection::Closer::operator()(pg_conn* conn) const { PQfinish(conn); }

PgConnection::~PgConnection() = default;

Result<PgConnection> PgConnection::Connect(const std::string& conninfo) {
  PGconn* conn = PQconnectdb(conninfo.c_str());
  if (!conn) return Status::IoError("libpq could not allocate a connection");
  PgConnection c(conn);
  // Server notices (e.g. "WAL archiving is not enabled") go to the debug log, not stderr.
  PQsetNoticeProcessor(
      conn, [](void*, const char* message) { spdlog::debug("postgres: {}", message); }, nullptr);
  if (PQstatus(conn) != CONNECTION_OK) {
    return Status::IoError(fmt::format("cannot connect to PostgreSQL: {}", ErrorText(conn)));
  }
  return c;
}

Result<PgConnection> PgConnection::ConnectOwn(const std::string& conninfo) {
  ASSIGN_OR_RETURN(PgConnection conn, Connect(conninfo));
  RETURN_IF_ERROR(conn.Query("set search_path = pg_catalog").status());
  return conn;
}

Result<std::vector<PgRow>> PgConnection::Query(const std::string& sql) {
  return Collect(conn_.get(), PQexec(conn_.get(), sql.c_str()), sql);
}

Result<std::vector<PgRow>> PgConnection::QueryParams(const std::string& sql,
                                                     const std::vector<std::string>& params) {
  std::vector<const char*> values;
  for (const std::string& p : params) values.push_back(p.c_str());
  return Collect(conn_.get(),
                 PQexecParams(conn_.get(), sql.c_str(), static_cast<int>(values.size()), nullptr,
                              values.data(), nullptr, nullptr, 0),
                 sql);
}

bool PgConnection::Broken() const { return PQstatus(conn_.get()) != CONNECTION_OK; }

Result<std::string> PgConnection::QueryValue(const std::string& sql) {
  ASSIGN_OR_RETURN(auto rows, Query(sql));
  if (rows.empty() || rows[0].empty()) {
    return Status::IoError(fmt::format("query '{}' returned no value", sql.substr(0, 80)));
  }
  return rows[0][0];
}

std::string PgConninfoQuote(const std::string& value) {
  std::string out = "'";
  for (char c : value) {
    if (c == '\'' || c == '\\') out += '\\';
    out += c;
  }
  return out + "'";
}

}  // namespace dbaas::engines
