// The REST API over HTTP (http/server.h): routes, JSON in and out, bearer-token auth,
// request size limits. Routes and shapes: docs/api/openapi.yaml.
//
// Long operations run as jobs; by default a request waits for its job, as the original
// design answered when the work was done; `?async=true` answers 202 with the job at once.
#pragma once

#include <memory>
#include <string>

#include "base/status.h"
#include "control/service.h"
#include "http/server.h"

namespace dbaas::api {

struct ApiOptions {
  // Where it listens, TLS, and what a client may cost (http/server.h).
  http::HttpOptions http;
  std::string token;  // required as "Authorization: Bearer <token>" unless empty
  // The dashboard's built files (ui/dist), served at /ui/; empty: no dashboard.
  std::string ui_dir;
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
