#include "base/sha256.h"

#include <openssl/evp.h>

#include <memory>
#include <stdexcept>

#include "base/hex.h"

namespace dbaas {

std::string Sha256Digest::Hex() const { return HexEncode(bytes); }

namespace {

struct MdCtxDeleter {
  void operator()(EVP_MD_CTX* ctx) const { EVP_MD_CTX_free(ctx); }
};

// Fetching the algorithm is costly in OpenSSL 3; do it once per process.
const EVP_MD* Sha256Md() {
  static EVP_MD* md = EVP_MD_fetch(nullptr, "SHA256", nullptr);
  return md;
}

}  // namespace

Sha256Digest Sha256(std::span<const uint8_t> data) {
  thread_local std::unique_ptr<EVP_MD_CTX, MdCtxDeleter> ctx(EVP_MD_CTX_new());
  Sha256Digest out;
  unsigned int len = 0;
  if (!ctx || EVP_DigestInit_ex(ctx.get(), Sha256Md(), nullptr) != 1 ||
      EVP_DigestUpdate(ctx.get(), data.data(), data.size()) != 1 ||
      EVP_DigestFinal_ex(ctx.get(), out.bytes.data(), &len) != 1 || len != 32) {
    // Only an allocation failure inside OpenSSL gets here.
    throw std::runtime_error("sha256 failed in OpenSSL");
  }
  return out;
}

}  // namespace dbaas
