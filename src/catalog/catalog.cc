#include "catalog/catalog.h"

#include <chrono>
#include <ctime>

#include <fmt/format.h>

namespace dbaas::catalog {
namespace {

using nlohmann::json;

// Each step moves the schema from version i to i + 1. Steps are never edited once
// released; a change is a new step.
const std::vector<std::string_view>& Migrations() {
  static const std::vector<std::string_view> kSteps = {
      R"sql(
      CREATE TABLE instances (
        name TEXT PRIMARY KEY,
        type TEXT NOT NULL,
        status TEXT NOT NULL,
        status_message TEXT NOT NULL DEFAULT '',
        size TEXT NOT NULL DEFAULT '',
        config TEXT NOT NULL DEFAULT '{}',
        port INTEGER NOT NULL DEFAULT 0,
        created_at TEXT NOT NULL,
        updated_at TEXT NOT NULL,
        restored_from TEXT
      );
      CREATE TABLE backups (
        name TEXT PRIMARY KEY,
        instance TEXT NOT NULL,
        instance_type TEXT NOT NULL,
        status TEXT NOT NULL,
        snapshot_id TEXT NOT NULL DEFAULT '',
        created_at TEXT NOT NULL,
        retention_days INTEGER,
        expires_at TEXT NOT NULL DEFAULT '',
        size INTEGER NOT NULL DEFAULT 0,
        stored_bytes INTEGER NOT NULL DEFAULT 0,
        info TEXT NOT NULL DEFAULT '{}',
        secret TEXT NOT NULL DEFAULT ''
      );
      CREATE INDEX backups_by_instance ON backups(instance, created_at);
      CREATE TABLE jobs (
        id TEXT PRIMARY KEY,
        kind TEXT NOT NULL,
        instance TEXT NOT NULL,
        status TEXT NOT NULL,
        progress REAL NOT NULL DEFAULT 0,
        message TEXT NOT NULL DEFAULT '',
        error_code TEXT NOT NULL DEFAULT '',
        error_message TEXT NOT NULL DEFAULT '',
        request TEXT NOT NULL DEFAULT '{}',
        result TEXT NOT NULL DEFAULT '{}',
        created_at TEXT NOT NULL,
        started_at TEXT NOT NULL DEFAULT '',
        finished_at TEXT NOT NULL DEFAULT ''
      );
      CREATE INDEX jobs_by_status ON jobs(status);
      CREATE TABLE events (
        id INTEGER PRIMARY KEY AUTOINCREMENT,
        at TEXT NOT NULL,
        level TEXT NOT NULL,
        instance TEXT NOT NULL DEFAULT '',
        job TEXT NOT NULL DEFAULT '',
        message TEXT NOT NULL
      );
      )sql",
      // 2: the history of restores (what was restored from where, how long it took).
      R"sql(
      CREATE TABLE restores (
        id INTEGER PRIMARY KEY AUTOINCREMENT,
        job_id TEXT NOT NULL,
        source_instance TEXT NOT NULL,
        backup_name TEXT NOT NULL,
        new_instance TEXT NOT NULL,
        status TEXT NOT NULL,
        started_at TEXT NOT NULL,
        finished_at TEXT NOT NULL,
        seconds REAL NOT NULL DEFAULT 0,
        error TEXT NOT NULL DEFAULT ''
      );
      CREATE INDEX restores_by_source ON restores(source_instance, started_at);
      )sql",
      // 3: named restore points in the instances' archived WAL (point-in-time recovery).
      R"sql(
      CREATE TABLE restore_points (
        wal_archive TEXT NOT NULL,
        name TEXT NOT NULL,
        instance TEXT NOT NULL,
        lsn TEXT NOT NULL,
        created_at TEXT NOT NULL,
        PRIMARY KEY (wal_archive, name)
      );
      CREATE INDEX restore_points_by_instance ON restore_points(instance, created_at);
      )sql",
      // 4: operations: backup schedules, pinned backups, restore drills' results.
      R"sql(
      ALTER TABLE backups ADD COLUMN pinned INTEGER NOT NULL DEFAULT 0;
      ALTER TABLE backups ADD COLUMN schedule_id TEXT NOT NULL DEFAULT '';
      ALTER TABLE backups ADD COLUMN drill TEXT NOT NULL DEFAULT 'null';
      CREATE TABLE schedules (
        id TEXT PRIMARY KEY,
        instance TEXT NOT NULL,
        cron TEXT NOT NULL,
        time_zone TEXT NOT NULL,
        retention_days INTEGER,
        keep_daily INTEGER NOT NULL DEFAULT 0,
        keep_weekly INTEGER NOT NULL DEFAULT 0,
        keep_monthly INTEGER NOT NULL DEFAULT 0,
        verify INTEGER NOT NULL DEFAULT 0,
        created_at TEXT NOT NULL,
        last_slot_at TEXT NOT NULL,
        last_run_at TEXT NOT NULL DEFAULT '',
        last_status TEXT NOT NULL DEFAULT '',
        last_message TEXT NOT NULL DEFAULT ''
      );
      CREATE INDEX schedules_by_instance ON schedules(instance, created_at);
      )sql",
      // 5: copies of backups in remote repositories (issue 16).
      R"sql(
      ALTER TABLE backups ADD COLUMN copies TEXT NOT NULL DEFAULT '{}';
      )sql",
      // 6: the remote repositories a schedule's backups are copied to.
      R"sql(
      ALTER TABLE schedules ADD COLUMN repositories TEXT NOT NULL DEFAULT '[]';
      )sql",
      // 7: what is still to be removed from buckets: copies of deleted backups, WAL
      // archives removed locally.
      R"sql(
      CREATE TABLE remote_removals (
        repository TEXT NOT NULL,
        item TEXT NOT NULL,
        backup TEXT NOT NULL,
        queued_at TEXT NOT NULL,
        PRIMARY KEY (repository, item)
      );
      )sql",
      // 8: a MariaDB restore point's GTID position (issue 20).
      R"sql(
      ALTER TABLE restore_points ADD COLUMN gtid TEXT NOT NULL DEFAULT '';
      )sql",
      // 9: whether a backup's snapshot is in the local repository (not when it was imported
      // from a bucket, or when a bucket keeps it longer than this host: issue 16).
      R"sql(
      ALTER TABLE backups ADD COLUMN local INTEGER NOT NULL DEFAULT 1;
      )sql",
      // 10: an instance's members: standbys, which is primary (issue 15).
      R"sql(
      ALTER TABLE instances ADD COLUMN replication TEXT NOT NULL DEFAULT '{}';
      )sql",
      // 11: the local repository's sizes over time, a row when they change (issue 18).
      R"sql(
      CREATE TABLE repository_sizes (
        id INTEGER PRIMARY KEY AUTOINCREMENT,
        at TEXT NOT NULL,
        logical_bytes INTEGER NOT NULL,
        stored_bytes INTEGER NOT NULL
      );
      )sql",
      // 12: where a schedule's backups put their data files (issue 14).
      R"sql(
      ALTER TABLE schedules ADD COLUMN repository TEXT NOT NULL DEFAULT '';
      )sql",
  };
  return kSteps;
}

