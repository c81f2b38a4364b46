#include "engines/postgres/pg_wal_blocks.h"

#include <algorithm>
#include <charconv>
#include <cstring>

#include <fmt/format.h>

namespace dbaas::engines {
namespace {

// PostgreSQL 15's WAL layout (src/include/access/xlog_internal.h, xlogrecord.h).
constexpr uint16_t kPageMagic = 0xD110;
constexpr uint64_t kPageSize = 8192;
constexpr uint16_t kFirstIsContRecord = 0x0001;
constexpr uint16_t kLongHeader = 0x0002;
constexpr uint16_t kFirstIsOverwriteContRecord = 0x0008;
constexpr size_t kShortPageHeader = 24;
constexpr size_t kLongPageHeader = 40;
constexpr size_t kRecordHeader = 24;
// PostgreSQL allows records up to 1020 MiB (XLogRecordMaxSize), but the WAL read here may
// be the tenant's, and a record is assembled in memory: larger ones (rare: huge two-phase
// states or logical messages) make the scan fail and the incremental read files whole.
constexpr uint32_t kMaxRecordSize = 64u << 20;

constexpr uint8_t kMaxBlockId = 32;
constexpr uint8_t kBlockIdDataShort = 255;
constexpr uint8_t kBlockIdDataLong = 254;
constexpr uint8_t kBlockIdOrigin = 253;
constexpr uint8_t kBlockIdTopLevelXid = 252;
constexpr uint8_t kForkMask = 0x0F;
constexpr uint8_t kHasImage = 0x10;
constexpr uint8_t kHasData = 0x20;
constexpr uint8_t kSameRel = 0x80;
constexpr uint8_t kImageHasHole = 0x01;
constexpr uint8_t kImageCompressed = 0x04 | 0x08 | 0x10;  // pglz, lz4, zstd
constexpr uint8_t kMaxFork = 3;

constexpr uint8_t kRmXlog = 0;
constexpr uint8_t kRmSmgr = 2;
constexpr uint8_t kRmDbase = 4;
constexpr uint8_t kXlogSwitch = 0x40;
constexpr uint8_t kSmgrCreate = 0x10;
constexpr uint8_t kSmgrTruncate = 0x20;
constexpr uint8_t kDbaseCreateFileCopy = 0x00;
constexpr uint8_t kDbaseCreateWalLog = 0x10;
constexpr uint8_t kDbaseDrop = 0x20;

uint64_t MaxAlign(uint64_t v) { return (v + 7) & ~uint64_t{7}; }

template <typename T>
T Load(const uint8_t* p) {
  T v;
  std::memcpy(&v, p, sizeof v);  // WAL is the server's byte order: little endian here
  return v;
}

// Reads fields off a record with bounds checks.
class Cursor {
 public:
  explicit Cursor(std::span<const uint8_t> data) : data_(data) {}
  bool Has(size_t n) const { return data_.size() - pos_ >= n; }
  template <typename T>
  bool Read(T& v) {
    if (!Has(sizeof(T))) return false;
    v = Load<T>(data_.data() + pos_);
    pos_ += sizeof(T);
    return true;
  }
  size_t pos() const { return pos_; }

