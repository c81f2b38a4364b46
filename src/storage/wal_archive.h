// A log archive inside the repository (docs/formats/repository.md, "wal/"): PostgreSQL's
// WAL, or MariaDB's binary logs.
//
//   wal/<archive-id>/<file>   one file per archived log file, named as the server names it
//                             (PostgreSQL: segment, .partial segment, timeline .history,
//                             .backup; MariaDB: binlog.000042)
//   wal/<archive-id>/summaries/<segment>
//                             what an engine derived from an archived segment once (for
//                             PostgreSQL, the blocks its records change), opaque here; a
//                             cache: losing one costs a backup a scan of that segment (and
//                             of the start of the next)
//
// Each file: "DBWAL001", the raw size (8 bytes, little endian), the raw content's SHA-256
// (32 bytes), then one zstd frame. Every instance incarnation archives to its own id: a
// restored copy continues the same timeline as its source and would otherwise write
// segments of the same name with other content.
//
// The archive is root's, like the rest of the repository: no tenant writes it. The server's
// archive_command (`dbaas wal-push`, as the server's OS user) leaves each file in the
// instance's spool (storage/wal_spool.h), from where the daemon stores it here. Writers
// need no repository lock: a file is written under a temporary name, made durable and
// linked into place without replacing anything, so two writers of the same file cannot
// lose either's work, and a name is never rebound to other content.
#pragma once

#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "base/sha256.h"
#include "base/status.h"
#include "storage/blob_codec.h"

namespace dbaas::storage {

struct WalFileName {
  enum class Kind { kSegment, kPartial, kHistory, kBackupLabel, kBinlog };
  Kind kind = Kind::kSegment;
  uint32_t timeline = 0;
  // The segment's position: its name's last 16 hex digits (log and segment number), which
  // sort in WAL order whatever the segment size. Empty for history files. A binlog's: its
  // number, in 16 decimal digits (which sort as the numbers do).
  std::string position;
};

// Accepts only the names PostgreSQL gives archived files, and MariaDB's binary logs as our
// servers name them (binlog.NNNNNN); anything else (a path, "..") is kInvalidArgument.
Result<WalFileName> ParseWalFileName(std::string_view name);

// The largest file an archive stores (a WAL segment of initdb's largest size; a binlog
// holding one very large transaction).
inline constexpr uint64_t kMaxArchivedFileBytes = uint64_t{1} << 30;

struct WalFileInfo {
  std::string name;
  WalFileName parsed;
  uint64_t stored_bytes = 0;
  int64_t mtime_unix = 0;
};

class WalArchive {
 public:
  // Makes wal/<id>/ (0700, like wal/). Idempotent.
  static Status Create(const std::string& repo_path, const std::string& id);
  // Fails with kNotFound if the archive was never created.
  static Result<WalArchive> Open(const std::string& repo_path, const std::string& id);
  // Archive ids present in the repository.
  static Result<std::vector<std::string>> ListIds(const std::string& repo_path);
  // Removes an archive and everything in it.
  static Status Remove(const std::string& repo_path, const std::string& id);

  const std::string& dir() const { return dir_; }

  // Stores `raw` as `name` and returns once it is durable. A file of that name already
  // archived with the same content succeeds (PostgreSQL re-archives after a crash); with
  // other content it fails with kAlreadyExists. The content is in memory: read once from a
  // spool, what is hashed is what is stored.
  Status Store(std::span<const uint8_t> raw, const std::string& name,
               int compression_level = 1) const;
  // Stores a file as another archive stored it (ReadStored's bytes, from a remote copy),
  // after checking its content against its header; the same rules as Store otherwise.
  Status StoreEncoded(std::span<const uint8_t> stored, const std::string& name) const;
  // The bytes of `name` as stored (header and zstd frame): what goes to a remote copy.
  Result<std::vector<uint8_t>> ReadStored(const std::string& name) const;
  // The raw content of `name`, its size and SHA-256 checked (kCorruption if they do not
  // match). kNotFound if the archive has no such file. With kFrameChecksum, a file whose
  // zstd frame carries its content checksum (every file stored since 2026-11-29) is
  // checked by that instead: for scans that read hundreds of MB of WAL.
  Result<std::vector<uint8_t>> Read(const std::string& name,
                                    BlobCheck check = BlobCheck::kSha256) const;
  // The same into `raw`, whose memory a scan reuses from segment to segment rather than
  // allocating and clearing 16 MiB for each (an incremental's peak RSS 76 -> 69 MB).
  Status Read(const std::string& name, BlobCheck check, std::vector<uint8_t>& raw) const;
  // Writes the raw content of `name` to `dest_path` after checking its size and SHA-256.
  // kNotFound if the archive has no such file (PostgreSQL asks for files that may not
  // exist: the next segment, newer timelines' history).
  Status Fetch(const std::string& name, const std::string& dest_path) const;
  // The raw size of an archived file (a segment's: the server's wal_segment_size).
  Result<uint64_t> RawSize(const std::string& name) const;
  // The SHA-256 of an archived file's raw content as its header records it (no content is
  // read), or nullopt if the archive has no such file.
  Result<std::optional<Sha256Digest>> ContentSha256(const std::string& name) const;

  // A segment's summary (see above): stored atomically (a reader sees all or nothing),
  // replacing any; read back, nullopt when there is none. The caller checks what it reads:
  // a summary names the segments it was made from.
  Status StoreSummary(const std::string& segment, std::span<const uint8_t> bytes) const;
  Result<std::optional<std::vector<uint8_t>>> ReadSummary(const std::string& segment) const;
  bool HasSummary(const std::string& segment) const;
  // Every archived file, in name order (segments in WAL order within a timeline).
  Result<std::vector<WalFileInfo>> List() const;
  // Copies, as stored, what a recovery from `from_position` on needs: every history file
  // and every other file whose position is not before it, into `dest` (an empty archive).
  // Returns how many files were copied. Not synced: a copy for one recovery.
  Result<uint64_t> CopyInto(const WalArchive& dest, std::string_view from_position) const;
  // Removes segments (and .partial/.backup files, and summaries) whose position is before
  // `position`; history files stay. Returns how many files were removed.
  Result<uint64_t> RemoveBefore(std::string_view position) const;

 private:
  explicit WalArchive(std::string dir) : dir_(std::move(dir)) {}
  Status RemoveSummariesBefore(std::string_view position) const;
  std::string dir_;
};

std::string WalArchiveDir(const std::string& repo_path, const std::string& id);
// An archive id is "<instance>.<hex digits>" (the daemon gives 8; 4 to 16 are read): a
// name that stays one path component. Checked wherever an id comes from outside (a bucket,
// a catalog row, a request) before it touches a path.
Status ValidateArchiveId(std::string_view id);

// The last failure of `dbaas wal-push` (into the spool) or of the daemon's drain (from the
// spool into the archive), kept where the daemon reads it for the instance's status: one
// line "<RFC 3339 time> <message>", removed by the next success.
Status RecordArchivingFailure(const std::string& status_path, const std::string& message);
Status ClearArchivingFailure(const std::string& status_path);
// The recorded failure, or nullopt when the last push succeeded.
std::optional<std::string> ReadArchivingFailure(const std::string& status_path);

}  // namespace dbaas::storage