// Text from users may not be UTF-8; it is stored with replacement characters, never thrown on.
std::string Dump(const json& j) { return j.dump(-1, ' ', false, json::error_handler_t::replace); }

std::string DumpMap(const std::map<std::string, std::string>& m) { return Dump(json(m)); }

json ParseJson(const std::string& text) {
  json j = json::parse(text, nullptr, false);
  return j.is_discarded() ? json::object() : j;
}

// Any JSON value (null included); unreadable text reads as null.
json ParseJsonValue(const std::string& text) {
  json j = json::parse(text, nullptr, false);
  return j.is_discarded() ? json() : j;
}

template <class State>
std::string Word(State s) {
  return std::string(NameOf(s));
}

constexpr std::string_view kInstanceColumns =
    "name, type, status, status_message, size, config, port, created_at, updated_at, "
    "restored_from, replication";

std::string DumpReplication(const InstanceReplication& r) {
  if (r.empty()) return "{}";
  return Dump(json{{"replicas", r.replicas},
                   {"synchronous", r.synchronous},
                   {"members", r.members},
                   {"primary", r.primary},
                   {"failovers", r.failovers}});
}

InstanceReplication ParseReplication(const std::string& text) {
  InstanceReplication r;
  json j = ParseJson(text);
  if (!j.is_object()) return r;
  r.replicas = j.value("replicas", 0);
  r.synchronous = j.value("synchronous", false);
  r.primary = j.value("primary", "");
  r.failovers = j.value("failovers", 0);
  if (auto m = j.find("members"); m != j.end() && m->is_array()) {
    for (const json& name : *m) {
      if (name.is_string()) r.members.push_back(name.get<std::string>());
    }
  }
  return r;
}

std::string DumpRestoredFrom(const RestoredFrom& from) {
  json j = {{"sourceInstance", from.source_instance},
            {"backupName", from.backup_name},
            {"restoredAt", from.restored_at}};
  if (from.is_branch()) {
    j["branchMethod"] = from.branch_method;
    j["branchPoint"] = from.branch_point;
    j["sourceCreatedAt"] = from.source_created_at;
  }
  return Dump(j);
}

InstanceRecord ReadInstance(const SqlRow& row) {
  InstanceRecord r;
  r.name = row.Text(0);
  r.type = row.Text(1);
  r.status_message = row.Text(3);
  if (auto state = ParseInstanceState(row.Text(2))) {
    r.status = *state;
  } else {
    r.status = InstanceState::kFailed;
    r.status_message = "the catalog holds an unknown state: " + row.Text(2);
  }
  r.size = row.Text(4);
  json config = ParseJson(row.Text(5));
  for (auto it = config.begin(); it != config.end(); ++it) {
    if (it.value().is_string()) r.config[it.key()] = it.value().get<std::string>();
  }
  r.port = static_cast<int>(row.Int(6));
  r.created_at = row.Text(7);
  r.updated_at = row.Text(8);
  if (!row.IsNull(9)) {
    json from = ParseJson(row.Text(9));
    r.restored_from =
        RestoredFrom{from.value("sourceInstance", ""), from.value("backupName", ""),
                     from.value("restoredAt", ""),     from.value("branchMethod", ""),
                     from.value("branchPoint", ""),    from.value("sourceCreatedAt", "")};
  }
  r.replication = ParseReplication(row.Text(10));
  return r;
}

