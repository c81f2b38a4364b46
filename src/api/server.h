// The REST API over HTTP (api/http_server.h): routes, JSON in and out, bearer-token auth,
// request size limits. Routes and shapes: docs/api/openapi.yaml.
//
// Long operations run as jobs; by default a request waits for its job, as the original
// design answered when the work was done; `?async=true` answers 202 with the job at once.
#pragma once

#include <memory>
#include <string>

#include "base/status.h"
#include "control/service.h"

namespace dbaas::api::http {
class HttpServer;
}

namespace dbaas::api {

struct ApiOptions {
  std::string host = "127.0.0.1";
  int port = 3000;            // 0: any free port (see ApiServer::port())
  std::string token;          // required as "Authorization: Bearer <token>" unless empty
  size_t max_body = 1 << 20;  // larger bodies get 413
  // Requests handled at once (a handler may wait minutes for its job); connections that
  // idle or are still sending their request hold none.
  int threads = 128;
  size_t max_connections = 4096;          // open at once, in all
  size_t max_connections_per_peer = 256;  // open at once from one client address
  // Both set: HTTPS with this PEM certificate (chain) and private key; both empty: HTTP.
  std::string tls_cert_file;
  std::string tls_key_file;
};

class ApiServer {
 public:
  ApiServer(control::Service& service, ApiOptions options);
  ~ApiServer();
  ApiServer(const ApiServer&) = delete;
  ApiServer& operator=(const ApiServer&) = delete;

  // Binds the listening socket (so a caller knows the port before Run()).
  Status Bind();
  int port() const { return port_; }
  // Serves until Stop(); returns when the listener has closed.
  void Run();
  // Stops accepting connections; requests in progress end first. Any thread.
  void Stop();

 private:
  void Routes();
  control::Service& service_;
  ApiOptions options_;
  std::unique_ptr<http::HttpServer> http_;
  int port_ = 0;
};

// Whether the TLS settings can serve (none, or a readable PEM certificate with its own
// key); what is wrong otherwise. The daemon checks before it starts anything.
Status CheckTls(const ApiOptions& options);

// The token in <data_root>/api-token (0600), made on first use: 32 random bytes in hex.
Result<std::string> LoadOrCreateToken(const std::string& data_root);

}  // namespace dbaas::api
