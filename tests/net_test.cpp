// The HTTP server's answers to bad requests, and the HTTP client, on real
// loopback sockets.
#include <catch2/catch.hpp>

#include <boost/asio/connect.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/read.hpp>
#include <boost/asio/write.hpp>

#include <signal.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <thread>

#include <nlohmann/json.hpp>

#include "net/http.h"
#include "test_util.h"

using namespace oversight;
using oversight::testing::TempDir;
namespace asio = boost::asio;

namespace {

HttpServerOptions Quick() {
  HttpServerOptions o;
  o.read_timeout_s = 0.5;
  o.idle_timeout_s = 1;
  o.body_limit = 1024;
  return o;
}

HttpReply Echo(const HttpRequest& r) {
  if (r.target == "/boom") throw std::runtime_error("handler blew up");
  if (r.target != "/echo") return JsonError(404, "no route " + r.target);
  HttpReply out;
  out.body = nlohmann::json{{"method", r.method}, {"body", r.body}}.dump();
  return out;
}

// Sends raw bytes, then reads until the server closes (or 5 s); returns what
// came back.
std::string Raw(uint16_t port, const std::string& bytes, double pause_s = 0,
                const std::string& more = "") {
  asio::io_context ioc;
  asio::ip::tcp::socket s(ioc);
  s.connect({asio::ip::make_address("127.0.0.1"), port});
  asio::write(s, asio::buffer(bytes));
  if (pause_s > 0) std::this_thread::sleep_for(std::chrono::duration<double>(pause_s));
  boost::system::error_code ec;
  if (!more.empty()) asio::write(s, asio::buffer(more), ec);
  std::string out;
  char buf[4096];
  const auto end = std::chrono::steady_clock::now() + std::chrono::seconds(5);
  s.non_blocking(true);
  while (std::chrono::steady_clock::now() < end) {
    const size_t n = s.read_some(asio::buffer(buf), ec);
    if (ec == asio::error::would_block) {
      std::this_thread::sleep_for(std::chrono::milliseconds(5));
      continue;
    }
    if (ec) break;
    out.append(buf, n);
  }
  return out;
}

int StatusOf(const std::string& raw) { return raw.size() > 12 ? std::stoi(raw.substr(9, 3)) : 0; }

nlohmann::json BodyOf(const std::string& raw) {
  const size_t at = raw.find("\r\n\r\n");
  return nlohmann::json::parse(raw.substr(at + 4));
}

}  // namespace

TEST_CASE("HTTP server: a request is answered and the connection kept alive", "[http]") {
  HttpServer server(Quick(), Echo);
  HttpClient client(ParseUrl("http://127.0.0.1:" + std::to_string(server.port())), {});
  for (int i = 0; i < 3; ++i) {
    const HttpResponse r = client.Send("POST", "/echo", "hello " + std::to_string(i));
    REQUIRE(r.status == 200);
    CHECK(nlohmann::json::parse(r.body)["body"] == "hello " + std::to_string(i));
  }
  CHECK(server.stats().connections == 1);  // one keep-alive connection
  CHECK(server.stats().requests == 3);
}

TEST_CASE("HTTP server: bad requests get 4xx JSON errors and the server keeps serving", "[http]") {
  HttpServer server(Quick(), Echo);
  const uint16_t port = server.port();

  SECTION("malformed request line") {
    const std::string raw = Raw(port, "NOT HTTP AT ALL\r\n\r\n");
    CHECK(StatusOf(raw) == 400);
    CHECK(BodyOf(raw)["error"]["message"].get<std::string>().find("malformed") !=
          std::string::npos);
  }
  SECTION("a body over the limit") {
    const std::string raw =
        Raw(port, "POST /echo HTTP/1.1\r\nHost: x\r\nContent-Length: 5000\r\n\r\n" +
                      std::string(5000, 'x'));
    CHECK(StatusOf(raw) == 413);
    CHECK(BodyOf(raw)["error"]["status"] == 413);
  }
  SECTION("headers over the limit") {
    const std::string raw = Raw(
        port, "GET /echo HTTP/1.1\r\nHost: x\r\nX-Big: " + std::string(20000, 'y') + "\r\n\r\n");
    CHECK(StatusOf(raw) == 431);
  }
  SECTION("a client that stalls half-way through its request") {
    const auto t0 = std::chrono::steady_clock::now();
    const std::string raw =
        Raw(port, "POST /echo HTTP/1.1\r\nHost: x\r\nContent-Length: 10\r\n\r\nabc");
    const double s = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
    CHECK(StatusOf(raw) == 408);
    CHECK(s < 3);  // the 0.5 s read timeout, not a hang
  }
  SECTION("an unknown route and a throwing handler") {
    CHECK(StatusOf(Raw(port, "GET /nowhere HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")) ==
          404);
    const std::string raw = Raw(port, "GET /boom HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n");
    CHECK(StatusOf(raw) == 500);
    CHECK(BodyOf(raw)["error"]["message"] == "internal error: handler blew up");
  }
  // After every bad request, a good one still works.
  HttpClient client(ParseUrl("http://127.0.0.1:" + std::to_string(port)), {});
  CHECK(client.Send("POST", "/echo", "ok").status == 200);
}

