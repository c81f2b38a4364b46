#include "engines/postgres/pg_changed_blocks.h"

#include <fcntl.h>
#include <sys/stat.h>

#include <algorithm>
#include <charconv>
#include <chrono>
#include <cstring>

#include <fmt/format.h>

#include "base/files.h"
#include "base/parallel.h"
#include "engines/backup_facts.h"
#include "engines/postgres/pg_backup.h"
#include "engines/postgres/pg_wal_summary.h"
#include "storage/wal_archive.h"

namespace dbaas::engines {
namespace {

constexpr uint32_t kDefaultTablespace = 1663;  // base/
constexpr uint32_t kGlobalTablespace = 1664;   // global/
constexpr uint64_t kBlockSize = 8192;
constexpr uint32_t kBlocksPerSegment = 131072;  // RELSEG_SIZE: 1 GiB files
constexpr uint8_t kMainFork = 0;
constexpr uint64_t kWalPageSize = 8192;  // XLOG_BLCKSZ (the scanner checks it in each segment)

std::optional<uint32_t> ParseOid(std::string_view text) {
  uint32_t v = 0;
  if (text.empty() || text.size() > 10 || text[0] == '0') return std::nullopt;
  auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), v);
  if (ec != std::errc() || end != text.data() + text.size()) return std::nullopt;
  return v;
}

// A segment from a directory of the tenant's (the spool, pg_wal), opened as every tenant
// path is (no links followed, no FIFO waited on): its first `length` bytes into `out` (a
// reused buffer: no allocation, no page faults); false when it is not there whole.
bool ReadTenantSegment(const std::string& dir, const std::string& name, uint64_t segment_size,
                       uint64_t length, std::vector<uint8_t>& out) {
  if (dir.empty()) return false;
  std::string path = JoinPath(dir, name);
  auto fd = OpenFile(path, O_RDONLY | O_NONBLOCK);
  if (!fd.ok()) return false;
  struct stat st;
  if (::fstat(fd->get(), &st) != 0 || !S_ISREG(st.st_mode) ||
      static_cast<uint64_t>(st.st_size) != segment_size) {
    return false;
  }
  out.resize(length);
  auto n = PreadFull(fd->get(), out.data(), out.size(), 0, path);
  return n.ok() && *n == length;
}

}  // namespace

std::optional<RelationFile> ParseRelationPath(std::string_view path) {
  RelationFile out;
  std::string_view name;
  if (path.starts_with("base/")) {
    std::string_view rest = path.substr(5);
    auto slash = rest.find('/');
    if (slash == std::string_view::npos) return std::nullopt;
    auto db = ParseOid(rest.substr(0, slash));
    if (!db) return std::nullopt;
    out.fork.tablespace = kDefaultTablespace;
    out.fork.database = *db;
    name = rest.substr(slash + 1);
  } else if (path.starts_with("global/")) {
    out.fork.tablespace = kGlobalTablespace;
    name = path.substr(7);
  } else {
    return std::nullopt;
  }
  if (auto dot = name.find('.'); dot != std::string_view::npos) {
    auto segment = ParseOid(name.substr(dot + 1));
    if (!segment) return std::nullopt;
    out.segment = *segment;
    name = name.substr(0, dot);
  }
  static constexpr std::pair<std::string_view, uint8_t> kForks[] = {
      {"_fsm", 1}, {"_vm", 2}, {"_init", 3}};
  for (const auto& [suffix, fork] : kForks) {
    if (name.ends_with(suffix)) {
      out.fork.fork = fork;
      name.remove_suffix(suffix.size());
      break;
    }
  }
  auto relation = ParseOid(name);
  if (!relation) return std::nullopt;
  out.fork.relation = *relation;
  return out;
}

PgWalSources WalSourcesOf(const PgInstance& instance) {
  PgWalSources sources;
  if (auto spool = instance.log_spool()) {
    sources = {spool->repo_path, spool->archive_id, spool->dir, ""};
  }
  sources.pg_wal_dir = JoinPath(instance.data_dir(), "pg_wal");
  return sources;
}

