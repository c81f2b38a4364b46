#include "http/bearer.h"

#include <openssl/crypto.h>

namespace dbaas::http {

bool BearerTokenMatches(std::string_view authorization, std::string_view token) {
  static constexpr std::string_view kBearer = "Bearer ";
  if (token.empty() || authorization.size() != kBearer.size() + token.size() ||
      !authorization.starts_with(kBearer)) {
    return false;
  }
  return CRYPTO_memcmp(authorization.data() + kBearer.size(), token.data(), token.size()) == 0;
}

}  // namespace dbaas::http
