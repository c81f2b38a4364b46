#include "storage/manifest.h"

#include <gtest/gtest.h>

namespace dbaas::storage {
namespace {

Manifest Sample() {
  Manifest m;
  m.id = "0123456789abcdef";
  m.source = "/data";
  m.chunk_size = 16384;
  m.created_unix_ns = 1'700'000'000'000'000'000;
  auto entry = [](std::string path, EntryType type, uint32_t mode) {
    TreeEntry e;
    e.path = std::move(path);
    e.type = type;
    e.mode = mode;
    return e;
  };
  TreeEntry root = entry(".", EntryType::kDirectory, 0700);
  TreeEntry dir = entry("base", EntryType::kDirectory, 0700);
  TreeEntry file = entry("base/1", EntryType::kFile, 0600);
  file.size = 10;
  file.chunks = Sha256(std::string_view("x"));
  TreeEntry link = entry("pg_wal", EntryType::kSymlink, 0777);
  link.symlink_target = "/wal";
  m.entries = {root, dir, file, link};
  return m;
}

// Version 2 (written) and version 1 (JSON, read from older repositories) alike.
std::string Encoded(const Manifest& m, bool json) {
  return json ? ManifestToJson(m) : EncodeManifest(m);
}

class ManifestVersionTest : public ::testing::TestWithParam<bool> {};
INSTANTIATE_TEST_SUITE_P(Versions, ManifestVersionTest, ::testing::Values(false, true),
                         [](const ::testing::TestParamInfo<bool>& version) {
                           return version.param ? "V1Json" : "V2Binary";
                         });

TEST_P(ManifestVersionTest, RoundTrip) {
  Manifest m = Sample();
  m.entries[2].mtime_ns = -5;
  m.entries[2].ctime_ns = 1'700'000'000'123'456'789;
  m.entries[2].inode = 0xfedcba9876543210ull;
  m.entries[2].uid = 1001;
  m.annotations["start_lsn"] = "0/2000028";
  m.warnings = {"skipped special file 'x'"};
  m.stats.partial_files = 7;
  auto parsed = ParseManifest(Encoded(m, GetParam()));
  ASSERT_TRUE(parsed.ok()) << parsed.status().ToString();
  EXPECT_EQ(parsed->id, m.id);
  ASSERT_EQ(parsed->entries.size(), 4u);
  for (size_t i = 0; i < 4; ++i) {
    EXPECT_EQ(parsed->entries[i].path, m.entries[i].path);
    EXPECT_EQ(parsed->entries[i].type, m.entries[i].type);
  }
  EXPECT_EQ(parsed->entries[2].chunks, m.entries[2].chunks);
  EXPECT_EQ(parsed->entries[2].mtime_ns, -5);
  EXPECT_EQ(parsed->entries[2].ctime_ns, m.entries[2].ctime_ns);
  EXPECT_EQ(parsed->entries[2].inode, m.entries[2].inode);
  EXPECT_EQ(parsed->entries[2].uid, 1001u);
  EXPECT_EQ(parsed->entries[2].size, 10u);
  EXPECT_EQ(parsed->entries[3].symlink_target, "/wal");
  EXPECT_EQ(parsed->entries[1].mode, 0700u);
  EXPECT_EQ(parsed->annotations, m.annotations);
  EXPECT_EQ(parsed->warnings, m.warnings);
  EXPECT_EQ(parsed->stats.partial_files, 7u);
}

TEST(ManifestTest, BinaryCatchesEveryFlippedByteAndCut) {
  std::string bytes = EncodeManifest(Sample());
  for (size_t i = 0; i < bytes.size(); ++i) {
    std::string damaged = bytes;
    damaged[i] ^= 0x20;
    auto parsed = ParseManifest(damaged);
    ASSERT_FALSE(parsed.ok()) << "byte " << i;
    EXPECT_EQ(parsed.status().code(), StatusCode::kCorruption);
  }
  for (size_t n : {size_t{0}, size_t{8}, bytes.size() / 2, bytes.size() - 1}) {
    EXPECT_FALSE(ParseManifest(bytes.substr(0, n)).ok()) << n;
  }
}

// A tenant names its files with any bytes: they go into a manifest as they are, and a
// warning naming one does not make the snapshot fail (nor the daemon throw).
TEST(ManifestTest, FileNamesThatAreNotUtf8) {
  Manifest m = Sample();
  m.entries[2].path = "base/\xff\xfe";
  m.entries[3].symlink_target = "/w\xc3";
  m.warnings = {"skipped special file 'base/\x9b'"};
  std::string bytes;
  ASSERT_NO_THROW(bytes = EncodeManifest(m));
  auto parsed = ParseManifest(bytes);
  ASSERT_TRUE(parsed.ok()) << parsed.status().ToString();
  EXPECT_EQ(parsed->entries[2].path, "base/\xff\xfe");
  EXPECT_EQ(parsed->entries[3].symlink_target, "/w\xc3");
  ASSERT_EQ(parsed->warnings.size(), 1u);
  EXPECT_NE(parsed->warnings[0].find("skipped special file"), std::string::npos);
  EXPECT_NO_THROW(ManifestToJson(m));
}

TEST(ManifestTest, BinaryPathsSharePrefixes) {
  Manifest m = Sample();
  for (int i = 0; i < 1000; ++i) {
    TreeEntry e = m.entries[2];
    e.path = "base/" + std::to_string(100000 + i);
    m.entries.insert(m.entries.end() - 1, e);
  }
  std::string bytes = EncodeManifest(m);
  // Per entry: 4 bytes of path header and suffix, 46 of fields, 32 of chunk-list id.
  EXPECT_LT(bytes.size(), 1000u * 90 + 1000);
  auto parsed = ParseManifest(bytes);
  ASSERT_TRUE(parsed.ok()) << parsed.status().ToString();
  EXPECT_EQ(parsed->entries[503].path, "base/100500");
}

TEST_P(ManifestVersionTest, RejectsPathsThatEscape) {
  for (const char* bad : {"../etc", "/etc/passwd", "base/../../x", "base//1", "base/./1", ""}) {
    Manifest m = Sample();
    m.entries[2].path = bad;
    auto parsed = ParseManifest(Encoded(m, GetParam()));
    EXPECT_FALSE(parsed.ok()) << bad;
    if (!parsed.ok()) {
      EXPECT_EQ(parsed.status().code(), StatusCode::kCorruption);
    }
  }
}

TEST_P(ManifestVersionTest, RejectsEntriesWithoutParentDirectory) {
  Manifest m = Sample();
  m.entries[2].path = "pg_wal/evil";  // under a symlink, not a directory
  std::swap(m.entries[2], m.entries[3]);
  EXPECT_FALSE(ParseManifest(Encoded(m, GetParam())).ok());
}

TEST_P(ManifestVersionTest, RejectsUnsortedAndMalformed) {
  Manifest m = Sample();
  std::swap(m.entries[1], m.entries[2]);
  EXPECT_FALSE(ParseManifest(Encoded(m, GetParam())).ok());
  EXPECT_FALSE(ParseManifest("not json").ok());
  EXPECT_FALSE(ParseManifest("{}").ok());
  EXPECT_FALSE(ParseManifest(R"({"format":"dbaas-snapshot","version":1,"id":5})").ok());
  Manifest no_chunks = Sample();
  no_chunks.entries[2].chunks.reset();
  EXPECT_FALSE(ParseManifest(Encoded(no_chunks, GetParam())).ok());
  Manifest chunks_on_dir = Sample();
  chunks_on_dir.entries[1].chunks = chunks_on_dir.entries[2].chunks;
  EXPECT_FALSE(ParseManifest(Encoded(chunks_on_dir, GetParam())).ok());
}

TEST(ManifestTest, SafePaths) {
  EXPECT_TRUE(IsSafeRelativePath("."));
  EXPECT_TRUE(IsSafeRelativePath("a/b/c"));
  EXPECT_TRUE(IsSafeRelativePath("..a"));
  EXPECT_FALSE(IsSafeRelativePath("a/.."));
  EXPECT_FALSE(IsSafeRelativePath("a/"));
  EXPECT_FALSE(IsSafeRelativePath(std::string_view("a\0b", 3)));
}

}  // namespace
}  // namespace dbaas::storage
