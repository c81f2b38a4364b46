// Fuzzes the manifest parser, both versions: no input may crash it or yield an unsafe
// path. Version 2's checksum would stop the fuzzer at its trailer, so each input is also
// tried sealed (its SHA-256 and end marker appended), which reaches the entry decoder.
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

#include "base/sha256.h"
#include "storage/manifest.h"

namespace {

void Check(std::string_view input) {
  using namespace dbaas::storage;
  auto m = ParseManifest(input);
  if (!m.ok()) return;
  for (const TreeEntry& e : m->entries) {
    if (!IsSafeRelativePath(e.path)) __builtin_trap();
  }
  // What parses must serialize and parse back, in either version.
  if (!ParseManifest(ManifestToJson(m.value())).ok()) __builtin_trap();
  auto again = ParseManifest(EncodeManifest(m.value()));
  if (!again.ok() || again->entries.size() != m->entries.size()) __builtin_trap();
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  std::string_view input(reinterpret_cast<const char*>(data), size);
  Check(input);
  std::string sealed(input);
  dbaas::Sha256Digest sum = dbaas::Sha256(sealed);
  sealed.append(reinterpret_cast<const char*>(sum.bytes.data()), 32);
  sealed += "DBSNEND2";
  Check(sealed);
  return 0;
}
