#include "objstore/object_cipher.h"

#include <fcntl.h>
#include <openssl/evp.h>
#include <openssl/rand.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cstring>
#include <memory>

#include <fmt/format.h>

#include "base/files.h"
#include "base/hex.h"

namespace dbaas::objstore {
namespace {

using CipherCtx = std::unique_ptr<EVP_CIPHER_CTX, decltype(&EVP_CIPHER_CTX_free)>;

std::array<uint8_t, 12> FrameNonce(std::span<const uint8_t> prefix, uint32_t frame) {
  std::array<uint8_t, 12> nonce{};
  std::memcpy(nonce.data(), prefix.data(), 8);
  for (int i = 0; i < 4; ++i) nonce[8 + i] = static_cast<uint8_t>(frame >> (24 - 8 * i));
  return nonce;
}

// The header, the object's name and whether this frame is the last.
std::vector<uint8_t> FrameAad(std::span<const uint8_t> header, std::string_view name, bool last) {
  std::vector<uint8_t> aad(header.begin(), header.end());
  aad.insert(aad.end(), name.begin(), name.end());
  aad.push_back(last ? 1 : 0);
  return aad;
}

uint32_t FrameCount(uint64_t size, uint32_t frame_size) {
  return static_cast<uint32_t>(std::max<uint64_t>(1, (size + frame_size - 1) / frame_size));
}

}  // namespace

uint64_t SealedSize(uint64_t size, uint32_t frame_size) {
  return kSealedHeaderSize + size + uint64_t{FrameCount(size, frame_size)} * kSealTagSize;
}

Key256 RandomKey() {
  Key256 key{};
  if (RAND_bytes(key.data(), key.size()) != 1) std::abort();  // no randomness: nothing is safe
  return key;
}

std::vector<uint8_t> Seal(const Key256& key, std::string_view name,
                          std::span<const uint8_t> plaintext, uint32_t frame_size) {
  std::vector<uint8_t> out(SealedSize(plaintext.size(), frame_size));
  std::memcpy(out.data(), kSealedMagic.data(), 8);
  for (int i = 0; i < 4; ++i) out[8 + i] = static_cast<uint8_t>(frame_size >> (8 * i));
  if (RAND_bytes(out.data() + 12, 8) != 1) std::abort();
  std::span<const uint8_t> header(out.data(), kSealedHeaderSize);

  CipherCtx ctx(EVP_CIPHER_CTX_new(), EVP_CIPHER_CTX_free);
  uint32_t frames = FrameCount(plaintext.size(), frame_size);
  size_t at = kSealedHeaderSize;
  for (uint32_t frame = 0; frame < frames; ++frame) {
    size_t begin = size_t{frame} * frame_size;
    size_t length = std::min<size_t>(frame_size, plaintext.size() - begin);
    auto nonce = FrameNonce(header.subspan(12, 8), frame);
    auto aad = FrameAad(header, name, frame + 1 == frames);
    int n = 0;
    EVP_EncryptInit_ex(ctx.get(), EVP_aes_256_gcm(), nullptr, key.data(), nonce.data());
    EVP_EncryptUpdate(ctx.get(), nullptr, &n, aad.data(), static_cast<int>(aad.size()));
    EVP_EncryptUpdate(ctx.get(), out.data() + at, &n, plaintext.data() + begin,
                      static_cast<int>(length));
    EVP_EncryptFinal_ex(ctx.get(), out.data() + at + length, &n);
    EVP_CIPHER_CTX_ctrl(ctx.get(), EVP_CTRL_GCM_GET_TAG, kSealTagSize, out.data() + at + length);
    at += length + kSealTagSize;
  }
  return out;
}

Result<std::vector<uint8_t>> Open(const Key256& key, std::string_view name,
                                  std::span<const uint8_t> sealed) {
  auto corrupt = [&](std::string_view why) {
    return Status::Corruption(fmt::format("encrypted object '{}': {}", name, why),
                              "the object was changed or damaged, or another key sealed it");
  };
  if (sealed.size() < kSealedHeaderSize + kSealTagSize ||
      std::memcmp(sealed.data(), kSealedMagic.data(), 8) != 0) {
    return corrupt("not an encrypted object (bad header)");
  }
  uint32_t frame_size = 0;
  for (int i = 0; i < 4; ++i) frame_size |= uint32_t{sealed[8 + i]} << (8 * i);
  if (frame_size == 0 || frame_size > (64u << 20)) return corrupt("bad frame size");
  std::span<const uint8_t> header = sealed.first(kSealedHeaderSize);
  uint64_t body = sealed.size() - kSealedHeaderSize;
  uint64_t full = uint64_t{frame_size} + kSealTagSize;
  uint64_t frames = std::max<uint64_t>(1, (body + full - 1) / full);
  if (body < frames * kSealTagSize ||
      body - frames * kSealTagSize > frames * uint64_t{frame_size} ||
      (frames > 1 && body - (frames - 1) * full < kSealTagSize)) {
    return corrupt("bad length");
  }
  std::vector<uint8_t> out(body - frames * kSealTagSize);
  CipherCtx ctx(EVP_CIPHER_CTX_new(), EVP_CIPHER_CTX_free);
  size_t in = kSealedHeaderSize;
  for (uint32_t frame = 0; frame < frames; ++frame) {
    size_t length = std::min<size_t>(frame_size, sealed.size() - in - kSealTagSize);
    auto nonce = FrameNonce(header.subspan(12, 8), frame);
    auto aad = FrameAad(header, name, frame + 1 == frames);
    std::array<uint8_t, kSealTagSize> tag;
    std::memcpy(tag.data(), sealed.data() + in + length, kSealTagSize);
    int n = 0;
    EVP_DecryptInit_ex(ctx.get(), EVP_aes_256_gcm(), nullptr, key.data(), nonce.data());
    EVP_DecryptUpdate(ctx.get(), nullptr, &n, aad.data(), static_cast<int>(aad.size()));
    EVP_DecryptUpdate(ctx.get(), out.data() + size_t{frame} * frame_size, &n, sealed.data() + in,
                      static_cast<int>(length));
    EVP_CIPHER_CTX_ctrl(ctx.get(), EVP_CTRL_GCM_SET_TAG, kSealTagSize, tag.data());
    if (EVP_DecryptFinal_ex(ctx.get(), out.data() + size_t{frame} * frame_size + length, &n) != 1) {
      return corrupt(fmt::format("frame {} fails authentication", frame));
    }
    in += length + kSealTagSize;
  }
  return out;
}

Result<Key256> DeriveKeyFromPassphrase(std::string_view passphrase, const ScryptParams& params) {
  auto salt = HexDecode(params.salt_hex);
  if (!salt || salt->size() < 16) {
    return Status::Corruption("scrypt salt is not 16 or more bytes of hex");
  }
  if (params.n < 2 || (params.n & (params.n - 1)) != 0 || params.n > (1u << 22) || params.r == 0 ||
      params.r > 32 || params.p == 0 || params.p > 16) {
    return Status::Corruption("scrypt parameters out of range");
  }
  // scrypt needs 128 * r * n bytes: parameters from a bucket must not ask for more than
  // the 1 GiB this allows.
  if (128ull * params.r * params.n > (1ull << 30)) {
    return Status::Corruption(
        fmt::format("scrypt parameters n={} r={} need more than 1 GiB", params.n, params.r));
  }
  Key256 key{};
  if (EVP_PBE_scrypt(passphrase.data(), passphrase.size(), salt->data(), salt->size(), params.n,
                     params.r, params.p, 1ull << 30, key.data(), key.size()) != 1) {
    return Status::Internal("scrypt failed");
  }
  return key;
}

Result<std::string> ReadSecretFile(const std::string& path) {
  ASSIGN_OR_RETURN(UniqueFd fd, OpenFile(path, O_RDONLY | O_NOFOLLOW | O_CLOEXEC));
  struct stat st {};
  if (fstat(fd.get(), &st) != 0) return ErrnoStatus("stat", path, errno);
  if (!S_ISREG(st.st_mode))
    return Status::FailedPrecondition(fmt::format("secret '{}' is not a regular file", path));
  if (st.st_uid != ::geteuid()) {
    return Status::FailedPrecondition(
        fmt::format("secret '{}' belongs to uid {}, not to us (uid {})", path, st.st_uid,
                    ::geteuid()),
        fmt::format("chown it to the user dbaas runs as, and chmod 600 '{}'", path));
  }
  if ((st.st_mode & 077) != 0) {
    return Status::FailedPrecondition(
        fmt::format("secret '{}' may be read by others (mode {:o})", path, st.st_mode & 0777),
        fmt::format("chmod 600 '{}'", path));
  }
  std::string content;
  char buf[4096];
  for (;;) {
    ssize_t n = read(fd.get(), buf, sizeof(buf));
    if (n < 0) return ErrnoStatus("read", path, errno);
    if (n == 0) break;
    content.append(buf, static_cast<size_t>(n));
    if (content.size() > (1u << 20))
      return Status::InvalidArgument(fmt::format("secret '{}' is over 1 MiB", path));
  }
  while (!content.empty() && (content.back() == '\n' || content.back() == '\r')) content.pop_back();
  if (content.empty()) return Status::InvalidArgument(fmt::format("secret '{}' is empty", path));
  return content;
}

Result<Key256> ReadKeyFile(const std::string& path) {
  ASSIGN_OR_RETURN(std::string text, ReadSecretFile(path));
  auto bytes = HexDecode(text);
  if (!bytes || bytes->size() != 32) {
    return Status::InvalidArgument(fmt::format("key file '{}' does not hold 64 hex digits", path),
                                   "make one with: openssl rand -hex 32 > FILE; chmod 600 FILE");
  }
  Key256 key{};
  std::memcpy(key.data(), bytes->data(), 32);
  return key;
}

}  // namespace dbaas::objstore
