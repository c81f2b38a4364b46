// Fuzzes the WAL summary parser (docs/formats/repository.md, "WAL summaries"). The input is
// a summary's body: its checksum is appended here so that the fuzzer gets past it to the
// fields. What parses must encode back to the same bytes (one encoding per summary).
#include <cstddef>
#include <cstdint>
#include <vector>

#include "base/sha256.h"
#include "engines/postgres/pg_wal_summary.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace dbaas;
  std::vector<uint8_t> bytes(data, data + size);
  Sha256Digest sum = Sha256(std::span<const uint8_t>(data, size));
  bytes.insert(bytes.end(), sum.bytes.begin(), sum.bytes.end());
  auto summary = engines::DecodeWalSummary(bytes);
  if (summary.ok() && engines::EncodeWalSummary(*summary) != bytes) __builtin_trap();
  return 0;
}
