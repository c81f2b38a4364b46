#include "catalog/catalog.h"

#include <sys/stat.h>

#include <fmt/format.h>
#include <gtest/gtest.h>

#include "catalog/sqlite_db.h"
#include "test_util.h"

namespace dbaas::catalog {
namespace {

using testing::TempDir;

InstanceRecord Instance(const std::string& name) {
  InstanceRecord r;
  r.name = name;
  r.type = "postgresql";
  r.status = InstanceState::kCreating;
  r.config = {{"work_mem", "8MB"}};
  r.created_at = r.updated_at = NowRfc3339();
  return r;
}

// A ready PostgreSQL backup of `instance`, made now.
BackupRecord ReadyBackup(const std::string& name, const std::string& instance) {
  BackupRecord b;
  b.name = name;
  b.instance = instance;
  b.instance_type = "postgresql";
  b.status = BackupState::kReady;
  b.created_at = NowRfc3339();
  return b;
}

TEST(CatalogTest, MigratesAFreshFileAndReopensWithoutChange) {
  TempDir dir;
  std::string path = dir / "catalog.db";
  {
    auto catalog = Catalog::Open(path);
    ASSERT_TRUE(catalog.ok()) << catalog.status().ToString();
    EXPECT_EQ((*catalog)->schema_version(), Catalog::SchemaVersion());
    ASSERT_TRUE((*catalog)->InsertInstance(Instance("a")).ok());
  }
  struct stat st;
  ASSERT_EQ(::stat(path.c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 0777, 0600u) << "the catalog holds secrets";
  auto again = Catalog::Open(path);
  ASSERT_TRUE(again.ok()) << again.status().ToString();
  auto a = (*again)->GetInstance("a");
  ASSERT_TRUE(a.ok());
  EXPECT_EQ(a->config.at("work_mem"), "8MB");
  std::string mode;
  auto db = SqliteDb::Open(path);
  ASSERT_TRUE(db.ok());
  ASSERT_TRUE(
      db->Query("PRAGMA journal_mode", {}, [&](const SqlRow& row) { mode = row.Text(0); }).ok());
  EXPECT_EQ(mode, "wal");
}

TEST(CatalogTest, RefusesASchemaNewerThanItKnows) {
  TempDir dir;
  std::string path = dir / "catalog.db";
  { ASSERT_TRUE(Catalog::Open(path).ok()); }
  {
    auto db = SqliteDb::Open(path);
    ASSERT_TRUE(db.ok());
    ASSERT_TRUE(db->Exec("PRAGMA user_version = 999").ok());
  }
  auto catalog = Catalog::Open(path);
  ASSERT_FALSE(catalog.ok());
  EXPECT_EQ(catalog.status().code(), StatusCode::kFailedPrecondition);
  EXPECT_NE(catalog.status().message().find("999"), std::string::npos);
}

TEST(CatalogTest, ACopyStateChangesOneRepositoryAndNothingElse) {
  TempDir dir;
  auto catalog = Catalog::Open(dir / "catalog.db");
  ASSERT_TRUE(catalog.ok());
  ASSERT_TRUE((*catalog)->InsertInstance(Instance("db")).ok());
  BackupRecord b = ReadyBackup("b1", "db");
  b.copies = {{"offsite", {{"state", "pending"}}}};
  ASSERT_TRUE((*catalog)->InsertBackup(b).ok());
  b.pinned = true;  // another change of the row, made meanwhile
  ASSERT_TRUE((*catalog)->UpdateBackup(b).ok());
  ASSERT_TRUE(
      (*catalog)->SetBackupCopy("b1", "second", {{"state", "failed"}, {"error", "503"}}).ok());
  ASSERT_TRUE(
      (*catalog)->SetBackupCopy("b1", "offsite", {{"state", "copied"}, {"bytes", 42}}).ok());
  // A row read before the copies changed, written back after (a drill's result): the
  // copies stay as SetBackupCopy left them.
  b.drill = {{"passed", true}};
  ASSERT_TRUE((*catalog)->UpdateBackup(b).ok());
  auto read = (*catalog)->GetBackup("b1");
  ASSERT_TRUE(read.ok());
  EXPECT_EQ(read->drill, (nlohmann::json{{"passed", true}}));
  EXPECT_TRUE(read->pinned);
  EXPECT_EQ(read->copies, (nlohmann::json{{"offsite", {{"state", "copied"}, {"bytes", 42}}},
                                          {"second", {{"state", "failed"}, {"error", "503"}}}}));
  EXPECT_EQ((*catalog)->SetBackupCopy("nosuch", "offsite", {{"state", "pending"}}).code(),
            StatusCode::kNotFound);
}

TEST(CatalogTest, RemoteRemovalsAreQueuedOnceListedByRepositoryAndDone) {
  TempDir dir;
  auto catalog = Catalog::Open(dir / "catalog.db");
  ASSERT_TRUE(catalog.ok());
  Catalog& c = **catalog;
  BackupRecord b = ReadyBackup("b1", "db");
  b.copies = {{"offsite", {{"state", "copied"}}}, {"second", {{"state", "failed"}}}};
  EXPECT_TRUE(b.CopiedTo("offsite"));
  EXPECT_FALSE(b.CopiedTo("second"));
  EXPECT_FALSE(b.CopiedTo("elsewhere"));
  ASSERT_TRUE(c.QueueRemoteRemoval({"offsite", "aaaa", "b1", "2026-11-29T10:00:00.000Z"}).ok());
  ASSERT_TRUE(c.QueueRemoteRemoval({"offsite", "aaaa", "b1", "2026-11-29T10:00:05.000Z"}).ok())
      << "queued again by a resumed delete: once";
  ASSERT_TRUE(c.QueueRemoteRemoval({"second", "aaaa", "b1", "2026-11-29T10:00:01.000Z"}).ok());
  ASSERT_TRUE(c.QueueRemoteRemoval({"offsite", "bbbb", "b2", "2026-11-29T10:00:02.000Z"}).ok());
  auto offsite = c.ListRemoteRemovals("offsite");
  ASSERT_TRUE(offsite.ok());
  ASSERT_EQ(offsite->size(), 2u);
  EXPECT_EQ(offsite->front().item, "aaaa") << "oldest first";
  EXPECT_EQ(offsite->front().queued_at, "2026-11-29T10:00:00.000Z");
  EXPECT_EQ(c.ListRemoteRemovals()->size(), 3u);
  ASSERT_TRUE(c.DeleteRemoteRemoval("offsite", "aaaa").ok());
  EXPECT_EQ(c.ListRemoteRemovals("offsite")->size(), 1u);
  EXPECT_EQ(c.ListRemoteRemovals("second")->size(), 1u) << "another bucket's stays";
}

TEST(CatalogTest, ACopyIsForgottenAndTheLocalFlagSetWithoutTouchingTheRest) {
  TempDir dir;
  auto catalog = Catalog::Open(dir / "catalog.db");
  ASSERT_TRUE(catalog.ok());
  Catalog& c = **catalog;
  BackupRecord b = ReadyBackup("b1", "db");
  b.copies = {{"offsite", {{"state", "copied"}}}, {"second", {{"state", "copied"}}}};
  ASSERT_TRUE(c.InsertBackup(b).ok());
  ASSERT_TRUE(c.RemoveBackupCopy("b1", "offsite").ok());
  ASSERT_TRUE(c.SetBackupLocal("b1", false).ok());
  auto read = c.GetBackup("b1");
  ASSERT_TRUE(read.ok());
  EXPECT_EQ(read->copies, (nlohmann::json{{"second", {{"state", "copied"}}}}));
  EXPECT_FALSE(read->local);
  // A row read before and written back after (a pin) keeps both.
  read->pinned = true;
  read->local = true;
  read->copies = nlohmann::json::object();
  ASSERT_TRUE(c.UpdateBackup(*read).ok());
  EXPECT_FALSE(c.GetBackup("b1")->local);
  EXPECT_TRUE(c.GetBackup("b1")->CopiedTo("second"));
  EXPECT_TRUE(c.GetBackup("b1")->pinned);
  EXPECT_EQ(c.SetBackupLocal("nope", true).code(), StatusCode::kNotFound);
  EXPECT_EQ(c.RemoveBackupCopy("nope", "offsite").code(), StatusCode::kNotFound);
}

TEST(CatalogTest, MigratesAVersionOneCatalogForwardKeepingItsRows) {
  TempDir dir;
  std::string path = dir / "catalog.db";
  {
    auto catalog = Catalog::Open(path);
    ASSERT_TRUE(catalog.ok());
    ASSERT_TRUE((*catalog)->InsertInstance(Instance("old")).ok());
    BackupRecord b = ReadyBackup("old-backup", "old");
    ASSERT_TRUE((*catalog)->InsertBackup(b).ok());
  }
  {
    // What the first release wrote: schema version 1, without the later tables and columns.
    auto db = SqliteDb::Open(path);
    ASSERT_TRUE(db.ok());
    ASSERT_TRUE(db->Exec("DROP TABLE restores; DROP TABLE restore_points; DROP TABLE schedules; "
                         "ALTER TABLE backups DROP COLUMN pinned; "
                         "ALTER TABLE backups DROP COLUMN schedule_id; "
                         "ALTER TABLE backups DROP COLUMN drill; "
                         "ALTER TABLE backups DROP COLUMN copies; DROP TABLE remote_removals; "
                         "ALTER TABLE backups DROP COLUMN local; "
                         "ALTER TABLE instances DROP COLUMN replication; "
                         "DROP TABLE repository_sizes; "
                         "PRAGMA user_version = 1")
                    .ok());
  }
  auto catalog = Catalog::Open(path);
  ASSERT_TRUE(catalog.ok()) << catalog.status().ToString();
  EXPECT_EQ((*catalog)->schema_version(), Catalog::SchemaVersion());
  EXPECT_TRUE((*catalog)->GetInstance("old").ok());
  EXPECT_TRUE((*catalog)->GetInstance("old")->replication.empty()) << "one server, no members";
  // Old backups read with the new columns' defaults: not pinned, never drilled.
  auto backup = (*catalog)->GetBackup("old-backup");
  ASSERT_TRUE(backup.ok()) << backup.status().ToString();
  EXPECT_FALSE(backup->pinned);
  EXPECT_TRUE(backup->local) << "made before buckets: its snapshot is local";
  EXPECT_TRUE(backup->drill.is_null());
  EXPECT_EQ(backup->copies, nlohmann::json::object()) << "no copies";
  EXPECT_EQ(backup->schedule_id, "");
  EXPECT_TRUE((*catalog)->ListSchedules().ok());
  RestoreRecord r{0,           "0123456789abcdef", "old",        "b", "new",
                  "succeeded", NowRfc3339(),       NowRfc3339(), 1.5, ""};
  ASSERT_TRUE((*catalog)->AddRestore(r).ok());
  auto restores = (*catalog)->ListRestores();
  ASSERT_TRUE(restores.ok());
  ASSERT_EQ(restores->size(), 1u);
  EXPECT_EQ((*restores)[0].new_instance, "new");
  EXPECT_DOUBLE_EQ((*restores)[0].seconds, 1.5);
}

TEST(CatalogTest, NamesAreUniqueAndMissingRowsAreNotFound) {
  TempDir dir;
  auto catalog = Catalog::Open(dir / "catalog.db");
  ASSERT_TRUE(catalog.ok());
  Catalog& c = **catalog;
  ASSERT_TRUE(c.InsertInstance(Instance("a")).ok());
  EXPECT_EQ(c.InsertInstance(Instance("a")).code(), StatusCode::kAlreadyExists);
  EXPECT_EQ(c.GetInstance("b").status().code(), StatusCode::kNotFound);
  EXPECT_EQ(c.UpdateInstanceStatus("b", InstanceState::kRunning).code(), StatusCode::kNotFound);
  ASSERT_TRUE(c.UpdateInstanceStatus("a", InstanceState::kRunning, "ok").ok());
  EXPECT_EQ(c.GetInstance("a")->status, InstanceState::kRunning);
  ASSERT_TRUE(c.DeleteInstance("a").ok());
  EXPECT_EQ(c.DeleteInstance("a").code(), StatusCode::kNotFound);
}

TEST(CatalogTest, AnInstancesMembersRoundTripAndAreNoneByDefault) {
  TempDir dir;
  auto catalog = Catalog::Open(dir / "catalog.db");
  ASSERT_TRUE(catalog.ok());
  Catalog& c = **catalog;
  ASSERT_TRUE(c.InsertInstance(Instance("a")).ok());
  EXPECT_TRUE(c.GetInstance("a")->replication.empty());
  EXPECT_EQ(c.GetInstance("a")->primary(), "a");
  InstanceReplication r;
  r.replicas = 2;
  r.synchronous = true;
  r.members = {"a", "a-2", "a-3"};
  r.primary = "a-3";
  r.failovers = 1;
  ASSERT_TRUE(c.UpdateInstanceReplication("a", r).ok());
  auto a = c.GetInstance("a");
  ASSERT_TRUE(a.ok());
  EXPECT_EQ(a->replication.replicas, 2);
  EXPECT_TRUE(a->replication.synchronous);
  EXPECT_EQ(a->replication.members, r.members);
  EXPECT_EQ(a->primary(), "a-3");
  EXPECT_EQ(a->replication.failovers, 1);
  EXPECT_EQ(a->config.at("work_mem"), "8MB");  // nothing else changed
  EXPECT_EQ(c.UpdateInstanceReplication("b", r).code(), StatusCode::kNotFound);
}

TEST(CatalogTest, BackupsAndJobsRoundTrip) {
  TempDir dir;
  auto catalog = Catalog::Open(dir / "catalog.db");
  ASSERT_TRUE(catalog.ok());
  Catalog& c = **catalog;
  BackupRecord b;
  b.name = "b1";
  b.instance = "a";
  b.instance_type = "postgresql";
  b.status = BackupState::kCreating;
  b.created_at = "2026-01-01T00:00:00.000Z";
  b.info = {{"config", {{"k", "v"}}}};
  ASSERT_TRUE(c.InsertBackup(b).ok());
  EXPECT_EQ(c.InsertBackup(b).code(), StatusCode::kAlreadyExists);
  b.status = BackupState::kReady;
  b.retention_days = 7;
  b.size = 1ull << 40;  // beyond 32 bits
  b.secret = "s3cret";
  ASSERT_TRUE(c.UpdateBackup(b).ok());
  BackupRecord later = b;
  later.name = "b2";
  later.created_at = "2026-01-02T00:00:00.000Z";
  later.retention_days.reset();
  ASSERT_TRUE(c.InsertBackup(later).ok());
  auto list = c.ListBackups("a");
  ASSERT_TRUE(list.ok());
  ASSERT_EQ(list->size(), 2u);
  EXPECT_EQ((*list)[0].name, "b2") << "newest first";
  EXPECT_FALSE((*list)[0].retention_days.has_value());
  EXPECT_EQ((*list)[1].retention_days, 7);
  EXPECT_EQ((*list)[1].size, 1ull << 40);
  EXPECT_EQ((*list)[1].secret, "s3cret");
  EXPECT_EQ((*list)[1].info["config"]["k"], "v");
  EXPECT_TRUE(c.ListBackups("other")->empty());

  JobRecord j;
  j.id = "0123456789abcdef";
  j.kind = "backup";
  j.instance = "a";
  j.status = JobState::kRunning;
  j.request = {{"backupName", "b1"}};
  j.created_at = NowRfc3339();
  ASSERT_TRUE(c.InsertJob(j).ok());
  ASSERT_EQ(c.ListUnfinishedJobs()->size(), 1u);
  j.status = JobState::kFailed;
  j.error_code = StatusCode::kAborted;
  ASSERT_TRUE(c.UpdateJob(j).ok());
  EXPECT_TRUE(c.ListUnfinishedJobs()->empty());
  EXPECT_EQ(c.GetJob(j.id)->error_code, StatusCode::kAborted);
  EXPECT_EQ(c.GetJob(j.id)->request["backupName"], "b1");
  ASSERT_TRUE(c.AddEvent("warn", "a", j.id, "something happened").ok());
  auto events = c.ListEvents();
  ASSERT_EQ(events->size(), 1u);
  EXPECT_EQ((*events)[0].message, "something happened");
}

// The dashboard's alerts: warnings and errors only, newest first, after a given id.
TEST(CatalogTest, ProblemsAreTheWarningsAndErrorsAfterAnId) {
  TempDir dir;
  auto catalog = Catalog::Open(dir / "catalog.db");
  ASSERT_TRUE(catalog.ok());
  Catalog& c = **catalog;
  for (const char* level : {"info", "warn", "info", "error", "warn"}) {
    ASSERT_TRUE(c.AddEvent(level, "a", "", level).ok());
  }
  auto all = c.ListProblems(0, 10);
  ASSERT_TRUE(all.ok());
  ASSERT_EQ(all->size(), 3u);
  EXPECT_EQ((*all)[0].level, "warn");
  EXPECT_EQ((*all)[1].level, "error");
  EXPECT_EQ((*all)[2].level, "warn");
  EXPECT_GT((*all)[0].id, (*all)[1].id);
  auto newer = c.ListProblems((*all)[1].id, 10);
  ASSERT_EQ(newer->size(), 1u);
  EXPECT_EQ((*newer)[0].id, (*all)[0].id);
  EXPECT_EQ(c.ListProblems(0, 2)->size(), 2u);
  EXPECT_TRUE(c.ListProblems((*all)[0].id, 10)->empty());
}

// The repository's sizes over time: a record when they change, the newest kept, oldest first.
TEST(CatalogTest, RepositorySizesAreRecordedWhenTheyChange) {
  TempDir dir;
  auto catalog = Catalog::Open(dir / "catalog.db");
  ASSERT_TRUE(catalog.ok());
  Catalog& c = **catalog;
  EXPECT_TRUE(c.ListRepositorySizes(10)->empty());
  EXPECT_TRUE(c.AddRepositorySizes(100, 40, 3).value());
  EXPECT_FALSE(c.AddRepositorySizes(100, 40, 3).value());  // unchanged: no record
  EXPECT_TRUE(c.AddRepositorySizes(200, 70, 3).value());
  EXPECT_TRUE(c.AddRepositorySizes(200, 60, 3).value());
  EXPECT_TRUE(c.AddRepositorySizes(300, 90, 3).value());
  auto all = c.ListRepositorySizes(10);
  ASSERT_TRUE(all.ok());
  ASSERT_EQ(all->size(), 3u);  // kept: the newest 3
  EXPECT_EQ((*all)[0].logical_bytes, 200u);
  EXPECT_EQ((*all)[0].stored_bytes, 70u);
  EXPECT_EQ((*all)[2].logical_bytes, 300u);
  EXPECT_LE((*all)[0].at, (*all)[2].at);
  auto newest = c.ListRepositorySizes(1);
  ASSERT_EQ(newest->size(), 1u);
  EXPECT_EQ((*newest)[0].stored_bytes, 90u);
}

TEST(CatalogTest, TextIsBoundNeverSpliced) {
  TempDir dir;
  auto catalog = Catalog::Open(dir / "catalog.db");
  ASSERT_TRUE(catalog.ok());
  Catalog& c = **catalog;
  ASSERT_TRUE(c.InsertInstance(Instance("a")).ok());
  // A value that would end the statement if it were spliced into the SQL.
  ASSERT_TRUE(c.AddEvent("info", "a", "", "x'); DROP TABLE instances; --").ok());
  EXPECT_TRUE(c.GetInstance("a").ok());
  EXPECT_EQ(c.ListEvents().value()[0].message, "x'); DROP TABLE instances; --");
}

TEST(CatalogTest, RestorePointsAreUniquePerArchiveAndListedPerInstance) {
  TempDir dir;
  auto c = std::move(Catalog::Open(dir / "catalog.db").value());
  RestorePointRecord rp{"pg.ab12", "before-migration", "pg", "0/3000028", NowRfc3339(), ""};
  ASSERT_TRUE(c->InsertRestorePoint(rp).ok());
  EXPECT_EQ(c->InsertRestorePoint(rp).code(), StatusCode::kAlreadyExists);
  rp.wal_archive = "pg.cd34";  // the same name in a later incarnation of the instance
  ASSERT_TRUE(c->InsertRestorePoint(rp).ok());
  EXPECT_EQ(c->ListRestorePoints("pg").value().size(), 2u);
  EXPECT_TRUE(c->ListRestorePoints("other").value().empty());
  // A MariaDB point keeps its binlog position and its GTID position.
  RestorePointRecord maria{"shop.ef56", "p1", "shop", "binlog.000003:385", NowRfc3339(), "0-7-42"};
  ASSERT_TRUE(c->InsertRestorePoint(maria).ok());
  auto listed = c->ListRestorePoints("shop").value();
  ASSERT_EQ(listed.size(), 1u);
  EXPECT_EQ(listed[0].lsn, "binlog.000003:385");
  EXPECT_EQ(listed[0].gtid, "0-7-42");
}

TEST(Rfc3339Test, ParsesZonesAndFractionsAndRefusesTheRest) {
  EXPECT_EQ(ParseRfc3339("1970-01-01T00:00:01Z").value(), 1000000);
  EXPECT_EQ(ParseRfc3339("2026-11-25T10:00:00.5Z").value(),
            ParseRfc3339("2026-11-25T11:00:00.500000+01:00").value());
  EXPECT_EQ(ParseRfc3339("2026-11-25T10:00:00.123456789Z").value() % 1000000, 123456);
  int64_t t = ParseRfc3339("2026-11-25T08:12:13.000042Z").value();
  EXPECT_EQ(FormatRfc3339Us(t), "2026-11-25T08:12:13.000042Z");
  for (const char* bad :
       {"", "2026-11-25", "2026-11-25T10:00:00", "2026-13-01T00:00:00Z", "2026-11-25T10:00:00.Z",
        "2026-11-25T10:00:00Zjunk", "2026-11-25T10:00:00+1:00", "tomorrow"}) {
    EXPECT_EQ(ParseRfc3339(bad).status().code(), StatusCode::kInvalidArgument) << bad;
  }
}

TEST(CatalogTest, SchedulesAndOperationsFieldsRoundTrip) {
  TempDir dir;
  auto catalog = Catalog::Open(dir / "catalog.db");
  ASSERT_TRUE(catalog.ok());
  Catalog& c = **catalog;
  ScheduleRecord s;
  s.id = "s0123abcd";
  s.instance = "db";
  s.cron = "0 3 * * *";
  s.time_zone = "Europe/Paris";
  s.retention_days = 7;
  s.keep_weekly = 4;
  s.verify = true;
  s.created_at = s.last_slot_at = NowRfc3339();
  ASSERT_TRUE(c.InsertSchedule(s).ok());
  s.last_status = "failed";
  s.last_message = "it's \"quoted\"";
  ASSERT_TRUE(c.UpdateSchedule(s).ok());
  auto read = c.GetSchedule(s.id);
  ASSERT_TRUE(read.ok());
  EXPECT_EQ(read->time_zone, "Europe/Paris");
  EXPECT_EQ(read->retention_days, 7);
  EXPECT_EQ(read->keep_weekly, 4);
  EXPECT_TRUE(read->verify);
  EXPECT_EQ(read->last_message, s.last_message);
  EXPECT_EQ(c.ListSchedules("db")->size(), 1u);
  EXPECT_EQ(c.ListSchedules("other")->size(), 0u);
  ASSERT_TRUE(c.DeleteSchedule(s.id).ok());
  EXPECT_EQ(c.DeleteSchedule(s.id).code(), StatusCode::kNotFound);

  BackupRecord b = ReadyBackup("b1", "db");
  b.schedule_id = "s0123abcd";
  b.pinned = true;
  b.drill = {{"status", "passed"}, {"rtoSeconds", 1.25}};
  ASSERT_TRUE(c.InsertBackup(b).ok());
  auto got = c.GetBackup("b1");
  ASSERT_TRUE(got.ok());
  EXPECT_TRUE(got->pinned);
  EXPECT_EQ(got->schedule_id, "s0123abcd");
  EXPECT_EQ(got->drill["status"], "passed");
  EXPECT_DOUBLE_EQ(got->drill["rtoSeconds"].get<double>(), 1.25);
}

// Each state has one word, which parses back to it; the catalog stores and the API shows
// these words, so they must not change.
TEST(StatesTest, EachStateHasOneWordThatParsesBack) {
  for (auto [state, word] : {std::pair{InstanceState::kCreating, "creating"},
                             {InstanceState::kRestoring, "restoring"},
                             {InstanceState::kRunning, "running"},
                             {InstanceState::kFailed, "failed"},
                             {InstanceState::kDeleting, "deleting"}}) {
    EXPECT_EQ(NameOf(state), word);
    EXPECT_EQ(ParseInstanceState(word), state);
  }
  for (auto [state, word] : {std::pair{BackupState::kCreating, "creating"},
                             {BackupState::kReady, "ready"},
                             {BackupState::kDeleting, "deleting"}}) {
    EXPECT_EQ(NameOf(state), word);
    EXPECT_EQ(ParseBackupState(word), state);
  }
  for (auto [state, word] : {std::pair{JobState::kQueued, "queued"},
                             {JobState::kRunning, "running"},
                             {JobState::kSucceeded, "succeeded"},
                             {JobState::kFailed, "failed"},
                             {JobState::kCancelled, "cancelled"}}) {
    EXPECT_EQ(NameOf(state), word);
    EXPECT_EQ(ParseJobState(word), state);
    EXPECT_EQ(Finished(state), state != JobState::kQueued && state != JobState::kRunning);
  }
  EXPECT_FALSE(ParseInstanceState("Running").has_value());
  EXPECT_FALSE(ParseBackupState("").has_value());
  EXPECT_FALSE(ParseJobState("done").has_value());
  EXPECT_EQ(fmt::format("is {}", BackupState::kDeleting), "is deleting");
  // A failed job's code is stored by its id; "interrupted" is what a stop always stored.
  for (StatusCode code : {StatusCode::kInvalidArgument, StatusCode::kNotFound, StatusCode::kBusy,
                          StatusCode::kInternal, StatusCode::kAborted}) {
    EXPECT_EQ(ParseStatusCodeId(StatusCodeId(code)), code);
  }
  EXPECT_EQ(StatusCodeId(StatusCode::kAborted), "interrupted");
}

}  // namespace
}  // namespace dbaas::catalog
