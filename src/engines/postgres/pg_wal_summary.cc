#include "engines/postgres/pg_wal_summary.h"

#include <algorithm>
#include <cstring>

#include <fmt/format.h>
#include <spdlog/spdlog.h>

#include "storage/byte_codec.h"

namespace dbaas::engines {
namespace {

using storage::ByteReader;
using storage::PutLe;

constexpr char kMagic[8] = {'D', 'B', 'W', 'S', '0', '0', '0', '1'};
constexpr uint8_t kMaxFork = 3;

Status Bad(std::string_view what) {
  return Status::Corruption(fmt::format("not a WAL summary: {}", what));
}

void PutRel(std::string& out, const RelFork& r) {
  PutLe<uint32_t>(out, r.tablespace);
  PutLe<uint32_t>(out, r.database);
  PutLe<uint32_t>(out, r.relation);
  PutLe<uint8_t>(out, r.fork);
}

bool ReadRel(ByteReader& in, RelFork& r) {
  return in.Read(r.tablespace) && in.Read(r.database) && in.Read(r.relation) && in.Read(r.fork) &&
         r.fork <= kMaxFork;
}

bool ReadSha(ByteReader& in, Sha256Digest& sha) {
  std::string_view bytes;
  if (!in.Bytes(sha.bytes.size(), bytes)) return false;
  std::memcpy(sha.bytes.data(), bytes.data(), bytes.size());
  return true;
}

}  // namespace

std::vector<uint8_t> EncodeWalSummary(const PgWalSummary& s) {
  std::string out(kMagic, sizeof kMagic);
  PutLe<uint32_t>(out, s.scanner_version);
  out.append(reinterpret_cast<const char*>(s.segment_sha.bytes.data()), s.segment_sha.bytes.size());
  out.append(reinterpret_cast<const char*>(s.next_sha.bytes.data()), s.next_sha.bytes.size());
  PutLe<uint32_t>(out, s.timeline);
  for (uint64_t v : {s.segment_size, s.segment_lsn, s.first_lsn, s.first_prev, s.last_lsn,
                     s.stop_lsn, s.changes.records}) {
    PutLe<uint64_t>(out, v);
  }
  // Forks in order, so that one set of changes has one encoding.
  std::vector<const std::pair<const RelFork, std::vector<uint32_t>>*> forks;
  for (const auto& entry : s.changes.blocks) {
    if (!entry.second.empty()) forks.push_back(&entry);
  }
  std::sort(forks.begin(), forks.end(), [](auto* a, auto* b) { return a->first < b->first; });
  PutLe<uint32_t>(out, static_cast<uint32_t>(forks.size()));
  for (const auto* entry : forks) {
    PutRel(out, entry->first);
    PutLe<uint32_t>(out, static_cast<uint32_t>(entry->second.size()));
    for (uint32_t block : entry->second) PutLe<uint32_t>(out, block);
  }
  PutLe<uint32_t>(out, static_cast<uint32_t>(s.changes.rewritten.size()));
  for (const RelFork& r : s.changes.rewritten) PutRel(out, r);
  PutLe<uint32_t>(out, static_cast<uint32_t>(s.changes.databases.size()));
  for (const auto& [tablespace, database] : s.changes.databases) {
    PutLe<uint32_t>(out, tablespace);
    PutLe<uint32_t>(out, database);
  }
  Sha256Digest sum = Sha256(out);  // a damaged summary must not pass for a sound one
  out.append(reinterpret_cast<const char*>(sum.bytes.data()), sum.bytes.size());
  return {out.begin(), out.end()};
}

Result<PgWalSummary> DecodeWalSummary(std::span<const uint8_t> bytes) {
  constexpr size_t kSumSize = sizeof(Sha256Digest::bytes);
  if (bytes.size() < sizeof kMagic + kSumSize) return Bad("too short");
  std::span<const uint8_t> body = bytes.first(bytes.size() - kSumSize);
  if (std::memcmp(Sha256(body).bytes.data(), bytes.data() + body.size(), kSumSize) != 0) {
    return Bad("its checksum does not match");
  }
  ByteReader in({reinterpret_cast<const char*>(body.data()), body.size()});
  std::string_view magic;
  if (!in.Bytes(sizeof kMagic, magic) || std::memcmp(magic.data(), kMagic, sizeof kMagic) != 0) {
    return Bad("no DBWS0001 magic");
  }
  PgWalSummary s;
  if (!in.Read(s.scanner_version) || !ReadSha(in, s.segment_sha) || !ReadSha(in, s.next_sha) ||
      !in.Read(s.timeline) || !in.Read(s.segment_size) || !in.Read(s.segment_lsn) ||
      !in.Read(s.first_lsn) || !in.Read(s.first_prev) || !in.Read(s.last_lsn) ||
      !in.Read(s.stop_lsn) || !in.Read(s.changes.records)) {
    return Bad("short header");
  }
  const uint64_t size = s.segment_size;
  if (size < (1u << 20) || size > (1u << 30) || (size & (size - 1)) != 0 ||
      s.segment_lsn % size != 0 || s.segment_lsn > UINT64_MAX - 2 * size) {
    return Bad("impossible segment size or place");
  }
  const uint64_t end = s.segment_lsn + size;
  if (s.timeline == 0 || s.changes.records == 0 || s.first_lsn < s.segment_lsn ||
      s.last_lsn < s.first_lsn || s.last_lsn >= end || s.stop_lsn <= s.last_lsn ||
      s.stop_lsn < end || s.stop_lsn >= end + size) {
    return Bad("records outside their segment");
  }
  uint32_t forks = 0;
  if (!in.Read(forks)) return Bad("short fork count");
  RelFork previous_fork;
  for (uint32_t f = 0; f < forks; ++f) {
    RelFork rel;
    uint32_t count = 0;
    if (!ReadRel(in, rel) || !in.Read(count)) return Bad("short fork entry");
    if (f > 0 && !(previous_fork < rel)) return Bad("forks out of order");
    previous_fork = rel;
    if (count == 0 || in.left() / sizeof(uint32_t) < count) return Bad("short block list");
    std::vector<uint32_t>& blocks = s.changes.blocks[rel];
    blocks.resize(count);
    for (uint32_t i = 0; i < count; ++i) {
      in.Read(blocks[i]);
      if (i > 0 && blocks[i] <= blocks[i - 1]) return Bad("blocks out of order");
    }
  }
  uint32_t rewritten = 0;
  if (!in.Read(rewritten)) return Bad("short rewritten count");
  for (uint32_t i = 0; i < rewritten; ++i) {
    RelFork rel;
    if (!ReadRel(in, rel)) return Bad("short rewritten entry");
    if (!s.changes.rewritten.insert(rel).second || *s.changes.rewritten.rbegin() != rel) {
      return Bad("rewritten relations out of order");
    }
  }
  uint32_t databases = 0;
  if (!in.Read(databases)) return Bad("short database count");
  for (uint32_t i = 0; i < databases; ++i) {
    std::pair<uint32_t, uint32_t> db;
    if (!in.Read(db.first) || !in.Read(db.second)) return Bad("short database entry");
    if (!s.changes.databases.insert(db).second || *s.changes.databases.rbegin() != db) {
      return Bad("databases out of order");
    }
  }
  if (in.left() != 0) return Bad("bytes after the end");
  return s;
}

Result<PgWalSummary> SummarizeWalSegment(std::span<const uint8_t> segment,
                                         std::span<const uint8_t> next, uint64_t segment_lsn,
                                         uint32_t timeline) {
  const uint64_t size = segment.size();
  if (size < (1u << 20) || size > (1u << 30) || (size & (size - 1)) != 0 || next.size() != size ||
      segment_lsn % size != 0) {
    return Status::InvalidArgument(fmt::format(
        "WAL segments of {} and {} bytes at {:X}: not a server's", size, next.size(), segment_lsn));
  }
  WalBlockScanner scanner(segment_lsn, segment_lsn + size, timeline, size);
  RETURN_IF_ERROR(scanner.AddSegment(segment, segment_lsn));
  if (!scanner.done()) RETURN_IF_ERROR(scanner.AddSegment(next, segment_lsn + size));
  if (!scanner.done()) {
    return Status::Corruption(fmt::format("the last record of WAL segment {} goes on past the next",
                                          WalSegmentName(timeline, segment_lsn, size)));
  }
  PgWalSummary s;
  s.timeline = timeline;
  s.segment_size = size;
  s.segment_lsn = segment_lsn;
  s.first_lsn = scanner.first_record_lsn();
  s.first_prev = scanner.first_record_prev();
  s.last_lsn = scanner.last_record_lsn();
  s.stop_lsn = scanner.stop_lsn();
  s.changes = scanner.Finish();
  s.changes.wal_bytes = 0;
  return s;
}

namespace {

// Summarizes the archived segment `name` at `lsn` (unless it has a summary already) from its
// bytes and the next segment's, either given or read from the archive. Nothing when either
// is not archived.
Status Summarize(const storage::WalArchive& archive, uint32_t timeline, uint64_t lsn, uint64_t size,
                 std::optional<std::span<const uint8_t>> segment,
                 std::optional<std::span<const uint8_t>> next) {
  const std::string name = WalSegmentName(timeline, lsn, size);
  const std::string next_name = WalSegmentName(timeline, lsn + size, size);
  if (archive.HasSummary(name)) return Status::Ok();
  std::vector<uint8_t> read;
  for (auto [bytes, file] : {std::pair{&segment, &name}, std::pair{&next, &next_name}}) {
    if (*bytes) continue;
    // Checked by the frame's checksum; the summary is bound to the SHA-256 in the header,
    // which the archive checked when it stored the file.
    Status st = archive.Read(*file, storage::BlobCheck::kFrameChecksum, read);
    if (st.code() == StatusCode::kNotFound) return Status::Ok();
    RETURN_IF_ERROR(st);
    *bytes = std::span<const uint8_t>(read);  // one of the two at most is read
  }
  ASSIGN_OR_RETURN(PgWalSummary summary, SummarizeWalSegment(*segment, *next, lsn, timeline));
  ASSIGN_OR_RETURN(auto segment_sha, archive.ContentSha256(name));
  ASSIGN_OR_RETURN(auto next_sha, archive.ContentSha256(next_name));
  if (!segment_sha || !next_sha) return Status::NotFound("a segment left the archive");
  summary.segment_sha = *segment_sha;
  summary.next_sha = *next_sha;
  return archive.StoreSummary(name, EncodeWalSummary(summary));
}

}  // namespace

void SummarizeBeforeStoredSegment(const storage::WalArchive& archive, const std::string& name,
                                  std::span<const uint8_t> raw) {
  auto parsed = storage::ParseWalFileName(name);
  if (!parsed.ok() || parsed->kind != storage::WalFileName::Kind::kSegment) return;
  const uint64_t size = raw.size();
  auto lsn = WalSegmentLsn(parsed->position, size);
  if (!lsn) return;
  auto logged = [&](uint64_t at, const Status& st) {
    if (st.ok()) return;
    spdlog::warn(
        "event=wal_summary_skipped archive={} segment={} error=\"{}\" (backups scan it instead)",
        archive.dir(), WalSegmentName(parsed->timeline, at, size), st.ToString());
  };
  // The one before, now that its last record's end is archived; and this one, if the next
  // was archived first (a drain cut short, segments spooled out of order).
  if (*lsn >= size) {
    logged(*lsn - size, Summarize(archive, parsed->timeline, *lsn - size, size, std::nullopt, raw));
  }
  logged(*lsn, Summarize(archive, parsed->timeline, *lsn, size, raw, std::nullopt));
}

std::optional<PgWalSummary> LoadWalSummary(const storage::WalArchive& archive, uint64_t segment_lsn,
                                           uint32_t timeline, uint64_t segment_size) {
  const std::string name = WalSegmentName(timeline, segment_lsn, segment_size);
  auto bytes = archive.ReadSummary(name);
  if (!bytes.ok() || !*bytes) return std::nullopt;
  auto summary = DecodeWalSummary(**bytes);
  if (!summary.ok() || summary->scanner_version != kWalSummaryScannerVersion ||
      summary->timeline != timeline || summary->segment_size != segment_size ||
      summary->segment_lsn != segment_lsn) {
    return std::nullopt;
  }
  auto segment_sha = archive.ContentSha256(name);
  auto next_sha =
      archive.ContentSha256(WalSegmentName(timeline, segment_lsn + segment_size, segment_size));
  if (!segment_sha.ok() || !*segment_sha || **segment_sha != summary->segment_sha ||
      !next_sha.ok() || !*next_sha || **next_sha != summary->next_sha) {
    return std::nullopt;
  }
  return std::move(summary.value());
}

bool Joins(const PgWalSummary& before, const PgWalSummary& after) {
  return after.first_lsn == before.stop_lsn && after.first_prev == before.last_lsn;
}

bool JoinsAfter(const PgWalSummary& before, const WalBlockScanner& scanner) {
  if (scanner.first_record_lsn() == 0) return scanner.stop_lsn() == before.stop_lsn;
  return scanner.first_record_lsn() == before.stop_lsn &&
         scanner.first_record_prev() == before.last_lsn;
}

bool JoinsBefore(const WalBlockScanner& scanner, const PgWalSummary& after) {
  return scanner.stop_lsn() == after.first_lsn && scanner.last_record_lsn() != 0 &&
         scanner.last_record_lsn() == after.first_prev;
}

}  // namespace dbaas::engines
