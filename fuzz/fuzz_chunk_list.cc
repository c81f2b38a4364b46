// Fuzzes the chunk-list parser: what it accepts is exactly what the encoder writes.
#include <cstddef>
#include <cstdint>
#include <cstring>

#include "storage/chunk_list.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace dbaas::storage;
  auto list = ParseChunkList({data, size});
  if (!list.ok()) return 0;
  std::string encoded = EncodeChunkList(list.value());  // one encoding per list
  if (encoded.size() != size || std::memcmp(encoded.data(), data, size) != 0) __builtin_trap();
  return 0;
}
