// Point-in-time recovery's vocabulary, shared by the engines and the service.
#pragma once

#include <cstdint>
#include <map>
#include <optional>
#include <string>

#include "base/status.h"

namespace dbaas::engines {

// Where a restore stops replaying the source's archived log.
struct RecoveryTarget {
  enum class Kind {
    kBackupEnd,  // the backup as taken; no archived log
    kLatest,     // everything archived
    kTime,       // the last transaction committed at or before time_unix_us
    kLsn,        // up to a log position
    kName,       // a named restore point (its position in lsn, where the catalog has it)
    kGtid,       // MariaDB: up to and including a GTID position
  };
  Kind kind = Kind::kBackupEnd;
  int64_t time_unix_us = 0;
  std::string lsn;
  std::string name;
  std::string gtid;        // "0-1-42" (MariaDB's @@gtid_binlog_pos form)
  std::string archive_id;  // the source's archive (a backup's "walArchive")
};

// What the archive of an instance can restore to, from a given backup onward.
struct ArchiveEnd {
  std::string last_lsn;                        // the last record archived without a gap
  std::optional<int64_t> last_commit_unix_us;  // the last commit among them
  std::string last_segment;
  std::string last_gtid;  // MariaDB: the GTID position after the last whole transaction
};

// Where a named restore point is in the log: its position (PostgreSQL's LSN, MariaDB's
// binlog position) and, for MariaDB, the GTID position there.
struct RestorePointAt {
  std::string lsn;
  std::string gtid;
};

// MariaDB's GTIDs (targetGtid, a backup's and a restore point's position), which the service
// compares too. (Parsed and written in mariadb/maria_binlog.cc.)
// One GTID (domain-server-sequence), and a GTID position: the last GTID of each domain.
struct Gtid {
  uint32_t domain = 0;
  uint32_t server = 0;
  uint64_t seq = 0;
  std::string ToString() const;
};
using GtidPosition = std::map<uint32_t, Gtid>;  // by domain
// "0-1-42,1-7-3" (MariaDB's @@gtid_binlog_pos); "" is the empty position.
Result<GtidPosition> ParseGtidPosition(const std::string& text);
std::string FormatGtidPosition(const GtidPosition& position);

// A log position as the engines write them (PostgreSQL's "16/B374D848", MariaDB's
// "binlog.000042:1234") as a number that orders them (within one engine).
std::optional<uint64_t> ParseLogPosition(const std::string& text);

}  // namespace dbaas::engines
