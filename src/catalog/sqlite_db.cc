#include "catalog/sqlite_db.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <fmt/format.h>

#include "base/files.h"

namespace dbaas::catalog {

std::string SqlRow::Text(int col) const {
  const unsigned char* text = sqlite3_column_text(stmt_, col);
  if (!text) return {};
  return std::string(reinterpret_cast<const char*>(text),
                     static_cast<size_t>(sqlite3_column_bytes(stmt_, col)));
}

int64_t SqlRow::Int(int col) const { return sqlite3_column_int64(stmt_, col); }
double SqlRow::Real(int col) const { return sqlite3_column_double(stmt_, col); }
bool SqlRow::IsNull(int col) const { return sqlite3_column_type(stmt_, col) == SQLITE_NULL; }

Result<SqliteDb> SqliteDb::Open(const std::string& path) {
  // Create the file 0600 ourselves: SQLite would use the umask, and the catalog holds
  // secrets (restored instances' passwords).
  // Its name is made durable before anything is committed into it: SQLite syncs the
  // directory for the journals it makes, not for a database file it is handed.
  {
    bool existed = PathExists(path);
    UniqueFd fd(::open(path.c_str(), O_RDWR | O_CREAT | O_CLOEXEC, 0600));
    if (!fd.valid()) return ErrnoStatus("open", path, errno);
    if (::fchmod(fd.get(), 0600) != 0) return ErrnoStatus("chmod", path, errno);
    if (!existed) RETURN_IF_ERROR(FsyncDir(DirName(path)));
  }
  sqlite3* raw = nullptr;
  int rc =
      sqlite3_open_v2(path.c_str(), &raw, SQLITE_OPEN_READWRITE | SQLITE_OPEN_NOMUTEX, nullptr);
  SqliteDb db(raw);
  if (rc != SQLITE_OK) {
    return Status::IoError(
        fmt::format("open catalog '{}': {}", path, raw ? sqlite3_errmsg(raw) : sqlite3_errstr(rc)));
  }
  sqlite3_busy_timeout(raw, 5000);
  RETURN_IF_ERROR(db.Exec("PRAGMA journal_mode=WAL; PRAGMA synchronous=FULL; "
                          "PRAGMA foreign_keys=ON;")
                      .WithContext(fmt::format("catalog '{}'", path)));
  return db;
}

SqliteDb::~SqliteDb() {
  if (db_) sqlite3_close_v2(db_);
}

Status SqliteDb::Error(std::string_view what) const {
  int code = sqlite3_extended_errcode(db_);
  std::string msg = fmt::format("catalog {}: {}", what, sqlite3_errmsg(db_));
  if ((code & 0xff) == SQLITE_CONSTRAINT) return Status::AlreadyExists(msg);
  if ((code & 0xff) == SQLITE_BUSY) return Status::Busy(msg);
  if ((code & 0xff) == SQLITE_CORRUPT || (code & 0xff) == SQLITE_NOTADB) {
    return Status::Corruption(msg);
  }
  return Status::IoError(msg);
}

Status SqliteDb::Exec(std::string_view sql) {
  std::string text(sql);
  char* err = nullptr;
  if (sqlite3_exec(db_, text.c_str(), nullptr, nullptr, &err) != SQLITE_OK) {
    std::string msg = err ? err : "unknown error";
    sqlite3_free(err);
    return Status::IoError(fmt::format("catalog: {}", msg));
  }
  return Status::Ok();
}

Result<sqlite3_stmt*> SqliteDb::Prepare(std::string_view sql, const std::vector<SqlValue>& params) {
  sqlite3_stmt* stmt = nullptr;
  if (sqlite3_prepare_v2(db_, sql.data(), static_cast<int>(sql.size()), &stmt, nullptr) !=
      SQLITE_OK) {
    return Error("prepare");
  }
  for (size_t i = 0; i < params.size(); ++i) {
    int idx = static_cast<int>(i) + 1;
    const SqlValue& v = params[i];
    int rc = SQLITE_OK;
    if (std::holds_alternative<std::monostate>(v)) {
      rc = sqlite3_bind_null(stmt, idx);
    } else if (auto* n = std::get_if<int64_t>(&v)) {
      rc = sqlite3_bind_int64(stmt, idx, *n);
    } else if (auto* d = std::get_if<double>(&v)) {
      rc = sqlite3_bind_double(stmt, idx, *d);
    } else {
      const std::string& s = std::get<std::string>(v);
      rc = sqlite3_bind_text(stmt, idx, s.data(), static_cast<int>(s.size()), SQLITE_TRANSIENT);
    }
    if (rc != SQLITE_OK) {
      sqlite3_finalize(stmt);
      return Error("bind");
    }
  }
  return stmt;
}

Result<int> SqliteDb::Run(std::string_view sql, const std::vector<SqlValue>& params) {
  ASSIGN_OR_RETURN(sqlite3_stmt * stmt, Prepare(sql, params));
  int rc = sqlite3_step(stmt);
  Status status = rc == SQLITE_DONE || rc == SQLITE_ROW ? Status::Ok() : Error("write");
  sqlite3_finalize(stmt);
  RETURN_IF_ERROR(status);
  return sqlite3_changes(db_);
}

}  // namespace dbaas::catalog
