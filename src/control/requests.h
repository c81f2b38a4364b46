// What the API asks of the service: the requests, as values, validated by the service.
#pragma once

#include <map>
#include <optional>
#include <string>
#include <vector>

#include "engines/backup_facts.h"
#include "engines/recovery.h"

namespace dbaas::control {

// POST /instances/:name/schedules.
struct ScheduleRequest {
  std::string instance;
  std::string cron;       // five fields, six with seconds first, or a macro (@daily)
  std::string time_zone;  // IANA; empty: UTC
  std::optional<int> retention_days;
  int keep_daily = 0;
  int keep_weekly = 0;
  int keep_monthly = 0;
  bool verify = false;                    // a restore drill after each backup
  std::vector<std::string> repositories;  // remote repositories each backup is copied to
  // Where each backup's data files go (the API's `repository`), as BackupRequest::into.
  engines::BackupStore into = engines::BackupStore::kDefault;
};

struct CreateInstanceRequest {
  std::string name;
  std::string type;  // postgresql, mariadb, mysql
  std::string size;  // a Kubernetes quantity ("10Gi"), optional
  std::map<std::string, std::string> config;
  bool superuser_access = false;  // the tenant gets the superuser's login too
  int replicas = 0;               // standbys, each a server of its own (PostgreSQL)
  bool synchronous = false;       // a commit waits until a standby has it
};

struct BackupRequest {
  std::string instance;
  std::string backup_name;  // empty: <instance>-backup-<yyyymmdd-hhmmss>
  std::optional<int> retention_days;
  std::string schedule_id;    // the schedule it runs for, if any
  bool verify_after = false;  // a restore drill once it is ready
  // Remote repositories (configured by name) that get a copy once it is ready.
  std::vector<std::string> repositories;
  // Where its data files go (the API's `repository`: "local" or "volumeSnapshot").
  engines::BackupStore into = engines::BackupStore::kDefault;
  // Where it is taken: "primary" (or empty), or "standby" (a streaming standby of an
  // instance with standbys: the primary does none of the reading).
  std::string from;
};

struct RestoreRequest {
  std::string source_instance;
  std::string backup_name;  // empty with a target: the newest backup before it
  std::string new_instance_name;
  std::string size;
  engines::RecoveryTarget target;  // archive_id is filled in from the backup
  // Whether the copy's tenant gets the superuser's login; unset: as the source instance
  // has it (none when the source is gone).
  std::optional<bool> superuser_access;
  // A remote repository holding a copy of the backup: what the local repository lacks of
  // it is fetched from there first (the local copy was lost or removed).
  std::string repository;
  // Made as a branch (POST /instances/:name/branch): listed with the source as its parent,
  // with `config` over the backup's settings.
  bool branch = false;
  std::map<std::string, std::string> config;
};

// POST /instances/:name/branch: a new, independent, writable instance from the source as
// it is now (a consistent copy, no backup left behind) or as it was (at a backup, or a
// target in its recovery window: then it is a restore listed as a branch).
struct BranchRequest {
  std::string source_instance;
  std::string new_instance_name;
  std::string backup_name;
  engines::RecoveryTarget target;             // kBackupEnd: now, or at the backup
  std::map<std::string, std::string> config;  // settings over the source's
  std::string size;                           // empty: the source's
};

}  // namespace dbaas::control
