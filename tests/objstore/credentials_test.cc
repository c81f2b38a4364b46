#include "objstore/credentials.h"

#include <gtest/gtest.h>
#include <stdlib.h>
#include <sys/stat.h>

#include "test_util.h"

namespace dbaas::objstore {
namespace {

TEST(CredentialsTest, TheSharedFileFormatByProfile) {
  std::string text =
      "# comment\n[default]\naws_access_key_id = AKID\naws_secret_access_key=secret \n\n"
      "[backup]\n  aws_access_key_id=k2\naws_secret_access_key = s2\naws_session_token = t2\n";
  auto d = ParseCredentialsFile(text, "", "f");
  ASSERT_TRUE(d.ok()) << d.status().ToString();
  EXPECT_EQ(d->access_key_id, "AKID");
  EXPECT_EQ(d->secret_access_key, "secret");
  EXPECT_EQ(d->session_token, "");
  auto b = ParseCredentialsFile(text, "backup", "f");
  ASSERT_TRUE(b.ok());
  EXPECT_EQ(b->session_token, "t2");
  auto missing = ParseCredentialsFile(text, "nosuch", "creds");
  EXPECT_EQ(missing.status().code(), StatusCode::kInvalidArgument);
  EXPECT_NE(missing.status().message().find("no [nosuch] profile"), std::string::npos);
  auto half = ParseCredentialsFile("[default]\naws_access_key_id = x\n", "", "creds");
  EXPECT_NE(half.status().message().find("aws_secret_access_key"), std::string::npos);
}

TEST(CredentialsTest, TheEnvironmentWhenNoFileIsGiven) {
  ::unsetenv("AWS_ACCESS_KEY_ID");
  ::unsetenv("AWS_SECRET_ACCESS_KEY");
  auto none = LoadCredentials("");
  EXPECT_EQ(none.status().code(), StatusCode::kInvalidArgument);
  EXPECT_NE(none.status().hint().find("credentialsFile"), std::string::npos);
  ::setenv("AWS_ACCESS_KEY_ID", "env-id", 1);
  ::setenv("AWS_SECRET_ACCESS_KEY", "env-secret", 1);
  auto env = LoadCredentials("");
  ASSERT_TRUE(env.ok());
  EXPECT_EQ(env->access_key_id, "env-id");
  ::unsetenv("AWS_ACCESS_KEY_ID");
  ::unsetenv("AWS_SECRET_ACCESS_KEY");
  // A file wins, and must be ours alone.
  testing::TempDir dir;
  testing::WriteFile(dir / "c", "[default]\naws_access_key_id=f\naws_secret_access_key=s\n");
  ::chmod((dir / "c").c_str(), 0640);
  EXPECT_EQ(LoadCredentials(dir / "c").status().code(), StatusCode::kFailedPrecondition);
  ::chmod((dir / "c").c_str(), 0600);
  EXPECT_EQ(LoadCredentials(dir / "c")->access_key_id, "f");
}

}  // namespace
}  // namespace dbaas::objstore