TEST_CASE("HTTP server: an idle connection is closed without an answer", "[http]") {
  HttpServer server(Quick(), Echo);
  const auto t0 = std::chrono::steady_clock::now();
  const std::string raw = Raw(server.port(), "");
  CHECK(raw.empty());
  CHECK(std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count() < 4);
}

TEST_CASE("HTTP server: connections over the limit get 503", "[http]") {
  HttpServerOptions o = Quick();
  o.max_connections = 2;
  o.read_timeout_s = 3;
  HttpServer server(o, Echo);
  asio::io_context ioc;
  asio::ip::tcp::socket a(ioc), b(ioc);
  a.connect({asio::ip::make_address("127.0.0.1"), server.port()});
  b.connect({asio::ip::make_address("127.0.0.1"), server.port()});
  std::this_thread::sleep_for(std::chrono::milliseconds(200));
  CHECK(StatusOf(Raw(server.port(), "GET /echo HTTP/1.1\r\nHost: x\r\n\r\n")) == 503);
}

TEST_CASE("HTTP server: cannot bind a port in use, named in the error", "[http]") {
  HttpServer first(Quick(), Echo);
  HttpServerOptions o = Quick();
  o.port = first.port();
  try {
    HttpServer second(o, Echo);
    FAIL("bound a port in use");
  } catch (const NetError& e) {
    CHECK(std::string(e.what()).find(std::to_string(first.port())) != std::string::npos);
  }
}

TEST_CASE("HTTP client: refused connections, timeouts and bad URLs are errors", "[http]") {
  uint16_t port = 0;
  {
    HttpServer server(Quick(), Echo);
    port = server.port();
  }  // closed: nothing listens there now
  HttpClient refused(ParseUrl("http://127.0.0.1:" + std::to_string(port)), {});
  CHECK_THROWS_AS(refused.Send("GET", "/echo", ""), NetError);

  HttpServer slow(Quick(), [](const HttpRequest&) {
    std::this_thread::sleep_for(std::chrono::milliseconds(1500));
    return HttpReply{};
  });
  HttpClientOptions o;
  o.timeout_s = 0.3;
  HttpClient client(ParseUrl("http://127.0.0.1:" + std::to_string(slow.port())), o);
  const auto t0 = std::chrono::steady_clock::now();
  try {
    client.Send("GET", "/", "");
    FAIL("no timeout");
  } catch (const NetError& e) {
    CHECK(e.timed_out());
  }
  CHECK(std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count() < 1.2);

  CHECK_THROWS_WITH(ParseUrl("localhost:8000"), Catch::Contains("no scheme"));
  CHECK_THROWS_WITH(ParseUrl("ftp://x"), Catch::Contains("not http or https"));
  CHECK_THROWS_WITH(ParseUrl("http://x:99999"), Catch::Contains("port"));
  CHECK(ParseUrl("https://api.example.com/v1/").port == "443");
  CHECK(ParseUrl("https://api.example.com/v1/").path == "/v1");
}

