// Summaries of archived WAL segments (docs/formats/repository.md, "WAL summaries"): what
// the records that start in one segment change (the WalChanges of pg_wal_blocks.h), made
// once by the daemon as it stores the next segment (a record may end there), so that an
// incremental backup reads a few KB per segment of its range instead of decompressing and
// parsing 16 MiB. PostgreSQL 17's WAL summarizer does the same inside the server.
//
// A summary is a cache, never the only copy of anything: it names the segments it was made
// from by their SHA-256 (as the archive's headers record them) and the version of the
// scanner that made it, and one that does not match, does not parse, or does not join its
// neighbours record to record (each segment's first record starts where the previous
// one's scan stopped and links back to its last record) is not used; the backup scans
// that segment instead.
#pragma once

#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <vector>

#include "base/sha256.h"
#include "base/status.h"
#include "engines/postgres/pg_wal_blocks.h"
#include "storage/wal_archive.h"

namespace dbaas::engines {

// What WalBlockScanner collects, as summaries record it: bumped whenever that changes (a
// record kind read differently), so that summaries made before are scanned again.
inline constexpr uint32_t kWalSummaryScannerVersion = 1;

struct PgWalSummary {
  uint32_t scanner_version = kWalSummaryScannerVersion;
  Sha256Digest segment_sha;  // the segment summarized
  Sha256Digest next_sha;     // the next one, where its last record may end
  uint32_t timeline = 0;
  uint64_t segment_size = 0;
  uint64_t segment_lsn = 0;
  uint64_t first_lsn = 0;  // the first record starting in the segment, and its xl_prev
  uint64_t first_prev = 0;
  uint64_t last_lsn = 0;  // the last one
  uint64_t stop_lsn = 0;  // where the next segment's first record starts
  WalChanges changes;     // blocks sorted, without repeats
};

std::vector<uint8_t> EncodeWalSummary(const PgWalSummary& summary);
// kCorruption for anything that is not a summary as EncodeWalSummary writes them.
Result<PgWalSummary> DecodeWalSummary(std::span<const uint8_t> bytes);

// Summarizes the segment at `segment_lsn` from its bytes and the next segment's.
Result<PgWalSummary> SummarizeWalSegment(std::span<const uint8_t> segment,
                                         std::span<const uint8_t> next, uint64_t segment_lsn,
                                         uint32_t timeline);

// The drain's hook (storage::StoredWalFile): `name` has just been stored in `archive` with
// content `raw`; if it is a segment, summarizes the one before it (when archived and not
// summarized yet), and itself if the one after it is archived already. Failures are
// logged: a segment left without a summary is scanned by the backups that need it.
void SummarizeBeforeStoredSegment(const storage::WalArchive& archive, const std::string& name,
                                  std::span<const uint8_t> raw);

// The summary of the segment at `segment_lsn`, if there is one that parses, is of this
// scanner's version, timeline, size and place, and names the archived bytes of the segment
// and the next one; nullopt otherwise.
std::optional<PgWalSummary> LoadWalSummary(const storage::WalArchive& archive, uint64_t segment_lsn,
                                           uint32_t timeline, uint64_t segment_size);

// Joins, record to record: `after`'s first record starts where `before`'s scan stopped and
// links back to its last record.
bool Joins(const PgWalSummary& before, const PgWalSummary& after);
// The same between a summary and a scan that began at the start of the next segment (or
// one that stopped before any record: it must have stopped where the summary did)...
bool JoinsAfter(const PgWalSummary& before, const WalBlockScanner& scanner);
// ...and between such a scan, ended at `after`'s first record, and `after`.
bool JoinsBefore(const WalBlockScanner& scanner, const PgWalSummary& after);

}  // namespace dbaas::engines
