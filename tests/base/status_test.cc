#include "base/status.h"

#include <cerrno>

#include <gtest/gtest.h>

namespace dbaas {
namespace {

Result<int> Half(int x) {
  if (x % 2) return Status::InvalidArgument("odd number", "pass an even one");
  return x / 2;
}

Status Quarter(int x, int& out) {
  ASSIGN_OR_RETURN(int half, Half(x));
  ASSIGN_OR_RETURN(out, Half(half));
  return Status::Ok();
}

TEST(StatusTest, OkAndErrors) {
  EXPECT_TRUE(Status::Ok().ok());
  Status st = Status::Corruption("pack 'x': bad magic", "run verify");
  EXPECT_FALSE(st.ok());
  EXPECT_EQ(st.code(), StatusCode::kCorruption);
  EXPECT_EQ(st.ToString(), "corruption: pack 'x': bad magic (hint: run verify)");
  EXPECT_EQ(st.WithContext("snapshot 1").message(), "snapshot 1: pack 'x': bad magic");
}

TEST(StatusTest, ResultPropagates) {
  int out = 0;
  EXPECT_TRUE(Quarter(8, out).ok());
  EXPECT_EQ(out, 2);
  Status st = Quarter(6, out);
  EXPECT_EQ(st.code(), StatusCode::kInvalidArgument);
  EXPECT_EQ(st.hint(), "pass an even one");
}

TEST(StatusTest, ErrnoMapping) {
  EXPECT_EQ(ErrnoStatus("open", "/x", ENOENT).code(), StatusCode::kNotFound);
  EXPECT_EQ(ErrnoStatus("open", "/x", EEXIST).code(), StatusCode::kAlreadyExists);
  Status st = ErrnoStatus("open", "/x", EACCES);
  EXPECT_EQ(st.code(), StatusCode::kIoError);
  EXPECT_NE(st.message().find("'/x'"), std::string::npos);
}

}  // namespace
}  // namespace dbaas