TEST_CASE("HTTP client over TLS: the certificate and host name are checked", "[http]") {
  // A real TLS server: openssl s_server with a self-signed certificate for
  // 127.0.0.1, answering GET with its status page (-www).
  TempDir dir("tls");
  const std::string cert = dir.File("cert.pem"), key = dir.File("key.pem");
  REQUIRE(std::system(("openssl req -x509 -newkey rsa:2048 -nodes -days 1 -subj /CN=127.0.0.1 "
                       "-addext subjectAltName=IP:127.0.0.1 -keyout '" +
                       key + "' -out '" + cert + "' > /dev/null 2>&1")
                          .c_str()) == 0);
  uint16_t port = 0;
  {
    HttpServer probe(Quick(), Echo);  // a free port: bound, then released
    port = probe.port();
  }
  const std::string log = dir.File("s_server.log");
  REQUIRE(std::system(("openssl s_server -accept " + std::to_string(port) + " -cert '" + cert +
                       "' -key '" + key + "' -www > '" + log + "' 2>&1 & echo $! > '" +
                       dir.File("pid") + "'")
                          .c_str()) == 0);
  struct Kill {
    std::string pid_file;
    ~Kill() { std::system(("kill $(cat '" + pid_file + "') 2>/dev/null").c_str()); }
  } kill_server{dir.File("pid")};
  const Url url = ParseUrl("https://127.0.0.1:" + std::to_string(port));
  HttpClientOptions trusted;
  trusted.ca_file = cert;
  trusted.timeout_s = 5;
  HttpResponse r;
  for (int i = 0; i < 50; ++i) {  // until s_server listens
    try {
      r = HttpClient(url, trusted).Send("GET", "/", "");
      break;
    } catch (const NetError& e) {
      if (std::string(e.what()).find("connecting") == std::string::npos) throw;
      std::this_thread::sleep_for(std::chrono::milliseconds(100));
    }
  }
  CHECK(r.status == 200);
  CHECK_THAT(r.body, Catch::Contains("s_server"));
  // The system's CAs do not know this certificate.
  HttpClientOptions system_cas;
  system_cas.timeout_s = 5;
  CHECK_THROWS_WITH(HttpClient(url, system_cas).Send("GET", "/", ""),
                    Catch::Contains("TLS handshake"));
  // A certificate for another name is refused too.
  const Url localhost = ParseUrl("https://localhost:" + std::to_string(port));
  CHECK_THROWS_WITH(HttpClient(localhost, trusted).Send("GET", "/", ""),
                    Catch::Contains("TLS handshake"));
  // Unless checks are off.
  HttpClientOptions unchecked;
  unchecked.tls_verify = false;
  unchecked.timeout_s = 5;
  CHECK(HttpClient(localhost, unchecked).Send("GET", "/", "").status == 200);
}

TEST_CASE("HTTP server: out of file descriptors it pauses accepting instead of spinning",
          "[http]") {
  int fds[2];
  REQUIRE(pipe(fds) == 0);
  const pid_t child = fork();
  if (child == 0) {
    // A server with room for only a few more descriptors.
    int open_now = 0;
    for (const auto& e : std::filesystem::directory_iterator("/proc/self/fd")) (void)e, ++open_now;
    rlimit lim{};
    getrlimit(RLIMIT_NOFILE, &lim);
    lim.rlim_cur = static_cast<rlim_t>(open_now + 8);
    setrlimit(RLIMIT_NOFILE, &lim);
    HttpServerOptions o;
    o.idle_timeout_s = 30;
    o.read_timeout_s = 30;
    HttpServer server(o, Echo);
    const uint16_t port = server.port();
    if (write(fds[1], &port, sizeof port) != sizeof port) _exit(1);
    std::this_thread::sleep_for(std::chrono::seconds(30));
    _exit(0);
  }
  uint16_t port = 0;
  REQUIRE(read(fds[0], &port, sizeof port) == sizeof port);
  asio::io_context ioc;
  std::vector<asio::ip::tcp::socket> clients;
  for (int i = 0; i < 20; ++i) {
    clients.emplace_back(ioc);
    clients.back().connect({asio::ip::make_address("127.0.0.1"), port});
  }
  // CPU time of the server over 1.5 s with accepts failing (EMFILE).
  auto cpu_s = [&] {
    std::ifstream stat("/proc/" + std::to_string(child) + "/stat");
    std::string field;
    long ticks = 0;
    for (int k = 1; stat >> field; ++k)
      if (k == 14 || k == 15) ticks += std::stol(field);
    return static_cast<double>(ticks) / sysconf(_SC_CLK_TCK);
  };
  std::this_thread::sleep_for(std::chrono::milliseconds(200));
  const double before = cpu_s();
  std::this_thread::sleep_for(std::chrono::milliseconds(1500));
  const double used = cpu_s() - before;
  kill(child, SIGKILL);
  waitpid(child, nullptr, 0);
  close(fds[0]);
  close(fds[1]);
  CHECK(used < 0.5);  // a spinning accept loop burns ~1.5 s of a core here
}
