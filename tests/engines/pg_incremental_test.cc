// Incremental backups from WAL with real PostgreSQL 15 servers: the WAL scanner against
// what known statements change, and chains of incrementals under pgbench load, each one
// also read whole and compared (check_changed_blocks), with the changes WAL does not show
// block by block between them (VACUUM FULL, a new and a dropped database, a truncated
// relation) and a parent whose WAL is gone.
#include <sys/stat.h>

#include <algorithm>
#include <cstring>
#include <filesystem>
#include <thread>

#include <fmt/format.h>
#include <gtest/gtest.h>

#include "base/files.h"
#include "engines/backup_facts.h"
#include "engines/log_spool.h"
#include "engines/postgres/pg_backup.h"
#include "engines/postgres/pg_changed_blocks.h"
#include "engines/postgres/pg_connection.h"
#include "engines/postgres/pg_wal_summary.h"
#include "pg_test_tools.h"
#include "storage/repo_maintenance.h"
#include "test_util.h"

namespace dbaas::engines {
namespace {

using std::chrono::seconds;

const PgBackupOptions kChecked{.mode = storage::SnapshotMode::kRepository,
                               .check_changed_blocks = true};

// Torture loops run full length in the release build only (CI runs both builds).
#if defined(__SANITIZE_ADDRESS__)
constexpr int kChainLength = 7;
#else
constexpr int kChainLength = 11;
#endif

class PgIncrementalTest : public PgRepositoryTest {
 protected:
  void StartSource(bool archiving) {
    auto inst = PgInstance::Create(Spec("source", archiving));
    ASSERT_TRUE(inst.ok()) << inst.status().ToString();
    source_.emplace(std::move(inst.value()));
    ASSERT_TRUE(source_->Start().ok());
    conn_.emplace(std::move(PgConnection::Connect(source_->connection().SocketConninfo()).value()));
    segment_size_ =
        std::stoull(Sql("select setting from pg_settings where name = 'wal_segment_size'"));
  }

  PgInstanceSpec Spec(const std::string& name, bool archiving) {
    PgInstanceSpec spec;
    spec.name = name;
    spec.data_root = root_ / "instances";
    if (archiving) spec.archiving = {root_ / "repo", DBAAS_CLI_BINARY, "", "", ""};
    return spec;
  }

  std::string Sql(const std::string& sql) { return SqlValue(*conn_, sql); }

  uint64_t InsertLsn() { return ParseLsn(Sql("select pg_current_wal_insert_lsn()")).value(); }

  PgWalSources Sources() const { return WalSourcesOf(*source_); }

  // Ends the current WAL segment and waits until the server has archived it (into its spool).
  bool SwitchAndArchive() { return ArchivedUpTo(Sql("select pg_walfile_name(pg_switch_wal())")); }
  bool ArchivedUpTo(const std::string& segment) {
    for (int i = 0; i < 1500; ++i) {
      if (Sql("select last_archived_wal from pg_stat_archiver") >= segment) return true;
      std::this_thread::sleep_for(std::chrono::milliseconds(20));
    }
    return false;
  }

  Result<WalChanges> Scan(uint64_t from, uint64_t to) {
    return ScanWalRange(from, to, 1, segment_size_, Sources());
  }

  RelFork Relation(const std::string& table) {
    return RelFork{1663,
                   static_cast<uint32_t>(std::stoul(
                       Sql("select oid from pg_database where datname = current_database()"))),
                   static_cast<uint32_t>(
                       std::stoul(Sql(fmt::format("select pg_relation_filenode('{}')", table)))),
                   0};
  }

  void ExpectRestoresConsistent(const PgBackupInfo& backup, const std::string& name) {
    auto restored =
        RestorePostgres(*repo_, backup.snapshot, Spec(name, false), source_->connection().password);
    ASSERT_TRUE(restored.ok()) << restored.status().ToString();
    ExpectPgbenchConsistent(bin_, *restored);
    ASSERT_TRUE(restored->Delete().ok());
  }

