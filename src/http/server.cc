#include "http/server.h"

#include <fcntl.h>
#include <sys/resource.h>

#include <algorithm>
#include <atomic>
#include <thread>
#include <vector>

#include <fmt/format.h>
#include <spdlog/spdlog.h>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/ssl/context.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/strand.hpp>
#include <boost/asio/thread_pool.hpp>

#include "http/connections.h"
#include "http/router.h"
#include "http/session.h"
#include "http/tls.h"

namespace dbaas::http {

Result<std::pair<std::string, int>> ParseListen(const std::string& listen, std::string_view what) {
  auto colon = listen.rfind(':');
  int port = -1;
  if (colon != std::string::npos) {
    std::string p = listen.substr(colon + 1);
    if (!p.empty() && p.size() <= 5 && p.find_first_not_of("0123456789") == std::string::npos) {
      port = std::stoi(p);
    }
  }
  if (port < 0 || port > 65535) {
    return Status::InvalidArgument(fmt::format("{} '{}' is not HOST:PORT", what, listen));
  }
  return std::make_pair(listen.substr(0, colon), port);
}

namespace net = boost::asio;
using boost::system::error_code;
using tcp = net::ip::tcp;

namespace {

// Descriptors kept for everything else the daemon opens (catalog, repository, logs,
// children's pipes): the connection cap stays below the process's limit by this much.
constexpr size_t kReservedDescriptors = 256;

// Asio opens sockets without FD_CLOEXEC. Children already get no descriptor but 0-2
// (close_range at exec); this keeps the API's sockets out of any other exec too.
void SetCloseOnExec(int fd) {
  int flags = ::fcntl(fd, F_GETFD);
  if (flags >= 0) ::fcntl(fd, F_SETFD, flags | FD_CLOEXEC);
}

size_t CapByDescriptors(size_t wanted) {
  rlimit lim{};
  if (::getrlimit(RLIMIT_NOFILE, &lim) != 0 || lim.rlim_cur == RLIM_INFINITY) return wanted;
  size_t limit = static_cast<size_t>(lim.rlim_cur);
  size_t room = limit > 2 * kReservedDescriptors ? limit - kReservedDescriptors : limit / 2;
  return std::min(wanted, std::max<size_t>(room, 1));
}

}  // namespace

struct HttpServer::Impl {
  explicit Impl(HttpOptions o)
      : options(std::move(o)),
        connections(CapByDescriptors(options.max_connections), options.max_connections_per_peer),
        parts{options, router, hooks, io, workers, connections, nullptr, stopping},
        io(std::max(1, options.io_threads)),
        workers(static_cast<size_t>(std::max(1, options.threads))),
        acceptor(net::make_strand(io)),
        accept_retry(acceptor.get_executor()) {}

  void Accept();
  void OnAccept(tcp::socket socket);
  void RunIo();