constexpr std::string_view kBackupColumns =
    "name, instance, instance_type, status, snapshot_id, created_at, retention_days, "
    "expires_at, size, stored_bytes, info, secret, pinned, schedule_id, drill, copies, local";

BackupRecord ReadBackup(const SqlRow& row) {
  BackupRecord r;
  r.name = row.Text(0);
  r.instance = row.Text(1);
  r.instance_type = row.Text(2);
  // A state this build does not know (a newer daemon's): not ready, so nothing uses it.
  r.status = ParseBackupState(row.Text(3)).value_or(BackupState::kCreating);
  r.snapshot_id = row.Text(4);
  r.created_at = row.Text(5);
  if (!row.IsNull(6)) r.retention_days = static_cast<int>(row.Int(6));
  r.expires_at = row.Text(7);
  r.size = static_cast<uint64_t>(row.Int(8));
  r.stored_bytes = static_cast<uint64_t>(row.Int(9));
  r.info = ParseJson(row.Text(10));
  r.secret = row.Text(11);
  r.pinned = row.Int(12) != 0;
  r.schedule_id = row.Text(13);
  r.drill = ParseJsonValue(row.Text(14));
  r.copies = ParseJson(row.Text(15));
  r.local = row.Int(16) != 0;
  return r;
}

std::vector<SqlValue> BackupValues(const BackupRecord& r) {
  std::vector<SqlValue> values = {r.name,         r.instance,    r.instance_type,
                                  Word(r.status), r.snapshot_id, r.created_at};
  values.emplace_back();  // retention_days: NULL unless set
  if (r.retention_days) values.back().emplace<int64_t>(*r.retention_days);
  values.emplace_back(r.expires_at);
  values.emplace_back(static_cast<int64_t>(r.size));
  values.emplace_back(static_cast<int64_t>(r.stored_bytes));
  values.emplace_back(Dump(r.info));
  values.emplace_back(r.secret);
  values.emplace_back(int64_t{r.pinned ? 1 : 0});
  values.emplace_back(r.schedule_id);
  values.emplace_back(Dump(r.drill));
  values.emplace_back(Dump(r.copies));
  values.emplace_back(int64_t{r.local ? 1 : 0});
  return values;
}

constexpr std::string_view kScheduleColumns =
    "id, instance, cron, time_zone, retention_days, keep_daily, keep_weekly, keep_monthly, "
    "verify, created_at, last_slot_at, last_run_at, last_status, last_message, repositories, "
    "repository";

ScheduleRecord ReadSchedule(const SqlRow& row) {
  ScheduleRecord r;
  r.id = row.Text(0);
  r.instance = row.Text(1);
  r.cron = row.Text(2);
  r.time_zone = row.Text(3);
  if (!row.IsNull(4)) r.retention_days = static_cast<int>(row.Int(4));
  r.keep_daily = static_cast<int>(row.Int(5));
  r.keep_weekly = static_cast<int>(row.Int(6));
  r.keep_monthly = static_cast<int>(row.Int(7));
  r.verify = row.Int(8) != 0;
  r.created_at = row.Text(9);
  r.last_slot_at = row.Text(10);
  r.last_run_at = row.Text(11);
  r.last_status = row.Text(12);
  r.last_message = row.Text(13);
  json repositories = ParseJsonValue(row.Text(14));
  if (repositories.is_array()) {
    for (const json& name : repositories) {
      if (name.is_string()) r.repositories.push_back(name.get<std::string>());
    }
  }
  r.repository = row.Text(15);
  return r;
}

std::vector<SqlValue> ScheduleValues(const ScheduleRecord& r) {
  std::vector<SqlValue> values = {r.id, r.instance, r.cron, r.time_zone};
  values.emplace_back();  // retention_days: NULL unless set
  if (r.retention_days) values.back().emplace<int64_t>(*r.retention_days);
  for (int n : {r.keep_daily, r.keep_weekly, r.keep_monthly, r.verify ? 1 : 0}) {
    values.emplace_back(int64_t{n});
  }
  for (const std::string* t :
       {&r.created_at, &r.last_slot_at, &r.last_run_at, &r.last_status, &r.last_message}) {
    values.emplace_back(*t);
  }
  values.emplace_back(Dump(json(r.repositories)));
  values.emplace_back(r.repository);
  return values;
}

constexpr std::string_view kJobColumns =
    "id, kind, instance, status, progress, message, error_code, error_message, request, result, "
    "created_at, started_at, finished_at";

JobRecord ReadJob(const SqlRow& row) {
  JobRecord r;
  r.id = row.Text(0);
  r.kind = row.Text(1);
  r.instance = row.Text(2);
  r.progress = row.Real(4);
  r.message = row.Text(5);
  if (std::string code = row.Text(6); !code.empty()) {
    r.error_code = ParseStatusCodeId(code).value_or(StatusCode::kInternal);
  }
  r.error_message = row.Text(7);
  if (auto state = ParseJobState(row.Text(3))) {
    r.status = *state;
  } else {
    r.status = JobState::kFailed;
    r.error_message = "the catalog holds an unknown state: " + row.Text(3);
  }
  r.request = ParseJson(row.Text(8));
  r.result = ParseJson(row.Text(9));
  r.created_at = row.Text(10);
  r.started_at = row.Text(11);
  r.finished_at = row.Text(12);
  return r;
}

