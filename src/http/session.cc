#include "http/session.h"

#include <limits>
#include <optional>
#include <type_traits>

#include <spdlog/spdlog.h>
#include <boost/asio/dispatch.hpp>
#include <boost/asio/executor_work_guard.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/write.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <boost/beast/ssl.hpp>

namespace dbaas::http {
namespace {

namespace net = boost::asio;
namespace beast = boost::beast;
namespace bhttp = boost::beast::http;
using boost::system::error_code;
using Phase = ConnectionRegistry::Phase;
using PlainStream = beast::tcp_stream;
using TlsStream = beast::ssl_stream<beast::tcp_stream>;

constexpr std::string_view kContinue = "HTTP/1.1 100 Continue\r\n\r\n";
// Room in the read buffer beyond the header limit, so that the parser, not the buffer,
// is what reports a header that is too large.
constexpr size_t kBufferSlack = 16 << 10;
constexpr size_t kReadChunk = 4 << 10;
// How long a closing TLS connection waits for the client's close_notify.
constexpr auto kTlsShutdownTimeout = std::chrono::seconds(2);

// The methods cpp-httplib accepted; any other is a 400.
bool KnownMethod(std::string_view m) {
  for (std::string_view known :
       {"GET", "HEAD", "POST", "PUT", "DELETE", "CONNECT", "OPTIONS", "TRACE", "PATCH", "PRI"}) {
    if (m == known) return true;
  }
  return false;
}

// The status that tells a client what its bytes did wrong; 0 when there is no one to tell
// (the client left, the deadline passed, the connection failed or was closed).
int StatusForReadError(const error_code& ec, bool header_done) {
  if (ec == bhttp::error::header_limit) return 431;
  if (ec == bhttp::error::buffer_overflow) return header_done ? 400 : 431;
  if (ec == bhttp::error::body_limit) return 413;
  if (ec == bhttp::error::end_of_stream || ec == bhttp::error::partial_message) return 0;
  if (ec.category() == bhttp::make_error_code(bhttp::error::bad_method).category()) return 400;
  return 0;
}

template <class Stream>
class Session final : public ConnectionRegistry::Member,
                      public std::enable_shared_from_this<Session<Stream>> {
 public:
  static constexpr bool kTls = std::is_same_v<Stream, TlsStream>;

  Session(ServerParts& parts, net::ip::tcp::socket socket, std::string peer)
      : parts_(parts),
        o_(parts.options),
        stream_(MakeStream(std::move(socket), parts)),
        peer_(std::move(peer)),
        buffer_(parts.options.max_header_bytes + kBufferSlack) {}
  ~Session() override {
    if (id_ != 0) parts_.connections.Remove(id_);
  }

  void Start(uint64_t id) {
    id_ = id;
    net::dispatch(stream_.get_executor(), [self = this->shared_from_this()] { self->Begin(); });
  }

  void Evict() override {
    evicted_ = true;  // a connection being served closes after its answer
    net::post(stream_.get_executor(), [self = this->shared_from_this()] {
      if (self->phase_ != Phase::kServing) self->Close();
    });
  }

 private:
  static Stream MakeStream(net::ip::tcp::socket socket, ServerParts& parts) {
    if constexpr (kTls) {
      return Stream(std::move(socket), *parts.tls);
    } else {
      return Stream(std::move(socket));
    }
  }
  beast::tcp_stream& Tcp() { return beast::get_lowest_layer(stream_); }
  std::shared_ptr<Session> Self() { return this->shared_from_this(); }

  // The first request's deadline runs from here: a TLS handshake counts against it.
  void Begin() {
    Tcp().expires_after(o_.request_timeout);
    if constexpr (kTls) {
      stream_.async_handshake(net::ssl::stream_base::server, [self = Self()](error_code ec) {
        if (ec) return self->Close();
        self->ReadHeader();
      });
    } else {
      ReadHeader();
    }
  }

  // Between requests on a kept-alive connection: the next one's deadline runs from its
  // first byte.
  void WaitForRequest() {
    SetPhase(Phase::kWaiting);
    if (buffer_.size() > 0) {  // pipelined: it has begun
      Tcp().expires_after(o_.request_timeout);
      return ReadHeader();
    }
    // An idle connection keeps small buffers, whatever its last request and answer were.
    if (buffer_.capacity() > kReadChunk) buffer_.shrink_to_fit();
    if (out_.capacity() > kReadChunk) std::string().swap(out_);
    Tcp().expires_after(o_.idle_timeout);
    stream_.async_read_some(buffer_.prepare(kReadChunk), [self = Self()](error_code ec, size_t n) {
      if (ec) return self->Close();
      self->buffer_.commit(n);
      self->Tcp().expires_after(self->o_.request_timeout);
      self->ReadHeader();
    });
  }

  void ReadHeader() {
    req_ = Request();
    req_.remote_addr = peer_;
    body_pending_ = false;
    parser_.emplace();
    parser_->header_limit(static_cast<std::uint32_t>(o_.max_header_bytes));
    // The body's size is checked by hand once the header is in: after the token.
    parser_->body_limit(std::numeric_limits<std::uint64_t>::max());
    bhttp::async_read_header(stream_, buffer_, *parser_,
                             [self = Self()](error_code ec, size_t) { self->OnHeader(ec); });
  }

  void OnHeader(error_code ec) {
    if (ec) return Fail(ec, false);
    auto& msg = parser_->get();
    req_.method = std::string(msg.method_string());
    req_.target = std::string(msg.target());
    version_ = msg.version();
    head_ = req_.method == "HEAD";
    body_pending_ = !parser_->is_done();
    size_t fields = static_cast<size_t>(std::distance(msg.begin(), msg.end()));
    if (fields > o_.max_header_fields) return Refuse(431);
    if ((version_ != 10 && version_ != 11) || !KnownMethod(req_.method)) return Refuse(400);
    if (req_.target.size() > o_.max_target) return Refuse(414);
    req_.headers.reserve(fields);
    for (const auto& f : msg) req_.headers.emplace_back(f.name_string(), f.value());
    ParseTarget(req_);

    if (parts_.hooks.pre_routing) {
      Response res;
      auto handled = HttpServer::HandlerResponse::kUnhandled;
      if (!Guarded([&] { handled = parts_.hooks.pre_routing(req_, res); }, res) ||
          handled == HttpServer::HandlerResponse::kHandled) {
        return Answer(std::move(res), msg.keep_alive());
      }
    }
    // An authenticated request is not closed to make room for others.
    if (req_.authenticated) SetPhase(Phase::kServing);
    if (auto length = parser_->content_length(); length && *length > o_.max_body) {
      return Refuse(413);
    }
    if (parser_->chunked()) parser_->body_limit(o_.max_body);
    if (!body_pending_) return OnBody({});
    if (beast::iequals(msg[bhttp::field::expect], "100-continue")) {
      net::async_write(stream_, net::buffer(kContinue.data(), kContinue.size()),
                       [self = Self()](error_code ec2, size_t) {
                         if (ec2) return self->Close();
                         self->ReadBody();
                       });
      return;
    }
    ReadBody();
  }

  void ReadBody() {
    bhttp::async_read(stream_, buffer_, *parser_,
                      [self = Self()](error_code ec, size_t) { self->OnBody(ec); });
  }

  void OnBody(error_code ec) {
    if (ec) return Fail(ec, true);
    body_pending_ = false;
    keep_alive_ = parser_->get().keep_alive();
    req_.body = std::move(parser_->get().body());
    parser_.reset();
    const Handler* handler = parts_.router.Find(req_);
    if (!handler) {
      Response res;
      res.status = 404;
      return Answer(std::move(res), keep_alive_);
    }
    SetPhase(Phase::kServing);
    // The handler may block (a job can take minutes): on a worker, never on an I/O thread.
    // The guard keeps the I/O threads running (at shutdown too) until the answer is out.
    net::post(parts_.workers,
              [self = Self(), handler, work = net::make_work_guard(parts_.io)]() mutable {
                self->Handle(*handler, std::move(work));
              });
  }

  using WorkGuard = net::executor_work_guard<net::io_context::executor_type>;

  // On a worker: the handler, then the answer goes back to the connection's strand.
  void Handle(const Handler& handler, WorkGuard work) {
    Response res;
    Guarded([&] { handler(req_, res); }, res);
    // Nothing may escape a worker (it would end the process). If the answer cannot be made
    // (out of memory), the connection closes when the last reference to it goes.
    try {
      Finish(res);
      bool keep = KeepAlive(keep_alive_);
      std::string wire = Serialize(res, version_, keep, head_);
      net::post(stream_.get_executor(),
                [self = Self(), work = std::move(work), keep, wire = std::move(wire)]() mutable {
                  self->Write(std::move(wire), keep);
                });
    } catch (const std::exception& e) {
      spdlog::error("event=http_answer_failed error=\"{}\"", e.what());
    }
  }

  // An answer made here or by the pre-routing handler, on the connection's strand.
  void Answer(Response res, bool keep_alive) {
    Finish(res);
    bool keep = KeepAlive(keep_alive && !body_pending_);
    Write(Serialize(res, version_, keep, head_), keep);
  }

  // The request cannot go on: answer `status`, then close.
  void Refuse(int status) {
    Response res;
    res.status = status;
    body_pending_ = true;  // whatever the client still sends is not read as a request
    Answer(std::move(res), false);
  }

  void Fail(error_code ec, bool header_done) {
    int status = StatusForReadError(ec, header_done);
    if (status == 0) return Close();
    Refuse(status);
  }

  bool KeepAlive(bool wanted) const { return wanted && !parts_.stopping && !evicted_; }

  // The error handler for bodiless errors, then the logger. Any thread.
  void Finish(Response& res) {
    if (res.status >= 400 && res.body.empty() && parts_.hooks.error) {
      Guarded([&] { parts_.hooks.error(req_, res); }, res);
    }
    if (parts_.hooks.logger) {
      Response ignored;
      Guarded([&] { parts_.hooks.logger(req_, res); }, ignored);
    }
  }

  // Runs `f`; an exception goes to the exception handler (or becomes a bare 500).
  template <class F>
  bool Guarded(F&& f, Response& res) {
    try {
      f();
      return true;
    } catch (...) {
      auto error = std::current_exception();
      res = Response();
      res.status = 500;
      try {
        if (parts_.hooks.exception) parts_.hooks.exception(req_, res, error);
      } catch (...) {
        spdlog::error("event=http_exception_handler_threw");
      }
      return false;
    }
  }

  void Write(std::string wire, bool keep_alive) {
    if (!req_.authenticated) SetPhase(Phase::kWaiting);
    out_ = std::move(wire);
    Tcp().expires_after(o_.write_timeout);
    net::async_write(stream_, net::buffer(out_),
                     [self = Self(), keep_alive](error_code ec, size_t) {
                       self->out_.clear();
                       if (ec) return self->Close();
                       if (keep_alive) return self->WaitForRequest();
                       if (self->body_pending_) return self->Linger();
                       self->Finish();
                     });
  }

  // The end of a connection we close after an answer: over TLS, close_notify first, so
  // the client can tell the end from a cut (OpenSSL 3 reports "unexpected eof" otherwise).
  void Finish() {
    if constexpr (kTls) {
      SetPhase(Phase::kWaiting);
      Tcp().expires_after(kTlsShutdownTimeout);
      stream_.async_shutdown([self = Self()](error_code) { self->Close(); });
    } else {
      Close();
    }
  }

  // Reads and drops what the client still sends of a refused request for a while, so that
  // it reads the answer instead of a connection reset (a client sends its whole body
  // before it reads).
  void Linger() {
    SetPhase(Phase::kWaiting);
    error_code ec;
    Tcp().socket().shutdown(net::socket_base::shutdown_send, ec);
    Tcp().expires_after(o_.linger_timeout);
    lingered_ = 0;
    Drain();
  }

  void Drain() {
    buffer_.clear();
    // The TCP layer even under TLS: the bytes are dropped unread.
    Tcp().async_read_some(buffer_.prepare(buffer_.max_size()),
                          [self = Self()](error_code ec, size_t n) {
                            self->lingered_ += n;
                            if (ec || self->lingered_ >= self->o_.linger_bytes)
                              return self->Close();
                            self->Drain();
                          });
  }

  void Close() {
    if (closed_) return;
    closed_ = true;
    error_code ec;
    Tcp().socket().shutdown(net::socket_base::shutdown_both, ec);
    Tcp().close();  // what is pending ends with operation_aborted
  }

  void SetPhase(Phase phase) {
    if (phase_ == phase) return;
    phase_ = phase;
    parts_.connections.SetPhase(id_, phase);
  }

  ServerParts& parts_;
  const HttpOptions& o_;
  Stream stream_;
  const std::string peer_;
  beast::flat_buffer buffer_;
  std::optional<bhttp::request_parser<bhttp::string_body>> parser_;
  Request req_;
  std::string out_;  // the answer being written
  uint64_t id_ = 0;
  Phase phase_ = Phase::kWaiting;
  std::atomic<bool> evicted_{false};
  unsigned version_ = 11;
  bool head_ = false;
  bool keep_alive_ = false;
  bool body_pending_ = false;  // bytes of this request are still unread
  bool closed_ = false;
  size_t lingered_ = 0;
};

template <class S>
int Admit(ServerParts& parts, std::shared_ptr<S> session, const std::string& peer) {
  auto admission = parts.connections.Add(peer, session);
  if (admission.id == 0) return -1;  // the session goes, and its socket closes
  session->Start(admission.id);
  return static_cast<int>(admission.evicted);
}

}  // namespace

int StartSession(ServerParts& parts, net::ip::tcp::socket socket, const std::string& peer) {
  error_code ec;
  // One write per answer, but a 100 Continue or a TLS record may still meet Nagle and the
  // client's delayed ACK (40 ms).
  socket.set_option(net::ip::tcp::no_delay(true), ec);
  if (parts.tls) {
    return Admit(parts, std::make_shared<Session<TlsStream>>(parts, std::move(socket), peer), peer);
  }
  return Admit(parts, std::make_shared<Session<PlainStream>>(parts, std::move(socket), peer), peer);
}

}  // namespace dbaas::http
