// A small HTTP/1.1 server (Boost.Beast on Asio) for the REST API, built to stay cheap under
// slow or hostile clients:
//   - reading is asynchronous: a few I/O threads serve every connection, and a connection
//     that idles or sends its request slowly holds no thread;
//   - a request's line and header fields are capped (count and bytes: 431), its body too
//     (413, refused from Content-Length before it is read), and the whole request must
//     arrive within a deadline; an idle kept-alive connection is closed after a while;
//   - connections are capped per peer address and in all (see http/connections.h);
//   - a handler runs on a pool of worker threads only once its whole request is read
//     (handlers may block for minutes, waiting for a job); the pre-routing handler (the
//     API's token check) runs before the body is read.
// HTTPS when a certificate and key are given. Asio stays inside the .cc files.
#pragma once

#include <chrono>
#include <cstddef>
#include <exception>
#include <functional>
#include <memory>
#include <string>
#include <string_view>
#include <utility>

#include "base/status.h"
#include "http/message.h"

namespace dbaas::http {

struct HttpOptions {
  std::string host = "127.0.0.1";
  int port = 0;  // 0: any free port
  // Both set: HTTPS with this PEM certificate (chain) and key; both empty: HTTP.
  std::string tls_cert_file;
  std::string tls_key_file;
  int threads = 128;   // handlers running at once (the rest queue)
  int io_threads = 2;  // reading and writing every connection
  size_t max_body = 1 << 20;
  size_t max_header_bytes = 16 << 10;  // request line and header fields together
  size_t max_header_fields = 100;
  size_t max_target = 8 << 10;  // longer request targets get 414
  // Headers and body of a request, from its first byte (from the connection for the first
  // request, TLS handshake included).
  std::chrono::milliseconds request_timeout{10'000};
  std::chrono::milliseconds idle_timeout{5'000};  // a kept-alive connection between requests
  std::chrono::milliseconds write_timeout{30'000};
  // After an answer that ends a connection before its request was read (413, 431, 401
  // with a body coming): the rest is read and dropped for this long (as long as a request
  // may take), at most linger_bytes, so that the client sees the answer rather than a reset.
  std::chrono::milliseconds linger_timeout{10'000};
  size_t linger_bytes = 16 << 20;
  size_t max_connections = 4096;
  size_t max_connections_per_peer = 256;
};

// "HOST:PORT" (HOST "" for ":PORT") with PORT 0-65535; kInvalidArgument naming `what`
// (the flag) otherwise.
Result<std::pair<std::string, int>> ParseListen(const std::string& listen, std::string_view what);

class HttpServer {
 public:
  enum class HandlerResponse { kHandled, kUnhandled };
  // Before the body is read. kHandled: `res` is the answer and the handler does not run.
  // It may set req.authenticated.
  using PreRoutingHandler = std::function<HandlerResponse(Request& req, Response& res)>;
  // Fills in an error answer whose body is empty (made by the server: 400, 404, 413, 414,
  // 431; or by a handler).
  using ErrorHandler = std::function<void(const Request& req, Response& res)>;
  using ExceptionHandler =
      std::function<void(const Request& req, Response& res, std::exception_ptr error)>;
  using Logger = std::function<void(const Request& req, const Response& res)>;
  struct Hooks {
    PreRoutingHandler pre_routing;
    ErrorHandler error;
    ExceptionHandler exception;
    Logger logger;
  };

  explicit HttpServer(HttpOptions options);
  ~HttpServer();  // Stop(); then waits as Run() does
  HttpServer(const HttpServer&) = delete;
  HttpServer& operator=(const HttpServer&) = delete;

  // Routes and hooks: before Run().
  void Get(std::string_view pattern, Handler handler);
  void Post(std::string_view pattern, Handler handler);
  void Put(std::string_view pattern, Handler handler);
  void Patch(std::string_view pattern, Handler handler);
  void Delete(std::string_view pattern, Handler handler);
  void set_pre_routing_handler(PreRoutingHandler h);
  void set_error_handler(ErrorHandler h);
  void set_exception_handler(ExceptionHandler h);
  void set_logger(Logger h);

  // Loads the TLS files (when given) and listens (backlog SOMAXCONN).
  Status Bind();
  int port() const;
  // Serves until Stop(); returns when no connection is left and no handler runs.
  void Run();
  // Stops accepting, closes the connections that wait; requests being served are
  // answered first (then their connections close). Any thread, any number of times.
  void Stop();

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace dbaas::http