  std::optional<PgInstance> source_;
  std::optional<PgConnection> conn_;
  uint64_t segment_size_ = 0;
};

TEST_F(PgIncrementalTest, ScannerFindsExactlyTheBlocksAnUpdateChanged) {
  StartSource(true);
  Sql("create table t (id int primary key, pad text) with (fillfactor = 50)");
  Sql("insert into t select g, repeat('x', 100) from generate_series(1, 20000) g");
  Sql("vacuum t");  // hint bits set now, not as FPIs inside the range
  Sql("checkpoint");
  std::string on5 = Sql("select id from t where (ctid::text::point)[0] = 5 limit 1");
  std::string on77 = Sql("select id from t where (ctid::text::point)[0] = 77 limit 1");
  uint64_t from = InsertLsn();
  Sql(fmt::format("update t set pad = repeat('y', 100) where id in ({}, {})", on5, on77));
  uint64_t to = InsertLsn();

  auto changes = Scan(from, to);
  ASSERT_TRUE(changes.ok()) << changes.status().ToString();
  EXPECT_GT(changes->records, 0u);
  auto it = changes->blocks.find(Relation("t"));
  ASSERT_NE(it, changes->blocks.end());
  EXPECT_EQ(it->second, (std::vector<uint32_t>{5, 77}));
  EXPECT_TRUE(changes->rewritten.empty());
  EXPECT_TRUE(changes->databases.empty());
}

TEST_F(PgIncrementalTest, ScannerSeesNewAndTruncatedRelationsAndDatabases) {
  StartSource(true);
  Sql("create table shrinking (id int, pad text)");
  Sql("insert into shrinking select g, repeat('x', 200) from generate_series(1, 5000) g");
  Sql("checkpoint");
  uint64_t from = InsertLsn();
  Sql("create table fresh (id int)");
  Sql("delete from shrinking where id > 10");
  Sql("vacuum shrinking");  // cuts the empty pages off the end: an SMGR truncate
  Sql("create database other");
  std::string other = Sql("select oid from pg_database where datname = 'other'");
  Sql("create database gone");
  std::string gone = Sql("select oid from pg_database where datname = 'gone'");
  Sql("drop database gone");
  uint64_t to = InsertLsn();

  auto changes = Scan(from, to);
  ASSERT_TRUE(changes.ok()) << changes.status().ToString();
  EXPECT_TRUE(changes->rewritten.contains(Relation("fresh")));
  EXPECT_TRUE(changes->rewritten.contains(Relation("shrinking")));
  EXPECT_TRUE(changes->databases.contains({1663, static_cast<uint32_t>(std::stoul(other))}));
  EXPECT_TRUE(changes->databases.contains({1663, static_cast<uint32_t>(std::stoul(gone))}));

  // The map reads those whole, and a relation only the WAL's blocks.
  PgChangeMap map(std::move(changes.value()), to);
  storage::TreeEntry before, now;
  RelFork fresh = Relation("fresh");
  now.path = before.path = fmt::format("base/{}/{}", fresh.database, fresh.relation);
  now.size = before.size = 8192 * 4;
  EXPECT_FALSE(map.ChangedRanges(now, before).has_value());
  now.path = before.path = fmt::format("base/{}/1259", other);
  EXPECT_FALSE(map.ChangedRanges(now, before).has_value());
  now.path = before.path = fmt::format("base/{}/2619_vm", fresh.database);
  EXPECT_FALSE(map.ChangedRanges(now, before).has_value()) << "visibility maps are read whole";
  now.path = before.path = fmt::format("base/{}/99999", fresh.database);
  auto untouched = map.ChangedRanges(now, before);
  ASSERT_TRUE(untouched.has_value());
  EXPECT_TRUE(untouched->empty());
  now.inode = 7;
  EXPECT_FALSE(map.ChangedRanges(now, before).has_value()) << "another file at the same path";
}

TEST_F(PgIncrementalTest, ScannerRefusesWalFromAnotherPlace) {
  StartSource(true);
  Sql("select pg_switch_wal()");
  Sql("create table t (id int)");
  uint64_t from = InsertLsn();
  Sql("insert into t select generate_series(1, 1000)");
  uint64_t to = InsertLsn();
  ASSERT_EQ(from / segment_size_, to / segment_size_) << "the range crossed a segment";
  uint64_t at = from - from % segment_size_;
  std::string path = JoinPath(Sources().pg_wal_dir, WalSegmentName(1, at, segment_size_));
  std::string text = testing::ReadFile(path);
  std::vector<uint8_t> genuine(text.begin(), text.end());

  // The right bytes claimed for the next segment: every page names its own address.
  WalBlockScanner later(at + segment_size_, at + 2 * segment_size_, 1, segment_size_);
  Status st = later.AddSegment(genuine, at + segment_size_);
  EXPECT_EQ(st.code(), StatusCode::kCorruption) << st.ToString();

  WalBlockScanner scanner(from, to, 1, segment_size_);
  std::vector<uint8_t> damaged = genuine;
  size_t page = ((from - at) / 8192) * 8192;
  damaged[page] ^= 0xff;  // the page magic
  st = scanner.AddSegment(damaged, at);
  EXPECT_EQ(st.code(), StatusCode::kCorruption) << st.ToString();
  std::vector<uint8_t> wrong_timeline = genuine;
  wrong_timeline[page + 4] = 9;
  EXPECT_EQ(scanner.AddSegment(wrong_timeline, at).code(), StatusCode::kCorruption);
  std::vector<uint8_t> short_file(genuine.begin(), genuine.begin() + 8192);
  EXPECT_EQ(scanner.AddSegment(short_file, at).code(), StatusCode::kCorruption);
  // A record claiming 65 MiB (the segment's first, right after its long header): not
  // assembled in memory for whoever wrote it.
  std::vector<uint8_t> huge = genuine;
  uint32_t length = 65u << 20;
  std::memcpy(huge.data() + 40, &length, 4);
  st = scanner.AddSegment(huge, at);
  EXPECT_EQ(st.code(), StatusCode::kCorruption);
  EXPECT_NE(st.message().find("impossible record length"), std::string::npos) << st.ToString();
  // Refusals leave the scanner as it was: the genuine segment is still taken.
  ASSERT_TRUE(scanner.AddSegment(genuine, at).ok());
  EXPECT_TRUE(scanner.done());
  const WalChanges whole = scanner.Finish();
  EXPECT_FALSE(whole.blocks.empty());

  // The segment holding the range's end may be offered as its pages up to that end (the
  // server is still writing the rest): the same blocks. One page fewer is refused, never
  // taken for the whole segment.
  const size_t through = ((to - at) / 8192 + 1) * 8192;
  ASSERT_GT(through - 8192, from - at) << "the range fits in one page";
  WalBlockScanner prefix(from, to, 1, segment_size_);
  std::vector<uint8_t> cut(genuine.begin(), genuine.begin() + through - 8192);
  st = prefix.AddSegment(cut, at);
  EXPECT_EQ(st.code(), StatusCode::kCorruption) << st.ToString();
  EXPECT_NE(st.message().find("end before the range does"), std::string::npos) << st.ToString();
  std::vector<uint8_t> enough(genuine.begin(), genuine.begin() + through);
  ASSERT_TRUE(prefix.AddSegment(enough, at).ok());
  EXPECT_TRUE(prefix.done());
  EXPECT_EQ(prefix.Finish().blocks, whole.blocks);

  // The scan reads the tenant's copies first (the spool's, then pg_wal's); a copy it refuses
  // sends it to the next source. Here the spool holds a damaged copy: pg_wal's is taken.
  PgWalSources decoyed = Sources();
  decoyed.spool_dir = root_ / "decoy-spool";
  std::filesystem::create_directories(decoyed.spool_dir);
  testing::WriteFile(JoinPath(decoyed.spool_dir, WalSegmentName(1, at, segment_size_)),
                     std::string(damaged.begin(), damaged.end()));
  auto via_pg_wal = ScanWalRange(from, to, 1, segment_size_, decoyed);
  ASSERT_TRUE(via_pg_wal.ok()) << via_pg_wal.status().ToString();
  EXPECT_EQ(via_pg_wal->blocks, whole.blocks);
  // With no good copy anywhere, the error names what each source said.
  decoyed.pg_wal_dir = decoyed.spool_dir;
  decoyed.repo_path.clear();
  auto nowhere = ScanWalRange(from, to, 1, segment_size_, decoyed);
  EXPECT_EQ(nowhere.status().code(), StatusCode::kNotFound);
  EXPECT_NE(nowhere.status().message().find("page magic"), std::string::npos)
      << nowhere.status().ToString();

  // A range whose WAL no source holds.
  auto missing = ScanWalRange(from, to, 1, segment_size_, {});
  EXPECT_EQ(missing.status().code(), StatusCode::kNotFound);
}

// The daemon's drain summarizes each archived segment once the next one is stored; a scan
// takes the summaries that are sound and join, scans the rest, and finds what a scan of
// every segment finds. A summary that is damaged, of another segment or that does not join
// its neighbour is passed over (those segments are scanned), never believed.
TEST_F(PgIncrementalTest, SummariesStandInForTheirSegmentsOnlyWhenSound) {
  StartSource(true);
  Sql("create table t (id int primary key, pad text) with (fillfactor = 50)");
  Sql("insert into t select g, repeat('x', 100) from generate_series(1, 20000) g");
  Sql("vacuum t");
  Sql("checkpoint");
  const uint64_t from = InsertLsn();
  std::string last_switched;
  for (int page : {5, 77, 150, 200}) {  // one page changed in each of four segments
    Sql(
        fmt::format("update t set pad = repeat('y', 100) where id = (select id from t where "
                    "(ctid::text::point)[0] = {} limit 1)",
                    page));
    const uint64_t at = InsertLsn();
    last_switched = WalSegmentName(1, at - at % segment_size_, segment_size_);
    Sql("select pg_switch_wal()");
  }
  Sql("insert into t values (0, 'after the switches')");  // `to` past the segment's start
  const uint64_t to = InsertLsn();
  ASSERT_TRUE(ArchivedUpTo(last_switched));
  LogSpool spool = source_->log_spool().value();
  ASSERT_TRUE(DrainLogSpool(spool).ok());
  auto archive = storage::WalArchive::Open(spool.repo_path, spool.archive_id);
  ASSERT_TRUE(archive.ok());
  const uint64_t first = from - from % segment_size_;
  auto name = [&](int k) { return WalSegmentName(1, first + k * segment_size_, segment_size_); };
  ASSERT_EQ(name(3), last_switched);
  for (int k = 0; k < 3; ++k) EXPECT_TRUE(archive->HasSummary(name(k))) << name(k);
  EXPECT_FALSE(archive->HasSummary(name(3))) << "summarized before the next segment is stored";

  auto scan = [&](uint64_t expect_summarized) {
    auto changes = Scan(from, to);
    EXPECT_TRUE(changes.ok()) << changes.status().ToString();
    if (!changes.ok()) return WalChanges{};
    EXPECT_EQ(changes->summarized_segments, expect_summarized);
    return std::move(changes.value());
  };
  WalChanges summarized = scan(3);
  const std::string summaries = archive->dir() + "/summaries";
  std::filesystem::rename(summaries, summaries + ".off");
  WalChanges scanned = scan(0);
  std::filesystem::rename(summaries + ".off", summaries);
  auto blocks_of_t = [&](const WalChanges& c) {
    auto it = c.blocks.find(Relation("t"));
    return it == c.blocks.end() ? std::vector<uint32_t>{} : it->second;
  };
  const std::vector<uint32_t> changed_in_t = blocks_of_t(summarized);
  for (uint32_t page : {5u, 77u, 150u, 200u}) {
    EXPECT_TRUE(std::binary_search(changed_in_t.begin(), changed_in_t.end(), page)) << page;
  }
  // The summaries stand for whole segments, records before `from` included: what the scan
  // finds, they find, and more only of the first segment.
  for (const auto& [rel, blocks] : scanned.blocks) {
    auto it = summarized.blocks.find(rel);
    ASSERT_NE(it, summarized.blocks.end());
    EXPECT_TRUE(std::includes(it->second.begin(), it->second.end(), blocks.begin(), blocks.end()));
  }
  EXPECT_TRUE(std::includes(summarized.rewritten.begin(), summarized.rewritten.end(),
                            scanned.rewritten.begin(), scanned.rewritten.end()));

  auto summary_path = [&](int k) { return summaries + "/" + name(k); };
  const std::string second = testing::ReadFile(summary_path(1));
  auto put = [&](int k, const std::string& bytes) {
    ASSERT_TRUE(
        archive
            ->StoreSummary(name(k), {reinterpret_cast<const uint8_t*>(bytes.data()), bytes.size()})
            .ok());
  };
  {
    SCOPED_TRACE("a damaged summary");
    std::string damaged = second;
    damaged[damaged.size() / 2] ^= 0x01;
    put(1, damaged);
    EXPECT_EQ(blocks_of_t(scan(2)), blocks_of_t(summarized));
  }
  {
    SCOPED_TRACE("the first segment's summary under the second's name");
    put(1, testing::ReadFile(summary_path(0)));
    EXPECT_EQ(blocks_of_t(scan(2)), blocks_of_t(summarized));
  }
  {
    SCOPED_TRACE("a summary that does not join the one before it");
    auto decoded =
        DecodeWalSummary({reinterpret_cast<const uint8_t*>(second.data()), second.size()});
    ASSERT_TRUE(decoded.ok()) << decoded.status().ToString();
    decoded->first_prev += 8;
    std::vector<uint8_t> bytes = EncodeWalSummary(*decoded);
    put(1, std::string(bytes.begin(), bytes.end()));
    EXPECT_EQ(blocks_of_t(scan(2)), blocks_of_t(summarized));
  }
  {
    SCOPED_TRACE("a summary of another scanner's version");
    auto decoded =
        DecodeWalSummary({reinterpret_cast<const uint8_t*>(second.data()), second.size()});
    ASSERT_TRUE(decoded.ok());
    decoded->scanner_version = kWalSummaryScannerVersion + 1;
    std::vector<uint8_t> bytes = EncodeWalSummary(*decoded);
    put(1, std::string(bytes.begin(), bytes.end()));
    EXPECT_EQ(blocks_of_t(scan(2)), blocks_of_t(summarized));
  }
  put(1, second);
  EXPECT_EQ(blocks_of_t(scan(3)), blocks_of_t(summarized));
  {
    SCOPED_TRACE("no summary of the range's first segment");
    std::filesystem::rename(summary_path(0), summary_path(0) + ".off");
    WalChanges without_first = scan(2);
    std::filesystem::rename(summary_path(0) + ".off", summary_path(0));
    // Scanned from `from`: what the scan of everything finds.
    EXPECT_EQ(blocks_of_t(without_first), blocks_of_t(scanned));
  }

  {
    SCOPED_TRACE("a segment stored after the next one");
    std::filesystem::remove(summary_path(1));
    std::filesystem::remove(summary_path(2));
    auto raw = archive->Read(name(2));
    ASSERT_TRUE(raw.ok());
    SummarizeBeforeStoredSegment(*archive, name(2), *raw);
    EXPECT_TRUE(archive->HasSummary(name(1))) << "the one before";
    EXPECT_TRUE(archive->HasSummary(name(2))) << "itself: the next one is archived";
    EXPECT_EQ(blocks_of_t(scan(3)), blocks_of_t(summarized));
  }

  // The next drain summarizes the segment it left, and pruning the archive prunes them.
  ASSERT_TRUE(SwitchAndArchive());
  ASSERT_TRUE(DrainLogSpool(spool).ok());
  EXPECT_TRUE(archive->HasSummary(name(3)));
  auto position = storage::ParseWalFileName(name(2));
  ASSERT_TRUE(position.ok());
  ASSERT_TRUE(archive->RemoveBefore(position->position).ok());
  EXPECT_FALSE(archive->HasSummary(name(1)));
  EXPECT_TRUE(archive->HasSummary(name(2)));
}

// The torture test, small for CI (bench/pg_backup_bench.sh runs the full size): a chain of
// ten incrementals (six under ASan) under pgbench load, each read also whole and compared with what
// the WAL's map left out, across the changes WAL names only as "this file is new or cut".
TEST_F(PgIncrementalTest, ChainUnderLoadLeavesNothingOutAndRestoresConsistent) {
  StartSource(true);
  ASSERT_TRUE(RunChecked(Tool("pgbench", {"-i", "-q", "-s", "2"}, *source_), seconds(300)).ok());
  Sql("create table tail (id int, pad text)");
  Sql("insert into tail select g, repeat('t', 300) from generate_series(1, 3000) g");
  auto load = Process::Start(
      Tool("pgbench",
           {"-n", "-c", "2", "-j", "2", "-R", "300", "-T", std::to_string(kChainLength * 3 + 7)},
           *source_));
  ASSERT_TRUE(load.ok());
  std::this_thread::sleep_for(seconds(1));
  std::vector<PgBackupInfo> chain;
  int partial = 0, summarized = 0;
  uint64_t patched = 0;
  for (int i = 0; i < kChainLength; ++i) {
    SCOPED_TRACE("backup " + std::to_string(i));
    if (i == 2) Sql("vacuum full pgbench_history");  // a new relfilenode, copied
    if (i == 3) Sql("create database side");         // files copied without their blocks
    if (i == 4) {
      Sql("delete from tail where id > 100");
      Sql("vacuum tail");  // the relation's end cut off
    }
    if (i == 5) Sql("drop database side");
    // As the daemon does every second: the spool into the archive, each segment stored
    // summarizing the one before, so that the backups' maps come from summaries and scans.
    // (A segment is summarized once the next is archived: the load's WAL is switched out
    // first, so that the segment the parent's backup ended is.)
    if (i > 0) {
      ASSERT_TRUE(SwitchAndArchive());
    }
    ASSERT_TRUE(DrainLogSpool(*source_->log_spool()).ok());
    auto b = BackupPostgres(*source_, *repo_, "chain-" + std::to_string(i), kChecked);
    ASSERT_TRUE(b.ok()) << b.status().ToString();
    const storage::SnapshotStats& stats = b->snapshot.stats;
    std::string warnings;
    for (const std::string& w : b->snapshot.warnings) warnings += w + "\n";
    EXPECT_EQ(stats.change_map_misses, 0u) << warnings;
    if (i > 0) {
      EXPECT_EQ(b->snapshot.parent, chain.back().snapshot.id);
      if (stats.partial_files > 0) ++partial;
      patched += stats.patched_chunks;
      if (b->snapshot.annotations["changed_blocks_summaries"] != "0") ++summarized;
      EXPECT_LT(stats.read_bytes, stats.logical_bytes);
    }
    chain.push_back(std::move(b.value()));
    std::this_thread::sleep_for(std::chrono::milliseconds(700));
  }
  auto code = load->Wait(seconds(120));
  ASSERT_TRUE(code.ok());
  EXPECT_EQ(code.value(), 0) << "pgbench failed";
  EXPECT_GE(partial, kChainLength - 3)
      << "most incrementals should read only the blocks the WAL names";
  EXPECT_GT(patched, uint64_t{kChainLength}) << "changed chunks should be stored as page patches";
  EXPECT_GE(summarized, kChainLength - 3) << "most maps should come from summaries in part";
  // The restores below read the patches as the service keeps them: compacted by a gc into
  // deltas of their base chunks.
  auto gc = storage::CollectGarbage(*repo_);
  ASSERT_TRUE(gc.ok()) << gc.status().ToString();
  EXPECT_GT(gc->patches_compacted, 0u);
  EXPECT_GT(gc->patch_bytes_saved, 0u);
  repo_ = std::move(storage::Repository::Open(root_ / "repo").value());

  for (size_t i : {size_t{2}, size_t{5}, chain.size() - 1}) {
    SCOPED_TRACE("restore of backup " + std::to_string(i));
    ExpectRestoresConsistent(chain[i], "restored-" + std::to_string(i));
  }
}

// Negative control: a parent whose WAL is gone (no archive, recycled from pg_wal). The
// incremental says so and reads every changed file whole, and restores consistent.
TEST_F(PgIncrementalTest, WithoutTheParentsWalChangedFilesAreReadWhole) {
  StartSource(false);
  ASSERT_TRUE(RunChecked(Tool("pgbench", {"-i", "-q", "-s", "1"}, *source_), seconds(300)).ok());
  auto parent = BackupPostgres(*source_, *repo_, "parent", kChecked);
  ASSERT_TRUE(parent.ok()) << parent.status().ToString();
  ASSERT_TRUE(RunChecked(Tool("pgbench", {"-n", "-t", "200"}, *source_), seconds(300)).ok());
  Sql("select pg_switch_wal()");
  Sql("checkpoint");  // the parent's segments leave pg_wal
  auto child = BackupPostgres(*source_, *repo_, "child", kChecked);
  ASSERT_TRUE(child.ok()) << child.status().ToString();
  EXPECT_EQ(child->snapshot.parent, parent->snapshot.id);
  EXPECT_EQ(child->snapshot.stats.partial_files, 0u);
  bool said = std::any_of(
      child->snapshot.warnings.begin(), child->snapshot.warnings.end(), [](const std::string& w) {
        return w.find("read whole") != w.npos &&
               w.find("is in none of the spool, pg_wal and the archive") != w.npos;
      });
  EXPECT_TRUE(said) << "the snapshot does not say that the WAL is missing: "
                    << ::testing::PrintToString(child->snapshot.warnings);
  ExpectRestoresConsistent(child.value(), "restored");
}

TEST(PgChangeMapForTest, OffersNoMapForAParentOfAnotherServerTimelineOrIncarnation) {
  storage::Manifest parent;
  parent.id = "0123456789abcdef";
  parent.stats.logical_bytes = 1ull << 30;
  BackupFacts facts;
  facts.engine = "postgresql";
  facts.system_identifier = "7300000000000000042";
  facts.timeline = 1;
  facts.start_lsn = "0/1000028";
  facts.wal_archive = "db.aaaa";
  parent.annotations = ToAnnotations(facts);
  const PgBackupStart same{"db.aaaa", "7300000000000000042", 1, 0x3000000, 16 << 20};
  auto why_not = [&](PgBackupStart now) {
    storage::ChangeMapOffer offer = PgChangeMapFor(parent, now, {});
    EXPECT_EQ(offer.map, nullptr);
    return offer.why_not;
  };
  // All alike: as far as the WAL, which no source holds here.
  EXPECT_NE(why_not(same).find("is in none of the spool, pg_wal and the archive"),
            std::string::npos);
  PgBackupStart other = same;
  other.archive_id = "db.bbbb";  // restored under the same name: another history
  EXPECT_NE(why_not(other).find("another incarnation"), std::string::npos);
  other = same;
  other.system_identifier = "7300000000000000043";
  EXPECT_NE(why_not(other).find("another server or timeline"), std::string::npos);
  other = same;
  other.timeline = 2;
  EXPECT_NE(why_not(other).find("another server or timeline"), std::string::npos);
  other = same;
  other.start_lsn = 0x100;
  EXPECT_NE(why_not(other).find("not before"), std::string::npos);
  parent.stats.logical_bytes = 1 << 20;
  EXPECT_NE(why_not(same).find("more than twice"), std::string::npos);
  parent.annotations.clear();
  EXPECT_NE(why_not(same).find("not a PostgreSQL backup"), std::string::npos);
}

TEST(PgWalSummaryTest, EncodesOneWayAndRefusesWhatItDidNotWrite) {
  PgWalSummary s;
  s.segment_sha = Sha256("segment");
  s.next_sha = Sha256("next");
  s.timeline = 1;
  s.segment_size = 16 << 20;
  s.segment_lsn = 3ull << 24;
  s.first_lsn = s.segment_lsn + 40;
  s.first_prev = s.segment_lsn - 200;
  s.last_lsn = s.segment_lsn + (16 << 20) - 100;
  s.stop_lsn = s.segment_lsn + (16 << 20) + 80;
  s.changes.records = 12;
  s.changes.blocks[RelFork{1663, 5, 16384, 0}] = {1, 7, 90000};
  s.changes.blocks[RelFork{1664, 0, 1262, 0}] = {0};
  s.changes.blocks[RelFork{1663, 5, 16390, 2}] = {};  // an empty list is left out
  s.changes.rewritten = {RelFork{1663, 5, 16400, 0}, RelFork{1663, 5, 16401, 0}};
  s.changes.databases = {{1663, 16500}};
  std::vector<uint8_t> bytes = EncodeWalSummary(s);
  auto back = DecodeWalSummary(bytes);
  ASSERT_TRUE(back.ok()) << back.status().ToString();
  EXPECT_EQ(back->segment_sha, s.segment_sha);
  EXPECT_EQ(back->stop_lsn, s.stop_lsn);
  EXPECT_EQ(back->changes.blocks.size(), 2u);
  EXPECT_EQ(back->changes.blocks[(RelFork{1663, 5, 16384, 0})],
            (std::vector<uint32_t>{1, 7, 90000}));
  EXPECT_EQ(back->changes.rewritten, s.changes.rewritten);
  EXPECT_EQ(back->changes.databases, s.changes.databases);
  EXPECT_EQ(EncodeWalSummary(*back), bytes) << "one encoding for one summary";
  for (size_t n = 0; n < bytes.size(); ++n) {
    EXPECT_FALSE(DecodeWalSummary(std::span(bytes).first(n)).ok()) << "cut at " << n;
  }
  std::vector<uint8_t> longer = bytes;
  longer.push_back(0);
  EXPECT_FALSE(DecodeWalSummary(longer).ok());
  for (size_t at = 0; at < bytes.size(); at += 7) {
    std::vector<uint8_t> flipped = bytes;
    flipped[at] ^= 0x01;
    EXPECT_FALSE(DecodeWalSummary(flipped).ok()) << "a bit flipped at " << at;
  }
  // Well formed and checksummed, but not a summary's content.
  auto refused = [](PgWalSummary bad) { return !DecodeWalSummary(EncodeWalSummary(bad)).ok(); };
  PgWalSummary bad = s;
  bad.stop_lsn = bad.segment_lsn + 100;  // the next record inside the segment
  EXPECT_TRUE(refused(bad));
  bad = s;
  bad.segment_size = 3 << 20;
  EXPECT_TRUE(refused(bad));
  bad = s;
  bad.changes.records = 0;
  EXPECT_TRUE(refused(bad));
  bad = s;
  bad.changes.blocks[RelFork{1663, 5, 16384, 0}] = {7, 7};
  EXPECT_TRUE(refused(bad));
  bad = s;
  bad.changes.blocks[RelFork{1663, 5, 16384, 9}] = {1};  // no such fork
  EXPECT_TRUE(refused(bad));
}

TEST(PgChangeMapForTest, ParsesRelationPathsAndNothingElse) {
  auto main = ParseRelationPath("base/16384/16385");
  ASSERT_TRUE(main.has_value());
  EXPECT_EQ(main->fork, (RelFork{1663, 16384, 16385, 0}));
  EXPECT_EQ(main->segment, 0u);
  auto vm_seg = ParseRelationPath("base/5/2619_vm.3");
  ASSERT_TRUE(vm_seg.has_value());
  EXPECT_EQ(vm_seg->fork, (RelFork{1663, 5, 2619, 2}));
  EXPECT_EQ(vm_seg->segment, 3u);
  auto global = ParseRelationPath("global/1262.1");
  ASSERT_TRUE(global.has_value());
  EXPECT_EQ(global->fork, (RelFork{1664, 0, 1262, 0}));
  EXPECT_EQ(global->segment, 1u);
  for (const char* other : {"base/5/pg_filenode.map", "base/5/PG_VERSION", "base/5/t3_16384",
                            "global/pg_control", "pg_xact/0000", "base/05/1259", "base/5/1259.",
                            "base/5/1259_x", "base/5", "base/5/99999999999"}) {
    EXPECT_FALSE(ParseRelationPath(other).has_value()) << other;
  }
}

}  // namespace
}  // namespace dbaas::engines
