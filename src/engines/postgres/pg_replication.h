// PostgreSQL's streaming replication between an instance's members (engines/replication.h):
// standbys made with pg_basebackup, each through a physical replication slot of its own on
// the primary; promotion with pg_promote; an old primary brought back as a standby with
// pg_rewind (the data has checksums, which pg_rewind needs), else copied again.
#pragma once

#include <chrono>
#include <cstdint>
#include <string>
#include <vector>

#include "base/status.h"
#include "engines/postgres/pg_instance.h"
#include "engines/replication.h"
#include "storage/manifest.h"
#include "storage/repository.h"

namespace dbaas::engines {

// The member's slot on `primary`, made if missing (reserving WAL from now on).
Status PgEnsureSlot(const PgInstance& primary, const std::string& member);
// What makes `member` a standby of `primary`: its address and port, and the member's slot.
StandbySpec StandbyOf(const PgInstance& primary, const std::string& member);
// Drops the member's slot on `primary`; none is fine.
Status PgDropSlot(const PgInstance& primary, const std::string& member);

// A standby's first copy taken from a backup of its primary instead of from the primary:
// the backup's files (clones, where the repository holds them so), then in its pg_wal
// every archived WAL file from the backup's start on, so that it replays up to where its
// slot on `primary` (which must exist) holds WAL and streams from there. The archive is
// root's and the slot keeps all that follows: no restore_command is left behind.
// Checked before anything is made, kFailedPrecondition saying why when the backup is of
// another archive, the archive does not reach the slot without a gap (after switching
// the primary's segment), or its WAL outweighs the data and 1 GiB (a copy of the primary
// is then cheaper). The fill reads `repo` and `snapshot`, which must outlive it.
Result<PgInstance::FillDataFn> PgSeedFromBackup(const PgInstance& primary,
                                                const std::string& member,
                                                const storage::Repository& repo,
                                                const storage::Manifest& snapshot);

// Where a running member is, and (a primary) how its standbys fare.
Result<MemberPosition> PgPosition(const PgInstance& member);

// Where a stopped member's server ended: the location of its shutdown checkpoint
// (pg_controldata, as the member's identity); kFailedPrecondition when it did not shut
// down cleanly. A standby that replayed past it has everything the server wrote.
Result<uint64_t> PgCleanShutdownLsn(const PgInstance& member);

// Promotes a running standby and waits (up to `timeout`) until it accepts writes; its
// configuration then no longer names a primary.
Status PgPromote(PgInstance& standby, std::chrono::milliseconds timeout);

// Points a standby (running or not) at `primary`, through its own slot there (made here).
Status PgFollow(PgInstance& member, const PgInstance& primary);

// Brings a stopped member that may have diverged (an old primary, fenced) back in line with
// `primary` as its standby: pg_rewind, else (it cannot) a new copy. Not started.
Status PgRejoin(PgInstance& member, const PgInstance& primary);

// Sets and reloads the primary's synchronous standbys (none: asynchronous).
Status PgSetSynchronous(PgInstance& primary, std::vector<std::string> members);

}  // namespace dbaas::engines
