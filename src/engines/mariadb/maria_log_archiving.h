// Continuous archiving of a MariaDB instance's binary logs into the repository's log archive
// (storage/wal_archive.h), the daemon's side (docs/ARCHITECTURE.md, "MariaDB point-in-time
// recovery"):
//
//   - the server writes its binary logs (ROW, GTIDs, sync_binlog=1, CRC32) into
//     <instance>/binlog/, a directory of its OS user's, and never expires them itself;
//   - the daemon stores every file the server is done with (a newer one exists, or the
//     server closed it at shutdown) into the archive, then lets the server purge what is
//     stored (PURGE BINARY LOGS TO): nothing is purged before it is archived;
//   - the file in progress is closed (FLUSH BINARY LOGS) once its first transaction is older
//     than the recovery point objective, so that no commit waits longer to be archived.
//
// The directory is the tenant's (its server's user writes it): it is read as a spool is
// (no-follow, non-blocking, regular files of the directory's owner, a size a binlog can
// have), and only its binlog.NNNNNN files are read.
#pragma once

#include <chrono>
#include <string>
#include <vector>

#include "base/status.h"
#include "engines/mariadb/maria_connection.h"
#include "storage/wal_archive.h"
#include "storage/wal_spool.h"

namespace dbaas::engines {

struct BinlogSpool {
  std::string instance;
  std::string dir;         // <instance>/binlog
  MariaEndpoint endpoint;  // root over the instance's socket
};

enum class BinlogDrain {
  kRunning,  // a newer file, or a clean close at shutdown, says a file is finished
  kFinal,    // the server is stopped for good (a deleted instance): every file is stored
};

// Stores the finished binlogs of the spool's directory into `archive`, then, if the server
// answers, purges them from it and closes the file in progress when it holds a transaction
// and is older than `close_after` (zero: never). A server that does not answer is not an
// error: what it finished is stored all the same. Stops at the first file that cannot be
// stored, leaving it and the rest on the server.
Result<storage::SpoolDrain> DrainBinlogs(const BinlogSpool& spool,
                                         const storage::WalArchive& archive,
                                         std::chrono::seconds close_after, BinlogDrain mode);

// A pod's drain (agent/pod_agent_wal.cc, kube_runtime/pod_log_spool.h) runs across its
// agent: the daemon lists what the server finished, fetches each file, stores it, then has
// it purged. The pod's side of that, judging the directory as DrainBinlogs does:
struct FinishedBinlog {
  std::string name;
  uint64_t size = 0;
};
// The finished binlogs, oldest first; then the file in progress is closed when it holds a
// transaction and is older than `close_after` (zero: never), listed at the next call. A
// server that does not answer while its newest file is open is an error (nothing finished
// can be told apart from what it writes).
Result<std::vector<FinishedBinlog>> ListFinishedBinlogs(const BinlogSpool& spool,
                                                        std::chrono::seconds close_after);
// A finished binlog's bytes: kInvalidArgument for a name the server does not give,
// kFailedPrecondition for the file in progress or one that is not the server's, kNotFound
// when it is gone (purged).
Result<std::vector<uint8_t>> ReadFinishedBinlog(const BinlogSpool& spool, const std::string& name);
// Lets the server purge its binlogs up to and including `name` (the daemon stored them, in
// order); it keeps the one it writes.
Status PurgeStoredBinlogs(const BinlogSpool& spool, const std::string& name);

// FLUSH BINARY LOGS and a drain: every transaction committed before the call is archived
// when it returns.
Status ArchiveBinlogsNow(const BinlogSpool& spool, const storage::WalArchive& archive);

// The server's binary log position and GTID position now (SHOW MASTER STATUS,
// @@gtid_binlog_pos): what a backup taken with commits blocked records.
struct BinlogPoint {
  std::string position;  // "binlog.000042:1234"
  std::string gtid;      // "0-1-42"
};
Result<BinlogPoint> CurrentBinlogPoint(MariaConnection& conn);

}  // namespace dbaas::engines
