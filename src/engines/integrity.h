// What a restore drill learns from a restored, running instance: the database's own checker
// run over every table, and every table counted.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

namespace dbaas::engines {

struct IntegrityReport {
  std::string checker;  // what checked the data: "pg_amcheck", "CHECK TABLE"
  int databases = 0;
  int tables = 0;
  uint64_t rows = 0;
  nlohmann::json row_counts = nlohmann::json::object();  // "db.schema.table" -> rows
  std::vector<std::string> problems;                     // empty: the data checked clean
};

// Checks of a restored copy's files made before its server first starts (PostgreSQL:
// pg_verifybackup against the backup_manifest the backup wrote). Damage is in problems.
struct FileCheck {
  std::string checker;  // empty: the engine has no such check
  std::vector<std::string> problems;
  double seconds = 0;  // how long it took (not part of the time to a usable instance)
};

}  // namespace dbaas::engines