std::vector<SqlValue> JobValues(const JobRecord& r) {
  return {r.id,
          r.kind,
          r.instance,
          Word(r.status),
          r.progress,
          r.message,
          r.error_code ? std::string(StatusCodeId(*r.error_code)) : std::string(),
          r.error_message,
          Dump(r.request),
          Dump(r.result),
          r.created_at,
          r.started_at,
          r.finished_at};
}

Status NotFoundUnlessChanged(Result<int> changed, std::string_view what, std::string_view name) {
  if (!changed.ok()) return changed.status();
  if (changed.value() == 0) return Status::NotFound(fmt::format("{} '{}' not found", what, name));
  return Status::Ok();
}

}  // namespace

std::string NowRfc3339() { return FormatRfc3339(std::chrono::system_clock::now()); }

std::string FormatRfc3339(std::chrono::system_clock::time_point now) {
  auto ms = std::chrono::duration_cast<std::chrono::milliseconds>(now.time_since_epoch()).count();
  std::time_t secs = static_cast<std::time_t>(ms / 1000);
  std::tm tm{};
  ::gmtime_r(&secs, &tm);
  return fmt::format("{:04}-{:02}-{:02}T{:02}:{:02}:{:02}.{:03}Z", tm.tm_year + 1900, tm.tm_mon + 1,
                     tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec, ms % 1000);
}

std::string FormatRfc3339Us(int64_t unix_us) {
  int64_t secs = unix_us / 1000000, us = unix_us % 1000000;
  if (us < 0) {
    us += 1000000;
    --secs;
  }
  std::time_t t = static_cast<std::time_t>(secs);
  std::tm tm{};
  ::gmtime_r(&t, &tm);
  return fmt::format("{:04}-{:02}-{:02}T{:02}:{:02}:{:02}.{:06}Z", tm.tm_year + 1900, tm.tm_mon + 1,
                     tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec, us);
}

Result<int64_t> ParseRfc3339(std::string_view text) {
  auto bad = [&](std::string_view why) {
    return Status::InvalidArgument(
        fmt::format("'{}' is not an RFC 3339 time ({})", text, why),
        "write it as 2026-11-25T10:00:00Z or 2026-11-25T11:00:00.250+01:00");
  };
  auto digits = [&](size_t at, size_t n) -> int {
    int v = 0;
    for (size_t i = at; i < at + n; ++i) {
      if (i >= text.size() || text[i] < '0' || text[i] > '9') return -1;
      v = v * 10 + (text[i] - '0');
    }
    return v;
  };
  if (text.size() < 20 || text[4] != '-' || text[7] != '-' ||
      (text[10] != 'T' && text[10] != 't' && text[10] != ' ') || text[13] != ':' ||
      text[16] != ':') {
    return bad("expected YYYY-MM-DDTHH:MM:SS and a zone");
  }
  std::tm tm{};
  tm.tm_year = digits(0, 4) - 1900;
  tm.tm_mon = digits(5, 2) - 1;
  tm.tm_mday = digits(8, 2);
  tm.tm_hour = digits(11, 2);
  tm.tm_min = digits(14, 2);
  tm.tm_sec = digits(17, 2);
  if (tm.tm_year < 70 || tm.tm_mon < 0 || tm.tm_mon > 11 || tm.tm_mday < 1 || tm.tm_mday > 31 ||
      tm.tm_hour < 0 || tm.tm_hour > 23 || tm.tm_min < 0 || tm.tm_min > 59 || tm.tm_sec < 0 ||
      tm.tm_sec > 60) {
    return bad("a field is out of range");
  }
  size_t at = 19;
  int64_t us = 0;
  if (at < text.size() && text[at] == '.') {
    ++at;
    size_t n = 0;
    for (; at < text.size() && text[at] >= '0' && text[at] <= '9'; ++at, ++n) {
      if (n < 6) us = us * 10 + (text[at] - '0');
    }
    if (n == 0) return bad("no digits after '.'");
    for (; n < 6; ++n) us *= 10;
  }
  int64_t offset_s = 0;
  if (at < text.size() && (text[at] == 'Z' || text[at] == 'z')) {
    ++at;
  } else if (at + 6 == text.size() && (text[at] == '+' || text[at] == '-') && text[at + 3] == ':') {
    int h = digits(at + 1, 2), m = digits(at + 4, 2);
    if (h < 0 || h > 23 || m < 0 || m > 59) return bad("bad zone offset");
    offset_s = (h * 3600 + m * 60) * (text[at] == '+' ? 1 : -1);
    at += 6;
  } else {
    return bad("a time zone is required: Z or +hh:mm");
  }
  if (at != text.size()) return bad("unexpected characters at the end");
  int64_t secs = static_cast<int64_t>(::timegm(&tm)) - offset_s;
  return secs * 1000000 + us;
}

std::chrono::system_clock::time_point TimePointOf(std::string_view rfc3339) {
  auto us = ParseRfc3339(rfc3339);
  return std::chrono::system_clock::time_point(std::chrono::microseconds(us.ok() ? us.value() : 0));
}

int Catalog::SchemaVersion() { return static_cast<int>(Migrations().size()); }

