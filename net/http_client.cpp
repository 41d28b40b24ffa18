// HttpClient: Beast over a tcp_stream (or an ssl_stream over one), driven by
// its own io_context so every operation has the request's deadline.
#include <boost/asio/connect.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/ssl.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <boost/beast/ssl.hpp>
#include <boost/beast/version.hpp>

#include <cctype>
#include <chrono>
#include <cstdio>
#include <optional>

#include "net/http.h"

namespace oversight {

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace http = beast::http;
namespace ssl = asio::ssl;
using tcp = asio::ip::tcp;
using error_code = boost::system::error_code;

std::chrono::steady_clock::duration SteadySeconds(double s) {
  return std::chrono::duration_cast<std::chrono::steady_clock::duration>(
      std::chrono::duration<double>(s));
}

std::string FormatSeconds(double s) {
  char buf[32];
  std::snprintf(buf, sizeof buf, "%g", s);
  return buf;
}

std::string LowerCase(std::string s) {
  for (char& c : s) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return s;
}

std::string Url::Origin() const { return scheme + "://" + host + ":" + port; }

Url ParseUrl(const std::string& text) {
  Url url;
  const auto sep = text.find("://");
  if (sep == std::string::npos)
    throw std::invalid_argument("'" + text + "' has no scheme (expected http:// or https://)");
  url.scheme = LowerCase(text.substr(0, sep));
  if (url.scheme != "http" && url.scheme != "https")
    throw std::invalid_argument("'" + text + "': scheme '" + url.scheme + "' is not http or https");
  std::string rest = text.substr(sep + 3);
  const auto slash = rest.find('/');
  std::string authority = rest.substr(0, slash);
  url.path = slash == std::string::npos ? "" : rest.substr(slash);
  while (!url.path.empty() && url.path.back() == '/') url.path.pop_back();
  if (authority.find('@') != std::string::npos)
    throw std::invalid_argument("'" + text + "': user names in URLs are not supported");
  const auto colon = authority.rfind(':');
  if (colon != std::string::npos && authority.find(']') == std::string::npos) {
    url.host = authority.substr(0, colon);
    url.port = authority.substr(colon + 1);
    if (url.port.empty() || url.port.size() > 5 ||
        url.port.find_first_not_of("0123456789") != std::string::npos || std::stoi(url.port) < 1 ||
        std::stoi(url.port) > 65535)
      throw std::invalid_argument("'" + text + "': port '" + url.port + "' is not 1..65535");
  } else {
    url.host = authority;
    url.port = url.scheme == "https" ? "443" : "80";
  }
  if (url.host.empty()) throw std::invalid_argument("'" + text + "' has no host");
  return url;
}

struct HttpClient::Impl {
  asio::io_context ioc;
  std::optional<ssl::context> tls;
  std::optional<beast::tcp_stream> plain;
  std::optional<beast::ssl_stream<beast::tcp_stream>> secure;
  beast::flat_buffer buffer;
  bool open = false;

  beast::tcp_stream& Tcp() { return secure ? beast::get_lowest_layer(*secure) : *plain; }

  // Runs the async operation started by `start` to completion.
  template <class Start>
  error_code Run(Start start) {
    error_code result;
    start([&result](error_code ec, auto&&...) { result = ec; });
    ioc.restart();
    ioc.run();
    return result;
  }

