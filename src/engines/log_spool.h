// Draining an instance's log spool into the repository (storage/wal_spool.h): what the
// daemon does every second for every archiving instance, before it reads an archive (a
// recovery window, a restore to a target), and when an instance is deleted.
#pragma once

#include "base/status.h"
#include "engines/instance.h"
#include "storage/wal_spool.h"

namespace dbaas::engines {

// Moves what the spool holds into its archive. A failure is recorded in
// spool.status_path (the instance's status shows it) and returned; a drain that stores
// everything clears it. Files the spool should not hold are left there and recorded too.
Result<storage::SpoolDrain> DrainLogSpool(const LogSpool& spool);

// DrainLogSpool where a failure cannot stop what is under way (a shutdown, a server that
// will not start): it is logged, and recorded for the instance's status as ever.
void DrainLogSpoolOrWarn(const LogSpool& spool);

// What a drain's outcome says is wrong ("" when nothing): its error, or the entries it
// left in the spool.
std::string DrainFailure(const LogSpool& spool, const Result<storage::SpoolDrain>& drained);

// What the instance's status says of its archiving: the server's archive_command's last
// failure, else the last drain's (as recorded in spool.status_path), or "". PushNote is the
// first part alone, DrainNote how the second is said. They read files the server's user can
// write (no-follow, non-blocking, regular files only): call them holding no lock shared with
// other instances.
std::string LogSpoolNote(const LogSpool& spool);
std::string PushNote(const LogSpool& spool);
std::string DrainNote(const std::string& failure);

}  // namespace dbaas::engines
