#include "engines/mariadb/maria_volume_backup.h"

#include <fcntl.h>
#include <stdio.h>
#include <unistd.h>

#include <cerrno>
#include <chrono>

#include <fmt/format.h>

#include "base/clock.h"
#include "base/files.h"
#include "base/log.h"
#include "engines/mariadb/maria_backup.h"
#include "engines/mariadb/maria_log_archiving.h"

namespace dbaas::engines {
namespace {

using std::chrono::steady_clock;

class MariaVolumeBackup final : public VolumeBackup {
 public:
  MariaVolumeBackup(const MariaInstance& instance, MariaConnection conn, BackupFacts facts,
                    steady_clock::time_point blocked_since)
      : instance_(instance),
        conn_(std::move(conn)),
        facts_(std::move(facts)),
        blocked_since_(blocked_since) {}
  ~MariaVolumeBackup() override {
    if (!ended_) WarnIfError(conn_.Query("BACKUP STAGE END").status(), "end a backup abandoned");
  }

  const BackupFacts& begun() const override { return facts_; }
  std::string data_dir() const override { return instance_.data_dir(); }
  // No copy file by file: commits wait until End.
  storage::ScanFilterFn copy_filter() const override { return nullptr; }

  Result<VolumeBackupEnd> End() override {
    if (ended_) return Status::FailedPrecondition("the backup has ended already");
    ended_ = true;
    Status ended = conn_.Query("BACKUP STAGE END").status();
    VolumeBackupEnd out;
    out.facts = facts_;
    out.facts.seconds_writes_blocked =
        std::chrono::duration<double>(steady_clock::now() - blocked_since_).count();
    RETURN_IF_ERROR(
        ended.WithContext(fmt::format("end the backup stages of instance '{}'", instance_.name())));
    return out;
  }

 private:
  const MariaInstance& instance_;
  MariaConnection conn_;
  BackupFacts facts_;
  const steady_clock::time_point blocked_since_;
  bool ended_ = false;
};

// A copy of the server's files made by mariadb-backup in the instance's directory (on the
// pod's volume), prepared, read file by file at leisure: no commit waits for the reads.
class MariaCopyBackup final : public VolumeBackup {
 public:
  MariaCopyBackup(std::string stage, BackupFacts facts)
      : stage_(std::move(stage)), facts_(std::move(facts)) {}
  ~MariaCopyBackup() override {
    WarnIfError(RemoveTree(stage_), "remove a backup's copy of the data");
  }

  const BackupFacts& begun() const override { return facts_; }
  std::string data_dir() const override { return stage_; }
  storage::ScanFilterFn copy_filter() const override { return MariaPreparedCopyFilter; }
  // The copy was consistent when mariadb-backup ended: nothing is held until here.
  Result<VolumeBackupEnd> End() override {
    if (ended_) return Status::FailedPrecondition("the backup has ended already");
    ended_ = true;
    VolumeBackupEnd out;
    out.facts = facts_;
    return out;
  }

