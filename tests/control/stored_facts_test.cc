// A backup's facts from the engine's struct to the snapshot's annotations and the
// catalog's row and back, and the rows earlier builds wrote.
#include "control/stored_facts.h"

#include <gtest/gtest.h>

namespace dbaas::control {
namespace {

using engines::BackupFacts;
using nlohmann::json;

BackupFacts PgFacts() {
  BackupFacts f;
  f.engine = "postgresql";
  f.server_version = "150018";
  f.snapshot_kind = "repository";
  f.duration_seconds = 2.5;
  f.system_identifier = "7301234567890123456";
  f.timeline = 2;
  f.start_lsn = "0/3000028";
  f.stop_lsn = "0/3000138";
  f.stop_time_unix_us = 1764380000123456;
  f.seconds_in_backup_mode = 0.25;
  f.wal_archive = "db.0a1b2c3d";
  return f;
}

void ExpectSame(const BackupFacts& a, const BackupFacts& b) {
  EXPECT_EQ(a.engine, b.engine);
  EXPECT_EQ(a.server_version, b.server_version);
  EXPECT_EQ(a.snapshot_kind, b.snapshot_kind);
  EXPECT_EQ(a.duration_seconds, b.duration_seconds);
  EXPECT_EQ(a.system_identifier, b.system_identifier);
  EXPECT_EQ(a.timeline, b.timeline);
  EXPECT_EQ(a.start_lsn, b.start_lsn);
  EXPECT_EQ(a.stop_lsn, b.stop_lsn);
  EXPECT_EQ(a.stop_time_unix_us, b.stop_time_unix_us);
  EXPECT_EQ(a.seconds_in_backup_mode, b.seconds_in_backup_mode);
  EXPECT_EQ(a.wal_archive, b.wal_archive);
  EXPECT_EQ(a.method, b.method);
  EXPECT_EQ(a.checkpoint_lsn, b.checkpoint_lsn);
  EXPECT_EQ(a.end_lsn, b.end_lsn);
  EXPECT_EQ(a.seconds_writes_blocked, b.seconds_writes_blocked);
}

TEST(StoredFactsTest, TheCatalogsRowGivesBackWhatWasStored) {
  json info = {{"config", {{"max_connections", "50"}}}};
  StoreFacts(PgFacts(), info);
  EXPECT_EQ(info["config"]["max_connections"], "50") << "other keys are left alone";
  ExpectSame(StoredFacts(info), PgFacts());

  BackupFacts maria;
  maria.engine = "mariadb";
  maria.method = "reflink";
  maria.checkpoint_lsn = 123456789;
  maria.end_lsn = 123999999;
  maria.seconds_writes_blocked = 0.012;
  json row;
  StoreFacts(maria, row);
  ExpectSame(StoredFacts(row), maria);
  EXPECT_FALSE(row.contains("startLsn")) << "what an engine does not know is not written";
}

// A backup whose row a crash cut off is completed from its snapshot's annotations: it then
// has the facts a point-in-time restore starts from.
TEST(StoredFactsTest, ASnapshotsAnnotationsCarryTheSameFacts) {
  BackupFacts pg = PgFacts();
  pg.duration_seconds = 2.5;  // annotations keep 3 decimals
  ExpectSame(engines::FromAnnotations(engines::ToAnnotations(pg)), pg);
  EXPECT_EQ(engines::ToAnnotations(pg).at("start_lsn"), "0/3000028");
  auto bad = engines::ToAnnotations(pg);
  bad["timeline"] = "two";
  EXPECT_FALSE(engines::FromAnnotations(bad).timeline.has_value()) << "what does not parse";
}

// Rows earlier builds wrote: facts at the top of info in camelCase, or (a backup a crash
// reconcile completed) three of them under the snapshot's snake_case names.
TEST(StoredFactsTest, RowsOfEarlierBuildsRead) {
  json current = json::parse(R"({"engine":"postgresql","serverVersion":"150018","timeline":1,
      "startLsn":"0/2000028","stopLsn":"0/2000100","stopTimeUnixUs":1764380000000000,
      "secondsInBackupMode":0.1,"walArchive":"db.00000001","durationSeconds":1.5,
      "snapshotKind":"thin","config":{}})");
  BackupFacts f = StoredFacts(current);
  EXPECT_EQ(f.start_lsn, "0/2000028");
  EXPECT_EQ(f.stop_time_unix_us, 1764380000000000);
  EXPECT_EQ(f.snapshot_kind, "thin");
  json reconciled = json::parse(
      R"({"start_lsn":"0/5000028","stop_lsn":"0/5000100","server_version_num":"150018"})");
  f = StoredFacts(reconciled);
  EXPECT_EQ(f.start_lsn, "0/5000028");
  EXPECT_EQ(f.stop_lsn, "0/5000100");
  EXPECT_EQ(f.server_version, "150018");
  EXPECT_EQ(StoredFacts(json()).start_lsn, "") << "no row: no facts";
  EXPECT_FALSE(StoredFacts(json::parse(R"({"timeline":"1"})")).timeline.has_value());
}

}  // namespace
}  // namespace dbaas::control