Result<std::unique_ptr<Catalog>> Catalog::Open(const std::string& path) {
  ASSIGN_OR_RETURN(SqliteDb db, SqliteDb::Open(path));
  std::unique_ptr<Catalog> catalog(new Catalog(std::move(db)));
  RETURN_IF_ERROR(catalog->Migrate().WithContext(fmt::format("catalog '{}'", path)));
  return catalog;
}

int Catalog::schema_version() const {
  std::lock_guard lock(mu_);
  int version = 0;
  (void)db_.Query("PRAGMA user_version", {}, [&](const SqlRow& row) { version = row.Int(0); });
  return version;
}

Status Catalog::Migrate() {
  int version = 0;
  RETURN_IF_ERROR(db_.Query("PRAGMA user_version", {},
                            [&](const SqlRow& row) { version = static_cast<int>(row.Int(0)); }));
  const auto& steps = Migrations();
  if (version > static_cast<int>(steps.size())) {
    return Status::FailedPrecondition(
        fmt::format("schema version {} is newer than this dbaasd knows ({})", version,
                    steps.size()),
        "run the dbaasd that wrote it, or a newer one");
  }
  for (size_t v = static_cast<size_t>(version); v < steps.size(); ++v) {
    RETURN_IF_ERROR(db_.Transaction([&]() -> Status {
      RETURN_IF_ERROR(db_.Exec(steps[v]));
      return db_.Exec(fmt::format("PRAGMA user_version = {}", v + 1));
    }));
  }
  return Status::Ok();
}

Status Catalog::InsertInstance(const InstanceRecord& r) {
  std::lock_guard lock(mu_);
  SqlValue from;
  if (r.restored_from) from = DumpRestoredFrom(*r.restored_from);
  auto st = db_.Run(
      fmt::format("INSERT INTO instances ({}) VALUES (?,?,?,?,?,?,?,?,?,?,?)", kInstanceColumns),
      {r.name, r.type, Word(r.status), r.status_message, r.size, DumpMap(r.config), int64_t{r.port},
       r.created_at, r.updated_at, from, DumpReplication(r.replication)});
  if (!st.ok() && st.status().code() == StatusCode::kAlreadyExists) {
    return Status::AlreadyExists(fmt::format("instance '{}' already exists", r.name),
                                 "choose another name, or delete that instance first");
  }
  return st.status();
}

Result<InstanceRecord> Catalog::GetInstance(const std::string& name) const {
  std::lock_guard lock(mu_);
  std::optional<InstanceRecord> found;
  RETURN_IF_ERROR(
      db_.Query(fmt::format("SELECT {} FROM instances WHERE name = ?", kInstanceColumns), {name},
                [&](const SqlRow& row) { found = ReadInstance(row); }));
  if (!found) {
    return Status::NotFound(fmt::format("instance '{}' not found", name),
                            "list instances with GET /instances");
  }
  return std::move(*found);
}

Result<std::vector<InstanceRecord>> Catalog::ListInstances() const {
  std::lock_guard lock(mu_);
  std::vector<InstanceRecord> out;
  RETURN_IF_ERROR(db_.Query(fmt::format("SELECT {} FROM instances ORDER BY name", kInstanceColumns),
                            {}, [&](const SqlRow& row) { out.push_back(ReadInstance(row)); }));
  return out;
}

Status Catalog::UpdateInstanceStatus(const std::string& name, InstanceState status,
                                     const std::string& message) {
  std::lock_guard lock(mu_);
  return NotFoundUnlessChanged(
      db_.Run("UPDATE instances SET status = ?, status_message = ?, updated_at = ? WHERE name = ?",
              {Word(status), message, NowRfc3339(), name}),
      "instance", name);
}

Status Catalog::UpdateInstancePort(const std::string& name, int port) {
  std::lock_guard lock(mu_);
  return NotFoundUnlessChanged(
      db_.Run("UPDATE instances SET port = ?, updated_at = ? WHERE name = ?",
              {int64_t{port}, NowRfc3339(), name}),
      "instance", name);
}

Status Catalog::UpdateInstanceSize(const std::string& name, const std::string& size) {
  std::lock_guard lock(mu_);
  return NotFoundUnlessChanged(
      db_.Run("UPDATE instances SET size = ?, updated_at = ? WHERE name = ?",
              {size, NowRfc3339(), name}),
      "instance", name);
}

Status Catalog::UpdateInstanceReplication(const std::string& name, const InstanceReplication& r) {
  std::lock_guard lock(mu_);
  return NotFoundUnlessChanged(
      db_.Run("UPDATE instances SET replication = ?, updated_at = ? WHERE name = ?",
              {DumpReplication(r), NowRfc3339(), name}),
      "instance", name);
}

Status Catalog::UpdateRestoredFrom(const std::string& name, const RestoredFrom& from) {
  std::lock_guard lock(mu_);
  return NotFoundUnlessChanged(
      db_.Run("UPDATE instances SET restored_from = ?, updated_at = ? WHERE name = ?",
              {DumpRestoredFrom(from), NowRfc3339(), name}),
      "instance", name);
}

Status Catalog::DeleteInstance(const std::string& name) {
  std::lock_guard lock(mu_);
  return NotFoundUnlessChanged(db_.Run("DELETE FROM instances WHERE name = ?", {name}), "instance",
                               name);
}

