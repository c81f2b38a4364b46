// Reservations: one backup per instance at a time (the second is a 409 naming the first's
// job), and backups in use by restores and drills, counted.
#include "control/reservations.h"

#include <gtest/gtest.h>

namespace dbaas::control {
namespace {

TEST(ReservationsTest, OneBackupPerInstanceAndTheConflictNamesTheJob) {
  Reservations r;
  EXPECT_TRUE(r.Idle());
  ASSERT_TRUE(r.ReserveBackup("db").ok());
  EXPECT_EQ(r.BackupOf("db"), "pending");
  Status second = r.ReserveBackup("db");
  EXPECT_EQ(second.code(), StatusCode::kFailedPrecondition);
  r.SetBackupJob("db", "0123456789abcdef");
  second = r.ReserveBackup("db");
  EXPECT_NE(second.message().find("job 0123456789abcdef"), std::string::npos) << second.ToString();
  EXPECT_TRUE(r.ReserveBackup("other").ok()) << "instances do not block each other";
  r.EndBackup("db");
  EXPECT_FALSE(r.BackupOf("db").has_value());
  r.SetBackupJob("db", "late");  // a job id arriving after its backup ended
  EXPECT_FALSE(r.BackupOf("db").has_value()) << "an ended reservation stays ended";
  EXPECT_TRUE(r.ReserveBackup("db").ok());
  r.EndBackup("db");
  r.EndBackup("other");
  EXPECT_TRUE(r.Idle());
}

TEST(ReservationsTest, ABackupIsInUseUntilItsLastReaderEnds) {
  Reservations r;
  r.UseBackup("b1");  // a restore
  r.UseBackup("b1");  // and a drill of the same backup
  EXPECT_TRUE(r.InUse("b1"));
  EXPECT_FALSE(r.InUse("b2"));
  EXPECT_FALSE(r.Idle());
  r.StopUsingBackup("b1");
  EXPECT_TRUE(r.InUse("b1")) << "one reader is left";
  r.StopUsingBackup("b1");
  EXPECT_FALSE(r.InUse("b1"));
  r.StopUsingBackup("b1");  // one end too many changes nothing
  EXPECT_TRUE(r.Idle());
}

}  // namespace
}  // namespace dbaas::control
