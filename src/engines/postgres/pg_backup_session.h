// PostgreSQL's backup mode, held by one session of ours: steps 1, 2 and 4 of the backup
// protocol (pg_backup.h). Begin reserves WAL from now on (a temporary physical replication
// slot) and calls pg_backup_start; End calls pg_backup_stop and returns what the copy
// needs. Between the two, the caller copies the data directory: BackupPostgres into the
// repository or as reflink clones, the pod agent while the daemon cuts a volume snapshot
// (src/agent). Ending the session without End (Abort, the destructor, the process dying)
// ends backup mode: the server is never left in it. The slot, and with it the WAL from the
// start, is held until the session is destroyed, End or not: the copy needs the WAL up to
// the stop LSN (the backup-end record is written after the copy), which BackupPostgres
// copies after End; a volume backup must collect it before letting the session go.
#pragma once

#include <chrono>
#include <cstdint>
#include <optional>
#include <string>
#include <utility>

#include "base/status.h"
#include "engines/postgres/pg_connection.h"
#include "engines/postgres/pg_instance.h"

namespace dbaas::engines {

// What the server said as backup mode began.
struct PgBackupBegun {
  std::string server_version;     // server_version_num, e.g. "150018"
  std::string system_identifier;  // pg_control_system()
  uint32_t timeline = 0;
  std::string start_lsn;
  uint64_t segment_size = 0;  // wal_segment_size, bytes
};

// What pg_backup_stop returned: the copy is consistent once the WAL up to stop_lsn is
// replayed over it, with backup_label (and tablespace_map) in its data directory.
struct PgBackupEnded {
  std::string stop_lsn;
  std::string backup_label;
  std::string tablespace_map;  // "" without tablespaces
  int64_t stop_time_unix_us = 0;
  double seconds_in_backup_mode = 0;
};

class PgBackupSession {
 public:
  // The instance must be running. `label` goes into backup_label.
  static Result<PgBackupSession> Begin(const PgInstance& instance, const std::string& label);
  // The moved-from session is not in backup mode (its destructor leaves the server alone).
  PgBackupSession(PgBackupSession&& other) noexcept;
  PgBackupSession& operator=(PgBackupSession&&) = delete;
  ~PgBackupSession();

  const PgBackupBegun& begun() const { return begun_; }
  bool in_backup_mode() const { return in_backup_mode_; }
  // pg_backup_stop, not waiting for the archive: the WAL the copy needs is held by the
  // session's slot until the session is destroyed (see above).
  Result<PgBackupEnded> End();
  // Leaves backup mode without a backup (`why` is logged). A no-op after End.
  void Abort(const std::string& why);

 private:
  PgBackupSession(PgConnection conn, std::string instance)
      : conn_(std::move(conn)), instance_(std::move(instance)) {}

  PgConnection conn_;
  std::string instance_;
  PgBackupBegun begun_;
  bool in_backup_mode_ = false;
  std::chrono::steady_clock::time_point started_;
};

}  // namespace dbaas::engines