Status Catalog::InsertBackup(const BackupRecord& r) {
  std::lock_guard lock(mu_);
  auto st =
      db_.Run(fmt::format("INSERT INTO backups ({}) VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?)",
                          kBackupColumns),
              BackupValues(r));
  if (!st.ok() && st.status().code() == StatusCode::kAlreadyExists) {
    return Status::AlreadyExists(fmt::format("backup '{}' already exists", r.name),
                                 "choose another backupName");
  }
  return st.status();
}

Result<BackupRecord> Catalog::GetBackup(const std::string& name) const {
  std::lock_guard lock(mu_);
  std::optional<BackupRecord> found;
  RETURN_IF_ERROR(db_.Query(fmt::format("SELECT {} FROM backups WHERE name = ?", kBackupColumns),
                            {name}, [&](const SqlRow& row) { found = ReadBackup(row); }));
  if (!found) return Status::NotFound(fmt::format("backup '{}' not found", name));
  return std::move(*found);
}

Result<std::vector<BackupRecord>> Catalog::ListBackups(const std::string& instance) const {
  std::lock_guard lock(mu_);
  std::vector<BackupRecord> out;
  auto add = [&](const SqlRow& row) { out.push_back(ReadBackup(row)); };
  if (instance.empty()) {
    RETURN_IF_ERROR(db_.Query(
        fmt::format("SELECT {} FROM backups ORDER BY created_at DESC, name", kBackupColumns), {},
        add));
  } else {
    RETURN_IF_ERROR(db_.Query(fmt::format("SELECT {} FROM backups WHERE instance = ? "
                                          "ORDER BY created_at DESC, name",
                                          kBackupColumns),
                              {instance}, add));
  }
  return out;
}

Status Catalog::UpdateBackup(const BackupRecord& r) {
  std::lock_guard lock(mu_);
  std::vector<SqlValue> values = BackupValues(r);
  // `copies` and `local` are written only by InsertBackup and their own setters: a row read
  // before a copy ended and written back after it (a drill, a pin) must not undo the
  // copy's state.
  values.pop_back();
  values.pop_back();
  values.push_back(r.name);
  return NotFoundUnlessChanged(
      db_.Run("UPDATE backups SET name = ?, instance = ?, instance_type = ?, status = ?, "
              "snapshot_id = ?, created_at = ?, retention_days = ?, expires_at = ?, size = ?, "
              "stored_bytes = ?, info = ?, secret = ?, pinned = ?, schedule_id = ?, drill = ? "
              "WHERE name = ?",
              values),
      "backup", r.name);
}

Status Catalog::SetBackupCopy(const std::string& backup, const std::string& repository,
                              const nlohmann::json& state) {
  std::lock_guard lock(mu_);
  // One key of the copies object, whatever else changes the row meanwhile.
  return NotFoundUnlessChanged(
      db_.Run("UPDATE backups SET copies = json_set(copies, '$.\"' || ? || '\"', json(?)) "
              "WHERE name = ?",
              {repository, Dump(state), backup}),
      "backup", backup);
}

Status Catalog::RemoveBackupCopy(const std::string& backup, const std::string& repository) {
  std::lock_guard lock(mu_);
  return NotFoundUnlessChanged(
      db_.Run("UPDATE backups SET copies = json_remove(copies, '$.\"' || ? || '\"') "
              "WHERE name = ?",
              {repository, backup}),
      "backup", backup);
}

Status Catalog::SetBackupLocal(const std::string& backup, bool local) {
  std::lock_guard lock(mu_);
  return NotFoundUnlessChanged(
      db_.Run("UPDATE backups SET local = ? WHERE name = ?", {int64_t{local ? 1 : 0}, backup}),
      "backup", backup);
}

Status Catalog::DeleteBackup(const std::string& name) {
  std::lock_guard lock(mu_);
  return NotFoundUnlessChanged(db_.Run("DELETE FROM backups WHERE name = ?", {name}), "backup",
                               name);
}

Status Catalog::InsertJob(const JobRecord& r) {
  std::lock_guard lock(mu_);
  return db_
      .Run(fmt::format("INSERT INTO jobs ({}) VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?)", kJobColumns),
           JobValues(r))
      .status();
}

Result<JobRecord> Catalog::GetJob(const std::string& id) const {
  std::lock_guard lock(mu_);
  std::optional<JobRecord> found;
  RETURN_IF_ERROR(db_.Query(fmt::format("SELECT {} FROM jobs WHERE id = ?", kJobColumns), {id},
                            [&](const SqlRow& row) { found = ReadJob(row); }));
  if (!found) return Status::NotFound(fmt::format("job '{}' not found", id));
  return std::move(*found);
}

Result<std::vector<JobRecord>> Catalog::ListJobs(size_t limit) const {
  std::lock_guard lock(mu_);
  std::vector<JobRecord> out;
  RETURN_IF_ERROR(db_.Query(
      fmt::format("SELECT {} FROM jobs ORDER BY created_at DESC, id LIMIT ?", kJobColumns),
      {static_cast<int64_t>(limit)}, [&](const SqlRow& row) { out.push_back(ReadJob(row)); }));
  return out;
}