 private:
  const std::string stage_;
  const BackupFacts facts_;
  bool ended_ = false;
};

}  // namespace

Result<std::unique_ptr<VolumeBackup>> BeginMariaVolumeBackup(const MariaInstance& instance,
                                                             const std::string& /*label*/) {
  if (instance.flavor() != MariaFlavor::kMariaDB) {
    return Status::InvalidArgument(
        fmt::format("instance '{}' runs a MySQL server: its volume backups are not built",
                    instance.name()),
        "use type mariadb");
  }
  auto connected = MariaConnection::Connect(instance.client());
  if (!connected.ok()) {
    return Status::FailedPrecondition(fmt::format("instance '{}' is not accepting connections: {}",
                                                  instance.name(), connected.status().message()),
                                      "start it before backing it up");
  }
  MariaConnection conn = std::move(connected).value();
  BackupFacts facts;
  facts.engine = instance.type();
  facts.snapshot_kind = "volume";
  facts.method = "backup-stage";
  ASSIGN_OR_RETURN(facts.server_version, conn.QueryValue("SELECT VERSION()"));
  const std::string what = fmt::format("volume backup of instance '{}'", instance.name());
  bool started = false;  // BACKUP STAGE START granted: a stage to end on failure
  auto fail = [&](const Status& st) {
    if (started) {
      WarnIfError(conn.Query("BACKUP STAGE END").status(), "end the backup stages after a failure");
    }
    return st.WithContext(what);
  };
  // A stage waits behind a long DDL for lock_wait_timeout (a day by default, the tenant's
  // to set): a few seconds here, then the backup fails and nothing is left queued.
  if (Status st = conn.Query("SET SESSION lock_wait_timeout = 5").status(); !st.ok()) {
    return fail(st);
  }
  // Idle while the snapshot is cut, and a tenant may set wait_timeout: the stages must last
  // until End.
  if (Status st = conn.Query("SET SESSION wait_timeout = 31536000").status(); !st.ok()) {
    return fail(st);
  }
  for (const char* stage : {"START", "FLUSH", "BLOCK_DDL"}) {
    if (Status st = conn.Query(fmt::format("BACKUP STAGE {}", stage)).status(); !st.ok()) {
      return fail(st);
    }
    started = true;
  }
  // Commits queue behind BLOCK_COMMIT from the moment it is asked for.
  const auto blocked_since = steady_clock::now();
  if (Status st = conn.Query("BACKUP STAGE BLOCK_COMMIT").status(); !st.ok()) return fail(st);
  // What committed is in the redo log on the storage before the snapshot is cut.
  if (Status st = WriteRedoOfCommits(conn, instance.name()); !st.ok()) return fail(st);
  // A storage snapshot copies the device, not the page cache: what the flushes wrote (and a
  // redo log written but not synced, innodb_flush_log_at_trx_commit = 2) onto the storage.
  {
    auto dir = OpenFile(instance.data_dir(), O_RDONLY | O_DIRECTORY);
    Status synced = dir.ok() ? Status::Ok() : dir.status();
    if (dir.ok() && ::syncfs(dir->get()) != 0) {
      synced = ErrnoStatus("syncfs", instance.data_dir(), errno);
    }
    if (!synced.ok()) return fail(synced);
  }
  if (!instance.log_archive_id().empty()) {
    // No commit moves the binlog now: its position is the copy's.
    auto point = CurrentBinlogPoint(conn);
    if (!point.ok()) return fail(point.status());
    facts.start_lsn = facts.stop_lsn = point->position;
    facts.gtid_position = point->gtid;
    facts.stop_time_unix_us = NowUnixNs() / 1000;
    facts.wal_archive = instance.log_archive_id();
  }
  return std::unique_ptr<VolumeBackup>(
      std::make_unique<MariaVolumeBackup>(instance, std::move(conn), facts, blocked_since));
}

Result<std::unique_ptr<MariaInstance>> RestoreMariaVolumeCopy(const std::string& copy_data_dir,
                                                              const VolumeBackupEnd& end,
                                                              const InstanceSpec& spec,
                                                              const std::string& password,
                                                              const MariaRecovery& recover) {
  if (!end.files.empty() || !end.log_files.empty()) {
    return Status::InvalidArgument(
        "a MariaDB volume backup's restore takes no files and no log (the snapshot holds its "
        "redo log)");
  }
  auto move_in = [&](const std::string& data_dir) -> Status {
    if (::rename(copy_data_dir.c_str(), data_dir.c_str()) != 0) {
      return ErrnoStatus("move the volume copy's data directory from", copy_data_dir, errno);
    }
    return Status::Ok();
  };
  return RestoreMariaFilled(spec, password, move_in, recover);
}

Result<std::unique_ptr<VolumeBackup>> BeginMariaCopyBackup(const MariaInstance& instance) {
  if (instance.flavor() != MariaFlavor::kMariaDB) {
    return Status::InvalidArgument(
        fmt::format("instance '{}' runs a MySQL server: mariadb-backup does not copy it",
                    instance.name()),
        "use type mariadb");
  }
  auto info = PrepareMariaBackupCopy(instance);
  if (!info.ok()) {
    return info.status().WithContext(fmt::format("copy of instance '{}'", instance.name()));
  }
  return std::unique_ptr<VolumeBackup>(
      std::make_unique<MariaCopyBackup>(MariaBackupStage(instance), info->Facts(instance.type())));
}

}  // namespace dbaas::engines
