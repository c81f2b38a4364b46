// Which relation blocks a stretch of PostgreSQL 15 WAL touches: the changed-block map of an
// incremental backup (docs/ARCHITECTURE.md, "Incremental backups from WAL").
//
// Every change a server makes to a relation's pages is a WAL record naming the block it
// changed (relation, fork, block number) in its block references, whatever the resource
// manager. With data checksums (our initdb turns them on) that holds for hint bits too: the
// first hint-bit change after a checkpoint logs a full-page image. What is not a block
// reference is kept as "read the whole file": a relation fork created or truncated
// (SMGR records: VACUUM FULL, CLUSTER, TRUNCATE, a relation's end cut by VACUUM), a database
// created or dropped (CREATE DATABASE ... FILE_COPY copies files without WAL).
//
// The scanner reads segments in order and validates what it reads: each page's magic,
// address and timeline, each record's length, back-link (xl_prev) and block headers. WAL
// it cannot vouch for is an error, never a guess: the caller then reads files whole.
#pragma once

#include <cstdint>
#include <optional>
#include <set>
#include <span>
#include <string>
#include <unordered_map>
#include <utility>
#include <vector>

#include "base/status.h"

namespace dbaas::engines {

// A relation fork as WAL names it: tablespace, database and relfilenode OIDs, fork number
// (0 main, 1 free space map, 2 visibility map, 3 init).
struct RelFork {
  uint32_t tablespace = 0;
  uint32_t database = 0;
  uint32_t relation = 0;
  uint8_t fork = 0;
  auto operator<=>(const RelFork&) const = default;
};

struct RelForkHash {
  size_t operator()(const RelFork& r) const {
    uint64_t h = (uint64_t{r.tablespace} * 0x9E3779B97F4A7C15ull) ^ (uint64_t{r.database} << 21) ^
                 (uint64_t{r.relation} << 3) ^ r.fork;
    return static_cast<size_t>(h ^ (h >> 29));
  }
};

struct WalChanges {
  // Blocks referenced by records in the range, per fork: sorted, without repeats.
  std::unordered_map<RelFork, std::vector<uint32_t>, RelForkHash> blocks;
  // Relations (fork 0 stands for all forks) created or truncated in the range.
  std::set<RelFork> rewritten;
  // (tablespace, database) created or dropped in the range.
  std::set<std::pair<uint32_t, uint32_t>> databases;
  uint64_t records = 0;
  uint64_t wal_bytes = 0;            // bytes of segments scanned
  uint64_t summarized_segments = 0;  // taken from summaries instead (pg_wal_summary.h)

  // Adds `other`'s changes; block lists are sorted and de-duplicated by SortBlocks.
  void Merge(WalChanges&& other);
  void SortBlocks();
};

class WalBlockScanner {
 public:
  // Collects what every record from `start_lsn` to before `end_lsn` changes. Reads from
  // the start of the segment holding `start_lsn`, to find where records begin and check
  // their back-links; the records before `start_lsn` are read, not collected.
  WalBlockScanner(uint64_t start_lsn, uint64_t end_lsn, uint32_t timeline, uint64_t segment_size);

  // The segment that starts at `segment_lsn`: the one holding start_lsn first, then each
  // next one. kCorruption when it is not the WAL expected there (another place, another
  // timeline, a recycled file, a broken record); the scanner's state is then unchanged, so
  // the same segment from another source can be offered. Its first pages alone (a multiple
  // of the page size) are taken when the scan ends within them or a switch record ends the
  // segment there; a prefix that ends before the range does is kCorruption.
  Status AddSegment(std::span<const uint8_t> segment, uint64_t segment_lsn);

  // The next segment expected, and whether the range is complete (a record at or past
  // end_lsn was reached).
  uint64_t next_segment_lsn() const { return next_segment_; }
  bool done() const { return state_.done; }

  // Where the records collected begin and end, for joining ranges scanned apart: the first
  // record's start and its back-link (xl_prev), the last record's start, and where the
  // scan stopped (the start of the first record at or past end_lsn). 0 before there is one.
  uint64_t first_record_lsn() const { return state_.first_lsn; }
  uint64_t first_record_prev() const { return state_.first_prev; }
  uint64_t last_record_lsn() const { return state_.last_lsn; }
  uint64_t stop_lsn() const { return state_.stop_lsn; }

  // Sorts and de-duplicates; call once, when done().
  WalChanges Finish();

 private:
  struct State {
    std::vector<uint8_t> pending;  // a record being assembled across pages
    uint64_t pending_lsn = 0;
    uint32_t pending_length = 0;  // its xl_tot_len
    uint64_t prev_lsn = 0;        // the last record's start: the next one's xl_prev
    uint64_t first_lsn = 0;       // the first collected record's start and xl_prev
    uint64_t first_prev = 0;
    uint64_t last_lsn = 0;  // the last collected record's start
    uint64_t stop_lsn = 0;  // where done() was reached
    bool started = false;   // past the first page's continuation data
    bool done = false;
  };
  Status ScanSegment(std::span<const uint8_t> segment, uint64_t segment_lsn, State& state,
                     WalChanges& out) const;
  // Adds one whole record's block references (and what it creates or truncates) to `out`.
  static Status DecodeRecord(std::span<const uint8_t> record, uint64_t lsn, uint64_t prev_lsn,
                             WalChanges* out, bool& is_switch);

  uint64_t start_lsn_;
  uint64_t end_lsn_;
  uint32_t timeline_;
  uint64_t segment_size_;
  uint64_t next_segment_;
  State state_;
  WalChanges changes_;
};

// WAL segment file name of the segment starting at `segment_lsn`.
std::string WalSegmentName(uint32_t timeline, uint64_t segment_lsn, uint64_t segment_size);
// The name of a timeline's history file (00000002.history).
std::string TimelineHistoryName(uint32_t timeline);
// Its position, the name's last 16 hex digits ("LLLLLLLLSSSSSSSS"), of the segment that
// holds `lsn`: what sorts archived segments in WAL order within a timeline.
std::string WalSegmentPosition(uint64_t lsn, uint64_t segment_size);
// The reverse, from a segment name's position (its last 16 hex digits, as
// storage::ParseWalFileName gives it): where the segment starts, or nullopt if the position
// is not one of a segment of that size.
std::optional<uint64_t> WalSegmentLsn(std::string_view position, uint64_t segment_size);

}  // namespace dbaas::engines