Result<std::vector<JobRecord>> Catalog::ListUnfinishedJobs() const {
  std::lock_guard lock(mu_);
  std::vector<JobRecord> out;
  RETURN_IF_ERROR(db_.Query(fmt::format("SELECT {} FROM jobs WHERE status IN ('queued', "
                                        "'running') ORDER BY created_at",
                                        kJobColumns),
                            {}, [&](const SqlRow& row) { out.push_back(ReadJob(row)); }));
  return out;
}

Status Catalog::UpdateJob(const JobRecord& r) {
  std::lock_guard lock(mu_);
  std::vector<SqlValue> values = JobValues(r);
  values.push_back(r.id);
  return NotFoundUnlessChanged(
      db_.Run("UPDATE jobs SET id = ?, kind = ?, instance = ?, status = ?, progress = ?, "
              "message = ?, error_code = ?, error_message = ?, request = ?, result = ?, "
              "created_at = ?, started_at = ?, finished_at = ? WHERE id = ?",
              values),
      "job", r.id);
}

Status Catalog::AddEvent(const std::string& level, const std::string& instance,
                         const std::string& job, const std::string& message) {
  std::lock_guard lock(mu_);
  return db_
      .Run("INSERT INTO events (at, level, instance, job, message) VALUES (?,?,?,?,?)",
           {NowRfc3339(), level, instance, job, message})
      .status();
}

Result<bool> Catalog::AddRepositorySizes(uint64_t logical_bytes, uint64_t stored_bytes,
                                         size_t keep) {
  std::lock_guard lock(mu_);
  bool same = false;
  RETURN_IF_ERROR(
      db_.Query("SELECT logical_bytes, stored_bytes FROM repository_sizes ORDER BY id DESC LIMIT 1",
                {}, [&](const SqlRow& row) {
                  same = row.Int(0) == static_cast<int64_t>(logical_bytes) &&
                         row.Int(1) == static_cast<int64_t>(stored_bytes);
                }));
  if (same) return false;
  RETURN_IF_ERROR(db_.Run("INSERT INTO repository_sizes (at, logical_bytes, stored_bytes) "
                          "VALUES (?,?,?)",
                          {NowRfc3339(), static_cast<int64_t>(logical_bytes),
                           static_cast<int64_t>(stored_bytes)})
                      .status());
  RETURN_IF_ERROR(db_.Run("DELETE FROM repository_sizes WHERE id <= "
                          "(SELECT MAX(id) FROM repository_sizes) - ?",
                          {static_cast<int64_t>(keep)})
                      .status());
  return true;
}

Result<std::vector<RepositorySizesRecord>> Catalog::ListRepositorySizes(size_t limit) const {
  std::lock_guard lock(mu_);
  std::vector<RepositorySizesRecord> out;
  RETURN_IF_ERROR(
      db_.Query("SELECT at, logical_bytes, stored_bytes FROM (SELECT * FROM repository_sizes "
                "ORDER BY id DESC LIMIT ?) ORDER BY id",
                {static_cast<int64_t>(limit)}, [&](const SqlRow& row) {
                  out.push_back({row.Text(0), static_cast<uint64_t>(row.Int(1)),
                                 static_cast<uint64_t>(row.Int(2))});
                }));
  return out;
}

Status Catalog::InsertRestorePoint(const RestorePointRecord& r) {
  std::lock_guard lock(mu_);
  auto st = db_.Run(
      "INSERT INTO restore_points (wal_archive, name, instance, lsn, created_at, gtid) "
      "VALUES (?,?,?,?,?,?)",
      {r.wal_archive, r.name, r.instance, r.lsn, r.created_at, r.gtid});
  if (!st.ok() && st.status().code() == StatusCode::kAlreadyExists) {
    return Status::AlreadyExists(
        fmt::format("instance '{}' has a restore point named '{}' already", r.instance, r.name),
        "choose another name");
  }
  return st.status();
}

Status Catalog::QueueRemoteRemoval(const RemoteRemovalRecord& r) {
  std::lock_guard lock(mu_);
  return db_
      .Run(
          "INSERT OR IGNORE INTO remote_removals (repository, item, backup, queued_at) "
          "VALUES (?,?,?,?)",
          {r.repository, r.item, r.backup, r.queued_at})
      .status();
}

Result<std::vector<RemoteRemovalRecord>> Catalog::ListRemoteRemovals(
    const std::string& repository) const {
  std::lock_guard lock(mu_);
  std::vector<RemoteRemovalRecord> out;
  RETURN_IF_ERROR(db_.Query(
      "SELECT repository, item, backup, queued_at FROM remote_removals "
      "WHERE ? = '' OR repository = ? ORDER BY queued_at",
      {repository, repository}, [&](const SqlRow& row) {
        out.push_back(RemoteRemovalRecord{row.Text(0), row.Text(1), row.Text(2), row.Text(3)});
      }));
  return out;
}

Status Catalog::DeleteRemoteRemoval(const std::string& repository, const std::string& item) {
  std::lock_guard lock(mu_);
  return db_
      .Run("DELETE FROM remote_removals WHERE repository = ? AND item = ?", {repository, item})
      .status();
}

