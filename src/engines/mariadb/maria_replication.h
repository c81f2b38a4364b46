// MariaDB's GTID replication between an instance's members (engines/replication.h): a
// standby restored from a backup of its primary, brought up to the archive's end by
// replaying the archived binlogs, then replicating from the primary by GTID
// (MASTER_USE_GTID = slave_pos) as the account dbaas_replica@127.0.0.1, read_only; its
// state as SHOW REPLICA STATUS tells it. Promotion stops replication and lifts read_only;
// the others follow the new primary by GTID; an old primary rejoins when its binlog holds
// nothing the new primary lacks (else it must be made again). MariaDB servers only (MySQL's
// GTIDs are another scheme), with binlog archiving.
#pragma once

#include <chrono>
#include <cstdint>
#include <memory>
#include <string>

#include "base/status.h"
#include "engines/mariadb/maria_backup.h"
#include "engines/mariadb/maria_instance.h"
#include "engines/replication.h"
#include "storage/manifest.h"
#include "storage/repository.h"

namespace dbaas::engines {

// What the standby replays before it replicates: the archived binlogs from the backup's
// position to the archive's end, and the GTID position there (where replication starts).
struct MariaSeed {
  MariaRecovery replay;  // empty: nothing archived since the backup
  std::string gtid_position;
};

// Prepares a standby of `primary` from `snapshot` (one of its backups): the replication
// account on the primary, its binlogs archived now, the archive scanned from the backup on.
// kFailedPrecondition when the backup's binlog continues in another archive. `plan` makes
// the replay of the archive from the backup's position up to `to` (a binlog position).
using MariaReplayPlanner = std::function<Result<MariaRecovery>(const std::string& to)>;
Result<MariaSeed> MariaPrepareSeed(const MariaInstance& primary, const storage::Manifest& snapshot,
                                   const MariaReplayPlanner& plan);

// Points a running member at `primary` by GTID from `gtid_position` (its own applied
// position when empty) and starts replication.
Status MariaReplicateFrom(const MariaInstance& member, const MariaInstance& primary,
                          const std::string& gtid_position = "");

// Where a running member is: a primary's @@gtid_binlog_pos (its standbys' links are theirs
// to tell); a standby's received and applied GTID positions and its own view of the link
// (SHOW REPLICA STATUS). lsn_value orders positions
// by the sum of their sequence numbers.
Result<MemberPosition> MariaPosition(const MariaInstance& member);

// The sequence-number sum (as MariaPosition's lsn_value) of a stopped member's last binlog
// transaction, read from its binlog files: what a standby must have received.
Result<uint64_t> MariaLastPosition(const MariaInstance& member);

// read_only on the running primary (its commits in flight end first; until its next
// start), and where its binlog then ends, as MariaPosition's lsn_value.
Result<uint64_t> MariaStopWrites(const MariaInstance& primary);

// Undoes MariaStopWrites (a refused switchover).
Status MariaResumeWrites(const MariaInstance& primary);

// Stops replication once the relay log is applied, forgets the primary, lifts read_only.
Status MariaPromote(MariaInstance& standby, std::chrono::milliseconds timeout);

// The last GTID of a stopped member's binlog that `primary` lacks ("0-7-42"), or "" when
// the primary has every transaction the member wrote.
Result<std::string> MariaMissingOn(const MariaInstance& member, const MariaInstance& primary);

// Whether a running standby's IO thread stopped because its primary no longer has the
// binlog it needs (error 1236): it will never catch up.
Result<bool> MariaSourceLost(const MariaInstance& standby);

// A stopped old primary made a standby of `primary` if its binlog holds no transaction the
// new primary lacks (kFailedPrecondition, saying so, otherwise). Not started: on its next
// start it replicates from its own binlog position.
Status MariaRejoin(MariaInstance& member, const MariaInstance& primary);

}  // namespace dbaas::engines
