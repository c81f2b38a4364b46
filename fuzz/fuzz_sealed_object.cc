// Fuzzes the opening of sealed objects (docs/formats/remote.md, "Sealed objects"): what a
// bucket's holder could write. Any input must be refused cleanly or opened to a plaintext
// whose sealed size is the input's; nothing may read out of bounds on the way (the frame
// size and the frame count come from the input).
#include <cstddef>
#include <cstdint>

#include "objstore/object_cipher.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace dbaas::objstore;
  static const Key256 kKey{};  // all zeros: the seeds are sealed under it
  auto opened = Open(kKey, "packs/fuzz.pack", {data, size});
  if (opened.ok()) {
    uint32_t frame_size = 0;
    for (int i = 0; i < 4; ++i) frame_size |= uint32_t{data[8 + i]} << (8 * i);
    if (SealedSize(opened->size(), frame_size) != size) __builtin_trap();
  }
  return 0;
}
