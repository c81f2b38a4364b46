// SHA-256 through OpenSSL's EVP interface (uses SHA-NI where the CPU has it).
#pragma once

#include <array>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <functional>
#include <span>
#include <string>

namespace dbaas {

struct Sha256Digest {
  std::array<uint8_t, 32> bytes{};

  bool operator==(const Sha256Digest&) const = default;
  auto operator<=>(const Sha256Digest&) const = default;
  std::string Hex() const;
};

// Thread-safe: each thread keeps its own digest context.
Sha256Digest Sha256(std::span<const uint8_t> data);
inline Sha256Digest Sha256(std::string_view data) {
  return Sha256({reinterpret_cast<const uint8_t*>(data.data()), data.size()});
}

struct Sha256DigestHash {
  size_t operator()(const Sha256Digest& d) const noexcept {
    size_t h;  // the digest is uniformly distributed: its first bytes are a fine hash
    std::memcpy(&h, d.bytes.data(), sizeof(h));
    return h;
  }
};

}  // namespace dbaas
