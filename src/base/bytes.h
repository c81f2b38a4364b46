// Text seen as the bytes it holds, for the APIs that take bytes (hashes, ciphers, uploads).
#pragma once

#include <cstdint>
#include <span>
#include <string_view>

namespace dbaas {

inline std::span<const uint8_t> AsBytes(std::string_view text) {
  return {reinterpret_cast<const uint8_t*>(text.data()), text.size()};
}

}  // namespace dbaas
