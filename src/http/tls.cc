#include "http/tls.h"

#include <openssl/ssl.h>

#include <fmt/format.h>
#include <boost/asio/ssl/context.hpp>

namespace dbaas::http {

Result<std::shared_ptr<boost::asio::ssl::context>> MakeTlsContext(const std::string& cert_file,
                                                                  const std::string& key_file) {
  namespace ssl = boost::asio::ssl;
  auto refused = [&] {
    return Status::InvalidArgument(
        fmt::format("cannot use TLS certificate '{}' with key '{}'", cert_file, key_file),
        "both must be PEM, and the key must be the certificate's (openssl x509 -noout -pubkey "
        "-in CERT and openssl pkey -pubout -in KEY print the same)");
  };
  std::shared_ptr<ssl::context> ctx;
  try {  // the constructor throws when OpenSSL cannot make a context
    ctx = std::make_shared<ssl::context>(ssl::context::tls_server);
  } catch (const std::exception& e) {
    return Status::Internal(fmt::format("cannot make a TLS context: {}", e.what()));
  }
  boost::system::error_code ec;
  ctx->set_options(ssl::context::default_workarounds | ssl::context::no_sslv2 |
                       ssl::context::no_sslv3 | ssl::context::no_tlsv1 | ssl::context::no_tlsv1_1 |
                       ssl::context::no_compression | ssl::context::single_dh_use,
                   ec);
  if (ec) return refused();
  ctx->use_certificate_chain_file(cert_file, ec);
  if (ec) return refused();
  ctx->use_private_key_file(key_file, ssl::context::pem, ec);
  if (ec) return refused();
  if (SSL_CTX_check_private_key(ctx->native_handle()) != 1) return refused();
  return ctx;
}

}  // namespace dbaas::http