namespace {

// Where a segment is looked for, in this order. The tenant's directories first: a copy
// there is a read from the page cache, where the archive's is decompressed and checked (ten
// times the cost, the most of an incremental's scan). Neither is more trusted: the archive
// holds what the same server wrote into the spool. A copy the scanner refuses (pg_wal's
// file recycled under another name, its pages of another address) sends it to the next
// source; the archive comes last, so a segment the daemon's drain moved from the spool
// into the archive meanwhile is found there.
struct SegmentSources {
  const PgWalSources& dirs;
  const storage::WalArchive* archive;
  static constexpr size_t kCount = 3;  // the spool, pg_wal, the archive

  // Reads `name` into `out` from the first source from `first` on that has it whole;
  // returns that source's index, or kCount. Why sources failed is added to `tried`. From a
  // file, `length` bytes are enough (the pages up to the range's end in its last segment).
  size_t Fetch(const std::string& name, uint64_t segment_size, uint64_t length, size_t first,
               std::vector<uint8_t>& out, std::string& tried) const {
    for (size_t source = first; source < kCount; ++source) {
      if (source < 2) {
        if (ReadTenantSegment(Dir(source), name, segment_size, length, out)) return source;
        continue;
      }
      if (!archive) continue;
      Status read = archive->Read(name, storage::BlobCheck::kFrameChecksum, out);
      if (read.ok()) return source;
      if (read.code() != StatusCode::kNotFound) {
        tried += fmt::format("; in the archive: {}", read.message());
      }
    }
    return kCount;
  }
  const std::string& Dir(size_t source) const {
    return source == 0 ? dirs.spool_dir : dirs.pg_wal_dir;
  }
  std::string Where(size_t source) const { return source < 2 ? Dir(source) : "the archive"; }
};

// Feeds `scanner` segments until it is done, each from the first source that has it whole
// (the last one: its pages up to `to`) and valid; a few segments at a time read on every
// core, taken by the scanner in order.
Status ScanSegments(WalBlockScanner& scanner, uint64_t to, uint32_t timeline, uint64_t segment_size,
                    const PgWalSources& dirs, const storage::WalArchive* archive) {
  const uint64_t last = to - to % segment_size;  // the segment holding `to`
  const unsigned threads = ResolveThreads(0);
  const SegmentSources sources{dirs, archive};
  std::vector<std::vector<uint8_t>> buffers(threads);  // reused: one segment per core
  while (!scanner.done()) {
    std::vector<uint64_t> batch;
    for (uint64_t at = scanner.next_segment_lsn(); batch.size() < threads; at += segment_size) {
      batch.push_back(at);
      if (at >= last) break;
    }
    // The segment holding `to` is read up to the page holding it: the records the scan
    // needs end there, and the server is still writing the rest.
    auto length = [&](uint64_t at) {
      return at < last
                 ? segment_size
                 : std::min(segment_size, (to - last) / kWalPageSize * kWalPageSize + kWalPageSize);
    };
    std::vector<size_t> source(batch.size());
    std::vector<std::string> tried(batch.size());
    RETURN_IF_ERROR(ParallelFor(batch.size(), threads, [&](size_t i, unsigned) {
      std::string name = WalSegmentName(timeline, batch[i], segment_size);
      source[i] = sources.Fetch(name, segment_size, length(batch[i]), 0, buffers[i], tried[i]);
      return Status::Ok();
    }));
    for (size_t i = 0; i < batch.size() && !scanner.done(); ++i) {
      const uint64_t at = batch[i];
      std::string name = WalSegmentName(timeline, at, segment_size);
      while (source[i] < SegmentSources::kCount) {
        Status st = scanner.AddSegment(buffers[i], at);
        if (st.ok()) break;
        tried[i] += fmt::format("; in {}: {}", sources.Where(source[i]), st.message());
        source[i] =
            sources.Fetch(name, segment_size, length(at), source[i] + 1, buffers[i], tried[i]);
      }
      if (source[i] == SegmentSources::kCount) {
        return Status::NotFound(fmt::format(
            "WAL segment {} is in none of the spool, pg_wal and the archive{}", name, tried[i]));
      }
    }
  }
  return Status::Ok();
}

// The range's changes from the archive's summaries (pg_wal_summary.h), the segments without
// a sound one scanned, each scan joined record to record to the summaries on both sides;
// nullopt when no summary helps or a join fails (the caller then scans everything). A
// summary covers its whole segment: the records before `from` in the first one are counted
// too, which reads a few blocks for nothing and never leaves one out.
std::optional<WalChanges> FromSummaries(uint64_t from, uint64_t to, uint32_t timeline,
                                        uint64_t segment_size, const PgWalSources& sources,
                                        const storage::WalArchive& archive) {
  const uint64_t last = to - to % segment_size;
  WalChanges changes;
  std::optional<PgWalSummary> before;  // the last summary taken
  for (uint64_t at = from - from % segment_size; at <= last;) {
    auto summary = LoadWalSummary(archive, at, timeline, segment_size);
    if (summary && (!before || Joins(*before, *summary))) {
      summary->changes.summarized_segments = 1;
      changes.Merge(std::move(summary->changes));
      before = std::move(summary);
      at += segment_size;
      continue;
    }
    // A gap: scanned from its first segment to the next summary's first record, or to `to`.
    std::optional<PgWalSummary> after;
    uint64_t next = at + segment_size;
    for (; next <= last && !after; next += segment_size) {
      after = LoadWalSummary(archive, next, timeline, segment_size);
    }
    if (!before && !after) return std::nullopt;  // no summary at all: the plain scan
    const uint64_t end = after ? after->first_lsn : to;
    WalBlockScanner gap(before ? at : from, end, timeline, segment_size);
    if (!ScanSegments(gap, end, timeline, segment_size, sources, &archive).ok()) {
      return std::nullopt;
    }
    if ((before && !JoinsAfter(*before, gap)) || (after && !JoinsBefore(gap, *after))) {
      return std::nullopt;
    }
    changes.Merge(gap.Finish());
    if (!after) break;
    after->changes.summarized_segments = 1;
    changes.Merge(std::move(after->changes));
    at = after->segment_lsn + segment_size;
    before = std::move(after);
  }
  changes.SortBlocks();
  return changes;
}

}  // namespace

