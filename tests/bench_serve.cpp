// bench_serve: the judging service (`oversight serve`) under concurrent
// clients on loopback: requests/s and latency percentiles, against the same
// work done straight on the SQLite file in the same process (the baseline:
// what a GUI on the file itself does).
//
// Work per item, per client: list the queue (GET /api/pending), claim
// (POST /api/claim), answer (POST /api/items/ID/verdict): three requests.
// Then a read-only phase: GET /api/items/ID for the answered items (the
// episode view), to show HTTP's own cost without SQLite writes.
//
// Usage: bench_serve [--clients K] [--items N] [--threads T]
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include <nlohmann/json.hpp>

#include "engine/store.h"
#include "net/judge_service.h"
#include "queue_fixture.h"

namespace fs = std::filesystem;
using namespace oversight;
using Clock = std::chrono::steady_clock;

namespace {

struct Args {
  int clients = 8;
  int items = 3000;
  int threads = 4;  // server threads
};

Args ParseArgs(int argc, char** argv) {
  Args a;
  for (int i = 1; i < argc; ++i) {
    auto next = [&](const char* name) {
      if (i + 1 >= argc) {
        std::fprintf(stderr, "%s needs a value\n", name);
        std::exit(2);
      }
      const int v = std::atoi(argv[++i]);
      if (v < 1) {
        std::fprintf(stderr, "%s must be a positive integer\n", name);
        std::exit(2);
      }
      return v;
    };
    if (!std::strcmp(argv[i], "--clients"))
      a.clients = next("--clients");
    else if (!std::strcmp(argv[i], "--items"))
      a.items = next("--items");
    else if (!std::strcmp(argv[i], "--threads"))
      a.threads = next("--threads");
    else {
      std::fprintf(stderr, "usage: bench_serve [--clients K] [--items N] [--threads T]\n");
      std::exit(2);
    }
  }
  return a;
}

std::string MakeDb(const std::string& dir, const std::string& name, int items) {
  return testing::MakeQueueDb(dir + "/" + name, items);
}

struct Result {
  double seconds = 0;
  std::vector<double> latency_ms;  // every request
  int64_t errors = 0;
};

void Print(const char* label, const Result& r) {
  std::vector<double> l = r.latency_ms;
  std::sort(l.begin(), l.end());
  auto pct = [&](double p) {
    return l.empty() ? 0.0 : l[std::min(l.size() - 1, size_t(p * l.size()))];
  };
  std::printf(
      "%-34s %8zu req  %8.0f req/s  p50 %7.3f ms  p99 %7.3f ms  max %7.2f ms  errors %lld\n", label,
      l.size(), l.size() / r.seconds, pct(0.5), pct(0.99), l.empty() ? 0 : l.back(),
      static_cast<long long>(r.errors));
}

// Runs `work(client, record)` on K threads; `record(ms, ok)` per request.
template <class Work>
Result RunClients(int clients, Work work) {
  Result r;
  std::mutex mu;
  const auto t0 = Clock::now();
  std::vector<std::thread> threads;
  for (int c = 0; c < clients; ++c)
    threads.emplace_back([&, c] {
      std::vector<double> mine;
      int64_t errors = 0;
      work(c, [&](double ms, bool ok) {
        mine.push_back(ms);
        errors += ok ? 0 : 1;
      });
      std::lock_guard<std::mutex> lock(mu);
      r.latency_ms.insert(r.latency_ms.end(), mine.begin(), mine.end());
      r.errors += errors;
    });
  for (auto& t : threads) t.join();
  r.seconds = std::chrono::duration<double>(Clock::now() - t0).count();
  return r;
}

template <class F>
double Timed(F f) {
  const auto t = Clock::now();
  f();
  return std::chrono::duration<double, std::milli>(Clock::now() - t).count();
}

}  // namespace

