// What crosses between the daemon and a pod's agent for a restore from a volume backup
// (engines/volume_backup.h): the log paths it may name, and a point-in-time target as JSON,
// checked whole on the agent's side.
#include <gtest/gtest.h>

#include <nlohmann/json.hpp>

#include "engines/volume_backup.h"

namespace dbaas::engines {
namespace {

using nlohmann::json;
using Kind = RecoveryTarget::Kind;

TEST(VolumeBackupWireTest, ARecoveryTargetCrossesAsJsonWhole) {
  RecoveryTarget latest{Kind::kLatest, 0, "", "", "", "orders.0a0b0c0d"};
  RecoveryTarget time{Kind::kTime, 1764583200123456, "", "", "", "orders.0a0b0c0d"};
  RecoveryTarget lsn{Kind::kLsn, 0, "0/3000060", "", "", "orders.0a0b0c0d"};
  RecoveryTarget name{Kind::kName, 0, "", "before-two", "", "orders.0a0b0c0d"};
  for (const RecoveryTarget& t : {latest, time, lsn, name}) {
    const json wire = RecoveryTargetJson(t);
    auto back = RecoveryTargetFromJson(json::parse(wire.dump()));
    ASSERT_TRUE(back.ok()) << wire.dump() << ": " << back.status().ToString();
    EXPECT_EQ(back->kind, t.kind) << wire.dump();
    EXPECT_EQ(back->time_unix_us, t.time_unix_us) << wire.dump();
    EXPECT_EQ(back->lsn, t.lsn) << wire.dump();
    EXPECT_EQ(back->name, t.name) << wire.dump();
    EXPECT_EQ(back->archive_id, t.archive_id) << wire.dump();
  }
}

TEST(VolumeBackupWireTest, ATargetThatIsNotOneIsRefusedWithTheReason) {
  const json good = {{"kind", "name"}, {"name", "p"}, {"archiveId", "orders.0a0b0c0d"}};
  ASSERT_TRUE(RecoveryTargetFromJson(good).ok());
  for (const json& bad :
       {json("latest"), json::array(), json{{"kind", "gtid"}, {"archiveId", "orders.0a0b0c0d"}},
        json{{"kind", "backupEnd"}, {"archiveId", "orders.0a0b0c0d"}}, json{{"kind", "latest"}},
        json{{"kind", "latest"}, {"archiveId", "../../etc"}},
        json{{"kind", "latest"}, {"archiveId", 7}},
        json{{"kind", "time"}, {"timeUnixUs", "soon"}, {"archiveId", "orders.0a0b0c0d"}},
        json{{"kind", "time"}, {"archiveId", "orders.0a0b0c0d"}},
        json{{"kind", "lsn"}, {"lsn", ""}, {"archiveId", "orders.0a0b0c0d"}},
        json{{"kind", "name"}, {"archiveId", "orders.0a0b0c0d"}}}) {
    auto parsed = RecoveryTargetFromJson(bad);
    ASSERT_FALSE(parsed.ok()) << bad.dump();
    EXPECT_EQ(parsed.status().code(), StatusCode::kInvalidArgument) << bad.dump();
    EXPECT_FALSE(parsed.status().message().empty());
  }
}

TEST(VolumeBackupWireTest, LogPathsAreOnlyNamesInPgWal) {
  EXPECT_TRUE(IsVolumeLogPath("pg_wal/000000010000000000000001"));
  EXPECT_TRUE(IsVolumeLogPath("pg_wal/00000002.history"));
  for (const char* bad : {"pg_wal/", "pg_wal/.", "pg_wal/..", "pg_wal/a/b", "pg_wal/x y",
                          "base/1/1259", "/pg_wal/x", "pg_wal/../postgresql.conf"}) {
    EXPECT_FALSE(IsVolumeLogPath(bad)) << bad;
  }
  EXPECT_TRUE(IsVolumeBackupEndFile("backup_label"));
  EXPECT_TRUE(IsVolumeBackupEndFile("tablespace_map"));
  EXPECT_FALSE(IsVolumeBackupEndFile("postgresql.conf"));
}

}  // namespace
}  // namespace dbaas::engines