Result<WalChanges> ScanWalRange(uint64_t from, uint64_t to, uint32_t timeline,
                                uint64_t segment_size, const PgWalSources& sources) {
  std::optional<storage::WalArchive> archive;
  if (!sources.repo_path.empty() && !sources.archive_id.empty()) {
    auto opened = storage::WalArchive::Open(sources.repo_path, sources.archive_id);
    if (opened.ok()) archive = std::move(opened.value());
  }
  if (archive) {
    if (auto changes = FromSummaries(from, to, timeline, segment_size, sources, *archive)) {
      return std::move(*changes);
    }
  }
  WalBlockScanner scanner(from, to, timeline, segment_size);
  RETURN_IF_ERROR(
      ScanSegments(scanner, to, timeline, segment_size, sources, archive ? &*archive : nullptr));
  return scanner.Finish();
}

std::optional<std::vector<storage::ByteRange>> PgChangeMap::ChangedRanges(
    const storage::TreeEntry& now, const storage::TreeEntry& parent) const {
  auto file = ParseRelationPath(now.path);
  if (!file || file->fork.fork != kMainFork) return std::nullopt;
  if (now.inode != parent.inode || now.size < parent.size) return std::nullopt;
  RelFork relation = file->fork;
  if (changes_.rewritten.contains(relation)) return std::nullopt;
  if (changes_.databases.contains({relation.tablespace, relation.database})) return std::nullopt;
  std::vector<storage::ByteRange> ranges;
  auto it = changes_.blocks.find(relation);
  if (it == changes_.blocks.end()) return ranges;
  const std::vector<uint32_t>& blocks = it->second;
  uint64_t first = uint64_t{file->segment} * kBlocksPerSegment;
  uint64_t last = first + kBlocksPerSegment;
  for (auto b = std::lower_bound(blocks.begin(), blocks.end(), first);
       b != blocks.end() && *b < last; ++b) {
    uint64_t offset = (*b - first) * kBlockSize;
    if (!ranges.empty() && ranges.back().offset + ranges.back().length == offset) {
      ranges.back().length += kBlockSize;
    } else {
      ranges.push_back({offset, kBlockSize});
    }
  }
  return ranges;
}

