#include "engines/mariadb/maria_binlog.h"

#include <zlib.h>

#include <charconv>
#include <cstring>
#include <vector>

#include <fmt/format.h>

namespace dbaas::engines {
namespace {

constexpr uint8_t kMagic[4] = {0xfe, 'b', 'i', 'n'};
constexpr size_t kHeaderSize = 19;
// Event types (MariaDB's log_event.h).
constexpr uint8_t kQueryEvent = 2;
constexpr uint8_t kStopEvent = 3;
constexpr uint8_t kRotateEvent = 4;
constexpr uint8_t kFormatDescriptionEvent = 15;
constexpr uint8_t kXidEvent = 16;
constexpr uint8_t kBinlogCheckpointEvent = 161;
constexpr uint8_t kGtidEvent = 162;
constexpr uint8_t kGtidListEvent = 163;
constexpr uint16_t kInUseFlag = 0x1;      // LOG_EVENT_BINLOG_IN_USE_F
constexpr uint8_t kGtidStandalone = 0x1;  // FL_STANDALONE: one statement, no COMMIT follows
constexpr uint8_t kChecksumCrc32 = 1;     // BINLOG_CHECKSUM_ALG_CRC32
constexpr size_t kQueryPostHeader = 13;
constexpr size_t kFlagsOffset = 17;      // of the event header's flags (little endian)
constexpr uint8_t kXaPrepareEvent = 38;  // XA_PREPARE_LOG_EVENT: ends an XA PREPARE group
constexpr uint32_t kMaxGtidListEntries = 1 << 16;

template <typename T>
T Le(const uint8_t* p) {
  T v = 0;
  for (size_t i = 0; i < sizeof(T); ++i) v |= static_cast<T>(p[i]) << (8 * i);
  return v;
}

struct EventHeader {
  uint32_t timestamp;
  uint8_t type;
  uint32_t server_id;
  uint32_t size;
  uint16_t flags;
};

EventHeader ReadHeader(const uint8_t* p) {
  return {Le<uint32_t>(p), p[4], Le<uint32_t>(p + 5), Le<uint32_t>(p + 9), Le<uint16_t>(p + 17)};
}

// Whether a QUERY event's statement ends a transaction: COMMIT (a non-XA engine's), ROLLBACK
// (a non-transactional table's changes kept), or an XA COMMIT or ROLLBACK.
bool EndsTransaction(std::span<const uint8_t> event, size_t checksum_size) {
  if (event.size() < kHeaderSize + kQueryPostHeader + checksum_size) return false;
  const uint8_t* post = event.data() + kHeaderSize;
  size_t db_len = post[8];
  size_t status_len = Le<uint16_t>(post + 11);
  size_t query_at = kHeaderSize + kQueryPostHeader + status_len + db_len + 1;
  if (query_at > event.size() - checksum_size) return false;
  std::string_view query(reinterpret_cast<const char*>(event.data()) + query_at,
                         event.size() - checksum_size - query_at);
  return query == "COMMIT" || query == "ROLLBACK" || query.starts_with("XA COMMIT") ||
         query.starts_with("XA ROLLBACK");
}

Status Corrupt(const std::string& what) {
  return Status::Corruption("not a readable binary log: " + what,
                            "restore to a target before this file, or from a copy");
}

}  // namespace

std::string BinlogFileName(uint64_t number) {
  return fmt::format("{}.{:06}", kBinlogBaseName, number);
}

std::optional<uint64_t> BinlogFileNumber(const std::string& name) {
  const std::string prefix = std::string(kBinlogBaseName) + ".";
  if (!name.starts_with(prefix)) return std::nullopt;
  std::string_view digits = std::string_view(name).substr(prefix.size());
  // MariaDB writes at least six digits; more after binlog.999999.
  if (digits.size() < 6 || digits.size() > 10) return std::nullopt;
  uint64_t n = 0;
  auto [end, ec] = std::from_chars(digits.data(), digits.data() + digits.size(), n);
  if (ec != std::errc() || end != digits.data() + digits.size()) return std::nullopt;
  return n;
}

std::string BinlogPosition::ToString() const {
  return fmt::format("{}:{}", BinlogFileName(file), offset);
}

std::optional<BinlogPosition> ParseBinlogPosition(const std::string& text) {
  size_t colon = text.rfind(':');
  if (colon == std::string::npos) return std::nullopt;
  auto file = BinlogFileNumber(text.substr(0, colon));
  std::string_view digits = std::string_view(text).substr(colon + 1);
  uint64_t offset = 0;
  auto [end, ec] = std::from_chars(digits.data(), digits.data() + digits.size(), offset);
  if (!file || digits.empty() || ec != std::errc() || end != digits.data() + digits.size() ||
      offset >= (1ull << 32) || *file >= (1ull << 31)) {
    return std::nullopt;
  }
  return BinlogPosition{*file, offset};
}

bool IsBinlogPoint(const std::string& position, const std::string& gtid) {
  constexpr size_t kMostGtidText = 4096;  // hundreds of replication domains
  // The position as the server writes it, to the character (what is recorded is what was
  // checked); the GTID position's domains in any order (callers record it formatted).
  auto parsed = ParseBinlogPosition(position);
  if (!parsed || parsed->ToString() != position || gtid.size() > kMostGtidText) return false;
  return ParseGtidPosition(gtid).ok();
}

std::string Gtid::ToString() const { return fmt::format("{}-{}-{}", domain, server, seq); }

Result<GtidPosition> ParseGtidPosition(const std::string& text) {
  GtidPosition out;
  size_t at = 0;
  while (at < text.size()) {
    size_t comma = text.find(',', at);
    std::string_view one = std::string_view(text).substr(
        at, comma == std::string::npos ? std::string::npos : comma - at);
    at = comma == std::string::npos ? text.size() : comma + 1;
    while (!one.empty() && one.front() == ' ') one.remove_prefix(1);
    Gtid g;
    uint64_t parts[3] = {0, 0, 0};
    const char* p = one.data();
    const char* end = one.data() + one.size();
    bool ok = !one.empty();
    for (int i = 0; i < 3 && ok; ++i) {
      auto [next, ec] = std::from_chars(p, end, parts[i]);
      ok = ec == std::errc() && next != p && (i == 2 ? next == end : next < end && *next == '-');
      p = next + 1;
    }
    if (!ok || parts[0] > UINT32_MAX || parts[1] > UINT32_MAX || out.count(parts[0])) {
      return Status::InvalidArgument(
          fmt::format("'{}' is not a GTID position", text),
          "write it as MariaDB does: domain-server-sequence, comma-separated (0-1-42)");
    }
    g = {static_cast<uint32_t>(parts[0]), static_cast<uint32_t>(parts[1]), parts[2]};
    out[g.domain] = g;
  }
  return out;
}

std::string FormatGtidPosition(const GtidPosition& position) {
  std::string out;
  for (const auto& [domain, gtid] : position) {
    if (!out.empty()) out += ',';
    out += gtid.ToString();
  }
  return out;
}

std::optional<bool> BinlogInUse(std::span<const uint8_t> head) {
  if (head.size() < kBinlogHeadSize || std::memcmp(head.data(), kMagic, 4) != 0) {
    return std::nullopt;
  }
  EventHeader fd = ReadHeader(head.data() + 4);
  if (fd.type != kFormatDescriptionEvent) return std::nullopt;
  return (fd.flags & kInUseFlag) != 0;
}

Result<BinlogFileScan> ScanBinlogFile(std::span<const uint8_t> data) {
  if (data.size() < 4 || std::memcmp(data.data(), kMagic, 4) != 0) return Corrupt("bad magic");
  BinlogFileScan scan;
  size_t checksum_size = 0;
  // The transaction being read: its GTID event seen, its end not yet.
  std::optional<BinlogTransaction> open;
  bool standalone = false;
  bool whole = false;  // what was read of it so far makes a whole transaction
  auto finish = [&] {
    if (open && whole) {
      scan.transactions.push_back(*open);
      scan.end = open->end;
    }
    open.reset();
  };
  size_t at = 4;
  bool first = true;
  while (at + kHeaderSize <= data.size()) {
    EventHeader h = ReadHeader(data.data() + at);
    if (h.size < kHeaderSize || at + h.size > data.size()) {
      // A crash leaves the last event half written (or zeros, after a power loss): the end
      // of a file its server was writing, whose in-use flag stays set. A file the server
      // closed ends whole: anything else there is damage, never a shorter file.
      if (!first && scan.in_use) break;
      return Corrupt(
          fmt::format("event at {} has size {} in a file of {} bytes", at, h.size, data.size()));
    }
    std::span<const uint8_t> event = data.subspan(at, h.size);
    if (first) {
      if (h.type != kFormatDescriptionEvent) return Corrupt("no format description first");
      scan.in_use = (h.flags & kInUseFlag) != 0;
      if (h.size < kHeaderSize + 5) return Corrupt("short format description");
      if (event[h.size - 5] == kChecksumCrc32) checksum_size = 4;
      first = false;
    }
    if (h.size < kHeaderSize + checksum_size) {
      return Corrupt(fmt::format("event at {} has size {}", at, h.size));
    }
    if (checksum_size > 0) {
      uint32_t stored = Le<uint32_t>(event.data() + h.size - 4);
      uLong crc = 0;
      if (h.type == kFormatDescriptionEvent && (h.flags & kInUseFlag) != 0) {
        // The server checksums its format description with the in-use flag clear (the
        // flag is set and cleared in place while the file is written).
        std::vector<uint8_t> copy(event.begin(), event.end() - 4);
        copy[kFlagsOffset] &= static_cast<uint8_t>(~kInUseFlag);
        crc = ::crc32(0L, copy.data(), static_cast<uInt>(copy.size()));
      } else {
        crc = ::crc32(0L, event.data(), static_cast<uInt>(h.size - 4));
      }
      if (stored != static_cast<uint32_t>(crc)) {
        return Corrupt(fmt::format("the event at offset {} fails its CRC32", at));
      }
    }
    const uint64_t next = at + h.size;
    switch (h.type) {
      case kGtidEvent: {
        finish();
        if (h.size < kHeaderSize + 13 + checksum_size) return Corrupt("short GTID event");
        const uint8_t* body = event.data() + kHeaderSize;
        open = BinlogTransaction{
            {Le<uint32_t>(body + 8), h.server_id, Le<uint64_t>(body)}, at, next, h.timestamp};
        standalone = (body[12] & kGtidStandalone) != 0;
        whole = false;
        break;
      }
      case kRotateEvent:
      case kStopEvent:
        finish();
        break;
      case kGtidListEvent: {
        // count (its low 28 bits; the rest are flags), then (domain, server, sequence)s.
        const size_t body = h.size - kHeaderSize - checksum_size;  // checked above: no wrap
        if (body < 4) return Corrupt("short GTID list event");
        const uint8_t* p = event.data() + kHeaderSize;
        uint32_t count = Le<uint32_t>(p) & 0x0fffffff;
        if (count > kMaxGtidListEntries || count > (body - 4) / 16) {
          return Corrupt(fmt::format("GTID list event at {} lists {} GTIDs", at, count));
        }
        for (uint32_t i = 0; i < count; ++i) {
          const uint8_t* g = p + 4 + i * 16;
          Gtid gtid{Le<uint32_t>(g), Le<uint32_t>(g + 4), Le<uint64_t>(g + 8)};
          scan.gtid_list[gtid.domain] = gtid;
        }
        break;
      }
      case kFormatDescriptionEvent:
      case kBinlogCheckpointEvent:
        break;  // bookkeeping between transactions
      default:
        if (open) {
          open->end = next;
          open->commit_time = h.timestamp;
          whole = standalone || h.type == kXidEvent || h.type == kXaPrepareEvent ||
                  (h.type == kQueryEvent && EndsTransaction(event, checksum_size));
        }
        break;
    }
    scan.closed = h.type == kRotateEvent || h.type == kStopEvent;
    at = next;
  }
  if (first) return Corrupt("no events");
  finish();
  return scan;
}

}  // namespace dbaas::engines
