// The judging service (`oversight serve`): the human-judge queue over HTTP,
// on a real SQLite file and real loopback sockets.
#include <catch2/catch.hpp>

#include <nlohmann/json.hpp>

#include "engine/store.h"
#include "net/judge_service.h"
#include "queue_fixture.h"
#include "test_util.h"

using namespace oversight;
using namespace oversight::testing;
using json = nlohmann::json;

namespace {

// A log with `n` items waiting, each with choices [3, 5] and one reveal.
std::string QueueDb(const TempDir& dir, int n) {
  return MakeQueueDb(dir.File("queue.db"), n, 1);
}

struct Service {
  JudgeService service;
  HttpClient client;
  explicit Service(const std::string& db)
      : service([&] {
          JudgeServiceOptions o;
          o.db_path = db;
          o.tokens = {{"alice-token-1", "alice"}, {"bob-token-22", "bob"}};
          o.http.read_timeout_s = 1;
          return o;
        }()),
        client(ParseUrl("http://127.0.0.1:" + std::to_string(service.port())), {}) {}

  std::pair<int, json> Call(const std::string& method, const std::string& target,
                            const std::string& token, const std::string& body = "") {
    std::vector<std::pair<std::string, std::string>> headers;
    if (!token.empty()) headers.push_back({"Authorization", "Bearer " + token});
    const HttpResponse r = client.Send(method, target, body, headers);
    return {r.status, json::parse(r.body)};
  }
};

}  // namespace

TEST_CASE("Judging service: two judges claim different items, answers need the claim", "[serve]") {
  TempDir dir("serve-flow");
  const std::string db = QueueDb(dir, 3);
  Service s(db);
  auto [st, health] = s.Call("GET", "/api/health", "");
  CHECK(st == 200);
  CHECK(health["schema"] == kSchemaVersion);

  auto [sa, a] = s.Call("POST", "/api/claim", "alice-token-1");
  auto [sb, b] = s.Call("POST", "/api/claim", "bob-token-22");
  REQUIRE(sa == 200);
  REQUIRE(sb == 200);
  const int64_t ia = a["item"]["id"], ib = b["item"]["id"];
  CHECK(ia != ib);
  CHECK(a["item"]["claimed_by"] == "alice");
  CHECK(a["item"]["question"]["choices"] == json::array({3, 5}));  // the episode view, as JSON

  const std::string verdict =
      R"({"verdict": "5", "confidence": 0.8, "reason": "edge", "latency_ms": 900})";
  auto [s409, e409] =
      s.Call("POST", "/api/items/" + std::to_string(ia) + "/verdict", "bob-token-22", verdict);
  CHECK(s409 == 409);
  CHECK_THAT(e409["error"]["message"].get<std::string>(), Catch::Contains("claimed by alice"));
  auto [s400, e400] = s.Call("POST", "/api/items/" + std::to_string(ia) + "/verdict",
                             "alice-token-1", R"({"verdict": "7"})");
  CHECK(s400 == 400);
  CHECK_THAT(e400["error"]["message"].get<std::string>(),
             Catch::Contains("not one of the item's choices"));
  auto [s200, ok] =
      s.Call("POST", "/api/items/" + std::to_string(ia) + "/verdict", "alice-token-1", verdict);
  CHECK(s200 == 200);
  CHECK(ok["recorded"] == true);
  CHECK(QueryOne(db,
                 "SELECT status || ':' || claimed_by || ':' || verdict || ':' || confidence "
                 "|| ':' || reason FROM pending_judgements WHERE id = " +
                     std::to_string(ia)) == "answered:alice:5:0.8:edge");
  // Answered once: a second answer is refused.
  CHECK(s.Call("POST", "/api/items/" + std::to_string(ia) + "/verdict", "alice-token-1", verdict)
            .first == 409);

  auto [sp, pending] = s.Call("GET", "/api/pending", "bob-token-22");
  CHECK(sp == 200);
  CHECK(pending["waiting"] == 2);
  REQUIRE(pending["items"].size() == 2);
  CHECK(pending["items"][0]["id"] == ib);
  CHECK(pending["items"][0]["status"] == "claimed");
  CHECK(pending["items"][1]["status"] == "pending");
  auto [si, item] = s.Call("GET", "/api/items/" + std::to_string(ib), "alice-token-1");
  CHECK(si == 200);
  CHECK(item["item"]["question"]["reveals"][0]["pixel"] == 100);
  // The third item, then nothing.
  CHECK(!s.Call("POST", "/api/claim", "alice-token-1").second["item"].is_null());
  CHECK(s.Call("POST", "/api/claim", "alice-token-1").second["item"].is_null());
}

