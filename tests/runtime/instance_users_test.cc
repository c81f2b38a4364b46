// The instances' own OS users and ChownTree: uids are never given twice, a user that is
// not an instance's is refused by name, and a chown walk follows no link.
#include "runtime/instance_users.h"

#include <sys/stat.h>
#include <unistd.h>

#include <gtest/gtest.h>

#include "base/files.h"
#include "test_util.h"

namespace dbaas::runtime {
namespace {

TEST(ServerUserTest, AnInstanceUsersUidIsNeverGivenAgain) {
  if (::geteuid() != 0) GTEST_SKIP() << "not root: instances run as ourselves";
  testing::TempDir tmp;
  auto first = MakeInstanceUser("uid-probe", tmp / "first");
  ASSERT_TRUE(first.ok()) << first.status().ToString();
  ASSERT_TRUE(first->has_value());
  EXPECT_TRUE((*first)->name.starts_with("dbaas-")) << (*first)->name;
  EXPECT_GE((*first)->uid, kFirstInstanceUid);
  EXPECT_LE((*first)->name.size(), 32u);
  ASSERT_TRUE(RemoveInstanceUser(*first).ok());
  EXPECT_EQ(LookupUser((*first)->name).status().code(), StatusCode::kNotFound);
  // The removed user's uid is free again in /etc/passwd, and still not given out.
  auto second = MakeInstanceUser("uid-probe", tmp / "second");
  ASSERT_TRUE(second.ok()) << second.status().ToString();
  EXPECT_GT((*second)->uid, (*first)->uid);
  EXPECT_TRUE(InstanceUser((*second)->name).ok());
  ASSERT_TRUE(RemoveInstanceUser(*second).ok());
  EXPECT_TRUE(RemoveInstanceUser(*second).ok()) << "a user gone already is fine";
}

// The name is recorded before the user is made: a daemon killed before the instance is
// complete leaves a record by which its successor removes the user.
TEST(ServerUserTest, ARecordedUserIsRemovedByItsRecord) {
  if (::geteuid() != 0) GTEST_SKIP() << "not root: instances run as ourselves";
  testing::TempDir tmp;
  const std::string record = tmp / kOsUserRecord;
  auto made = MakeInstanceUser("record-probe", record);
  ASSERT_TRUE(made.ok()) << made.status().ToString();
  EXPECT_EQ(testing::ReadFile(record), (*made)->name + "\n");
  ASSERT_TRUE(RemoveRecordedInstanceUser(record).ok());
  EXPECT_EQ(LookupUser((*made)->name).status().code(), StatusCode::kNotFound);
  EXPECT_TRUE(RemoveRecordedInstanceUser(record).ok()) << "gone already";
  EXPECT_TRUE(RemoveRecordedInstanceUser(tmp / "none").ok()) << "no record";
  // A record naming a user dbaas did not make is refused, and the user left alone.
  testing::WriteFile(record, "nobody\n");
  EXPECT_FALSE(RemoveRecordedInstanceUser(record).ok());
  EXPECT_TRUE(LookupUser("nobody").ok());
}

TEST(ServerUserTest, AUserThatIsNotAnInstancesIsRefusedByName) {
  if (::geteuid() != 0) GTEST_SKIP() << "not root: instances run as ourselves";
  auto nobody = InstanceUser("nobody");
  ASSERT_FALSE(nobody.ok());
  EXPECT_EQ(nobody.status().code(), StatusCode::kFailedPrecondition);
  EXPECT_NE(nobody.status().message().find("'nobody'"), std::string::npos)
      << nobody.status().ToString();
}

// A server's user may swap a file for a link to a root-only file before its tree is
// given to it: the link is given, the root-only file is not.
TEST(ServerUserTest, ChownTreeGivesLinksNotWhatTheyPointTo) {
  if (::geteuid() != 0) GTEST_SKIP() << "not root: cannot chown";
  testing::TempDir dir;
  testing::WriteFile(dir / "secret", "root only");
  ASSERT_TRUE(MakeDirs(dir / "tree/sub").ok());
  testing::WriteFile(dir / "tree/sub/file", "x");
  ASSERT_EQ(::symlink((dir / "secret").c_str(), (dir / "tree/sub/link").c_str()), 0);
  ASSERT_EQ(::symlink(dir.path().c_str(), (dir / "tree/up").c_str()), 0);
  auto nobody = LookupUser("nobody");
  ASSERT_TRUE(nobody.ok());
  ASSERT_TRUE(ChownTree(dir / "tree", *nobody).ok());
  struct stat st;
  ASSERT_EQ(::lstat((dir / "tree/sub/file").c_str(), &st), 0);
  EXPECT_EQ(st.st_uid, nobody->uid);
  ASSERT_EQ(::lstat((dir / "tree/sub/link").c_str(), &st), 0);
  EXPECT_EQ(st.st_uid, nobody->uid);
  ASSERT_EQ(::stat((dir / "secret").c_str(), &st), 0);
  EXPECT_EQ(st.st_uid, 0u) << "chowned through a link";
  ASSERT_EQ(::stat(dir.path().c_str(), &st), 0);
  EXPECT_EQ(st.st_uid, 0u) << "chowned through a directory link";
}

}  // namespace
}  // namespace dbaas::runtime
