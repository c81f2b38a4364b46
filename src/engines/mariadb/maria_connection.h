// A MariaDB/MySQL client connection (MariaDB Connector/C) with results as values. Not
// thread-safe: one connection per thread.
#pragma once

#include <chrono>
#include <cstdint>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "base/status.h"

struct st_mysql;

namespace dbaas::engines {

using MariaRow = std::vector<std::string>;  // NULL comes back as ""

struct MariaEndpoint {
  std::string socket;  // the unix socket's path
  // Over TCP instead when the socket is empty (a client outside a pod, as a tenant's is).
  std::string host;
  uint16_t port = 0;
  std::string user = "root";
  std::string password;
  std::string database;              // optional
  std::chrono::seconds timeout{10};  // connect, read and write timeouts
};

class MariaConnection {
 public:
  static Result<MariaConnection> Connect(const MariaEndpoint& endpoint);
  // Whether a server answers on the socket at all (a refused login still answers).
  static bool Answers(const MariaEndpoint& endpoint);

  MariaConnection(MariaConnection&&) noexcept = default;
  MariaConnection& operator=(MariaConnection&&) noexcept = default;
  ~MariaConnection();

  // Runs one statement; returns its rows (none for commands).
  Result<std::vector<MariaRow>> Query(const std::string& sql);
  // The first column of the first row.
  Result<std::string> QueryValue(const std::string& sql);
  // Runs a statement that carries a secret (a password): its error names `what`, never
  // the statement.
  Status ExecuteSecret(const std::string& sql, const std::string& what);
  // The rows keyed by column name: for SHOW statements whose columns vary by version.
  Result<std::vector<std::map<std::string, std::string>>> QueryNamed(const std::string& sql);
  // SHOW GLOBAL STATUS LIKE `name`: its value.
  Result<std::string> GlobalStatus(const std::string& name);

 private:
  struct Closer {
    void operator()(st_mysql* conn) const;
  };
  explicit MariaConnection(st_mysql* conn) : conn_(conn) {}
  // Runs `sql`; the result's column names go to `names` when given.
  Result<std::vector<MariaRow>> Run(const std::string& sql, std::vector<std::string>* names);
  std::unique_ptr<st_mysql, Closer> conn_;
};

// Quotes a string as an SQL literal ('...' with ' and \ escaped) for statements that take
// no parameters, like ALTER USER ... IDENTIFIED BY.
std::string MariaQuote(const std::string& value);

}  // namespace dbaas::engines
