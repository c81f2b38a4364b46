// An instance's WAL spool: the one place its server's OS user writes archived WAL, and from
// where the daemon moves each file into the repository's archive (wal_archive.h), which no
// tenant can write (docs/SECURITY.md).
//
//   <spool>/<name>               a file PostgreSQL's archive_command was given (%f), raw,
//                                durable before `dbaas wal-push` exits 0
//   <spool>/.tmp.<name>.<hex>    one being written (removed by the drain when stale)
//
// The spool is a continuation of pg_wal: once wal-push succeeds PostgreSQL may recycle the
// segment, and the spool's copy is the only one until the daemon has stored it. Archiving
// thus goes on while the daemon is down; the next drain catches up.
#pragma once

#include <chrono>
#include <cstdint>
#include <functional>
#include <span>
#include <string>
#include <vector>

#include "base/status.h"
#include "storage/wal_archive.h"

namespace dbaas::storage {

// archive_command's side, run as the server's OS user: copies `source_path` (%p) into the
// spool as `name` (%f) and returns once it is durable. A name spooled already with the same
// bytes succeeds (PostgreSQL re-archives after a crash); with other bytes it fails with
// kAlreadyExists and keeps the first.
Status SpoolWalFile(const std::string& spool_dir, const std::string& source_path,
                    const std::string& name);

// Why a spooled file named `name` of `size` bytes is not one a server writes ("" when it
// could be): a binlog's name, a segment's size not a power of two from 1 MiB to 1 GiB, a
// history or backup label file over 1 MiB.
std::string SpooledWalRefusal(const WalFileName& name, uint64_t size);

struct SpoolDrain {
  uint64_t files = 0;      // stored into the archive (or there already) and removed
  uint64_t raw_bytes = 0;  // their size
  // Entries left where they are because no server writes them: a name that is not a WAL
  // file's, a link, a FIFO, a directory, a size no WAL file has. Each with why.
  std::vector<std::string> refused;
  // Stopped at its time budget with files still to drain (a pod's spool: the next drain
  // goes on); a local drain always takes everything.
  bool more = false;
};

// The daemon's side: stores every finished file of the spool into `archive`, then removes
// it from the spool. Everything in the spool is the tenant's: the directory is opened
// without following links, each file no-follow and non-blocking, regular files only, its
// name a WAL file's and its size one a server writes (a segment: a power of two from 1 MiB
// to 1 GiB; a history or backup label file: at most 1 MiB); it is read once, and what was
// read is what is hashed and stored. Temporary files older than `stale_after` are removed
// (a wal-push that died). Stops at the first file that cannot be stored (a full or broken
// archive, or a name archived with other content), leaving it and the rest in the spool.
//
// `stored`, when given, is called with each file's name and content once it is stored (the
// engine derives its summaries there); it cannot fail the drain.
using StoredWalFile = std::function<void(const std::string& name, std::span<const uint8_t> raw)>;
inline constexpr std::chrono::minutes kSpoolTempStaleAfter{10};
Result<SpoolDrain> DrainWalSpool(const std::string& spool_dir, const WalArchive& archive,
                                 std::chrono::seconds stale_after = kSpoolTempStaleAfter,
                                 const StoredWalFile& stored = {});

}  // namespace dbaas::storage
