// Fuzzes the manifest parser: no input may crash it or yield an unsafe path.
#include <cstddef>
#include <cstdint>
#include <string_view>

#include "storage/manifest.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace dbaas::storage;
  auto m = ParseManifest(std::string_view(reinterpret_cast<const char*>(data), size));
  if (m.ok()) {
    for (const TreeEntry& e : m->entries) {
      if (!IsSafeRelativePath(e.path)) __builtin_trap();
    }
    // What parses must serialize and parse back.
    if (!ParseManifest(ManifestToJson(m.value())).ok()) __builtin_trap();
  }
  return 0;
}
