// End-to-end tests of the snapshot repository on real directories.
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <filesystem>
#include <fstream>
#include <map>

#include <gtest/gtest.h>

#include "base/files.h"
#include "storage/pack_writer.h"
#include "storage/page_patch.h"
#include "storage/repo_maintenance.h"
#include "storage/repository.h"
#include "storage/snapshot_create.h"
#include "storage/snapshot_restore.h"
#include "storage/source_tree.h"
#include "storage/tree_scan.h"
#include "test_util.h"

namespace dbaas::storage {
namespace {

using testing::DiffTrees;
using testing::RandomBytes;
using testing::ReadFile;
using testing::TempDir;
using testing::WriteFile;
namespace fs = std::filesystem;

class SnapshotTest : public ::testing::Test {
 protected:
  void SetUp() override {
    source_ = tmp_ / "src";
    repo_path_ = tmp_ / "repo";
    WriteFile(source_ + "/base/1/1259", RandomBytes(300000, 1));  // ~18 chunks
    WriteFile(source_ + "/base/1/copy", ReadFile(source_ + "/base/1/1259"));
    WriteFile(source_ + "/text", std::string(100000, 'a'));
    WriteFile(source_ + "/empty", "");
    fs::create_directories(source_ + "/empty_dir");
    fs::create_symlink("base/1/1259", source_ + "/link");
    chmod((source_ + "/text").c_str(), 0640);
    chmod((source_ + "/base").c_str(), 0700);
    RepoConfig config;
    config.chunk_size = 16384;
    ASSERT_TRUE(Repository::Init(repo_path_, config).ok());
    Reopen();
  }

  void Reopen() {
    auto repo = Repository::Open(repo_path_);
    ASSERT_TRUE(repo.ok()) << repo.status().ToString();
    repo_ = std::move(repo.value());
  }

  Manifest Snapshot(CreateOptions o = {}) {
    o.source = source_;
    if (o.mode == SnapshotMode::kAuto) o.mode = SnapshotMode::kRepository;
    auto m = CreateSnapshot(*repo_, o);
    EXPECT_TRUE(m.ok()) << m.status().ToString();
    return m.ok() ? m.value() : Manifest{};
  }

  RestoreStats Restore(const Manifest& m, const std::string& target, bool delta = false) {
    RestoreOptions o;
    o.target = target;
    o.delta = delta;
    auto r = RestoreSnapshot(*repo_, m, o);
    EXPECT_TRUE(r.ok()) << r.status().ToString();
    return r.ok() ? r.value() : RestoreStats{};
  }

  // base/1/16384 (1 MiB, RandomBytes seed 7) snapshotted, then `change` written at
  // `offset` and snapshotted again with a map naming just those bytes, so that the second
  // stores a page patch: {first, second}.
  std::pair<Manifest, Manifest> SnapshotThenPatch(uint64_t offset, const std::string& change);

  // `run` (gc or the compaction alone) once more finds nothing to compact or rewrite.
  void ExpectNothingLeftToCompact(Result<GcReport> (*run)(Repository&)) {
    Reopen();
    auto again = run(*repo_);
    ASSERT_TRUE(again.ok()) << again.status().ToString();
    EXPECT_EQ(again->patches_compacted, 0u);
    EXPECT_EQ(again->packs_rewritten, 0u);
  }

  // The repository verifies clean, and `m` restores to what the source holds now.
  void ExpectVerifiesAndRestoresTheSource(const Manifest& m) {
    auto verify = VerifyRepository(repo_path_);
    ASSERT_TRUE(verify.ok());
    EXPECT_TRUE(verify->ok()) << verify->errors[0];
    Restore(m, tmp_ / "out");
    EXPECT_EQ(DiffTrees(source_, tmp_ / "out"), "");
  }