Result<std::vector<RestorePointRecord>> Catalog::ListRestorePoints(
    const std::string& instance) const {
  std::lock_guard lock(mu_);
  std::vector<RestorePointRecord> out;
  RETURN_IF_ERROR(
      db_.Query("SELECT wal_archive, name, instance, lsn, created_at, gtid FROM restore_points "
                "WHERE instance = ? ORDER BY created_at DESC",
                {instance}, [&](const SqlRow& row) {
                  out.push_back(RestorePointRecord{row.Text(0), row.Text(1), row.Text(2),
                                                   row.Text(3), row.Text(4), row.Text(5)});
                }));
  return out;
}

Status Catalog::InsertSchedule(const ScheduleRecord& r) {
  std::lock_guard lock(mu_);
  return db_
      .Run(fmt::format("INSERT INTO schedules ({}) VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?)",
                       kScheduleColumns),
           ScheduleValues(r))
      .status();
}

Result<ScheduleRecord> Catalog::GetSchedule(const std::string& id) const {
  std::lock_guard lock(mu_);
  std::optional<ScheduleRecord> found;
  RETURN_IF_ERROR(db_.Query(fmt::format("SELECT {} FROM schedules WHERE id = ?", kScheduleColumns),
                            {id}, [&](const SqlRow& row) { found = ReadSchedule(row); }));
  if (!found) return Status::NotFound(fmt::format("schedule '{}' not found", id));
  return std::move(*found);
}

Result<std::vector<ScheduleRecord>> Catalog::ListSchedules(const std::string& instance) const {
  std::lock_guard lock(mu_);
  std::vector<ScheduleRecord> out;
  auto add = [&](const SqlRow& row) { out.push_back(ReadSchedule(row)); };
  std::string where = instance.empty() ? "" : "WHERE instance = ? ";
  std::vector<SqlValue> args;
  if (!instance.empty()) args.emplace_back(instance);
  RETURN_IF_ERROR(db_.Query(
      fmt::format("SELECT {} FROM schedules {}ORDER BY created_at, id", kScheduleColumns, where),
      args, add));
  return out;
}

Status Catalog::UpdateSchedule(const ScheduleRecord& r) {
  std::lock_guard lock(mu_);
  std::vector<SqlValue> values = ScheduleValues(r);
  values.push_back(r.id);
  return NotFoundUnlessChanged(
      db_.Run("UPDATE schedules SET id = ?, instance = ?, cron = ?, time_zone = ?, "
              "retention_days = ?, keep_daily = ?, keep_weekly = ?, keep_monthly = ?, "
              "verify = ?, created_at = ?, last_slot_at = ?, last_run_at = ?, last_status = ?, "
              "last_message = ?, repositories = ?, repository = ? WHERE id = ?",
              values),
      "schedule", r.id);
}

Status Catalog::DeleteSchedule(const std::string& id) {
  std::lock_guard lock(mu_);
  return NotFoundUnlessChanged(db_.Run("DELETE FROM schedules WHERE id = ?", {id}), "schedule", id);
}

Status Catalog::AddRestore(const RestoreRecord& r) {
  std::lock_guard lock(mu_);
  return db_
      .Run(
          "INSERT INTO restores (job_id, source_instance, backup_name, new_instance, status, "
          "started_at, finished_at, seconds, error) VALUES (?,?,?,?,?,?,?,?,?)",
          {r.job_id, r.source_instance, r.backup_name, r.new_instance, r.status, r.started_at,
           r.finished_at, r.seconds, r.error})
      .status();
}

Result<std::vector<RestoreRecord>> Catalog::ListRestores(size_t limit) const {
  std::lock_guard lock(mu_);
  std::vector<RestoreRecord> out;
  RETURN_IF_ERROR(db_.Query(
      "SELECT id, job_id, source_instance, backup_name, new_instance, status, started_at, "
      "finished_at, seconds, error FROM restores ORDER BY id DESC LIMIT ?",
      {static_cast<int64_t>(limit)}, [&](const SqlRow& row) {
        out.push_back(RestoreRecord{row.Int(0), row.Text(1), row.Text(2), row.Text(3), row.Text(4),
                                    row.Text(5), row.Text(6), row.Text(7), row.Real(8),
                                    row.Text(9)});
      }));
  return out;
}

Result<std::vector<EventRecord>> Catalog::ListEvents(size_t limit) const {
  return QueryEvents(
      "SELECT id, at, level, instance, job, message FROM events ORDER BY id DESC "
      "LIMIT ?",
      {static_cast<int64_t>(limit)});
}

Result<std::vector<EventRecord>> Catalog::ListProblems(int64_t after_id, size_t limit) const {
  return QueryEvents(
      "SELECT id, at, level, instance, job, message FROM events WHERE level IN ('warn', 'error') "
      "AND id > ? ORDER BY id DESC LIMIT ?",
      {after_id, static_cast<int64_t>(limit)});
}

Result<std::vector<EventRecord>> Catalog::QueryEvents(const char* sql,
                                                      std::vector<SqlValue> args) const {
  std::lock_guard lock(mu_);
  std::vector<EventRecord> out;
  RETURN_IF_ERROR(db_.Query(sql, args, [&](const SqlRow& row) {
    out.push_back(
        EventRecord{row.Int(0), row.Text(1), row.Text(2), row.Text(3), row.Text(4), row.Text(5)});
  }));
  return out;
}

}  // namespace dbaas::catalog
