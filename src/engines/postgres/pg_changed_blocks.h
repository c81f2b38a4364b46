// The changed-block map of a PostgreSQL incremental backup, from the WAL between the
// parent backup's start and this one's (docs/ARCHITECTURE.md, "Incremental backups from
// WAL").
//
// Why that range is enough: a block not referenced by any record from the parent's start
// LSN to this backup's start LSN holds at this backup's start what it held when the parent
// began, which is what the parent stored once its own WAL was replayed up to there; and a
// block changed after this backup's start is brought back by this backup's WAL on restore,
// as for any base backup. So relation blocks outside the map are taken from the parent;
// everything else a change to which WAL does not name block by block is read whole: files
// other than relation main forks (free space maps are not WAL-logged, visibility-map bits
// are cleared without a block reference), relations created or truncated and databases
// created or dropped in the range, files whose inode changed or that shrank.
#pragma once

#include <cstdint>
#include <string>

#include "engines/postgres/pg_instance.h"
#include "engines/postgres/pg_wal_blocks.h"
#include "storage/change_map.h"
#include "storage/manifest.h"

namespace dbaas::engines {

// Where the WAL of the range may be: the repository's archive of the instance (root's,
// checked), its spool (archived by the server, not yet stored), and pg_wal itself (the
// server keeps each segment there until it is archived). The last two are the tenant's:
// each file is opened without following links and its pages are checked like the rest.
struct PgWalSources {
  std::string repo_path;   // "" without an archive
  std::string archive_id;  // the instance's archive in the repository
  std::string spool_dir;
  std::string pg_wal_dir;
};

// Where an instance's WAL may be.
PgWalSources WalSourcesOf(const PgInstance& instance);

// This backup's side of the range.
struct PgBackupStart {
  // The instance's incarnation: a copy restored under the same name continues the same
  // system and timeline from an older LSN, with another history, and archives elsewhere.
  std::string archive_id;
  std::string system_identifier;
  uint32_t timeline = 0;
  uint64_t start_lsn = 0;
  uint64_t segment_size = 0;
};

// What the WAL from the segment holding `from` to the record at `to` changes: from the
// archive's summaries of its segments (pg_wal_summary.h) as far as they go, then scanning
// each remaining segment from the first source that has it whole and valid: the spool,
// pg_wal, the archive (of the last segment, the pages up to `to` are enough).
Result<WalChanges> ScanWalRange(uint64_t from, uint64_t to, uint32_t timeline,
                                uint64_t segment_size, const PgWalSources& sources);

class PgChangeMap : public storage::ChangeMap {
 public:
  PgChangeMap(WalChanges changes, uint64_t start_lsn)
      : changes_(std::move(changes)), start_lsn_(start_lsn) {}

  std::optional<std::vector<storage::ByteRange>> ChangedRanges(
      const storage::TreeEntry& now, const storage::TreeEntry& parent) const override;
  // Each differing page's LSN is at or past this backup's start: the page changed after the
  // backup began and its WAL is in the backup.
  bool DifferenceExplained(std::string_view path, uint64_t offset, std::span<const uint8_t> stored,
                           std::span<const uint8_t> now) const override;

 private:
  WalChanges changes_;
  uint64_t start_lsn_;
};

// What building a map cost, for the backup's record.
struct PgChangeMapReport {
  uint64_t wal_bytes = 0;            // of segments scanned
  uint64_t summarized_segments = 0;  // taken from their summaries instead
  uint64_t records = 0;              // in the range (and before it, in summarized segments)
  double seconds = 0;
};

// The map for `parent` (a manifest of this instance's backups), or why there is none: a
// parent of another server, timeline or incarnation or without a start LSN, WAL the sources do not
// hold whole, or more than twice as much WAL as data (reading the changed files is cheaper
// then).
storage::ChangeMapOffer PgChangeMapFor(const storage::Manifest& parent, const PgBackupStart& now,
                                       const PgWalSources& sources,
                                       PgChangeMapReport* report = nullptr);

// A relation data file's place, parsed from its path in the data directory:
// base/<db>/<relfilenode>[_fsm|_vm|_init][.<segment>] or global/<relfilenode>...
struct RelationFile {
  RelFork fork;
  uint32_t segment = 0;
};
std::optional<RelationFile> ParseRelationPath(std::string_view path);

}  // namespace dbaas::engines
