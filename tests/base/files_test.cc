#include "base/files.h"

#include <sys/stat.h>

#include <filesystem>

#include <gtest/gtest.h>

#include "base/hex.h"
#include "base/sha256.h"
#include "test_util.h"

namespace dbaas {
namespace {

TEST(FilesTest, AtomicWriteReplacesAndLeavesNoTemp) {
  testing::TempDir dir;
  std::string path = dir / "config.json";
  ASSERT_TRUE(WriteFileAtomic(path, "one", 0600).ok());
  ASSERT_TRUE(WriteFileAtomic(path, "two", 0600).ok());
  EXPECT_EQ(testing::ReadFile(path), "two");
  struct stat st;
  ASSERT_EQ(stat(path.c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 0777, 0600u);
  int count = 0;
  for (const auto& e : std::filesystem::directory_iterator(dir.path())) (void)e, ++count;
  EXPECT_EQ(count, 1);
}

TEST(FilesTest, ReadFileErrorsNameThePath) {
  testing::TempDir dir;
  auto r = ReadFileToString(dir / "missing");
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.status().code(), StatusCode::kNotFound);
  EXPECT_NE(r.status().message().find("missing"), std::string::npos);
  testing::WriteFile(dir / "big", std::string(100, 'x'));
  EXPECT_EQ(ReadFileToString(dir / "big", 10).status().code(), StatusCode::kCorruption);
}

TEST(HexTest, RoundTripAndRejects) {
  std::vector<uint8_t> bytes{0x00, 0xab, 0xff};
  EXPECT_EQ(HexEncode(bytes), "00abff");
  EXPECT_EQ(*HexDecode("00ABff"), bytes);
  EXPECT_FALSE(HexDecode("abc"));
  EXPECT_FALSE(HexDecode("zz"));
  EXPECT_NE(RandomHex(8), RandomHex(8));
}

TEST(Sha256Test, KnownVector) {
  EXPECT_EQ(Sha256(std::string_view("abc")).Hex(),
            "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
}

}  // namespace
}  // namespace dbaas
