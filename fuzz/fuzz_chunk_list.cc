// Fuzzes the chunk-list parser.
#include <cstddef>
#include <cstdint>

#include "storage/chunk_list.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace dbaas::storage;
  auto list = ParseChunkList({data, size});
  if (list.ok() && EncodeChunkList(list.value()).size() != size) __builtin_trap();
  return 0;
}