  HttpOptions options;
  Router router;
  Hooks hooks;
  // Before io and workers: sessions, destroyed with them, still reach these.
  ConnectionRegistry connections;
  std::shared_ptr<net::ssl::context> tls;
  std::atomic<bool> stopping{false};
  ServerParts parts;
  net::io_context io;
  net::thread_pool workers;
  tcp::acceptor acceptor;  // on a strand: Stop() closes it from another thread
  net::steady_timer accept_retry;
  int port = 0;
  bool bound = false;
  std::chrono::steady_clock::time_point last_cap_warning;
};

void HttpServer::Impl::Accept() {
  acceptor.async_accept(net::make_strand(io), [this](error_code ec, tcp::socket socket) {
    if (!acceptor.is_open() || stopping) return;
    if (ec) {
      // Out of descriptors or memory: accepting again at once would spin. Later.
      spdlog::warn("event=http_accept_failed error=\"{}\"", ec.message());
      accept_retry.expires_after(std::chrono::milliseconds(100));
      accept_retry.async_wait([this](error_code) {
        if (acceptor.is_open() && !stopping) Accept();
      });
      return;
    }
    OnAccept(std::move(socket));
    Accept();
  });
}

void HttpServer::Impl::OnAccept(tcp::socket socket) {
  error_code ec;
  auto remote = socket.remote_endpoint(ec);
  if (ec) return;  // gone already
  std::string peer = remote.address().to_string();
  SetCloseOnExec(socket.native_handle());
  int evicted = StartSession(parts, std::move(socket), peer);
  if (evicted == 0) return;
  // Rare, and worth a line; but not one per connection of a flood.
  auto now = std::chrono::steady_clock::now();
  if (now - last_cap_warning < std::chrono::seconds(10)) return;
  last_cap_warning = now;
  if (evicted < 0) {
    spdlog::warn(
        "event=http_connection_refused peer={} reason=\"connection cap reached, every "
        "connection being served\" per_peer={} total={}",
        peer, options.max_connections_per_peer, options.max_connections);
  } else {
    spdlog::warn(
        "event=http_connection_evicted peer={} reason=\"connection cap reached: the "
        "connection waiting longest was closed\" per_peer={} total={}",
        peer, options.max_connections_per_peer, options.max_connections);
  }
}

void HttpServer::Impl::RunIo() {
  // A handler that throws ends run(); the server goes on (no exception leaves the server).
  while (true) {
    try {
      io.run();
      return;
    } catch (const std::exception& e) {
      spdlog::error("event=http_io_exception error=\"{}\"", e.what());
    } catch (...) {
      spdlog::error("event=http_io_exception error=unknown");
    }
  }
}

HttpServer::HttpServer(HttpOptions options) : impl_(std::make_unique<Impl>(std::move(options))) {}

HttpServer::~HttpServer() {
  Stop();
  impl_->workers.join();
}

void HttpServer::Get(std::string_view pattern, Handler handler) {
  impl_->router.Add("GET", pattern, std::move(handler));
}
void HttpServer::Post(std::string_view pattern, Handler handler) {
  impl_->router.Add("POST", pattern, std::move(handler));
}
void HttpServer::Put(std::string_view pattern, Handler handler) {
  impl_->router.Add("PUT", pattern, std::move(handler));
}
void HttpServer::Patch(std::string_view pattern, Handler handler) {
  impl_->router.Add("PATCH", pattern, std::move(handler));
}
void HttpServer::Delete(std::string_view pattern, Handler handler) {
  impl_->router.Add("DELETE", pattern, std::move(handler));
}
void HttpServer::set_pre_routing_handler(PreRoutingHandler h) {
  impl_->hooks.pre_routing = std::move(h);
}
void HttpServer::set_error_handler(ErrorHandler h) { impl_->hooks.error = std::move(h); }
void HttpServer::set_exception_handler(ExceptionHandler h) {
  impl_->hooks.exception = std::move(h);
}
void HttpServer::set_logger(Logger h) { impl_->hooks.logger = std::move(h); }

int HttpServer::port() const { return impl_->port; }

Status HttpServer::Bind() {
  Impl& s = *impl_;
  const HttpOptions& o = s.options;
  if (!o.tls_cert_file.empty() || !o.tls_key_file.empty()) {
    ASSIGN_OR_RETURN(s.tls, MakeTlsContext(o.tls_cert_file, o.tls_key_file));
    s.parts.tls = s.tls.get();
  }
  auto cannot_listen = [&](const error_code& ec) {
    return Status::IoError(fmt::format("cannot listen on {}:{}: {}", o.host, o.port, ec.message()),
                           "is another program using that port? choose one with --listen");
  };
  error_code ec;
  tcp::resolver resolver(s.io);
  auto found = resolver.resolve(o.host, std::to_string(o.port), tcp::resolver::passive, ec);
  if (ec || found.empty()) return cannot_listen(ec);
  tcp::endpoint endpoint = found.begin()->endpoint();
  s.acceptor.open(endpoint.protocol(), ec);
  if (!ec) SetCloseOnExec(s.acceptor.native_handle());
  if (!ec) s.acceptor.set_option(tcp::acceptor::reuse_address(true), ec);
  if (!ec) s.acceptor.bind(endpoint, ec);
  // A full backlog: with cpp-httplib's 5, reconnecting clients overflowed it and waited
  // out SYN retransmits (p99 5.4 s at 100 connections, measured).
  if (!ec) s.acceptor.listen(net::socket_base::max_listen_connections, ec);
  if (ec) {
    error_code ignored;
    s.acceptor.close(ignored);
    return cannot_listen(ec);
  }
  s.port = s.acceptor.local_endpoint(ec).port();
  s.bound = true;
  return Status::Ok();
}

void HttpServer::Run() {
  Impl& s = *impl_;
  if (!s.bound) return;
  net::post(s.acceptor.get_executor(), [&s] {
    if (!s.stopping) s.Accept();
  });
  std::vector<std::thread> threads;
  for (int i = 1; i < s.options.io_threads; ++i) threads.emplace_back([&s] { s.RunIo(); });
  s.RunIo();
  for (auto& t : threads) t.join();
  // io.run() returned: no connection is left, and every handler has ended (each held
  // the io_context's work until its answer was written).
  s.workers.join();
}

void HttpServer::Stop() {
  Impl& s = *impl_;
  if (s.stopping.exchange(true)) return;
  net::post(s.acceptor.get_executor(), [&s] {
    error_code ec;
    s.acceptor.close(ec);
    s.accept_retry.cancel();
    s.connections.EvictAll();
  });
}

}  // namespace dbaas::http
