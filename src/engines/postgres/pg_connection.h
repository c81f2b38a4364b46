// A libpq connection with results as values. Not thread-safe: one connection per thread.
#pragma once

#include <memory>
#include <string>
#include <vector>

#include "base/status.h"

struct pg_conn;

namespace dbaas::engines {

using PgRow = std::vector<std::string>;  // NULL comes back as ""

class PgConnection {
 public:
  // `conninfo` is a libpq keyword/value string or URI.
  static Result<PgConnection> Connect(const std::string& conninfo);
  // dbaas's own session on a tenant's server: its search_path is pg_catalog alone, so that
  // what dbaas calls unqualified (pg_backup_start, pg_settings, pg_switch_wal, ...) is the
  // system's, whatever search_path a tenant with the superuser's login gave the role.
  static Result<PgConnection> ConnectOwn(const std::string& conninfo);

  PgConnection(PgConnection&&) noexcept = default;
  PgConnection& operator=(PgConnection&&) noexcept = default;
  ~PgConnection();

  // Runs one statement; returns its rows (none for commands).
  Result<std::vector<PgRow>> Query(const std::string& sql);
  // Runs a statement with text parameters ($1, $2, ...), never interpolated into the SQL.
  Result<std::vector<PgRow>> QueryParams(const std::string& sql,
                                         const std::vector<std::string>& params);
  // The first column of the first row.
  Result<std::string> QueryValue(const std::string& sql);
  // The server closed the session (or the link to it died): only a new connection helps.
  bool Broken() const;

 private:
  struct Closer {
    void operator()(pg_conn* conn) const;
  };
  explicit PgConnection(pg_conn* conn) : conn_(conn) {}
  std::unique_ptr<pg_conn, Closer> conn_;
};

// Quotes a libpq conninfo value ('...' with \ and ' escaped).
std::string PgConninfoQuote(const std::string& value);

}  // namespace dbaas::engines
