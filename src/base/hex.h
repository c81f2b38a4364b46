// Lowercase hexadecimal encoding of byte strings.
#pragma once

#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

namespace dbaas {

std::string HexEncode(std::span<const uint8_t> bytes);
// Returns nullopt unless `hex` has an even length and only [0-9a-fA-F].
std::optional<std::vector<uint8_t>> HexDecode(std::string_view hex);
// `n` random bytes from the OS, hex-encoded (2n characters).
std::string RandomHex(size_t n);

}  // namespace dbaas