TEST_CASE("Judging service: bad tokens, routes, methods and bodies get 4xx JSON errors",
          "[serve]") {
  TempDir dir("serve-bad");
  const std::string db = QueueDb(dir, 1);
  Service s(db);
  const int64_t id = s.Call("POST", "/api/claim", "alice-token-1").second["item"]["id"];
  const std::string v = "/api/items/" + std::to_string(id) + "/verdict";
  struct Case {
    std::string method, target, token, body;
    int status;
    std::string message;
  };
  for (const Case& c : std::vector<Case>{
           {"GET", "/api/pending", "", "", 401, "no token"},
           {"GET", "/api/pending", "alice-token-2", "", 401, "unknown token"},
           {"GET", "/api/nothing", "alice-token-1", "", 404, "no route"},
           {"GET", "/index.html", "", "", 404, "no route"},
           {"GET", "/api/items/abc", "alice-token-1", "", 404, "item ids are numbers"},
           {"GET", "/api/items/99999", "alice-token-1", "", 404, "no item 99999"},
           {"GET", "/api/claim", "alice-token-1", "", 405, "use POST"},
           {"DELETE", v, "alice-token-1", "", 405, "use POST"},
           {"POST", v, "alice-token-1", "{\"verdict\": ", 400, "not a JSON object"},
           {"POST", v, "alice-token-1", "[1, 2]", 400, "not a JSON object"},
           {"POST", v, "alice-token-1", "{}", 400, "missing field 'verdict'"},
           {"POST", v, "alice-token-1", R"({"verdict": 3.5})", 400, "string or an integer"},
           {"POST", v, "alice-token-1", R"({"verdict": "3", "confidence": 2})", 400, "[0, 1]"},
           {"POST", v, "alice-token-1", R"({"verdict": "3", "latency_ms": -1})", 400, ">= 0"},
           {"POST", v, "alice-token-1", R"({"verdict": "3", "mood": "sure"})", 400,
            "unknown field 'mood'"},
           {"POST", "/api/items/99999/verdict", "alice-token-1", R"({"verdict": "3"})", 404,
            "no item"},
           {"POST", v, "alice-token-1", std::string(70000, ' '), 413, "larger than"},
       }) {
    INFO(c.method << " " << c.target << " " << c.body.substr(0, 40));
    auto [status, body] = s.Call(c.method, c.target, c.token, c.body);
    CHECK(status == c.status);
    CHECK(body["error"]["status"] == c.status);
    CHECK_THAT(body["error"]["message"].get<std::string>(), Catch::Contains(c.message));
  }
  // The item is still claimed and unanswered, and an answer still works.
  CHECK(QueryOne(db, "SELECT status FROM pending_judgements") == "claimed");
  CHECK(s.Call("POST", v, "alice-token-1", R"({"verdict": 3})").first == 200);
}

TEST_CASE("Judging service: the GUI's remote queue claims and answers through it", "[serve]") {
  TempDir dir("serve-queue");
  const std::string db = QueueDb(dir, 2);
  Service s(db);
  const std::string url = "http://127.0.0.1:" + std::to_string(s.service.port());
  auto queue = MakeRemoteJudgeQueue(url, "bob-token-22");
  CHECK(queue->where() == url);
  CHECK(queue->CountPending() == 2);
  const auto item = queue->Claim();
  REQUIRE(item);
  CHECK(item->instance == "test-0");
  CHECK(json::parse(item->question)["choices"] == json::array({3, 5}));
  HumanVerdict v;
  v.verdict = "3";
  v.confidence = 0.65;
  CHECK(queue->Answer(item->id, v));
  CHECK(!queue->Answer(item->id, v));  // answered already: not ours any more
  CHECK(queue->CountPending() == 1);
  CHECK(QueryOne(db,
                 "SELECT verdict || ':' || confidence || ':' || claimed_by FROM "
                 "pending_judgements WHERE id = " +
                     std::to_string(item->id)) == "3:0.65:bob");

  CHECK_THROWS_WITH(MakeRemoteJudgeQueue(url, "wrong-token")->CountPending(),
                    Catch::Contains("unknown token"));
  s.service.Stop();
  CHECK_THROWS_WITH(queue->CountPending(), Catch::Contains("judging service"));
}

TEST_CASE("oversight serve: bad arguments are clear errors", "[serve]") {
  TempDir dir("serve-cli");
  const std::string db = QueueDb(dir, 1);
  struct Case {
    std::vector<std::string> args;
    std::string message;
  };
  for (const Case& c : std::vector<Case>{
           {{"serve", "--db", db, "--port", "0"}, "no judges"},
           {{"serve", "--db", db, "--port", "0", "--judge", "alice"}, "not NAME=TOKEN"},
           {{"serve", "--db", db, "--port", "0", "--judge", "alice=short"}, "shorter than 8"},
           {{"serve", "--db", db, "--port", "0", "--judge", "a=tokentoken", "--judge",
             "b=tokentoken"},
            "same token"},
           {{"serve", "--db", dir.File("none.db"), "--port", "0", "--judge", "a=tokentoken"},
            "none.db"},
           {{"serve", "--db", db, "--port", "0", "--tokens", dir.File("missing.txt")},
            "missing.txt"},
       }) {
    const auto r = RunOversight(c.args);
    INFO(r.err);
    CHECK(r.status == 2);
    CHECK_THAT(r.err, Catch::Contains(c.message));
  }
}