bool PgChangeMap::DifferenceExplained(std::string_view, uint64_t, std::span<const uint8_t> stored,
                                      std::span<const uint8_t> now) const {
  for (size_t at = 0; at < now.size(); at += kBlockSize) {
    size_t n = std::min<size_t>(kBlockSize, now.size() - at);
    if (at + n <= stored.size() && std::memcmp(stored.data() + at, now.data() + at, n) == 0) {
      continue;
    }
    if (n < 8) return false;
    uint32_t hi = 0, lo = 0;  // pd_lsn: PageXLogRecPtr {xlogid, xrecoff}
    std::memcpy(&hi, now.data() + at, 4);
    std::memcpy(&lo, now.data() + at + 4, 4);
    if ((uint64_t{hi} << 32 | lo) < start_lsn_) return false;
  }
  return true;
}

storage::ChangeMapOffer PgChangeMapFor(const storage::Manifest& parent, const PgBackupStart& now,
                                       const PgWalSources& sources, PgChangeMapReport* report) {
  storage::ChangeMapOffer offer;
  BackupFacts facts = FromAnnotations(parent.annotations);
  if (facts.engine != "postgresql" || facts.start_lsn.empty()) {
    offer.why_not = fmt::format("the parent snapshot {} is not a PostgreSQL backup", parent.id);
    return offer;
  }
  if (facts.system_identifier != now.system_identifier || facts.timeline != now.timeline) {
    offer.why_not = fmt::format(
        "the parent backup {} is of another server or timeline (system {} timeline {}; now {} "
        "timeline {})",
        parent.id, facts.system_identifier, facts.timeline.value_or(0), now.system_identifier,
        now.timeline);
    return offer;
  }
  if (facts.wal_archive != now.archive_id) {
    offer.why_not = fmt::format(
        "the parent backup {} is of another incarnation of the instance (WAL archive '{}', now "
        "'{}')",
        parent.id, facts.wal_archive, now.archive_id);
    return offer;
  }
  auto from = ParseLsn(facts.start_lsn);
  if (!from.ok() || *from > now.start_lsn) {
    offer.why_not = fmt::format("the parent backup {} starts at '{}', not before {}", parent.id,
                                facts.start_lsn, FormatLsn(now.start_lsn));
    return offer;
  }
  uint64_t wal_bytes = now.start_lsn - (*from - *from % now.segment_size);
  if (wal_bytes > 2 * parent.stats.logical_bytes) {
    offer.why_not =
        fmt::format("{} MiB of WAL since the parent backup {}, more than twice its {} MiB of data",
                    wal_bytes >> 20, parent.id, parent.stats.logical_bytes >> 20);
    return offer;
  }
  auto started = std::chrono::steady_clock::now();
  auto changes = ScanWalRange(*from, now.start_lsn, now.timeline, now.segment_size, sources);
  if (!changes.ok()) {
    offer.why_not = changes.status().message();
    return offer;
  }
  if (report) {
    report->wal_bytes = changes->wal_bytes;
    report->summarized_segments = changes->summarized_segments;
    report->records = changes->records;
    report->seconds =
        std::chrono::duration<double>(std::chrono::steady_clock::now() - started).count();
  }
  offer.map = std::make_unique<PgChangeMap>(std::move(changes.value()), now.start_lsn);
  return offer;
}

}  // namespace dbaas::engines