 private:
  std::span<const uint8_t> data_;
  size_t pos_ = 0;
};

Status Broken(uint64_t lsn, std::string_view what) {
  return Status::Corruption(
      fmt::format("WAL at {:X}/{:X}: {}", lsn >> 32, lsn & 0xffffffff, what),
      "the segment is not the one expected here (recycled, from another server or damaged)");
}

}  // namespace

std::string TimelineHistoryName(uint32_t timeline) {
  return fmt::format("{:08X}.history", timeline);
}

std::string WalSegmentName(uint32_t timeline, uint64_t segment_lsn, uint64_t segment_size) {
  return fmt::format("{:08X}{}", timeline, WalSegmentPosition(segment_lsn, segment_size));
}

std::string WalSegmentPosition(uint64_t lsn, uint64_t segment_size) {
  uint64_t segno = lsn / segment_size;
  uint64_t per_log = 0x100000000ull / segment_size;
  return fmt::format("{:08X}{:08X}", segno / per_log, segno % per_log);
}

std::optional<uint64_t> WalSegmentLsn(std::string_view position, uint64_t segment_size) {
  if (position.size() != 16 || segment_size == 0 || (segment_size & (segment_size - 1)) != 0 ||
      segment_size > 0x100000000ull) {
    return std::nullopt;
  }
  uint64_t log = 0, seg = 0;
  auto hex = [](std::string_view digits, uint64_t& out) {
    auto [end, ec] = std::from_chars(digits.data(), digits.data() + digits.size(), out, 16);
    return ec == std::errc() && end == digits.data() + digits.size();
  };
  if (!hex(position.substr(0, 8), log) || !hex(position.substr(8), seg)) return std::nullopt;
  uint64_t per_log = 0x100000000ull / segment_size;
  if (seg >= per_log) return std::nullopt;
  return (log * per_log + seg) * segment_size;
}

WalBlockScanner::WalBlockScanner(uint64_t start_lsn, uint64_t end_lsn, uint32_t timeline,
                                 uint64_t segment_size)
    : start_lsn_(start_lsn),
      end_lsn_(end_lsn),
      timeline_(timeline),
      segment_size_(segment_size),
      next_segment_(start_lsn - start_lsn % segment_size) {
  state_.done = end_lsn_ <= next_segment_;
}

Status WalBlockScanner::AddSegment(std::span<const uint8_t> segment, uint64_t segment_lsn) {
  if (state_.done) return Status::Ok();
  if (segment_lsn != next_segment_) {
    return Status::InvalidArgument(
        fmt::format("WAL segment at {:X} offered where {:X} is next", segment_lsn, next_segment_));
  }
  State state = state_;
  WalChanges found;
  RETURN_IF_ERROR(ScanSegment(segment, segment_lsn, state, found));
  state_ = std::move(state);
  next_segment_ += segment_size_;
  changes_.Merge(std::move(found));
  return Status::Ok();
}

void WalChanges::Merge(WalChanges&& other) {
  records += other.records;
  wal_bytes += other.wal_bytes;
  summarized_segments += other.summarized_segments;
  for (auto& [rel, list] : other.blocks) {
    auto& all = blocks[rel];
    all.insert(all.end(), list.begin(), list.end());
  }
  rewritten.merge(other.rewritten);
  databases.merge(other.databases);
}

void WalChanges::SortBlocks() {
  for (auto& [rel, list] : blocks) {
    std::sort(list.begin(), list.end());
    list.erase(std::unique(list.begin(), list.end()), list.end());
  }
}

WalChanges WalBlockScanner::Finish() {
  changes_.SortBlocks();
  return std::move(changes_);
}

Status WalBlockScanner::ScanSegment(std::span<const uint8_t> segment, uint64_t segment_lsn,
                                    State& state, WalChanges& out) const {
  // The segment holding the range's end may be offered as its first pages only.
  if (segment.empty() || segment.size() > segment_size_ || segment.size() % kPageSize != 0) {
    return Broken(segment_lsn, fmt::format("a segment of {} bytes where the server writes {}",
                                           segment.size(), segment_size_));
  }
  // Bytes of the first page's continuation to skip before the first whole record, when
  // this is where the scan begins.
  uint64_t skip = 0;
  bool switched = false;
  for (uint64_t page = 0; page < segment.size() && !state.done; page += kPageSize) {
    const uint8_t* p = segment.data() + page;
    uint64_t page_lsn = segment_lsn + page;
    uint16_t magic = Load<uint16_t>(p);
    uint16_t info = Load<uint16_t>(p + 2);
    uint32_t tli = Load<uint32_t>(p + 4);
    uint64_t addr = Load<uint64_t>(p + 8);
    uint32_t rem_len = Load<uint32_t>(p + 16);
    if (magic != kPageMagic) return Broken(page_lsn, fmt::format("page magic {:#x}", magic));
    if (addr != page_lsn) return Broken(page_lsn, fmt::format("page claims address {:X}", addr));
    if (tli == 0 || tli > timeline_) {
      return Broken(page_lsn, fmt::format("page of timeline {} in timeline {}", tli, timeline_));
    }
    size_t header = kShortPageHeader;
    if (page == 0) {
      if (!(info & kLongHeader)) return Broken(page_lsn, "segment without its long header");
      uint32_t seg_size = Load<uint32_t>(p + 32);
      uint32_t block_size = Load<uint32_t>(p + 36);
      if (seg_size != segment_size_ || block_size != kPageSize) {
        return Broken(page_lsn, fmt::format("segment size {}, page size {}", seg_size, block_size));
      }
      header = kLongPageHeader;
    }
    uint64_t pos = page_lsn + header;
    const uint64_t page_end = page_lsn + kPageSize;
    if (!state.started) {
      // The scan's first page: a record begun in the previous segment ends here first.
      if (page == 0 && (info & kFirstIsContRecord)) skip = rem_len;
      uint64_t here = std::min<uint64_t>(skip, page_end - pos);
      skip -= here;
      pos += here;
      if (skip > 0) continue;
      pos = MaxAlign(pos);
      state.started = true;
    } else if (!state.pending.empty() && (info & kFirstIsOverwriteContRecord)) {
      // The record in progress was never finished (a crash cut it) and recovery wrote over
      // its continuation: it does not exist, and the next record links back past it.
      state.pending.clear();
      state.prev_lsn = 0;
    } else if (!state.pending.empty()) {
      if (!(info & kFirstIsContRecord)) {
        return Broken(page_lsn, "a record continues on a page not marked as a continuation");
      }
    }
    while (pos < page_end && !state.done) {
      const uint8_t* at = segment.data() + (pos - segment_lsn);
      if (state.pending.empty()) {
        // A record starts here, MAXALIGNed: at least its length (xl_tot_len, the header's
        // first field) is on this page.
        if (pos >= end_lsn_) {
          state.done = true;
          state.stop_lsn = pos;
          break;
        }
        if (page_end - pos < 4) return Broken(pos, "record start too close to the page end");
        uint32_t total = Load<uint32_t>(at);
        if (total < kRecordHeader || total > kMaxRecordSize) {
          return Broken(pos, total == 0 ? std::string_view("WAL ends before the range does")
                                        : std::string_view("impossible record length"));
        }
        state.pending_lsn = pos;
        state.pending_length = total;
      }
      uint64_t take =
          std::min<uint64_t>(state.pending_length - state.pending.size(), page_end - pos);
      state.pending.insert(state.pending.end(), at, at + take);
      pos += take;
      if (state.pending.size() < state.pending_length) break;  // continues on the next page
      bool is_switch = false;
      RETURN_IF_ERROR(DecodeRecord(state.pending, state.pending_lsn, state.prev_lsn,
                                   state.pending_lsn >= start_lsn_ ? &out : nullptr, is_switch));
      if (state.pending_lsn >= start_lsn_) {
        ++out.records;
        if (state.first_lsn == 0) {
          state.first_lsn = state.pending_lsn;
          state.first_prev = Load<uint64_t>(state.pending.data() + 8);  // xl_prev
        }
        state.last_lsn = state.pending_lsn;
      }
      state.prev_lsn = state.pending_lsn;
      state.pending.clear();
      if (is_switch) {
        switched = true;
        pos = segment_lsn + segment_size_;  // the rest of the segment is unused
        break;
      }
      pos = MaxAlign(pos);
    }
    if (pos >= segment_lsn + segment_size_) break;
  }
  out.wal_bytes += segment.size();
  if (!state.started) return Broken(segment_lsn, "no record starts in the segment");
  if (!state.done && !switched && segment.size() < segment_size_) {
    return Broken(segment_lsn,
                  fmt::format("its first {} bytes end before the range does", segment.size()));
  }
  return Status::Ok();
}

Status WalBlockScanner::DecodeRecord(std::span<const uint8_t> record, uint64_t lsn,
                                     uint64_t prev_lsn, WalChanges* out, bool& is_switch) {
  // Decoded whole (to check it) even when not collected (`out` null).
  WalChanges ignored;
  WalChanges& found = out ? *out : ignored;
  Cursor c(record);
  uint32_t total = 0, xid = 0, crc = 0;
  uint64_t prev = 0;
  uint8_t info = 0, rmid = 0;
  uint16_t pad = 0;
  if (!c.Read(total) || !c.Read(xid) || !c.Read(prev) || !c.Read(info) || !c.Read(rmid) ||
      !c.Read(pad) || !c.Read(crc)) {
    return Broken(lsn, "short record header");
  }
  uint64_t data_total = 0;
  uint32_t main_len = 0;
  RelFork rel;
  bool have_rel = false;
  // Headers until what is left is the data they announce (with no main data there is no
  // terminator; the main data's header, when there is one, comes last).
  while (record.size() - c.pos() > data_total + main_len) {
    uint8_t id = 0;
    c.Read(id);
    if (id == kBlockIdDataShort) {
      uint8_t n = 0;
      if (!c.Read(n)) return Broken(lsn, "short main data header");
      main_len = n;
      break;
    }
    if (id == kBlockIdDataLong) {
      if (!c.Read(main_len)) return Broken(lsn, "short main data header");
      break;
    }
    if (id == kBlockIdOrigin) {
      uint16_t origin = 0;
      if (!c.Read(origin)) return Broken(lsn, "short origin header");
      continue;
    }
    if (id == kBlockIdTopLevelXid) {
      uint32_t top = 0;
      if (!c.Read(top)) return Broken(lsn, "short top-level xid header");
      continue;
    }
    if (id > kMaxBlockId) return Broken(lsn, fmt::format("block id {}", id));
    uint8_t fork_flags = 0;
    uint16_t data_length = 0;
    if (!c.Read(fork_flags) || !c.Read(data_length)) return Broken(lsn, "short block header");
    if (fork_flags & kHasData) data_total += data_length;
    if (fork_flags & kHasImage) {
      uint16_t image_length = 0, hole_offset = 0;
      uint8_t image_info = 0;
      if (!c.Read(image_length) || !c.Read(hole_offset) || !c.Read(image_info)) {
        return Broken(lsn, "short image header");
      }
      if ((image_info & kImageHasHole) && (image_info & kImageCompressed)) {
        uint16_t hole_length = 0;
        if (!c.Read(hole_length)) return Broken(lsn, "short image header");
      }
      data_total += image_length;
    }
    if (!(fork_flags & kSameRel)) {
      if (!c.Read(rel.tablespace) || !c.Read(rel.database) || !c.Read(rel.relation)) {
        return Broken(lsn, "short block header");
      }
      have_rel = true;
    } else if (!have_rel) {
      return Broken(lsn, "block refers to the previous block's relation, which there is not");
    }
    uint32_t block = 0;
    if (!c.Read(block)) return Broken(lsn, "short block header");
    rel.fork = fork_flags & kForkMask;
    if (rel.fork > kMaxFork) return Broken(lsn, fmt::format("fork {}", rel.fork));
    found.blocks[rel].push_back(block);
  }
  if (c.pos() + data_total + main_len != total) {
    return Broken(lsn, "record length does not match its headers");
  }
  // Each record links back to the one before it: a stale record left in a recycled
  // segment (or anything else out of place) fails here.
  if (prev_lsn != 0 && prev != prev_lsn) {
    return Broken(lsn, fmt::format("record links back to {:X}, not to the record before ({:X})",
                                   prev, prev_lsn));
  }
  std::span<const uint8_t> main = record.subspan(total - main_len);
  uint8_t kind = info & 0xF0;
  Cursor m(main);
  if (rmid == kRmXlog && kind == kXlogSwitch) {
    is_switch = true;
  } else if (rmid == kRmSmgr && kind == kSmgrCreate) {
    RelFork r;
    if (!m.Read(r.tablespace) || !m.Read(r.database) || !m.Read(r.relation)) {
      return Broken(lsn, "short relation create record");
    }
    found.rewritten.insert(r);
  } else if (rmid == kRmSmgr && kind == kSmgrTruncate) {
    uint32_t block = 0;
    RelFork r;
    if (!m.Read(block) || !m.Read(r.tablespace) || !m.Read(r.database) || !m.Read(r.relation)) {
      return Broken(lsn, "short relation truncate record");
    }
    found.rewritten.insert(r);
  } else if (rmid == kRmDbase && (kind == kDbaseCreateFileCopy || kind == kDbaseCreateWalLog)) {
    uint32_t db = 0, tablespace = 0;
    if (!m.Read(db) || !m.Read(tablespace)) return Broken(lsn, "short database create record");
    found.databases.emplace(tablespace, db);
  } else if (rmid == kRmDbase && kind == kDbaseDrop) {
    uint32_t db = 0;
    int32_t count = 0;
    if (!m.Read(db) || !m.Read(count) || count < 0) {
      return Broken(lsn, "short database drop record");
    }
    for (int32_t i = 0; i < count; ++i) {
      uint32_t tablespace = 0;
      if (!m.Read(tablespace)) return Broken(lsn, "short database drop record");
      found.databases.emplace(tablespace, db);
    }
  }
  return Status::Ok();
}

}  // namespace dbaas::engines
