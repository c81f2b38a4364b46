// Fuzzes the MariaDB binlog reader (engines/mariadb/maria_binlog.h), which reads the binlogs
// a tenant's server user writes, as root. Each event's CRC32 is made right here so that the
// fuzzer gets past the checksums to the events; what is read must stay inside the file and
// in order.
#include <zlib.h>

#include <cstddef>
#include <cstdint>
#include <vector>

#include "engines/mariadb/maria_binlog.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace dbaas::engines;
  std::vector<uint8_t> bytes(data, data + size);
  // Walk the event headers as the reader does and seal each event with its CRC32 (the
  // format description's with its in-use flag clear, as the server computes it).
  for (size_t at = 4; at + 19 <= bytes.size();) {
    uint32_t len = bytes[at + 9] | bytes[at + 10] << 8 | bytes[at + 11] << 16 |
                   static_cast<uint32_t>(bytes[at + 12]) << 24;
    if (len < 23 || at + len > bytes.size()) break;
    std::vector<uint8_t> summed(bytes.begin() + at, bytes.begin() + at + len - 4);
    if (summed[4] == 15) summed[17] &= 0xfe;
    uint32_t crc =
        static_cast<uint32_t>(::crc32(0L, summed.data(), static_cast<uInt>(summed.size())));
    for (int i = 0; i < 4; ++i) bytes[at + len - 4 + i] = static_cast<uint8_t>(crc >> (8 * i));
    at += len;
  }
  (void)BinlogInUse(bytes);
  auto scan = ScanBinlogFile(bytes);
  if (!scan.ok()) return 0;
  uint64_t last_end = 4;
  for (const BinlogTransaction& t : scan->transactions) {
    if (t.start < last_end || t.end <= t.start || t.end > bytes.size()) __builtin_trap();
    last_end = t.end;
  }
  if (scan->end > bytes.size()) __builtin_trap();
  return 0;
}