  TempDir tmp_;
  std::string source_, repo_path_;
  std::unique_ptr<Repository> repo_;
};

TEST_F(SnapshotTest, RoundTripRestoresContentModesTimesAndLinks) {
  Manifest m = Snapshot();
  EXPECT_EQ(m.stats.files, 4u);
  EXPECT_EQ(m.stats.symlinks, 1u);
  Restore(m, tmp_ / "out");
  EXPECT_EQ(DiffTrees(source_, tmp_ / "out"), "");
  struct stat st;
  ASSERT_EQ(stat((tmp_ / "out/text").c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 07777, 0640u);
  // Reopening sees the same snapshot from disk.
  Reopen();
  auto again = repo_->FindSnapshot(m.id.substr(0, 6));
  ASSERT_TRUE(again.ok());
  EXPECT_EQ(again->entries.size(), m.entries.size());
}

// A durable restore writes files of 1 MiB and more with O_DIRECT: whole blocks, the tail
// padded and the file cut back to its size. Sizes on, just past and well past the block and
// range boundaries; the small files go through the page cache as before.
TEST_F(SnapshotTest, ADurableRestoreWritesLargeFilesDirectlyByteForByte) {
  const std::vector<size_t> sizes = {1u << 20, (1u << 20) + 1, (9u << 20) + 4095,
                                     (4u << 20) + 8192};
  uint64_t large = 0;
  for (size_t i = 0; i < sizes.size(); ++i) {
    WriteFile(source_ + "/base/1/large." + std::to_string(i),
              RandomBytes(sizes[i], static_cast<unsigned>(20 + i)));
    large += sizes[i];
  }
  Manifest m = Snapshot();
  RestoreOptions o;
  o.target = tmp_ / "out";
  o.sync = true;
  auto r = RestoreSnapshot(*repo_, m, o);
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  // Where the filesystem refuses O_DIRECT (tmpfs before Linux 6.6), the page cache instead.
  int probe = ::open((tmp_ / "direct-probe").c_str(), O_CREAT | O_WRONLY | O_DIRECT, 0600);
  const bool direct_works = probe >= 0;
  if (probe >= 0) ::close(probe);
  EXPECT_EQ(r->bytes_direct, direct_works ? large : 0u);
  EXPECT_EQ(r->bytes_written, m.stats.logical_bytes);
  EXPECT_EQ(DiffTrees(source_, tmp_ / "out"), "");
  // Without sync, everything goes through the page cache.
  o.target = tmp_ / "out2";
  o.sync = false;
  r = RestoreSnapshot(*repo_, m, o);
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  EXPECT_EQ(r->bytes_direct, 0u);
  EXPECT_EQ(DiffTrees(source_, tmp_ / "out2"), "");
}

// Where the filesystem refuses O_DIRECT (ramfs), a durable restore writes through the page
// cache, byte for byte.
TEST_F(SnapshotTest, ADurableRestoreWhereDirectIoIsRefusedUsesThePageCache) {
  WriteFile(source_ + "/base/1/large", RandomBytes((3u << 20) + 100, 31));
  Manifest m = Snapshot();
  testing::MemoryMount ramfs(tmp_ / "ramfs");
  if (std::string why = ramfs.Make("ramfs"); !why.empty()) GTEST_SKIP() << why;
  RestoreOptions o;
  o.target = ramfs.path() + "/out";
  o.sync = true;
  auto r = RestoreSnapshot(*repo_, m, o);
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  EXPECT_EQ(r->bytes_direct, 0u);
  EXPECT_EQ(DiffTrees(source_, o.target), "");
}

// A durable restore that runs out of space fails, naming the file and the reason; the
// file creation stops and nothing waits forever.
TEST_F(SnapshotTest, ADurableRestoreThatRunsOutOfSpaceSaysSo) {
  for (int i = 0; i < 4; ++i) {
    WriteFile(source_ + "/base/1/large." + std::to_string(i),
              RandomBytes(2u << 20, static_cast<unsigned>(40 + i)));
  }
  for (int i = 0; i < 200; ++i) WriteFile(source_ + "/base/small." + std::to_string(i), "x");
  Manifest m = Snapshot();
  testing::MemoryMount tmpfs(tmp_ / "small");
  if (std::string why = tmpfs.Make("tmpfs", "size=3m"); !why.empty()) GTEST_SKIP() << why;
  RestoreOptions o;
  o.target = tmpfs.path() + "/out";
  o.sync = true;
  auto r = RestoreSnapshot(*repo_, m, o);
  ASSERT_FALSE(r.ok());
  EXPECT_NE(r.status().message().find("No space left"), std::string::npos) << r.status().ToString();
  EXPECT_NE(r.status().message().find("/out/"), std::string::npos) << r.status().ToString();
}

// A restore cuts its ranges from the files' sizes and the snapshot's chunk size and finds
// the chunks that start in each; a list of another chunk size (one kept from a parent pulled
// from a repository of another size) is found by its chunks' offsets, byte for byte.
TEST_F(SnapshotTest, ListsOfAnotherChunkSizeRestoreByteForByte) {
  WriteFile(source_ + "/base/1/large", RandomBytes((9u << 20) + 4095, 50));  // 3 ranges
  Manifest m = Snapshot();
  for (uint32_t other : {8192u, 16000u, 32768u, 8u << 20}) {
    Manifest stamped = m;  // the lists have 16,384-byte chunks
    stamped.chunk_size = other;
    for (bool sync : {false, true}) {
      RestoreOptions o;
      o.target = tmp_ / ("out" + std::to_string(other) + (sync ? "s" : ""));
      o.sync = sync;
      auto r = RestoreSnapshot(*repo_, stamped, o);
      ASSERT_TRUE(r.ok()) << other << ": " << r.status().ToString();
      EXPECT_EQ(r->bytes_written, m.stats.logical_bytes) << other;
      EXPECT_EQ(DiffTrees(source_, o.target), "") << other;
    }
  }
}

// What a restore can check before it writes is checked before it writes: a file with bytes
// and no list, a list the repository does not have. A delta restore onto a tree then
// changes nothing in it. A list whose chunks do not add up to the file's size fails the
// restore, naming the file.
TEST_F(SnapshotTest, AManifestThatDisagreesWithItsListsFailsTheRestore) {
  Manifest m = Snapshot();
  Restore(m, tmp_ / "out");
  WriteFile(tmp_ / "out/text", "changed since");
  auto entry = [](Manifest& bad, const std::string& path) -> TreeEntry& {
    for (TreeEntry& e : bad.entries) {
      if (e.path == path) return e;
    }
    ADD_FAILURE() << path;
    return bad.entries.front();
  };
  Manifest no_list = m, missing_list = m, wrong_size = m, no_chunk_size = m;
  no_chunk_size.chunk_size = 0;  // ranges could not be cut from the files' sizes
  entry(no_list, "base/1/1259").chunks.reset();
  entry(missing_list, "base/1/copy").chunks = Sha256("no such list");
  entry(wrong_size, "text").size += 1;
  struct Case {
    const Manifest* manifest;
    std::string names;
  };
  for (const Case& c : {Case{&no_list, "'base/1/1259' has 300000 bytes but no chunk list"},
                        Case{&missing_list, "the chunk list of 'base/1/copy'"},
                        Case{&wrong_size, "chunks of 'text' add up to 100000 bytes, not 100001"},
                        Case{&no_chunk_size, "has no chunk size"}}) {
    WriteFile(tmp_ / "out/text", "changed since");  // as the case before may have left it
    RestoreOptions o;
    o.target = tmp_ / "out";
    o.delta = true;
    o.threads = 1;
    auto r = RestoreSnapshot(*repo_, *c.manifest, o);
    ASSERT_FALSE(r.ok()) << c.names;
    EXPECT_EQ(r.status().code(), StatusCode::kCorruption) << r.status().ToString();
    EXPECT_NE(r.status().message().find(c.names), std::string::npos) << r.status().ToString();
    if (c.manifest != &wrong_size) {  // refused before anything was written
      EXPECT_EQ(ReadFile(tmp_ / "out/text"), "changed since") << c.names;
    }
    o.target = tmp_ / "fresh";
    o.delta = false;
    EXPECT_FALSE(RestoreSnapshot(*repo_, *c.manifest, o).ok()) << c.names;
    EXPECT_TRUE(fs::is_empty(o.target)) << c.names;
  }
}

TEST_F(SnapshotTest, DeduplicatesIdenticalContent) {
  Manifest m = Snapshot();
  // "copy" equals "1259": its chunks are stored once; "text" is one repeated chunk.
  auto s = ComputeStats(*repo_);
  ASSERT_TRUE(s.ok());
  EXPECT_LT(s->unique_bytes, 300000u + 16384u * 2 + 2000u);
  EXPECT_LT(s->stored_bytes, m.stats.logical_bytes / 2);
}

TEST_F(SnapshotTest, UnchangedFilesAreNotReadAgain) {
  Manifest first = Snapshot();
  Manifest second = Snapshot();
  EXPECT_EQ(second.parent, first.id);
  EXPECT_EQ(second.stats.read_bytes, 0u);
  EXPECT_EQ(second.stats.reused_files, 3u);  // the empty file has nothing to reuse
  CreateOptions full;
  full.full_read = true;
  Manifest third = Snapshot(full);
  EXPECT_EQ(third.stats.read_bytes, third.stats.logical_bytes);
  EXPECT_EQ(third.stats.new_blobs, 0u);  // everything deduplicated
}

TEST_F(SnapshotTest, ChangedPagesStoreOnlyTheirChunks) {
  std::string big = RandomBytes(8 << 20, 7);
  WriteFile(source_ + "/base/1/16384", big);
  Manifest first = Snapshot();
  // Change three 8 KiB pages in place, as PostgreSQL does.
  {
    int fd = open((source_ + "/base/1/16384").c_str(), O_WRONLY);
    for (off_t page : {3, 400, 1000}) {
      std::string p = RandomBytes(8192, static_cast<unsigned>(page));
      ASSERT_EQ(pwrite(fd, p.data(), p.size(), page * 8192), 8192);
    }
    close(fd);
  }
  Manifest second = Snapshot();
  EXPECT_EQ(second.stats.read_bytes, 8u << 20);
  EXPECT_EQ(second.stats.new_blobs, 3u + 1u);  // three chunks and the new chunk list
  EXPECT_LT(second.stats.stored_bytes, 3 * 16384 + 40000u);
  Restore(second, tmp_ / "out");
  EXPECT_EQ(DiffTrees(source_, tmp_ / "out"), "");
}

// Rewrites `len` bytes at `offset` in place.
void Poke(const std::string& path, off_t offset, const std::string& bytes) {
  int fd = open(path.c_str(), O_WRONLY);
  ASSERT_GE(fd, 0);
  ASSERT_EQ(pwrite(fd, bytes.data(), bytes.size(), offset), static_cast<ssize_t>(bytes.size()));
  close(fd);
}

// A change map that names fixed ranges of one file (what a database's log would say), and
// counts what it was asked.
class RangesMap : public ChangeMap {
 public:
  RangesMap(std::string path, std::vector<ByteRange> ranges)
      : path_(std::move(path)), ranges_(std::move(ranges)) {}
  std::optional<std::vector<ByteRange>> ChangedRanges(const TreeEntry& now,
                                                      const TreeEntry&) const override {
    if (now.path != path_) return std::nullopt;
    return ranges_;
  }
  bool DifferenceExplained(std::string_view, uint64_t, std::span<const uint8_t>,
                           std::span<const uint8_t>) const override {
    return false;
  }

 private:
  std::string path_;
  std::vector<ByteRange> ranges_;
};

CreateOptions WithMap(std::string path, std::vector<ByteRange> ranges, bool check = false) {
  CreateOptions o;
  o.change_map = [=](const Manifest&) {
    return ChangeMapOffer{std::make_unique<RangesMap>(path, ranges), ""};
  };
  o.check_change_map = check;
  return o;
}

// A parent whose lists are of another chunk size (as one pulled from a repository made
// with another --chunk-size): a change map's ranges are planned only over lists of the
// repository's own size, so the changed file is read whole, never given the parent's chunk
// at the same index from another offset; the restore of both is byte for byte.
TEST_F(SnapshotTest, AParentOfAnotherChunkSizeIsNotPlannedByPages) {
  std::string path = source_ + "/base/1/16384";
  WriteFile(path, RandomBytes(5 * 16384, 9));  // 5 chunks of 16 KiB in the parent
  Manifest first = Snapshot();
  std::string config = ReadFile(repo_path_ + "/config.json");
  size_t at = config.find("16384");
  ASSERT_NE(at, std::string::npos) << config;
  WriteFile(repo_path_ + "/config.json", config.replace(at, 5, "65536"));
  Reopen();
  // A change in the first 64 KiB chunk, and a map naming just it: planned by pages over the
  // parent's list, the second chunk (16 KiB at offset 64 KiB) would be the parent's second
  // (at offset 16 KiB), of the same length.
  Poke(path, 0, RandomBytes(100, 10));
  Manifest second = Snapshot(WithMap("base/1/16384", {{0, 100}}));
  EXPECT_EQ(second.parent, first.id);
  EXPECT_EQ(second.stats.partial_files, 0u);
  EXPECT_EQ(second.stats.read_bytes, 5u * 16384u);
  Restore(second, tmp_ / "out");
  EXPECT_EQ(DiffTrees(source_, tmp_ / "out"), "");
  Restore(first, tmp_ / "first");
  EXPECT_EQ(ReadFile(tmp_ / "first/text"), std::string(100000, 'a'));
}

TEST_F(SnapshotTest, ChangeMapReadsOnlyTheRangesItNamesAndWhatGrew) {
  std::string path = source_ + "/base/1/16384";
  WriteFile(path, RandomBytes(8 << 20, 7));
  Manifest first = Snapshot();
  Poke(path, 3 * 8192, RandomBytes(8192, 3));
  Poke(path, 1000 * 8192, RandomBytes(8192, 1000));
  {  // and it grows by a page and a half
    std::ofstream out(path, std::ios::app | std::ios::binary);
    out << RandomBytes(12288, 5);
  }
  Manifest second = Snapshot(WithMap("base/1/16384", {{3 * 8192, 8192}, {1000 * 8192, 8192}}));
  EXPECT_EQ(second.stats.partial_files, 1u);
  EXPECT_EQ(second.stats.change_map_misses, 0u);
  // The two pages named (each stored as a patch of its chunk in the parent), and the new
  // tail chunk (the parent had none there).
  EXPECT_EQ(second.stats.read_bytes, 2 * 8192u + 12288u);
  EXPECT_EQ(second.stats.new_blobs, 2u + 1u + 1u);  // two patches, the tail, the list
  Restore(second, tmp_ / "out");
  EXPECT_EQ(DiffTrees(source_, tmp_ / "out"), "");
}

std::pair<Manifest, Manifest> SnapshotTest::SnapshotThenPatch(uint64_t offset,
                                                              const std::string& change) {
  std::string path = source_ + "/base/1/16384";
  WriteFile(path, RandomBytes(1 << 20, 7));
  Manifest first = Snapshot();
  Poke(path, static_cast<off_t>(offset), change);
  Manifest second = Snapshot(WithMap("base/1/16384", {{offset, change.size()}}));
  return {first, second};
}

TEST_F(SnapshotTest, PagePatchesLayOverTheParentsAndGiveWayToWholeChunks) {
  std::string path = source_ + "/base/1/16384";
  // A patch of chunk 1 (bytes 16384..32767), then another over it: cumulative, one base.
  auto [first, second] = SnapshotThenPatch(16384 + 100, RandomBytes(100, 1));
  EXPECT_EQ(second.stats.read_bytes, 100u);
  std::string after_second = ReadFile(path);
  Poke(path, 16384 + 1000, RandomBytes(200, 2));
  Poke(path, 16384 + 150, RandomBytes(10, 3));  // inside the first patch's range
  Manifest third = Snapshot(WithMap("base/1/16384", {{16384 + 1000, 200}, {16384 + 150, 10}}));
  EXPECT_EQ(third.stats.read_bytes, 210u);
  EXPECT_EQ(third.stats.patched_chunks, 1u);
  std::string after_third = ReadFile(path);
  // Half the chunk and more: read whole, stored as a delta of the base.
  Poke(path, 16384 + 4000, RandomBytes(8200, 4));
  Manifest fourth = Snapshot(WithMap("base/1/16384", {{16384 + 4000, 8200}}));
  EXPECT_EQ(fourth.stats.read_bytes, 16384u);
  EXPECT_EQ(fourth.stats.patched_chunks, 0u);
  EXPECT_EQ(fourth.stats.change_map_misses, 0u);

  // The bases of live patches outlive the snapshot that stored them; gc stores the
  // patches again as deltas of their base, once; verify checks each against its chunk.
  ASSERT_TRUE(repo_->RemoveSnapshot(first.id).ok());
  auto gc = CollectGarbage(*repo_);
  ASSERT_TRUE(gc.ok()) << gc.status().ToString();
  EXPECT_EQ(gc->patches_compacted, 2u);
  ExpectNothingLeftToCompact(CollectGarbage);
  Reopen();
  auto verify = VerifyRepository(repo_path_);
  ASSERT_TRUE(verify.ok());
  EXPECT_TRUE(verify->ok()) << verify->errors[0];
  Restore(second, tmp_ / "second");
  EXPECT_EQ(ReadFile(tmp_ / "second/base/1/16384"), after_second);
  Restore(third, tmp_ / "third");
  EXPECT_EQ(ReadFile(tmp_ / "third/base/1/16384"), after_third);
  Restore(fourth, tmp_ / "fourth");
  EXPECT_EQ(DiffTrees(source_, tmp_ / "fourth"), "");
  // A delta restore compares a patched chunk by its bytes (its id is its base's).
  Restore(third, tmp_ / "fourth", /*delta=*/true);
  EXPECT_EQ(ReadFile(tmp_ / "fourth/base/1/16384"), after_third);
}

// The compaction writes its new packs while readers may go on, and lets its caller wait
// for them before the old packs go: when it is called, both are there, the new ones whole,
// and a repository opened then restores; afterwards the old ones are gone.
TEST_F(SnapshotTest, CompactionDeletesTheOldPacksOnlyAfterItsCallerSaysSo) {
  std::string page = RandomBytes(1 << 20, 7).substr(16384, 4096);
  page[10] ^= 1;
  Manifest second = SnapshotThenPatch(16384, page).second;
  std::vector<std::string> before = repo_->pack_names();
  int calls = 0;
  auto compacted = CompactPagePatches(*repo_, [&] {
    ++calls;
    for (const std::string& name : before) EXPECT_TRUE(fs::exists(PackPath(repo_path_, name)));
    auto reader = Repository::Open(repo_path_);  // a restore that began just now
    ASSERT_TRUE(reader.ok()) << reader.status().ToString();
    EXPECT_GT(reader.value()->pack_names().size(), before.size()) << "the new packs are in";
    RestoreOptions o;
    o.target = tmp_ / "during";
    auto restored = RestoreSnapshot(*reader.value(), second, o);
    ASSERT_TRUE(restored.ok()) << restored.status().ToString();
  });
  ASSERT_TRUE(compacted.ok()) << compacted.status().ToString();
  EXPECT_EQ(calls, 1);
  EXPECT_EQ(compacted->patches_compacted, 1u);
  EXPECT_EQ(DiffTrees(source_, tmp_ / "during"), "");
  size_t gone = 0;
  for (const std::string& name : before) gone += fs::exists(PackPath(repo_path_, name)) ? 0 : 1;
  EXPECT_GT(gone, 0u);
  Reopen();  // an index read before the deletion names packs that are gone
  ExpectVerifiesAndRestoresTheSource(second);
}

TEST_F(SnapshotTest, CompactionIsDoneOnceAndSurvivesBeingCutShort) {
  // A page changed by a few bytes: as a delta of its chunk, the patch is a few bytes too.
  std::string page = RandomBytes(1 << 20, 7).substr(16384, 4096);  // what is there
  page[10] ^= 1;
  Manifest second = SnapshotThenPatch(16384, page).second;
  ASSERT_EQ(second.stats.patched_chunks, 1u);
  // The packs as they are now, to put back after the compaction: a gc killed between
  // making its new packs durable and deleting the old ones leaves both, the same patch
  // stored on its own in one and compacted in the other.
  std::map<std::string, std::string> packs;
  for (const std::string& name : repo_->pack_names()) {
    packs[PackPath(repo_path_, name)] = ReadFile(PackPath(repo_path_, name));
  }
  auto compacted = CompactPagePatches(*repo_);
  ASSERT_TRUE(compacted.ok()) << compacted.status().ToString();
  EXPECT_EQ(compacted->patches_compacted, 1u);
  EXPECT_GT(compacted->patch_bytes_saved, 0u);
  ExpectNothingLeftToCompact([](Repository& r) { return CompactPagePatches(r); });

  for (const auto& [pack, bytes] : packs) {
    if (!fs::exists(pack)) WriteFile(pack, bytes);
  }
  Reopen();
  auto gc = CollectGarbage(*repo_);
  ASSERT_TRUE(gc.ok()) << gc.status().ToString();
  EXPECT_EQ(gc->patches_compacted, 1u) << "the old pack's copy, compacted from its own bytes";
  Reopen();
  ExpectVerifiesAndRestoresTheSource(second);
}

TEST_F(SnapshotTest, APatchWhoseBaseIsDamagedStaysAsItIsAndVerifySaysWhy) {
  auto [first, second] = SnapshotThenPatch(16384 + 100, RandomBytes(100, 1));
  ASSERT_EQ(second.stats.patched_chunks, 1u);
  // A byte of the patched chunk's base flipped where it lies in its pack.
  auto entry = std::find_if(first.entries.begin(), first.entries.end(),
                            [](const TreeEntry& e) { return e.path == "base/1/16384"; });
  ASSERT_NE(entry, first.entries.end());
  BlobCodec codec;
  auto list = repo_->ReadChunkList(*entry->chunks, codec);
  ASSERT_TRUE(list.ok()) << list.status().ToString();
  auto found = repo_->FindBlob((*list)[1].id);
  ASSERT_TRUE(found.ok()) << found.status().ToString();
  ASSERT_TRUE(found->has_value());
  const BlobLocation* base = &**found;
  std::string pack = PackPath(repo_path_, repo_->pack_names()[base->pack]);
  std::string bytes = ReadFile(pack);
  bytes[base->entry.offset + base->entry.stored_size / 2] ^= 0x10;
  WriteFile(pack, bytes);
  Reopen();

  auto compacted = CompactPagePatches(*repo_);
  ASSERT_TRUE(compacted.ok()) << "one damaged base does not stop the compaction: "
                              << compacted.status().ToString();
  EXPECT_EQ(compacted->patches_compacted, 0u);
  Reopen();
  auto verify = VerifyRepository(repo_path_);
  ASSERT_TRUE(verify.ok());
  ASSERT_FALSE(verify->ok());
  EXPECT_NE(verify->errors[0].find((*list)[1].id.Hex()), std::string::npos) << verify->errors[0];
}

TEST_F(SnapshotTest, APatchIsReadOnlyOverTheChunkItWasMadeFrom) {
  // Two chunks and a patch of the first, stored raw in one pack as a writer would.
  std::vector<uint8_t> a(16384, 'a'), b(16384, 'b'), patched_data(100, 'p');
  PagePatch patch = OverlayPatch(nullptr, Sha256(a), 16384, {{50, 100}}, patched_data);
  std::string encoded = EncodePagePatch(patch);
  std::vector<uint8_t> patch_bytes(encoded.begin(), encoded.end());
  PackWriter writer(repo_path_);
  for (auto [content, type] : {std::pair{&a, BlobType::kData}, std::pair{&b, BlobType::kData},
                               std::pair{&patch_bytes, BlobType::kPagePatch}}) {
    PackBlobEntry e;
    e.id = Sha256(*content);
    e.type = type;
    e.raw_size = static_cast<uint32_t>(content->size());
    ASSERT_TRUE(writer.Add(e, *content).ok());
  }
  ASSERT_TRUE(writer.Finish().ok());
  Reopen();
  BlobCodec codec;
  std::vector<uint8_t> out;
  ASSERT_TRUE(repo_->ReadChunk({Sha256(a), 16384, Sha256(patch_bytes)}, codec, out).ok());
  EXPECT_EQ(std::string(out.begin() + 40, out.begin() + 160),
            std::string(10, 'a') + std::string(100, 'p') + std::string(10, 'a'));
  // The same patch named over another chunk, or another length, is corruption.
  Status other = repo_->ReadChunk({Sha256(b), 16384, Sha256(patch_bytes)}, codec, out);
  EXPECT_EQ(other.code(), StatusCode::kCorruption);
  EXPECT_NE(other.message().find("but patches chunk"), std::string::npos) << other.ToString();
  Status shorter = repo_->ReadChunk({Sha256(a), 16000, Sha256(patch_bytes)}, codec, out);
  EXPECT_EQ(shorter.code(), StatusCode::kCorruption);
}

TEST_F(SnapshotTest, ChangeMapCheckCatchesAChangeTheMapLeftOut) {
  std::string path = source_ + "/base/1/16384";
  WriteFile(path, RandomBytes(1 << 20, 7));
  Manifest first = Snapshot();
  Poke(path, 3 * 8192, RandomBytes(8192, 3));
  Poke(path, 60 * 8192, RandomBytes(8192, 60));  // the map does not say so
  Manifest unchecked = Snapshot(WithMap("base/1/16384", {{3 * 8192, 8192}}));
  EXPECT_EQ(unchecked.stats.read_bytes, 8192u);
  Restore(unchecked, tmp_ / "wrong");
  EXPECT_NE(ReadFile(tmp_ / "wrong/base/1/16384"), ReadFile(path))
      << "a map that leaves a change out must give a wrong copy, or this test proves nothing";

  CreateOptions check = WithMap("base/1/16384", {{3 * 8192, 8192}}, true);
  check.parent = first.id;  // the file is as it was when `unchecked` was made
  Manifest checked = Snapshot(check);
  EXPECT_EQ(checked.stats.change_map_misses, 1u);
  ASSERT_FALSE(checked.warnings.empty());
  EXPECT_NE(checked.warnings.back().find("base/1/16384' at offset 491520"), std::string::npos)
      << checked.warnings.back();
  // What is stored is what the map said, checked or not: the check tests the real thing.
  Restore(checked, tmp_ / "out");
  EXPECT_EQ(ReadFile(tmp_ / "out/base/1/16384"), ReadFile(tmp_ / "wrong/base/1/16384"));
}

TEST_F(SnapshotTest, WithoutAMapChangedFilesAreReadWholeAndTheReasonKept) {
  std::string path = source_ + "/base/1/16384";
  WriteFile(path, RandomBytes(1 << 20, 7));
  Snapshot();
  Poke(path, 0, RandomBytes(8192, 3));
  CreateOptions o;
  o.change_map = [](const Manifest&) { return ChangeMapOffer{nullptr, "no log here"}; };
  Manifest m = Snapshot(o);
  EXPECT_EQ(m.stats.read_bytes, 1u << 20);
  EXPECT_EQ(m.stats.partial_files, 0u);
  ASSERT_EQ(m.warnings.size(), 1u);
  EXPECT_EQ(m.warnings[0], "changed files were read whole: no log here");
}

TEST_F(SnapshotTest, ChangedChunksAreStoredAsDeltasOfTheParent) {
  std::string path = source_ + "/base/1/16384";
  WriteFile(path, RandomBytes(8 << 20, 7));  // incompressible: only a delta can save space
  Manifest first = Snapshot();
  for (off_t offset : {100000, 3000000, 7000000}) Poke(path, offset, "a few changed bytes");
  Manifest second = Snapshot();
  EXPECT_EQ(second.stats.new_blobs, 4u);  // three chunks and the chunk list
  // Whole chunks would be 3 x 16 KiB plus an 18 KiB list of hashes.
  EXPECT_LT(second.stats.stored_bytes, 6000u) << "changed chunks were not stored as deltas";
  // The same chunk changes again: its delta is against the original base, never a delta.
  Poke(path, 100010, "changed once more");
  Manifest third = Snapshot();
  EXPECT_LT(third.stats.stored_bytes, 6000u);
  // Bases outlive the snapshots that stored them.
  ASSERT_TRUE(repo_->RemoveSnapshot(first.id).ok());
  ASSERT_TRUE(repo_->RemoveSnapshot(second.id).ok());
  auto gc = CollectGarbage(*repo_);
  ASSERT_TRUE(gc.ok()) << gc.status().ToString();
  Reopen();
  ExpectVerifiesAndRestoresTheSource(third);
}

TEST_F(SnapshotTest, DeltaRestoreRewritesOnlyWhatDiffers) {
  Manifest m = Snapshot();
  Restore(m, tmp_ / "out");
  // Damage the restored copy: one page, one extra file, one removed file, a swapped type.
  {
    int fd = open((tmp_ / "out/base/1/1259").c_str(), O_WRONLY);
    ASSERT_EQ(pwrite(fd, "XXXX", 4, 20000), 4);
    close(fd);
  }
  WriteFile(tmp_ / "out/extra/file", "junk");
  fs::remove(tmp_ / "out/text");
  fs::create_directories(tmp_ / "out/text");
  RestoreStats s = Restore(m, tmp_ / "out", /*delta=*/true);
  EXPECT_EQ(DiffTrees(source_, tmp_ / "out"), "");
  EXPECT_EQ(s.bytes_written, 16384u + 100000u);  // one chunk of 1259, all of text
  EXPECT_GT(s.bytes_unchanged, 500000u);
  EXPECT_GE(s.entries_removed, 3u);
}

TEST_F(SnapshotTest, RefusesNonEmptyTargetWithoutDelta) {
  Manifest m = Snapshot();
  WriteFile(tmp_ / "out/keep", "precious");
  RestoreOptions o;
  o.target = tmp_ / "out";
  auto r = RestoreSnapshot(*repo_, m, o);
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.status().code(), StatusCode::kFailedPrecondition);
  EXPECT_EQ(ReadFile(tmp_ / "out/keep"), "precious");
}

TEST_F(SnapshotTest, VerifyFindsAFlippedByte) {
  Snapshot();
  auto ok = VerifyRepository(repo_path_);
  ASSERT_TRUE(ok.ok());
  EXPECT_TRUE(ok->ok());
  EXPECT_GT(ok->blobs, 0u);
  // Flip one byte inside the first blob of the first pack.
  std::string pack = PackPath(repo_path_, repo_->pack_names()[0]);
  int fd = open(pack.c_str(), O_RDWR);
  char c;
  ASSERT_EQ(pread(fd, &c, 1, kPackHeaderSize + 5), 1);
  c ^= 0x40;
  ASSERT_EQ(pwrite(fd, &c, 1, kPackHeaderSize + 5), 1);
  close(fd);
  auto bad = VerifyRepository(repo_path_);
  ASSERT_TRUE(bad.ok());
  EXPECT_FALSE(bad->ok());
  ASSERT_FALSE(bad->errors.empty());
  EXPECT_NE(bad->errors[0].find(repo_->pack_names()[0]), std::string::npos) << bad->errors[0];
}

TEST_F(SnapshotTest, TruncatedPackGivesAClearError) {
  Snapshot();
  std::string pack = PackPath(repo_path_, repo_->pack_names()[0]);
  ASSERT_EQ(truncate(pack.c_str(), 100), 0);
  auto repo = Repository::Open(repo_path_);
  ASSERT_FALSE(repo.ok());
  EXPECT_EQ(repo.status().code(), StatusCode::kCorruption);
  EXPECT_NE(repo.status().message().find(repo_->pack_names()[0]), std::string::npos);
  auto report = VerifyRepository(repo_path_);
  ASSERT_TRUE(report.ok());
  EXPECT_FALSE(report->ok());
}

// A backup indexes each pack as it finishes it and lets its claims go: content met again
// after its pack was finished is found in the index (read from the pack's entry), never
// stored twice.
TEST_F(SnapshotTest, ContentInAPackFinishedEarlierInTheSnapshotIsStoredOnce) {
  std::string big_repo = tmp_ / "small-packs";
  RepoConfig config;
  config.chunk_size = 16384;
  config.pack_target_size = 1 << 20;  // the smallest: a pack finishes every 64 chunks
  ASSERT_TRUE(Repository::Init(big_repo, config).ok());
  std::string src = tmp_ / "twice";
  std::string data = RandomBytes(4 << 20, 11);
  WriteFile(src + "/a", data);
  WriteFile(src + "/b", data);
  auto repo = Repository::Open(big_repo);
  ASSERT_TRUE(repo.ok());
  CreateOptions o;
  o.source = src;
  o.mode = SnapshotMode::kRepository;
  o.threads = 1;  // "a" whole, its packs finished, then "b"
  auto m = CreateSnapshot(**repo, o);
  ASSERT_TRUE(m.ok()) << m.status().ToString();
  // 256 chunks and one list (b's list is a's).
  EXPECT_EQ(m->stats.new_blobs, 257u);
  auto reopened = Repository::Open(big_repo);
  ASSERT_TRUE(reopened.ok());
  EXPECT_GE((*reopened)->pack_names().size(), 4u);
  size_t stored = 0;  // in the packs themselves: the index would count a blob twice once
  for (const std::string& name : (*reopened)->pack_names()) {
    auto entries = ReadPackIndex(PackPath(big_repo, name));
    ASSERT_TRUE(entries.ok()) << entries.status().ToString();
    stored += entries->size();
  }
  EXPECT_EQ(stored, 257u) << "no blob stored twice";
  auto stats = ComputeStats(**reopened);
  ASSERT_TRUE(stats.ok()) << stats.status().ToString();
  EXPECT_EQ(stats->unique_bytes, data.size() + 256u * 36 + 8);
  RestoreOptions r;
  r.target = tmp_ / "twice-out";
  ASSERT_TRUE(RestoreSnapshot(**reopened, *m, r).ok());
  EXPECT_EQ(DiffTrees(src, r.target), "");
}

// The index in memory holds no entries: a blob's is read from its pack when it is asked
// for, its type and bounds checked as at the open. An entry damaged since is a clear
// error, not a blob silently missing.
TEST_F(SnapshotTest, AnIndexEntryDamagedAfterTheOpenIsAClearError) {
  Snapshot();
  std::string pack = PackPath(repo_path_, repo_->pack_names()[0]);
  uint64_t index_offset = 0;
  auto entries = ReadPackIndex(pack, &index_offset);
  ASSERT_TRUE(entries.ok());
  ASSERT_FALSE(entries->empty());
  const BlobId id = (*entries)[0].id;
  ASSERT_TRUE(repo_->HasBlob(id));
  int fd = open(pack.c_str(), O_RDWR);
  const char bad_type = 9;
  ASSERT_EQ(pwrite(fd, &bad_type, 1, static_cast<off_t>(index_offset + 32)), 1);
  close(fd);
  auto found = repo_->FindBlob(id);
  ASSERT_FALSE(found.ok());
  EXPECT_EQ(found.status().code(), StatusCode::kCorruption);
  EXPECT_NE(found.status().message().find(repo_->pack_names()[0]), std::string::npos)
      << found.status().ToString();
  EXPECT_FALSE(repo_->HasBlob(id)) << "a writer stores it again";
  BlobCodec codec;
  std::vector<uint8_t> out;
  EXPECT_EQ(repo_->ReadBlob(id, codec, out).code(), StatusCode::kCorruption);
  auto reopened = Repository::Open(repo_path_);
  EXPECT_FALSE(reopened.ok()) << "the pack's checksum fails at the next open";
}

// Headers are what choosing a snapshot needs, without entries; they are parsed once per
// process, and still follow the manifests: a removed snapshot leaves the list, a manifest
// replaced on disk is read again, and an incremental snapshot still finds its parent's
// entries through them.
TEST_F(SnapshotTest, HeadersListWhatTheManifestsSay) {
  Manifest first = Snapshot();
  CreateOptions named;
  named.name = "second";
  Manifest second = Snapshot(named);
  EXPECT_EQ(second.parent, first.id);
  EXPECT_EQ(second.stats.read_bytes, 0u);  // the parent's entries were found

  auto full = repo_->ListSnapshots();
  auto heads = repo_->ListSnapshotHeaders();
  ASSERT_TRUE(full.ok() && heads.ok());
  ASSERT_EQ(heads->size(), 2u);
  for (size_t i = 0; i < 2; ++i) {
    EXPECT_EQ((*heads)[i].id, (*full)[i].id);
    EXPECT_EQ((*heads)[i].name, (*full)[i].name);
    EXPECT_EQ((*heads)[i].stats.logical_bytes, (*full)[i].stats.logical_bytes);
    EXPECT_TRUE((*heads)[i].entries.empty());
    EXPECT_FALSE((*full)[i].entries.empty());
  }
  EXPECT_EQ((*heads)[0].id, second.id);  // newest first
  auto by_name = repo_->FindSnapshot("second");
  ASSERT_TRUE(by_name.ok());
  EXPECT_EQ(by_name->entries.size(), second.entries.size());

  // Replaced on disk (a different size): the header follows.
  Manifest renamed = repo_->LoadSnapshot(first.id).value();
  renamed.name = "renamed-by-hand";
  ASSERT_TRUE(repo_->CommitSnapshot(renamed).ok());
  heads = repo_->ListSnapshotHeaders();
  ASSERT_TRUE(heads.ok());
  EXPECT_EQ((*heads)[1].name, "renamed-by-hand");
  EXPECT_EQ(repo_->FindSnapshot("renamed-by-hand")->id, first.id);

  // The stamp callers cache on moves with every commit and removal.
  auto stamp = Repository::SnapshotsChangedAt(repo_path_);
  ASSERT_TRUE(stamp.ok());
  {
    auto lock = repo_->LockForWrite();
    ASSERT_TRUE(lock.ok());
    ASSERT_TRUE(repo_->RemoveSnapshot(second.id).ok());
  }
  EXPECT_NE(Repository::SnapshotsChangedAt(repo_path_).value(), *stamp);
  EXPECT_EQ(Repository::SnapshotsChangedAt(tmp_ / "nowhere").status().code(),
            StatusCode::kNotFound);
  heads = repo_->ListSnapshotHeaders();
  ASSERT_TRUE(heads.ok());
  ASSERT_EQ(heads->size(), 1u);
  EXPECT_EQ((*heads)[0].id, first.id);
  EXPECT_EQ(repo_->FindSnapshot("second").status().code(), StatusCode::kNotFound);
}

TEST_F(SnapshotTest, CorruptManifestGivesAClearError) {
  Manifest m = Snapshot();
  WriteFile(repo_->SnapshotPath(m.id), "{\"format\": \"dbaas-snapshot\", \"version\": 1");
  auto loaded = repo_->LoadSnapshot(m.id);
  ASSERT_FALSE(loaded.ok());
  EXPECT_EQ(loaded.status().code(), StatusCode::kCorruption);
  EXPECT_NE(loaded.status().message().find(m.id), std::string::npos);
}

TEST_F(SnapshotTest, GcRemovesWhatNoSnapshotReferences) {
  Manifest first = Snapshot();
  WriteFile(source_ + "/base/1/1259", RandomBytes(300000, 99));
  WriteFile(source_ + "/base/1/copy", RandomBytes(300000, 98));
  Manifest second = Snapshot();
  auto before = ComputeStats(*repo_);
  ASSERT_TRUE(repo_->RemoveSnapshot(first.id).ok());
  WriteFile(repo_->TmpDir() + "/crashed.pack.tmp", "garbage");
  auto gc = CollectGarbage(*repo_);
  ASSERT_TRUE(gc.ok()) << gc.status().ToString();
  EXPECT_EQ(gc->temp_files_removed, 1u);
  EXPECT_GT(gc->bytes_freed, 200000u);
  Reopen();
  auto after = ComputeStats(*repo_);
  EXPECT_LT(after->stored_bytes, before->stored_bytes);
  auto verify = VerifyRepository(repo_path_);
  EXPECT_TRUE(verify->ok());
  Restore(second, tmp_ / "out");
  EXPECT_EQ(DiffTrees(source_, tmp_ / "out"), "");
}

TEST_F(SnapshotTest, GcKeepsTheChunksOfAParentWhoseListAChildStoredAsADelta) {
  std::string big = RandomBytes(4 << 20, 5);
  WriteFile(source_ + "/base/1/big", big);
  Manifest parent = Snapshot();
  Restore(parent, tmp_ / "parent");
  // Most of the file's chunks are new (every fifth stays; the new ones share nothing with
  // the old, so they are not stored as deltas of them): the child's chunk list is stored as
  // a delta of the parent's, and most of the parent's pack serves the parent alone.
  for (size_t chunk = 0; chunk < big.size() / 16384; ++chunk) {
    if (chunk % 5 != 0)
      big.replace(chunk * 16384, 16384, RandomBytes(16384, static_cast<unsigned>(chunk) + 1000));
  }
  WriteFile(source_ + "/base/1/big", big);
  Manifest child = Snapshot();
  auto entry = std::find_if(child.entries.begin(), child.entries.end(),
                            [](const TreeEntry& e) { return e.path == "base/1/big"; });
  ASSERT_NE(entry, child.entries.end());
  auto base = repo_->DeltaBaseOf(*entry->chunks);
  ASSERT_TRUE(base.ok() && base->has_value())
      << "the child's list should be a delta of the parent's";

  auto gc = CollectGarbage(*repo_);
  ASSERT_TRUE(gc.ok()) << gc.status().ToString();
  Reopen();
  EXPECT_TRUE(VerifyRepository(repo_path_)->ok());
  Restore(parent, tmp_ / "parent-after-gc");
  EXPECT_EQ(DiffTrees(tmp_ / "parent", tmp_ / "parent-after-gc"), "");
}

TEST_F(SnapshotTest, OneWriterAtATime) {
  auto lock = repo_->LockForWrite();
  ASSERT_TRUE(lock.ok());
  // flock locks belong to open file descriptions: a second open in this process conflicts
  // just as another process would.
  CreateOptions o;
  o.source = source_;
  auto m = CreateSnapshot(*repo_, o);
  ASSERT_FALSE(m.ok());
  EXPECT_EQ(m.status().code(), StatusCode::kBusy);
  auto list = repo_->ListSnapshots();  // readers are not blocked
  ASSERT_TRUE(list.ok());
  EXPECT_TRUE(list->empty());
}

TEST_F(SnapshotTest, FilterLeavesPathsOut) {
  CreateOptions o;
  o.filter = [](const std::string& path, bool) {
    if (path == "text") return ScanFilter::kSkip;
    if (path == "base") return ScanFilter::kIncludeEmpty;
    return ScanFilter::kInclude;
  };
  Manifest m = Snapshot(o);
  Restore(m, tmp_ / "out");
  EXPECT_FALSE(fs::exists(tmp_ / "out/text"));
  EXPECT_TRUE(fs::is_directory(tmp_ / "out/base"));
  EXPECT_TRUE(fs::is_empty(tmp_ / "out/base"));
}

// A tree listed whole elsewhere (a pod's agent) filtered as a scan would have filtered it.
TEST_F(SnapshotTest, FilterEntriesLeavesWhatAScanWithTheFilterLeaves) {
  ScanFilterFn filter = [](const std::string& path, bool) {
    if (path == "text" || path == "empty_dir") return ScanFilter::kSkip;
    if (path == "base/1") return ScanFilter::kIncludeEmpty;
    return ScanFilter::kInclude;
  };
  auto whole = ScanTree(source_);
  auto filtered = ScanTree(source_, filter);
  ASSERT_TRUE(whole.ok() && filtered.ok());
  std::vector<std::string> want, got;
  for (const TreeEntry& e : filtered->entries) want.push_back(e.path);
  for (const TreeEntry& e : FilterEntries(whole->entries, filter)) got.push_back(e.path);
  EXPECT_EQ(got, want);
  EXPECT_NE(std::find(got.begin(), got.end(), "base/1"), got.end());
  EXPECT_EQ(std::find(got.begin(), got.end(), "base/1/1259"), got.end());
}

// A tree served from elsewhere: the snapshot records its identity (the next one's parent is
// found by it, and an unchanged file is not read again), never clones it, and a file that
// is gone at its first read is left out as a vanished one, not a failure.
class ServedTree final : public SourceTree {
 public:
  explicit ServedTree(std::string root) : local_(std::move(root)) {}
  const std::string& identity() const override { return identity_; }
  std::string local_root() const override { return ""; }
  Result<ScanResult> Scan(const ScanFilterFn& filter) override { return local_.Scan(filter); }
  Result<std::unique_ptr<SourceFile>> Open(const std::string& path) override {
    opened.push_back(path);
    if (path == gone) return std::unique_ptr<SourceFile>(std::make_unique<GoneFile>());
    return local_.Open(path);
  }
  std::vector<std::string> opened;
  std::string gone;