  void Close() {
    if (secure || plain) {
      error_code ignored;
      Tcp().socket().close(ignored);
    }
    secure.reset();
    plain.reset();
    buffer.clear();
    open = false;
  }
};

HttpClient::HttpClient(Url origin, HttpClientOptions options)
    : origin_(std::move(origin)), options_(std::move(options)), impl_(std::make_unique<Impl>()) {
  if (origin_.scheme == "https") {
    impl_->tls.emplace(ssl::context::tls_client);
    error_code ec;
    if (!options_.ca_file.empty())
      impl_->tls->load_verify_file(options_.ca_file, ec);
    else
      impl_->tls->set_default_verify_paths(ec);
    if (ec)
      throw NetError(origin_.Origin() + ": cannot load CA certificates" +
                         (options_.ca_file.empty() ? "" : " from " + options_.ca_file) + ": " +
                         ec.message(),
                     false);
    impl_->tls->set_verify_mode(options_.tls_verify ? ssl::verify_peer : ssl::verify_none);
  }
}

HttpClient::~HttpClient() = default;

HttpResponse HttpClient::Send(const std::string& method, const std::string& target,
                              const std::string& body,
                              const std::vector<std::pair<std::string, std::string>>& headers) {
  Impl& s = *impl_;
  const std::string where = method + " " + origin_.Origin() + target;
  const http::verb verb = http::string_to_verb(method);
  if (verb == http::verb::unknown) throw std::invalid_argument("unknown HTTP method " + method);
  http::request<http::string_body> req{verb, target, 11};
  req.set(http::field::host, origin_.host);
  req.set(http::field::user_agent, "oversight-lab");
  for (const auto& [name, value] : headers) req.set(name, value);
  req.body() = body;
  req.prepare_payload();

  const auto deadline = std::chrono::steady_clock::now() + SteadySeconds(options_.timeout_s);
  auto fail = [&](const std::string& step, const error_code& ec) -> NetError {
    const bool timed_out = ec == beast::error::timeout;
    s.Close();
    return NetError(
        where + ": " + step + ": " +
            (timed_out ? "no answer within " + FormatSeconds(options_.timeout_s) + " s (timeout_s)"
                       : ec.message()),
        timed_out);
  };

  // A reused keep-alive connection may have been closed by the server; then
  // the request is sent once more on a new connection.
  for (int attempt = 0;; ++attempt) {
    const bool reused = s.open;
    if (!s.open) {
      tcp::resolver resolver(s.ioc);
      tcp::resolver::results_type endpoints;
      error_code ec = s.Run([&](auto handler) {
        resolver.async_resolve(origin_.host, origin_.port,
                               [&endpoints, handler](error_code e, tcp::resolver::results_type r) {
                                 endpoints = std::move(r);
                                 handler(e);
                               });
      });
      if (ec) throw fail("resolving " + origin_.host, ec);
      if (s.tls) {
        s.secure.emplace(s.ioc, *s.tls);
        if (!SSL_set_tlsext_host_name(s.secure->native_handle(), origin_.host.c_str()))
          throw NetError(where + ": cannot set the TLS server name", false);
        if (options_.tls_verify)
          s.secure->set_verify_callback(ssl::host_name_verification(origin_.host));
      } else {
        s.plain.emplace(s.ioc);
      }
      s.Tcp().expires_at(deadline);
      ec = s.Run([&](auto handler) { s.Tcp().async_connect(endpoints, handler); });
      if (ec) throw fail("connecting", ec);
      if (s.secure) {
        ec = s.Run(
            [&](auto handler) { s.secure->async_handshake(ssl::stream_base::client, handler); });
        if (ec) throw fail("TLS handshake", ec);
      }
      s.open = true;
    }
    s.Tcp().expires_at(deadline);
    error_code ec = s.secure ? s.Run([&](auto h) { http::async_write(*s.secure, req, h); })
                             : s.Run([&](auto h) { http::async_write(*s.plain, req, h); });
    const bool sent = !ec;
    http::response_parser<http::string_body> parser;
    parser.body_limit(options_.max_body);
    if (sent)
      ec = s.secure ? s.Run([&](auto h) { http::async_read(*s.secure, s.buffer, parser, h); })
                    : s.Run([&](auto h) { http::async_read(*s.plain, s.buffer, parser, h); });
    if (ec) {
      const bool stale =
          reused && attempt == 0 && !parser.got_some() && ec != beast::error::timeout;
      if (stale) {
        s.Close();
        continue;
      }
      throw fail(!sent               ? "sending the request"
                 : parser.got_some() ? "reading the reply"
                                     : "waiting for the reply",
                 ec);
    }
    auto res = parser.release();
    HttpResponse out;
    out.status = static_cast<int>(res.result_int());
    out.body = std::move(res.body());
    for (const auto& field : res)
      out.headers[LowerCase(std::string(field.name_string()))] = std::string(field.value());
    if (!res.keep_alive()) s.Close();
    return out;
  }
}

}  // namespace oversight
