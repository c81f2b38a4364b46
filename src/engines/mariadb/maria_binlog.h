// MariaDB's binary log as point-in-time recovery reads it: positions, GTIDs, and a walk of a
// binlog file's events into transactions (event groups) with their commit times. Only the
// event headers and the few bodies that matter here are read (MariaDB's knowledge base,
// "Binlog Event Header", "GTID_EVENT", "QUERY_EVENT", "FORMAT_DESCRIPTION_EVENT"):
//
//   file   = 0xfe 'b' 'i' 'n', then events
//   event  = timestamp (4, seconds) | type (1) | server_id (4) | event_size (4) |
//            next position (4) | flags (2) | body | CRC32 (4, when the format
//            description event says so)
//
// A transaction is the events from a GTID event to the next GTID, ROTATE or STOP event;
// it is whole when it ends in an XID event or a COMMIT query, or is one standalone
// statement (DDL). A server that crashed leaves a file whose last group may be cut short:
// such a group is no transaction (the server rolled it back), and is never replayed.
#pragma once

#include <cstdint>
#include <map>
#include <optional>
#include <span>
#include <string>
#include <vector>

#include "base/status.h"
#include "engines/recovery.h"  // Gtid, GtidPosition

namespace dbaas::engines {

// "binlog.000042": what our servers name their binary logs (log_bin = .../binlog).
inline constexpr const char* kBinlogBaseName = "binlog";
std::string BinlogFileName(uint64_t number);
// The number of a binlog file's name, or nullopt for any other name.
std::optional<uint64_t> BinlogFileNumber(const std::string& name);

// A place in the binary log: a file and a byte offset in it. Written "binlog.000042:1234",
// which is how backups, restore points and targets record it.
struct BinlogPosition {
  uint64_t file = 0;
  uint64_t offset = 0;
  std::string ToString() const;
  // A number that orders positions (ParseLogPosition's).
  uint64_t Ordinal() const { return file << 32 | offset; }
  auto operator<=>(const BinlogPosition&) const = default;
};
std::optional<BinlogPosition> ParseBinlogPosition(const std::string& text);
// Whether a binlog position and a GTID position read as the server writes them (what a pod's
// agent answers is checked so before the daemon records it).
bool IsBinlogPoint(const std::string& position, const std::string& gtid);

// A whole transaction of a binlog file.
struct BinlogTransaction {
  Gtid gtid;
  uint64_t start = 0;       // its GTID event's offset
  uint64_t end = 0;         // the offset after its last event: a cut that keeps it
  int64_t commit_time = 0;  // its last event's timestamp (seconds)
};

struct BinlogFileScan {
  std::vector<BinlogTransaction> transactions;
  // The file ends in a ROTATE or STOP event (closed by its server; nothing follows).
  bool closed = false;
  // Set in the format description while the server writes the file; left set by a crash.
  bool in_use = false;
  // Where its whole transactions end: the cut that keeps them all (4 when none).
  uint64_t end = 4;
  // The GTID position when the file began (its GTID_LIST event): with the file's own
  // transactions, the position at its end, without reading the files before it.
  GtidPosition gtid_list;
};

// Walks a whole binlog file. kCorruption when it is not one, or an event's CRC32 does not
// match, or a file its server closed ends cut short; in a file left in use (a crash) a last
// event cut short ends the walk and is not an error.
Result<BinlogFileScan> ScanBinlogFile(std::span<const uint8_t> data);

// The format description's in-use flag, from a file's first bytes (at least 23), without
// reading the rest; nullopt when they are not a binlog's.
std::optional<bool> BinlogInUse(std::span<const uint8_t> head);
inline constexpr size_t kBinlogHeadSize = 23;

}  // namespace dbaas::engines
