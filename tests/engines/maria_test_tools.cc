#include "engines/maria_test_tools.h"

#include <random>

#include <fmt/format.h>

#include "engines/mariadb/maria_backup.h"

namespace dbaas::testing {

std::string MariaTransferLoad::CreateSchema(const engines::MariaEndpoint& endpoint) {
  auto conn = engines::MariaConnection::Connect(endpoint);
  if (!conn.ok()) return conn.status().ToString();
  for (const std::string& sql :
       {std::string("CREATE DATABASE bank"),
        std::string("CREATE TABLE bank.accounts (id INT PRIMARY KEY, balance BIGINT NOT "
                    "NULL) ENGINE=InnoDB"),
        std::string("CREATE TABLE bank.ledger (id BIGINT AUTO_INCREMENT PRIMARY KEY, "
                    "src INT, dst INT, amount INT, note VARCHAR(200)) ENGINE=InnoDB"),
        std::string("CREATE TABLE bank.counter (id INT PRIMARY KEY, n BIGINT) ENGINE=InnoDB"),
        fmt::format("INSERT INTO bank.accounts SELECT seq, {} FROM mysql.seq_1_to_{}",
                    kInitialBalance, kAccounts),
        std::string("INSERT INTO bank.counter VALUES (1, 0)")}) {
    if (auto r = conn->Query(sql); !r.ok()) return sql + ": " + r.status().ToString();
  }
  return "";
}

std::string MariaTransferLoad::CheckInvariants(const engines::MariaEndpoint& endpoint) {
  auto conn = engines::MariaConnection::Connect(endpoint);
  if (!conn.ok()) return conn.status().ToString();
  auto value = [&](const char* sql) { return conn->QueryValue(sql).value_or("(error)"); };
  std::string total = value("SELECT SUM(balance) FROM bank.accounts");
  if (total != std::to_string(kAccounts * kInitialBalance)) return "the total is " + total;
  std::string ledger = value("SELECT COUNT(*) FROM bank.ledger");
  std::string counted = value("SELECT n FROM bank.counter");
  if (ledger != counted) return fmt::format("{} ledger rows, {} counted", ledger, counted);
  std::string accounts = value("SELECT COUNT(*) FROM bank.accounts");
  if (accounts != std::to_string(kAccounts)) return accounts + " accounts";
  auto bad = engines::CheckAllTables(endpoint);
  if (!bad.ok()) return bad.status().ToString();
  if (!bad->empty()) return "CHECK TABLE: " + bad->front();
  return "";
}

MariaTransferLoad::MariaTransferLoad(engines::MariaEndpoint endpoint, int writers)
    : endpoint_(std::move(endpoint)) {
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
    bool ok =
        c->Query("START TRANSACTION").ok() &&
        c->Query(fmt::format("UPDATE bank.accounts SET balance = balance - {} WHERE id = {}", x, a))
            .ok() &&
        c->Query(fmt::format("UPDATE bank.accounts SET balance = balance + {} WHERE id = {}", x, b))
            .ok() &&
        c->Query(fmt::format("INSERT INTO bank.ledger (src, dst, amount, note) VALUES "
                             "({}, {}, {}, REPEAT('x', {}))",
                             a, b, x, x * 4))
            .ok() &&
        c->Query("UPDATE bank.counter SET n = n + 1 WHERE id = 1").ok() && c->Query("COMMIT").ok();
    if (ok) {
      ++committed_;
    } else {
      (void)c->Query("ROLLBACK");  // a deadlock between two transfers: tried again
    }
  }
}

}  // namespace dbaas::testing
