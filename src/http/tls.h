// The TLS side of the HTTP server: an OpenSSL context from a PEM certificate chain and
// its private key.
#pragma once

#include <memory>
#include <string>

#include "base/status.h"

namespace boost::asio::ssl {
class context;
}

namespace dbaas::http {

// TLS 1.2 and later; InvalidArgument when the files do not load as PEM or the key is not
// the certificate's.
Result<std::shared_ptr<boost::asio::ssl::context>> MakeTlsContext(const std::string& cert_file,
                                                                  const std::string& key_file);

}  // namespace dbaas::http
