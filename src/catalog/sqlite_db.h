// A small RAII layer over SQLite: a connection, prepared statements with positional
// binding, and transactions. Errors come back as Status with SQLite's own message.
//
// Thread-safety: none; the owner serializes access (the catalog holds one mutex).
#pragma once

#include <sqlite3.h>

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <variant>
#include <vector>

#include "base/log.h"
#include "base/status.h"

namespace dbaas::catalog {

// NULL, an integer, a real or text.
using SqlValue = std::variant<std::monostate, int64_t, double, std::string>;

class SqlRow {
 public:
  explicit SqlRow(sqlite3_stmt* stmt) : stmt_(stmt) {}
  std::string Text(int col) const;
  int64_t Int(int col) const;
  double Real(int col) const;
  bool IsNull(int col) const;

 private:
  sqlite3_stmt* stmt_;
};

class SqliteDb {
 public:
  // Opens (creating if needed) the database file with mode 0600, in WAL mode with
  // synchronous=FULL: a committed transaction survives a killed process and a power cut.
  static Result<SqliteDb> Open(const std::string& path);

  SqliteDb(SqliteDb&& other) noexcept : db_(other.db_) { other.db_ = nullptr; }
  SqliteDb& operator=(SqliteDb&&) = delete;
  SqliteDb(const SqliteDb&) = delete;
  ~SqliteDb();

  // Runs one or more statements without parameters.
  Status Exec(std::string_view sql);
  // Runs one statement; calls `row` for each result row.
  template <typename RowFn>
  Status Query(std::string_view sql, const std::vector<SqlValue>& params, RowFn&& row);
  // Runs one statement that returns no rows; returns the number of rows changed.
  Result<int> Run(std::string_view sql, const std::vector<SqlValue>& params = {});

  // Runs `body` in a transaction (BEGIN IMMEDIATE); commits if it returns ok, else rolls back.
  template <typename Body>
  Status Transaction(Body&& body);

 private:
  explicit SqliteDb(sqlite3* db) : db_(db) {}
  Result<sqlite3_stmt*> Prepare(std::string_view sql, const std::vector<SqlValue>& params);
  Status Error(std::string_view what) const;

  sqlite3* db_ = nullptr;
};

template <typename RowFn>
Status SqliteDb::Query(std::string_view sql, const std::vector<SqlValue>& params, RowFn&& row) {
  ASSIGN_OR_RETURN(sqlite3_stmt * stmt, Prepare(sql, params));
  Status status;
  while (true) {
    int rc = sqlite3_step(stmt);
    if (rc == SQLITE_ROW) {
      row(SqlRow(stmt));
      continue;
    }
    if (rc != SQLITE_DONE) status = Error("query");
    break;
  }
  sqlite3_finalize(stmt);
  return status;
}

template <typename Body>
Status SqliteDb::Transaction(Body&& body) {
  RETURN_IF_ERROR(Exec("BEGIN IMMEDIATE"));
  Status st = body();
  if (!st.ok()) {
    WarnIfError(Exec("ROLLBACK"), "roll back a failed transaction");
    return st;
  }
  Status committed = Exec("COMMIT");
  if (!committed.ok()) WarnIfError(Exec("ROLLBACK"), "roll back a transaction that did not commit");
  return committed;
}

}  // namespace dbaas::catalog
