// Fuzzes the page-patch parser: what it accepts is exactly what the encoder writes, and
// applies to a chunk of the length it names.
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <vector>

#include "storage/page_patch.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace dbaas::storage;
  auto patch = ParsePagePatch({data, size});
  if (!patch.ok()) return 0;
  std::string encoded = EncodePagePatch(patch.value());
  if (encoded.size() != size || std::memcmp(encoded.data(), data, size) != 0) __builtin_trap();
  std::vector<uint8_t> chunk(patch->chunk_length);
  if (!ApplyPagePatch(patch.value(), chunk).ok()) __builtin_trap();
  return 0;
}
