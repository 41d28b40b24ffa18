// net/: HTTP/1.1 over TCP (and TLS for clients) with Boost.Beast, for remote
// model servers (net/chat_client.h) and the judging service (`oversight
// serve`). This header keeps Beast out of its users: a translation unit that
// includes Beast takes ~10 s to compile.
//
// Both sides bound every wait: a client call has one deadline for connect,
// write and read together; the server gives a request `read_timeout_s` to
// arrive whole and answers a stalled or slow client 408, an oversized body
// 413, a malformed request 400, all as JSON errors (see JsonError()).
#pragma once

#include <chrono>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <stdexcept>
#include <string>
#include <utility>
#include <vector>

namespace oversight {

// `s` seconds as a steady_clock duration (deadlines and timers).
std::chrono::steady_clock::duration SteadySeconds(double s);
// `s` printed with %g, for messages ("0.5").
std::string FormatSeconds(double s);
// ASCII lower case (HTTP header names, URL schemes).
std::string LowerCase(std::string s);

// A base URL: scheme "http" or "https", host, port (the scheme's default when
// absent) and a path prefix without a trailing slash ("" or "/v1").
struct Url {
  std::string scheme;
  std::string host;
  std::string port;
  std::string path;
  std::string Origin() const;  // "http://host:port"
};
// Throws std::invalid_argument naming what is wrong ("no scheme", ...).
Url ParseUrl(const std::string& text);

// A request failed before an HTTP status came back: could not resolve or
// connect, TLS failed, the connection dropped, or the deadline passed.
class NetError : public std::runtime_error {
 public:
  NetError(const std::string& what, bool timed_out)
      : std::runtime_error(what), timed_out_(timed_out) {}
  bool timed_out() const { return timed_out_; }

 private:
  bool timed_out_;
};

struct HttpResponse {
  int status = 0;
  std::string body;
  std::map<std::string, std::string> headers;  // lower-case names
};

struct HttpClientOptions {
  double timeout_s = 60;      // per request: connect + write + read
  size_t max_body = 8 << 20;  // a longer reply is a NetError
  bool tls_verify = true;     // https: check the certificate and host name
  std::string ca_file;        // https: trust these CAs instead of the system's
};

// One keep-alive connection to one origin, reopened when the server closed it.
// Not thread-safe: one per thread.
class HttpClient {
 public:
  HttpClient(Url origin, HttpClientOptions options);
  ~HttpClient();
  HttpClient(const HttpClient&) = delete;
  HttpClient& operator=(const HttpClient&) = delete;

  // `target` is the path and query, e.g. "/v1/chat/completions". Headers are
  // (name, value). Throws NetError; any HTTP status is returned.
  HttpResponse Send(const std::string& method, const std::string& target, const std::string& body,
                    const std::vector<std::pair<std::string, std::string>>& headers = {});

 private:
  struct Impl;
  Url origin_;
  HttpClientOptions options_;
  std::unique_ptr<Impl> impl_;
};

// ---- Server ----

struct HttpRequest {
  std::string method;  // "GET", "POST", ...
  std::string target;  // path and query
  std::string body;
  std::map<std::string, std::string> headers;  // lower-case names
};

struct HttpReply {
  int status = 200;
  std::string body;
  std::string content_type = "application/json";
  std::vector<std::pair<std::string, std::string>> headers;
};

// {"error": {"status": S, "message": M}} with status S.
HttpReply JsonError(int status, const std::string& message);

struct HttpServerOptions {
  std::string address = "127.0.0.1";  // "0.0.0.0" to accept other machines
  uint16_t port = 0;                  // 0: any free port (see port())
  int threads = 2;                    // I/O and handler threads
  size_t body_limit = 64 << 10;       // larger bodies get 413
  size_t header_limit = 16 << 10;     // larger headers get 431
  double read_timeout_s = 10;         // a request must arrive whole in this
  double idle_timeout_s = 30;         // a keep-alive connection waits this
  double write_timeout_s = 10;
  int max_connections = 256;  // more get 503
};

// Handlers run on the server's threads, concurrently; an exception becomes a
// 500 JSON error naming it.
using HttpHandler = std::function<HttpReply(const HttpRequest&)>;

struct HttpServerStats {
  int64_t requests = 0;     // handled by the handler
  int64_t rejected = 0;     // answered 4xx/5xx by the server itself
  int64_t connections = 0;  // accepted
};

// Listens as soon as it is constructed (throws NetError when it cannot bind);
// the destructor stops it, closing every connection.
class HttpServer {
 public:
  HttpServer(HttpServerOptions options, HttpHandler handler);
  ~HttpServer();
  HttpServer(const HttpServer&) = delete;
  HttpServer& operator=(const HttpServer&) = delete;

  uint16_t port() const;
  HttpServerStats stats() const;
  void Stop();

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace oversight
