// Fuzzes the AWS shared credentials parser (objstore/credentials.h): an operator's file, but
// one parser more that must never crash on what it reads. What it accepts has both keys.
#include <cstddef>
#include <cstdint>
#include <string_view>

#include "objstore/credentials.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  std::string_view text(reinterpret_cast<const char*>(data), size);
  for (const char* profile : {"", "backup"}) {
    auto credentials = dbaas::objstore::ParseCredentialsFile(text, profile, "fuzz");
    if (credentials.ok() &&
        (credentials->access_key_id.empty() || credentials->secret_access_key.empty())) {
      __builtin_trap();
    }
  }
  return 0;
}
