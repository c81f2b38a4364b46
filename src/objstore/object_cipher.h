// Client-side encryption of the objects of a remote repository: AES-256-GCM in frames
// (docs/formats/remote.md, "Encrypted objects").
//
// Each object is sealed under the repository's data key with a fresh random nonce prefix,
// in frames of 1 MiB that are authenticated one by one (the STREAM construction: frame i's
// nonce is the prefix and i; the last frame is marked in its associated data, so cutting
// an object short fails). The object's name is in every frame's associated data, so an
// object moved to another name fails too. The data key is random and is itself sealed
// ("wrapped") under a key-encryption key: a 32-byte key file, or a passphrase through
// scrypt; changing the key-encryption key re-wraps the data key and rewrites nothing else.
#pragma once

#include <array>
#include <cstdint>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "base/status.h"

namespace dbaas::objstore {

using Key256 = std::array<uint8_t, 32>;

inline constexpr std::string_view kSealedMagic = "DBAENC01";
inline constexpr size_t kSealedHeaderSize = 20;  // magic, frame size u32, nonce prefix [8]
inline constexpr size_t kSealTagSize = 16;
inline constexpr uint32_t kSealFrameSize = 1u << 20;

// Seals `plaintext` as the object `name`. `frame_size` is for tests (small frames).
std::vector<uint8_t> Seal(const Key256& key, std::string_view name,
                          std::span<const uint8_t> plaintext, uint32_t frame_size = kSealFrameSize);
// Opens what Seal made for `name`; kCorruption naming the object when any byte differs,
// the object was cut short or renamed, or the key is not the one it was sealed with.
Result<std::vector<uint8_t>> Open(const Key256& key, std::string_view name,
                                  std::span<const uint8_t> sealed);

// The size Seal gives a plaintext of `size` bytes.
uint64_t SealedSize(uint64_t size, uint32_t frame_size = kSealFrameSize);

Key256 RandomKey();

// scrypt parameters of a passphrase-derived key (recorded beside the wrapped key).
struct ScryptParams {
  std::string salt_hex;  // 16 random bytes
  uint64_t n = 1u << 15;
  uint32_t r = 8;
  uint32_t p = 1;
};
Result<Key256> DeriveKeyFromPassphrase(std::string_view passphrase, const ScryptParams& params);

// Reads a secret file that must be ours alone: kFailedPrecondition if group or others may
// read it, or if it is not a regular file. Trailing newlines are dropped.
Result<std::string> ReadSecretFile(const std::string& path);
// A key file holds 64 hexadecimal digits (32 bytes), as `openssl rand -hex 32` writes.
Result<Key256> ReadKeyFile(const std::string& path);

}  // namespace dbaas::objstore
