// HttpServer: an Asio acceptor and one Session per connection, each on its
// own strand, with a timer that bounds every read and write. A timed-out read
// cancels the socket (not closes it) so the client can still be told 408.
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/strand.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>

#include <atomic>
#include <chrono>
#include <mutex>
#include <optional>
#include <set>
#include <thread>

#include <nlohmann/json.hpp>

#include "net/http.h"

namespace oversight {

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace http = beast::http;
using tcp = asio::ip::tcp;
using error_code = boost::system::error_code;

HttpReply JsonError(int status, const std::string& message) {
  HttpReply r;
  r.status = status;
  r.body = nlohmann::json{{"error", {{"status", status}, {"message", message}}}}.dump();
  return r;
}

struct HttpServer::Impl {
  HttpServerOptions options;
  HttpHandler handler;
  asio::io_context ioc;
  tcp::acceptor acceptor{ioc};
  asio::steady_timer accept_pause{ioc};  // after a failed accept (e.g. no file descriptors)
  std::vector<std::thread> threads;
  std::atomic<int> live{0};
  std::atomic<int64_t> requests{0}, rejected{0}, connections{0};
  std::atomic<bool> stopped{false};
  uint16_t port = 0;

  class Session;
  std::mutex sessions_mu;
  std::set<std::weak_ptr<Session>, std::owner_less<std::weak_ptr<Session>>> sessions;

  void Accept();
};

class HttpServer::Impl::Session : public std::enable_shared_from_this<Session> {
 public:
  Session(Impl& server, tcp::socket socket)
      : server_(server), socket_(std::move(socket)), timer_(socket_.get_executor()) {}
  ~Session() { server_.live.fetch_sub(1); }

  void Start(bool over_limit) {
    if (over_limit) {
      Reject(JsonError(503, "too many connections (limit " +
                                std::to_string(server_.options.max_connections) + ")"));
      return;
    }
    ReadNext(true);
  }

  tcp::socket::executor_type executor() { return socket_.get_executor(); }

  // Closes the connection from any thread (server shutdown).
  void Abort() {
    asio::post(socket_.get_executor(), [self = shared_from_this()] {
      error_code ignored;
      self->timer_.cancel();
      self->socket_.close(ignored);
    });
  }

 private:
  void Arm(double seconds) {
    timed_out_ = false;
    timer_.expires_after(SteadySeconds(seconds));
    timer_.async_wait([self = shared_from_this()](error_code ec) {
      if (ec) return;  // cancelled: the operation finished in time
      self->timed_out_ = true;
      error_code ignored;
      self->socket_.cancel(ignored);
    });
  }

  void ReadNext(bool first) {
    parser_.emplace();
    parser_->body_limit(server_.options.body_limit);
    parser_->header_limit(static_cast<std::uint32_t>(server_.options.header_limit));
    // The whole request must arrive within read_timeout_s; a connection that
    // sends nothing more after a request may idle for idle_timeout_s.
    Arm(first || buffer_.size() > 0 ? server_.options.read_timeout_s
                                    : server_.options.idle_timeout_s);
    http::async_read(socket_, buffer_, *parser_,
                     [self = shared_from_this()](error_code ec, size_t) { self->OnRead(ec); });
  }

  void OnRead(error_code ec) {
    timer_.cancel();
    if (server_.stopped) return Close();
    if (timed_out_) {
      if (parser_->got_some() || buffer_.size() > 0)
        return Reject(JsonError(408, "the request did not arrive within " +
                                         FormatSeconds(server_.options.read_timeout_s) + " s"));
      return Close();  // an idle connection, not a slow request
    }
    if (ec == http::error::end_of_stream || ec == asio::error::eof ||
        ec == asio::error::connection_reset || ec == asio::error::operation_aborted)
      return Close();
    if (ec == http::error::body_limit)
      return Reject(JsonError(413, "the request body is larger than " +
                                       std::to_string(server_.options.body_limit) + " bytes"));
    if (ec == http::error::header_limit)
      return Reject(JsonError(431, "the request headers are larger than " +
                                       std::to_string(server_.options.header_limit) + " bytes"));
    if (ec) return Reject(JsonError(400, "malformed HTTP request: " + ec.message()));

    auto req = parser_->release();
    HttpRequest in;
    in.method = std::string(req.method_string());
    in.target = std::string(req.target());
    in.body = std::move(req.body());
    for (const auto& field : req)
      in.headers[LowerCase(std::string(field.name_string()))] = std::string(field.value());
    HttpReply reply;
    try {
      reply = server_.handler(in);
    } catch (const std::exception& e) {
      reply = JsonError(500, std::string("internal error: ") + e.what());
    } catch (...) {
      reply = JsonError(500, "internal error");
    }
    server_.requests.fetch_add(1);
    Write(reply, !req.keep_alive());
  }

