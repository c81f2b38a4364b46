#include "base/files.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <chrono>
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

// A database server's OS user plants links and FIFOs where the daemon reads: no open
// follows a link in any component, and a FIFO is refused at once instead of blocking.
TEST(FilesTest, OpensFollowNoLinkAndWaitOnNoFifo) {
  testing::TempDir dir;
  testing::WriteFile(dir / "secret", "root only");
  ASSERT_EQ(::symlink((dir / "secret").c_str(), (dir / "conf").c_str()), 0);
  ASSERT_TRUE(MakeDirs(dir / "real/sub").ok());
  testing::WriteFile(dir / "real/sub/file", "x");
  ASSERT_EQ(::symlink((dir / "real").c_str(), (dir / "swapped").c_str()), 0);
  for (const std::string& path : {dir / "conf", dir / "swapped/sub/file"}) {
    auto read = ReadFileToString(path);
    ASSERT_FALSE(read.ok()) << path;
    EXPECT_EQ(read.status().code(), StatusCode::kInvalidArgument) << read.status().ToString();
    EXPECT_NE(read.status().message().find("symbolic link"), std::string::npos);
    EXPECT_FALSE(OpenFile(path, O_WRONLY | O_TRUNC).ok()) << path;
  }
  EXPECT_EQ(testing::ReadFile(dir / "secret"), "root only");  // not truncated through the link
  EXPECT_EQ(ReadFileFollowingLinks(dir / "conf").value_or(""), "root only");  // operator's paths

  ASSERT_EQ(::mkfifo((dir / "fifo").c_str(), 0600), 0);
  auto start = std::chrono::steady_clock::now();
  auto fifo = ReadFileToString(dir / "fifo");
  EXPECT_FALSE(fifo.ok());
  EXPECT_NE(fifo.status().message().find("FIFO"), std::string::npos) << fifo.status().ToString();
  EXPECT_FALSE(OpenFile(dir / "fifo", O_WRONLY).ok());
  EXPECT_LT(std::chrono::steady_clock::now() - start, std::chrono::seconds(1));
  // A directory where a file is expected is not read either.
  EXPECT_FALSE(ReadFileToString(dir / "real").ok());
}

// rm -rf by descriptor: a link inside is removed, what it points to is not touched, and
// a directory given as a link is not entered.
TEST(FilesTest, RemoveTreeRemovesLinksNotTheirTargets) {
  testing::TempDir dir;
  ASSERT_TRUE(MakeDirs(dir / "keep/deep").ok());
  testing::WriteFile(dir / "keep/deep/file", "keep me");
  ASSERT_TRUE(MakeDirs(dir / "doomed/a/b").ok());
  testing::WriteFile(dir / "doomed/a/b/f", "x");
  ASSERT_EQ(::symlink((dir / "keep").c_str(), (dir / "doomed/a/link").c_str()), 0);
  ASSERT_EQ(::symlink((dir / "keep/deep/file").c_str(), (dir / "doomed/filelink").c_str()), 0);
  ASSERT_TRUE(RemoveTree(dir / "doomed").ok());
  EXPECT_FALSE(PathExists(dir / "doomed"));
  EXPECT_EQ(testing::ReadFile(dir / "keep/deep/file"), "keep me");
  ASSERT_EQ(::symlink((dir / "keep").c_str(), (dir / "alias").c_str()), 0);
  EXPECT_TRUE(RemoveTree(dir / "alias/deep").code() == StatusCode::kInvalidArgument);
  EXPECT_EQ(testing::ReadFile(dir / "keep/deep/file"), "keep me");
  EXPECT_TRUE(RemoveTree(dir / "missing").ok());
}

TEST(FilesTest, MakeDirsGivesExactlyTheModeWhateverTheUmask) {
  testing::TempDir dir;
  mode_t old = ::umask(077);
  ASSERT_TRUE(MakeDirs(dir / "a/b", 0711).ok());
  ::umask(old);
  struct stat st;
  ASSERT_EQ(::stat((dir / "a").c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 0777, 0711u);
  ASSERT_EQ(::stat((dir / "a/b").c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 0777, 0711u);
  EXPECT_EQ(MakeDir(dir / "a", 0700).code(), StatusCode::kAlreadyExists);
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