int main(int argc, char** argv) {
  const Args args = ParseArgs(argc, argv);
  const std::string dir =
      (fs::temp_directory_path() / ("bench_serve_" + std::to_string(::getpid()))).string();
  fs::create_directories(dir);
  std::printf("bench_serve: %d items, %d clients, %d server threads, %u cores\n", args.items,
              args.clients, args.threads, std::thread::hardware_concurrency());

  // Baseline: the same three operations straight on the file, one
  // connection per client.
  const std::string direct_db = MakeDb(dir, "direct.db", args.items);
  const Result direct = RunClients(args.clients, [&](int c, auto record) {
    auto store = Store::Open(direct_db);
    const std::string who = "judge" + std::to_string(c);
    for (;;) {
      {
        const double ms = Timed([&] {
          store->ListPending(100);
          store->CountPending();
        });
        record(ms, true);
      }
      std::optional<PendingJudgement> item;
      {
        const double ms = Timed([&] { item = store->ClaimPending(who); });
        record(ms, true);
      }
      if (!item) break;
      HumanVerdict v;
      v.verdict = "3";
      v.confidence = 0.8;
      bool ok = false;
      {
        const double ms = Timed([&] { ok = store->AnswerPending(item->id, who, v); });
        record(ms, true);
      }
      if (!ok) std::fprintf(stderr, "direct: answer refused\n");
    }
  });

  // The service.
  const std::string served_db = MakeDb(dir, "served.db", args.items);
  JudgeServiceOptions o;
  o.db_path = served_db;
  for (int c = 0; c < args.clients; ++c)
    o.tokens["token-of-judge-" + std::to_string(c)] = "judge" + std::to_string(c);
  o.http.threads = args.threads;
  JudgeService service(o);
  const Url url = ParseUrl("http://127.0.0.1:" + std::to_string(service.port()));
  const Result served = RunClients(args.clients, [&](int c, auto record) {
    HttpClient client(url, {});
    const std::vector<std::pair<std::string, std::string>> h = {
        {"Authorization", "Bearer token-of-judge-" + std::to_string(c)}};
    for (;;) {
      HttpResponse r;
      {
        const double ms = Timed([&] { r = client.Send("GET", "/api/pending", "", h); });
        record(ms, r.status == 200);
      }
      {
        const double ms = Timed([&] { r = client.Send("POST", "/api/claim", "", h); });
        record(ms, r.status == 200);
      }
      const auto j = nlohmann::json::parse(r.body);
      if (j["item"].is_null()) break;
      const std::string target =
          "/api/items/" + std::to_string(j["item"]["id"].get<int64_t>()) + "/verdict";
      {
        const double ms = Timed(
            [&] { r = client.Send("POST", target, R"({"verdict":"3","confidence":0.8})", h); });
        record(ms, r.status == 200);
      }
    }
  });
  const Result views = RunClients(args.clients, [&](int c, auto record) {
    HttpClient client(url, {});
    const std::vector<std::pair<std::string, std::string>> h = {
        {"Authorization", "Bearer token-of-judge-" + std::to_string(c)}};
    for (int id = 1 + c; id <= args.items; id += args.clients) {
      HttpResponse r;
      {
        const double ms =
            Timed([&] { r = client.Send("GET", "/api/items/" + std::to_string(id), "", h); });
        record(ms, r.status == 200);
      }
    }
  });
  // One new connection per request (a client without keep-alive).
  const Result fresh = RunClients(args.clients, [&](int c, auto record) {
    const std::vector<std::pair<std::string, std::string>> h = {
        {"Authorization", "Bearer token-of-judge-" + std::to_string(c)}};
    for (int id = 1 + c; id <= std::min(args.items, 2000); id += args.clients) {
      HttpResponse r;
      {
        const double ms = Timed([&] {
          HttpClient client(url, {});
          r = client.Send("GET", "/api/items/" + std::to_string(id), "", h);
        });
        record(ms, r.status == 200);
      }
    }
  });
  Print("direct on the file (baseline)", direct);
  Print("service: list + claim + answer", served);
  Print("service: GET item (read only)", views);
  Print("service: GET item, new connection", fresh);
  const double d_rate = direct.latency_ms.size() / direct.seconds;
  const double s_rate = served.latency_ms.size() / served.seconds;
  std::printf("service / direct, operations per second: %.2f\n", s_rate / d_rate);
  const auto answered = Store::Open(served_db)->CountPending();
  std::printf("items left unanswered: %lld (expected 0)\n", static_cast<long long>(answered));
  service.Stop();
  fs::remove_all(dir);
  return served.errors + views.errors + fresh.errors + direct.errors == 0 && answered == 0 ? 0 : 1;
}