  // Answers with `reply`, then closes after draining what the client still
  // sends (so it reads the answer rather than a reset).
  void Reject(const HttpReply& reply) {
    server_.rejected.fetch_add(1);
    Write(reply, true);
  }

  void Write(const HttpReply& reply, bool close) {
    res_.emplace();
    res_->version(11);
    res_->result(static_cast<unsigned>(reply.status));
    res_->set(http::field::server, "oversight-lab");
    res_->set(http::field::content_type, reply.content_type);
    for (const auto& [name, value] : reply.headers) res_->set(name, value);
    res_->keep_alive(!close);
    res_->body() = reply.body;
    res_->prepare_payload();
    Arm(server_.options.write_timeout_s);
    http::async_write(socket_, *res_, [self = shared_from_this(), close](error_code ec, size_t) {
      self->timer_.cancel();
      if (ec || self->timed_out_ || self->server_.stopped) return self->Close();
      if (close) return self->Linger();
      self->ReadNext(false);
    });
  }

  void Linger() {
    error_code ignored;
    socket_.shutdown(tcp::socket::shutdown_send, ignored);
    Arm(1.0);
    DrainSome();
  }
  void DrainSome() {
    socket_.async_read_some(asio::buffer(drain_),
                            [self = shared_from_this()](error_code ec, size_t n) {
                              self->drained_ += n;
                              if (ec || self->timed_out_ || self->drained_ > (1u << 20))
                                return self->Close();
                              self->DrainSome();
                            });
  }

  void Close() {
    error_code ignored;
    timer_.cancel();
    socket_.close(ignored);
  }

  Impl& server_;
  tcp::socket socket_;
  asio::steady_timer timer_;
  beast::flat_buffer buffer_;
  std::optional<http::request_parser<http::string_body>> parser_;
  std::optional<http::response<http::string_body>> res_;
  bool timed_out_ = false;
  char drain_[4096];
  size_t drained_ = 0;
};

void HttpServer::Impl::Accept() {
  acceptor.async_accept(asio::make_strand(ioc), [this](error_code ec, tcp::socket socket) {
    if (stopped) return;
    if (!ec) {
      connections.fetch_add(1);
      const bool over = live.fetch_add(1) >= options.max_connections;
      auto session = std::make_shared<Session>(*this, std::move(socket));
      {
        std::lock_guard<std::mutex> lock(sessions_mu);
        for (auto it = sessions.begin(); it != sessions.end();)
          it = it->expired() ? sessions.erase(it) : std::next(it);
        sessions.insert(session);
      }
      if (stopped) session->Abort();
      asio::dispatch(session->executor(), [session, over] { session->Start(over); });
    } else {
      // Out of file descriptors, say: try again shortly rather than spin.
      accept_pause.expires_after(std::chrono::milliseconds(50));
      accept_pause.async_wait([this](error_code e) {
        if (!e && !stopped) Accept();
      });
      return;
    }
    Accept();
  });
}

HttpServer::HttpServer(HttpServerOptions options, HttpHandler handler)
    : impl_(std::make_unique<Impl>()) {
  Impl& s = *impl_;
  s.options = std::move(options);
  s.handler = std::move(handler);
  error_code ec;
  const auto address = asio::ip::make_address(s.options.address, ec);
  if (ec) throw NetError("cannot listen on '" + s.options.address + "': not an IP address", false);
  const tcp::endpoint endpoint(address, s.options.port);
  s.acceptor.open(endpoint.protocol(), ec);
  if (!ec) s.acceptor.set_option(asio::socket_base::reuse_address(true), ec);
  if (!ec) s.acceptor.bind(endpoint, ec);
  if (!ec) s.acceptor.listen(asio::socket_base::max_listen_connections, ec);
  if (ec)
    throw NetError("cannot listen on " + s.options.address + ":" + std::to_string(s.options.port) +
                       ": " + ec.message(),
                   false);
  s.port = s.acceptor.local_endpoint().port();
  s.Accept();
  for (int i = 0; i < std::max(1, s.options.threads); ++i)
    s.threads.emplace_back([&s] { s.ioc.run(); });
}

HttpServer::~HttpServer() { Stop(); }

uint16_t HttpServer::port() const { return impl_->port; }

HttpServerStats HttpServer::stats() const {
  return HttpServerStats{impl_->requests.load(), impl_->rejected.load(), impl_->connections.load()};
}

void HttpServer::Stop() {
  Impl& s = *impl_;
  if (s.stopped.exchange(true)) return;
  asio::post(s.ioc, [&s] {
    error_code ignored;
    s.acceptor.close(ignored);
    s.accept_pause.cancel();
  });
  {
    std::lock_guard<std::mutex> lock(s.sessions_mu);
    for (const auto& weak : s.sessions)
      if (auto session = weak.lock()) session->Abort();
  }
  // Sessions end once their sockets close; handlers in flight finish first.
  for (auto& t : s.threads) t.join();
  s.threads.clear();
}

}  // namespace oversight
