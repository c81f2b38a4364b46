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

TEST(ManifestTest, RoundTrip) {
  Manifest m = Sample();
  auto parsed = ParseManifest(ManifestToJson(m));
  ASSERT_TRUE(parsed.ok()) << parsed.status().ToString();
  EXPECT_EQ(parsed->id, m.id);
  ASSERT_EQ(parsed->entries.size(), 4u);
  EXPECT_EQ(parsed->entries[2].chunks, m.entries[2].chunks);
  EXPECT_EQ(parsed->entries[3].symlink_target, "/wal");
  EXPECT_EQ(parsed->entries[1].mode, 0700u);
}

TEST(ManifestTest, RejectsPathsThatEscape) {
  for (const char* bad : {"../etc", "/etc/passwd", "base/../../x", "base//1", "base/./1", ""}) {
    Manifest m = Sample();
    m.entries[2].path = bad;
    auto parsed = ParseManifest(ManifestToJson(m));
    EXPECT_FALSE(parsed.ok()) << bad;
    if (!parsed.ok()) {
      EXPECT_EQ(parsed.status().code(), StatusCode::kCorruption);
    }
  }
}

TEST(ManifestTest, RejectsEntriesWithoutParentDirectory) {
  Manifest m = Sample();
  m.entries[2].path = "pg_wal/evil";  // under a symlink, not a directory
  std::swap(m.entries[2], m.entries[3]);
  EXPECT_FALSE(ParseManifest(ManifestToJson(m)).ok());
}

TEST(ManifestTest, RejectsUnsortedAndMalformed) {
  Manifest m = Sample();
  std::swap(m.entries[1], m.entries[2]);
  EXPECT_FALSE(ParseManifest(ManifestToJson(m)).ok());
  EXPECT_FALSE(ParseManifest("not json").ok());
  EXPECT_FALSE(ParseManifest("{}").ok());
  EXPECT_FALSE(ParseManifest(R"({"format":"dbaas-snapshot","version":1,"id":5})").ok());
  Manifest no_chunks = Sample();
  no_chunks.entries[2].chunks.reset();
  EXPECT_FALSE(ParseManifest(ManifestToJson(no_chunks)).ok());
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
