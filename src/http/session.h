// One connection of the HTTP server: reads its requests under the server's limits and
// deadlines, hands each whole request to a worker, writes the answers. Internal to
// server.cc.
#pragma once

#include <atomic>

#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/ssl/context.hpp>
#include <boost/asio/thread_pool.hpp>

#include "http/connections.h"
#include "http/router.h"
#include "http/server.h"

namespace dbaas::http {

// What every connection uses of its server; the server outlives its connections.
struct ServerParts {
  const HttpOptions& options;
  const Router& router;
  const HttpServer::Hooks& hooks;
  boost::asio::io_context& io;        // kept running while a handler runs
  boost::asio::thread_pool& workers;  // where handlers run
  ConnectionRegistry& connections;
  boost::asio::ssl::context* tls;     // null: plain HTTP
  const std::atomic<bool>& stopping;  // no more kept-alive connections
};

// Serves `socket` (accepted on a strand of its own) from `peer`, unless the connection
// caps refuse it (then it is closed). Returns how many connections were closed to make
// room, or -1 when this one was refused.
int StartSession(ServerParts& parts, boost::asio::ip::tcp::socket socket, const std::string& peer);

}  // namespace dbaas::http
