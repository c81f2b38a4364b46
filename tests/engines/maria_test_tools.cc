#include "engines/maria_test_tools.h"

#include <random>

#include <fmt/format.h>

#include "engines/mariadb/maria_backup.h"

namespace dbaas::testing {

std::string MariaTransferLoad::CreateSchema(const engines::MariaEndpoint& endpoint,
                                            const std::string& database) {
  auto conn = engines::MariaConnection::Connect(endpoint);
  if (!conn.ok()) return conn.status().ToString();
  const std::string& db = database;
  for (const std::string& sql :
       {fmt::format("CREATE DATABASE IF NOT EXISTS {}", db),
        fmt::format("CREATE TABLE {}.accounts (id INT PRIMARY KEY, balance BIGINT NOT "
                    "NULL) ENGINE=InnoDB",
                    db),
        fmt::format("CREATE TABLE {}.ledger (id BIGINT AUTO_INCREMENT PRIMARY KEY, "
                    "src INT, dst INT, amount INT, note VARCHAR(200)) ENGINE=InnoDB",
                    db),
        fmt::format("CREATE TABLE {}.counter (id INT PRIMARY KEY, n BIGINT) ENGINE=InnoDB", db),
        // The sequence engine's tables are in every database (a tenant reads no `mysql`).
        fmt::format("INSERT INTO {0}.accounts SELECT seq, {1} FROM {0}.seq_1_to_{2}", db,
                    kInitialBalance, kAccounts),
        fmt::format("INSERT INTO {}.counter VALUES (1, 0)", db)}) {
    if (auto r = conn->Query(sql); !r.ok()) return sql + ": " + r.status().ToString();
  }
  return "";
}

std::string MariaTransferLoad::CheckInvariants(const engines::MariaEndpoint& endpoint,
                                               const std::string& database) {
  auto conn = engines::MariaConnection::Connect(endpoint);
  if (!conn.ok()) return conn.status().ToString();
  auto value = [&](const std::string& sql) {
    return conn->QueryValue(fmt::format(fmt::runtime(sql), database)).value_or("(error)");
  };
  std::string total = value("SELECT SUM(balance) FROM {}.accounts");
  if (total != std::to_string(kAccounts * kInitialBalance)) return "the total is " + total;
  std::string ledger = value("SELECT COUNT(*) FROM {}.ledger");
  std::string counted = value("SELECT n FROM {}.counter WHERE id = 1");
  if (ledger != counted) return fmt::format("{} ledger rows, {} counted", ledger, counted);
  std::string accounts = value("SELECT COUNT(*) FROM {}.accounts");
  if (accounts != std::to_string(kAccounts)) return accounts + " accounts";
  auto bad = engines::CheckAllTables(endpoint);
  if (!bad.ok()) return bad.status().ToString();
  if (!bad->empty()) return "CHECK TABLE: " + bad->front();
  return "";
}

MariaTransferLoad::MariaTransferLoad(engines::MariaEndpoint endpoint, int writers,
                                     std::string database)
    : endpoint_(std::move(endpoint)), database_(std::move(database)) {
  for (int w = 0; w < writers; ++w) threads_.emplace_back([this, w] { Run(w); });
}

MariaTransferLoad::~MariaTransferLoad() { Stop(); }

void MariaTransferLoad::Stop() {
  stop_ = true;
  for (auto& t : threads_) t.join();
  threads_.clear();
}

void MariaTransferLoad::Run(int writer) {
  auto c = engines::MariaConnection::Connect(endpoint_);
  if (!c.ok()) {
    ++errors_;
    return;
  }
  std::mt19937 rng(writer);
  std::uniform_int_distribution<int> account(1, kAccounts), amount(1, 50);
  while (!stop_) {
    int a = account(rng), b = account(rng), x = amount(rng);
    if (a == b) continue;
    const std::string& db = database_;
    bool ok = c->Query("START TRANSACTION").ok() &&
              c->Query(fmt::format("UPDATE {}.accounts SET balance = balance - {} WHERE id = {}",
                                   db, x, a))
                  .ok() &&
              c->Query(fmt::format("UPDATE {}.accounts SET balance = balance + {} WHERE id = {}",
                                   db, x, b))
                  .ok() &&
              c->Query(fmt::format("INSERT INTO {}.ledger (src, dst, amount, note) VALUES "
                                   "({}, {}, {}, REPEAT('x', {}))",
                                   db, a, b, x, x * 4))
                  .ok() &&
              c->Query(fmt::format("UPDATE {}.counter SET n = n + 1 WHERE id = 1", db)).ok() &&
              c->Query("COMMIT").ok();
    if (ok) {
      ++committed_;
    } else {
      (void)c->Query("ROLLBACK");  // a deadlock between two transfers: tried again
    }
  }
}

}  // namespace dbaas::testing