 private:
  struct GoneFile final : SourceFile {
    Result<size_t> Read(uint8_t*, size_t, uint64_t) override {
      return Status::NotFound("deleted since it was listed");
    }
  };
  LocalSourceTree local_;
  std::string identity_ = "kube://dbaas-a/a";
};

TEST_F(SnapshotTest, ATreeServedFromElsewhereIsStoredIncrementallyAndItsVanishedFilesLeftOut) {
  ServedTree tree(source_);
  tree.gone = "text";
  CreateOptions o;
  o.tree = &tree;
  o.mode = SnapshotMode::kAuto;
  auto first = CreateSnapshot(*repo_, o);
  ASSERT_TRUE(first.ok()) << first.status().ToString();
  EXPECT_EQ(first->kind, SnapshotKind::kRepository);
  EXPECT_EQ(first->source, "kube://dbaas-a/a");
  for (const TreeEntry& e : first->entries) EXPECT_NE(e.path, "text");
  EXPECT_NE(std::find(first->warnings.begin(), first->warnings.end(),
                      "file 'text' vanished during the snapshot"),
            first->warnings.end());
  fs::remove(source_ + "/text");
  Restore(*first, tmp_ / "out");
  EXPECT_EQ(DiffTrees(source_, tmp_ / "out"), "");

  tree.gone.clear();
  tree.opened.clear();
  WriteFile(source_ + "/new", "new");
  auto second = CreateSnapshot(*repo_, o);
  ASSERT_TRUE(second.ok()) << second.status().ToString();
  EXPECT_EQ(second->parent, first->id);
  EXPECT_EQ(tree.opened, std::vector<std::string>{"new"}) << "unchanged files read again";
  o.mode = SnapshotMode::kThin;
  auto thin = CreateSnapshot(*repo_, o);
  ASSERT_FALSE(thin.ok());
  EXPECT_EQ(thin.status().code(), StatusCode::kFailedPrecondition);
}

TEST_F(SnapshotTest, ExtraFilesJoinTheSnapshotBeforeCommit) {
  WriteFile(tmp_ / "outside/segment", RandomBytes(100000, 5));
  CreateOptions o;
  size_t seen = 0;
  o.before_commit = [&](const std::vector<TreeEntry>& entries) -> Result<BeforeCommitResult> {
    seen = entries.size();
    ExtraFile label;
    label.path = "backup_label";
    label.content = "START WAL LOCATION: 0/2000028\n";
    ExtraFile text;  // replaces the scanned file of that name
    text.path = "text";
    text.content = "replaced";
    ExtraFile wal;
    wal.path = "base/1/segment";
    wal.source_path = tmp_ / "outside/segment";
    return BeforeCommitResult{{label, text, wal}, {{"stop_lsn", "0/2000100"}}};
  };
  Manifest m = Snapshot(o);
  EXPECT_EQ(m.annotations.at("stop_lsn"), "0/2000100");
  EXPECT_EQ(repo_->LoadSnapshot(m.id)->annotations.at("stop_lsn"), "0/2000100");
  EXPECT_EQ(seen, 9u);
  EXPECT_EQ(m.stats.files, 6u);
  Restore(m, tmp_ / "out");
  EXPECT_EQ(ReadFile(tmp_ / "out/backup_label"), "START WAL LOCATION: 0/2000028\n");
  EXPECT_EQ(ReadFile(tmp_ / "out/text"), "replaced");
  EXPECT_EQ(ReadFile(tmp_ / "out/base/1/segment"), ReadFile(tmp_ / "outside/segment"));

  // A failing hook, or an unsafe path, aborts the snapshot: nothing is listed.
  CreateOptions failing;
  failing.before_commit = [](const std::vector<TreeEntry>&) -> Result<BeforeCommitResult> {
    return Status::IoError("pg_backup_stop failed");
  };
  failing.source = source_;
  failing.mode = SnapshotMode::kRepository;
  EXPECT_EQ(CreateSnapshot(*repo_, failing).status().message(), "pg_backup_stop failed");
  CreateOptions unsafe = failing;
  unsafe.before_commit = [](const std::vector<TreeEntry>&) -> Result<BeforeCommitResult> {
    ExtraFile x;
    x.path = "../escape";
    return BeforeCommitResult{{x}, {}};
  };
  EXPECT_EQ(CreateSnapshot(*repo_, unsafe).status().code(), StatusCode::kInvalidArgument);
  // An extra file read from a path (one the database server could write) larger than any
  // WAL segment, here sparse, is refused, not read.
  const std::string huge = tmp_ / "outside/huge";
  {
    WriteFile(huge, "");
    ASSERT_EQ(::truncate(huge.c_str(), (4ll << 30) + 1), 0);
  }
  CreateOptions oversized = failing;
  oversized.before_commit = [&](const std::vector<TreeEntry>&) -> Result<BeforeCommitResult> {
    ExtraFile x;
    x.path = "base/1/segment";
    x.source_path = huge;
    return BeforeCommitResult{{x}, {}};
  };
  auto refused = CreateSnapshot(*repo_, oversized);
  EXPECT_EQ(refused.status().code(), StatusCode::kInvalidArgument);
  EXPECT_NE(refused.status().message().find("more than the 4294967296"), std::string::npos)
      << refused.status().ToString();
  EXPECT_EQ(repo_->ListSnapshots()->size(), 1u);
}

// Repositories written before manifest version 2 hold JSON manifests (snapshots/ID.json):
// they list, load, restore, verify and go away like new ones, beside new ones.
TEST_F(SnapshotTest, ManifestsOfVersionOneStillWork) {
  Manifest old = Snapshot();
  std::string binary = repo_path_ + "/snapshots/" + old.id + ".manifest";
  ASSERT_TRUE(fs::exists(binary));
  WriteFile(repo_path_ + "/snapshots/" + old.id + ".json", ManifestToJson(old));
  fs::remove(binary);
  Reopen();
  WriteFile(source_ + "/text", std::string(100000, 'b'));
  Manifest next = Snapshot();
  EXPECT_EQ(next.parent, old.id) << "the JSON manifest is the incremental's parent";
  EXPECT_EQ(next.stats.reused_files, 2u);
  auto found = repo_->FindSnapshot(old.id.substr(0, 6));
  ASSERT_TRUE(found.ok()) << found.status().ToString();
  auto listed = repo_->ListSnapshotHeaders();
  ASSERT_TRUE(listed.ok());
  EXPECT_EQ(listed->size(), 2u);
  Restore(found.value(), tmp_ / "old");
  EXPECT_EQ(ReadFile(tmp_ / "old/text"), std::string(100000, 'a'));
  auto report = VerifyRepository(repo_path_);
  ASSERT_TRUE(report.ok());
  EXPECT_EQ(report->snapshots, 2u);
  EXPECT_TRUE(report->errors.empty()) << report->errors.front();
  ASSERT_TRUE(repo_->RemoveSnapshot(old.id).ok());
  EXPECT_FALSE(fs::exists(repo_path_ + "/snapshots/" + old.id + ".json"));
  EXPECT_EQ(repo_->LoadSnapshot(old.id).status().code(), StatusCode::kNotFound);
}

// File names are the tenant's bytes: one that is not UTF-8, and a FIFO named so (skipped,
// with a warning naming it), must not fail the snapshot.
TEST_F(SnapshotTest, FileNamesThatAreNotUtf8) {
  std::string odd = "base/1/\xff\xfe";
  WriteFile(source_ + "/" + odd, "tenant bytes");
  ASSERT_EQ(::mkfifo((source_ + "/base/\x9b").c_str(), 0600), 0);
  Manifest m = Snapshot();
  ASSERT_FALSE(m.id.empty());
  ASSERT_EQ(m.warnings.size(), 1u);
  Restore(m, tmp_ / "out");
  EXPECT_EQ(ReadFile(tmp_ / ("out/" + odd)), "tenant bytes");
  // Removing the FIFO moves base's mtime on; put it back so that only what was snapshotted
  // is compared (DiffTrees compares directory mtimes to the second).
  struct stat base_before;
  ASSERT_EQ(::stat((source_ + "/base").c_str(), &base_before), 0);
  fs::remove(source_ + "/base/\x9b");
  const struct timespec times[2] = {base_before.st_atim, base_before.st_mtim};
  ASSERT_EQ(::utimensat(AT_FDCWD, (source_ + "/base").c_str(), times, 0), 0);
  EXPECT_EQ(DiffTrees(source_, tmp_ / "out"), "");
}

TEST_F(SnapshotTest, InvalidConfigIsRefused) {
  RepoConfig bad;
  bad.chunk_size = 10000;
  EXPECT_EQ(Repository::Init(tmp_ / "r2", bad).code(), StatusCode::kInvalidArgument);
  EXPECT_EQ(Repository::Init(repo_path_, RepoConfig{}).code(), StatusCode::kAlreadyExists);
  EXPECT_EQ(Repository::Open(tmp_ / "nothing").status().code(), StatusCode::kNotFound);
}

}  // namespace
}  // namespace dbaas::storage
