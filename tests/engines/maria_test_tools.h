// What the MariaDB tests share: a bank-transfer write load whose invariants a consistent
// copy keeps, run against a real server.
#pragma once

#include <atomic>
#include <string>
#include <thread>
#include <vector>

#include "engines/mariadb/maria_connection.h"

namespace dbaas::testing {

// Transfers between accounts (the total never changes), with a ledger row and a counter per
// transfer, from several connections.
class MariaTransferLoad {
 public:
  static constexpr int kAccounts = 1000;
  static constexpr int kInitialBalance = 1000;

  // Makes the database `database` (unless it exists: a tenant's own) and its tables on the
  // server of `endpoint`; "" or an error.
  static std::string CreateSchema(const engines::MariaEndpoint& endpoint,
                                  const std::string& database = "bank");
  // What a copy must hold: the total, one ledger row per counted transfer, every account,
  // and CHECK TABLE clean. "" when it does, else what is wrong.
  static std::string CheckInvariants(const engines::MariaEndpoint& endpoint,
                                     const std::string& database = "bank");

  MariaTransferLoad(engines::MariaEndpoint endpoint, int writers, std::string database = "bank");
  ~MariaTransferLoad();  // Stop()
  void Stop();
  long committed() const { return committed_; }
  long errors() const { return errors_; }

 private:
  void Run(int writer);
  engines::MariaEndpoint endpoint_;
  const std::string database_;
  std::atomic<bool> stop_{false};
  std::atomic<long> committed_{0};
  std::atomic<long> errors_{0};
  std::vector<std::thread> threads_;
};

}  // namespace dbaas::testing
