// Text protocols (issue 9): quote checking, judges' answers, prompt
// templates, the chat client's retries against the scripted server
// (fake_llm.h, real HTTP on loopback), and `oversight run` of direct,
// consultancy and debate against it, with faults and a server that dies.
#include <catch2/catch.hpp>

#include <chrono>
#include <cstdlib>
#include <fstream>
#include <thread>

#include <nlohmann/json.hpp>

#include "engine/config.h"
#include "engine/interfaces.h"
#include "engine/store.h"
#include "engine/util.h"
#include "fake_llm.h"
#include "net/chat_client.h"
#include "protocols/text.h"
#include "test_util.h"

using namespace oversight;
using namespace oversight::testing;

namespace {

const std::string kQa = std::string(OVERSIGHT_REPO) + "/data/qa/tiny_qa.jsonl";

ChatEndpoint Endpoint(const FakeLlm& llm) {
  ChatEndpoint e;
  e.base_url = llm.base_url();
  e.model = "fake-7b";
  e.timeout_s = 2;
  e.retries = 4;
  e.backoff_s = 0;
  return e;
}

const std::vector<ChatMessage> kAsk = {
    {"user", "<question>Q?</question><answer_a>x</answer_a><answer_b>y</answer_b>"}};

// tests/configs/tiny_text.json with every base_url pointing at `llm`.
std::string TextConfig(const TempDir& dir, const FakeLlm& llm, int retries = 5) {
  nlohmann::json config = LoadJsonFile(ConfigPath("tiny_text.json"));
  std::function<void(nlohmann::json&)> point = [&](nlohmann::json& j) {
    if (j.is_object()) {
      if (j.contains("base_url")) {
        j["base_url"] = llm.base_url();
        j["retries"] = retries;
        j["timeout_s"] = 1.5;
      }
      for (auto& [k, v] : j.items()) point(v);
    } else if (j.is_array()) {
      for (auto& v : j) point(v);
    }
  };
  point(config);
  const std::string path = dir.File("tiny_text.json");
  std::ofstream(path) << config.dump(2);
  return path;
}

// TextConfig() cut to its debate stage on the first question (2 episodes,
// 2 rounds) on one episode worker; `debate` changes that stage.
std::string DebateAloneConfig(const TempDir& dir, const FakeLlm& llm,
                              const std::function<void(nlohmann::json&)>& debate) {
  const std::string config = TextConfig(dir, llm);
  nlohmann::json c = LoadJsonFile(config);
  c["stages"] = nlohmann::json::array({c["stages"][2]});
  c["stages"][0]["instances"] = 1;
  c["threads"] = 1;
  debate(c["stages"][0]);
  std::ofstream(config) << c.dump();
  return config;
}

}  // namespace

TEST_CASE("Quotes are verified against the passage, as Khan et al. mark them", "[text]") {
  const std::string passage =
      "The keeper  tended the lamp\nfor thirty years. He left “the wick” unlit.";
  const auto c = CheckQuotes(
      "See <quote>tended the lamp for thirty years</quote> and <quote>He LEFT \"the wick\" "
      "unlit.</quote> but <quote>the keeper ran out of oil</quote>.",
      passage);
  REQUIRE(c.quotes.size() == 3);
  CHECK(c.quotes[0].verified);   // white space differs
  CHECK(c.quotes[1].verified);   // case and curly quotes differ
  CHECK(!c.quotes[2].verified);  // invented
  CHECK(c.marked ==
        "See <v_quote>tended the lamp for thirty years</v_quote> and <v_quote>He LEFT \"the "
        "wick\" unlit.</v_quote> but <u_quote>the keeper ran out of oil</u_quote>.");

  // An agent cannot mark its own quotes verified.
  const auto forged = CheckQuotes("<v_quote>the keeper ran out of oil</v_quote>", passage);
  REQUIRE(forged.quotes.size() == 1);
  CHECK(!forged.quotes[0].verified);
  CHECK(forged.marked == "<u_quote>the keeper ran out of oil</u_quote>");
  // Unclosed, empty, and no passage at all.
  CHECK(CheckQuotes("<quote>tended the lamp", passage).quotes.at(0).verified);
  CHECK(!CheckQuotes("<quote>  </quote>", passage).quotes.at(0).verified);
  CHECK(!CheckQuotes("<quote>anything</quote>", "").quotes.at(0).verified);
  CHECK(CheckQuotes("no quotes here", passage).marked == "no quotes here");
}

TEST_CASE("Judges' answers are parsed into a verdict and a confidence", "[text]") {
  auto p = ParseJudgeAnswer("Debater B was vague.\nAnswer: A\nConfidence: 0.85");
  CHECK(p.choice == 0);
  CHECK(p.confidence == Approx(0.85));
  p = ParseJudgeAnswer("**Answer:** (B)\nConfidence: 70%");
  CHECK(p.choice == 1);
  CHECK(p.confidence == Approx(0.7));
  p = ParseJudgeAnswer("I think the answer is B");
  CHECK(p.choice == 1);
  CHECK(!p.confidence);
  p = ParseJudgeAnswer("{\"answer\": \"A\", \"confidence\": 0.6}");
  CHECK(p.choice == 0);
  CHECK(p.confidence == Approx(0.6));
  // The last answer counts; "answer a question" is not an answer.
  CHECK(ParseJudgeAnswer("Answer: A? No.\nAnswer: B").choice == 1);
  CHECK(!ParseJudgeAnswer("I cannot answer a question like this.").choice);
  CHECK(!ParseJudgeAnswer("Answer: Apples").choice);
  CHECK(!ParseJudgeAnswer("").choice);
  CHECK(ParseJudgeAnswer("Answer: A\nConfidence: 75").confidence == Approx(0.75));
  CHECK(!ParseJudgeAnswer("Answer: A\nConfidence: 750").confidence);
}

TEST_CASE("Prompt templates: fields are filled, unknown ones are errors naming file and line",
          "[text]") {
  const auto t =
      PromptTemplate::FromText("Q: {{question}}\nA: {{ answer_a }} {{passage}}!", "t.txt");
  CHECK(t.Render({{"question", "why?"}, {"answer_a", "because"}}) == "Q: why?\nA: because !");
  CHECK_THROWS_WITH(PromptTemplate::FromText("line one\n{{questoin}}", "p.txt"),
                    Catch::Contains("p.txt:2: unknown placeholder {{questoin}}"));
  CHECK_THROWS_WITH(PromptTemplate::FromText("{{question", "p.txt"),
                    Catch::Contains("p.txt:1: '{{' without a closing '}}'"));
  CHECK_THROWS_WITH(PromptTemplate::Load("prompts/missing.txt"),
                    Catch::Contains("prompts/missing.txt: cannot read"));
  // Every shipped prompt loads.
  for (const char* p : {"debater", "consultant", "judge_debate", "judge_consultancy",
                        "judge_direct", "judge_direct_passage"})
    CHECK_NOTHROW(PromptTemplate::Load(std::string("prompts/") + p + ".txt"));
}

TEST_CASE("Chat client: 429, 500, malformed and slow replies are retried, then succeed", "[chat]") {
  FakeLlm llm(kQa);
  llm.SetSlowSeconds(3);
  llm.Queue({FakeLlm::Fault::k429, FakeLlm::Fault::k500, FakeLlm::Fault::kMalformed,
             FakeLlm::Fault::kSlow});
  ChatEndpoint e = Endpoint(llm);
  e.timeout_s = 0.5;
  e.temperature = 0.7;
  ChatClient client(e);
  const ChatReply r = client.Complete(kAsk, 42);
  CHECK(r.attempts == 5);
  REQUIRE(r.retried.size() == 4);
  CHECK_THAT(r.retried[0], Catch::Contains("HTTP 429"));
  CHECK_THAT(r.retried[1], Catch::Contains("HTTP 500"));
  CHECK_THAT(r.retried[2], Catch::Contains("not a chat completion"));
  CHECK_THAT(r.retried[3], Catch::Contains("no answer within"));
  CHECK_THAT(r.text, Catch::Contains("Answer: A"));
  CHECK(r.prompt_tokens == 100);
  CHECK(r.completion_tokens > 0);
  const auto bodies = llm.bodies();
  REQUIRE(bodies.size() == 5);
  CHECK(bodies[0]["model"] == "fake-7b");
  CHECK(bodies[0]["seed"] == 42);
  CHECK(bodies[0]["temperature"] == Approx(0.7));
  CHECK(bodies[0]["messages"][0]["role"] == "user");
}

TEST_CASE("Chat client: retries run out, other 4xx are not retried", "[chat]") {
  FakeLlm llm(kQa);
  ChatEndpoint e = Endpoint(llm);
  e.retries = 2;
  llm.Queue({FakeLlm::Fault::k500, FakeLlm::Fault::k500, FakeLlm::Fault::kNoChoices});
  CHECK_THROWS_WITH(ChatClient(e).Complete(kAsk), Catch::Contains("failed after 3 attempts") &&
                                                      Catch::Contains("not a chat completion"));
  CHECK(llm.requests() == 3);

  e.base_url = "http://127.0.0.1:" + std::to_string(llm.port()) + "/v2";  // wrong path: 404
  CHECK_THROWS_WITH(ChatClient(e).Complete(kAsk), Catch::Contains("HTTP 404 (not retried)"));
  CHECK(llm.requests() == 4);

  llm.Stop();  // nothing listens: connection refused, retried, then an error
  e.base_url = llm.base_url();
  CHECK_THROWS_WITH(ChatClient(e).Complete(kAsk), Catch::Contains("failed after 3 attempts"));
}

TEST_CASE("Chat client: the API key comes from the named variable and is sent as Bearer",
          "[chat]") {
  FakeLlm llm(kQa);
  ChatEndpoint e = Endpoint(llm);
  e.api_key_env = "OVERSIGHT_TEST_UNSET_KEY";
  ::unsetenv("OVERSIGHT_TEST_UNSET_KEY");
  CHECK_THROWS_WITH(ChatClient(e), Catch::Contains("OVERSIGHT_TEST_UNSET_KEY"));
  ::setenv("OVERSIGHT_TEST_UNIT_KEY", "sk-unit", 1);
  e.api_key_env = "OVERSIGHT_TEST_UNIT_KEY";
  ChatClient(e).Complete(kAsk);
  CHECK(llm.authorizations().back() == "Bearer sk-unit");
}

TEST_CASE("Chat client: at most max_concurrent requests in flight per endpoint", "[chat]") {
  FakeLlm llm(kQa);
  llm.SetSlowSeconds(0.2);
  llm.Queue(std::vector<FakeLlm::Fault>(8, FakeLlm::Fault::kSlow));
  ChatEndpoint e = Endpoint(llm);
  e.max_concurrent = 2;
  ChatClient a(e), b(e);  // two clients of one endpoint share the limit
  std::vector<std::thread> threads;
  for (int i = 0; i < 8; ++i) threads.emplace_back([&, i] { (i % 2 ? a : b).Complete(kAsk); });
  for (auto& t : threads) t.join();
  CHECK(llm.requests() == 8);
  CHECK(llm.max_in_flight() == 2);
}

TEST_CASE("Text endpoints: bad options are config errors naming the key", "[chat]") {
  auto parse = [](const std::string& text) {
    auto root = std::make_shared<const nlohmann::json>(nlohmann::json::parse(text));
    ParseChatEndpoint(ConfigNode(root, "x.json"));
  };
  CHECK_THROWS_WITH(parse(R"({"base_url": "localhost:8000", "model": "m"})"),
                    Catch::Contains("base_url") && Catch::Contains("no scheme"));
  CHECK_THROWS_WITH(parse(R"({"base_url": "http://h/v1"})"), Catch::Contains("model"));
  CHECK_THROWS_WITH(parse(R"({"base_url": "http://h/v1", "model": "m", "retries": -1})"),
                    Catch::Contains("retries"));
  CHECK_THROWS_WITH(parse(R"({"base_url": "http://h/v1", "model": "m", "api_key": "sk"})"),
                    Catch::Contains("api_key"));
}

TEST_CASE("Text debate end to end: oversight run against a scripted model server", "[text-e2e]") {
  TempDir dir("text-e2e");
  FakeLlm llm(kQa);
  ::setenv("OVERSIGHT_TEST_KEY", "sk-secret-e2e", 1);
  // Faults along the way are retried; a judge that cannot be read 3 times
  // makes one episode unparseable.
  llm.SetSlowSeconds(3);
  llm.Queue({FakeLlm::Fault::k429, FakeLlm::Fault::k500, FakeLlm::Fault::kMalformed,
             FakeLlm::Fault::kSlow, FakeLlm::Fault::kUnparseable, FakeLlm::Fault::kUnparseable,
             FakeLlm::Fault::kUnparseable});
  const std::string config = TextConfig(dir, llm);
  const std::string db = dir.File("text.db");
  const auto r = RunOversight({"run", config, "--db", db, "--threads", "1"});
  INFO(r.err);
  REQUIRE(r.status == 0);

  // 12 questions x 2 variants per stage.
  CHECK(QueryOne(db, "SELECT count(*) FROM episodes") == "72");
  // The first episode's judge never answered readably: recorded as such.
  CHECK(QueryOne(db,
                 "SELECT status || ' ' || outcome || ' ' || ifnull(correct, 'NULL') FROM "
                 "episodes WHERE stage = 'direct_closed' AND idx = 0") ==
        "unparseable unparseable NULL");
  CHECK(QueryOne(db,
                 "SELECT json_array_length(detail, '$.answers') FROM judgements j JOIN "
                 "episodes e ON e.id = j.episode_id WHERE e.stage = 'direct_closed' AND "
                 "e.idx = 0") == "3");
  // A judge without the passage that always says A is right exactly when the
  // correct answer is shown first: half the time, whatever the order.
  CHECK(QueryOne(db,
                 "SELECT sum(correct) || '/' || count(correct) FROM episodes WHERE stage = "
                 "'direct_closed'") == "11/23");
  // Consultancy: believing only verified quotes is right on the 8 questions
  // with passages, and on the 4 closed-book ones only when the consultant
  // argued the wrong answer.
  CHECK(QueryOne(db, "SELECT sum(correct) FROM episodes WHERE stage = 'consultancy'") == "20");
  // Debate: the honest debater's quotes are verified, the liar's are not.
  CHECK(QueryOne(db,
                 "SELECT count(*) FROM turns t JOIN episodes e ON e.id = t.episode_id "
                 "WHERE e.stage = 'debate'") == "96");  // 24 x 2 rounds x 2 debaters
  CHECK(QueryOne(db,
                 "SELECT count(*) FROM turns t JOIN episodes e ON e.id = t.episode_id "
                 "WHERE e.stage = 'debate' AND json_extract(t.action, '$.answer') = "
                 "CAST(e.truth AS INTEGER) AND e.instance NOT LIKE 'capital%' AND "
                 "e.instance NOT LIKE 'water%' AND e.instance NOT LIKE 'prime%' AND "
                 "e.instance NOT LIKE 'planet%' AND (json_extract(t.action, "
                 "'$.verified') <> 1 OR t.content NOT LIKE '%<v_quote>%')") == "0");
  CHECK(QueryOne(db,
                 "SELECT count(*) FROM turns t JOIN episodes e ON e.id = t.episode_id "
                 "WHERE e.stage = 'debate' AND json_extract(t.action, '$.answer') <> "
                 "CAST(e.truth AS INTEGER) AND json_extract(t.action, '$.verified') > 0") == "0");
  CHECK(QueryOne(db, "SELECT sum(correct) FROM episodes WHERE stage = 'debate'") == "20");
  // Sequential turns: debater B's first argument saw A's.
  // Usage and latency are logged per turn and per judgement.
  CHECK(QueryOne(db,
                 "SELECT count(*) FROM turns WHERE latency_ms <= 0 OR "
                 "json_extract(action, '$.usage.prompt_tokens') IS NULL") == "0");
  CHECK(QueryOne(db, "SELECT count(DISTINCT judge_kind) || judge_kind FROM judgements") ==
        "1remote");
  CHECK(QueryOne(db, "SELECT count(*) FROM judgements WHERE judge <> 'remote:fake-judge'") == "0");
  // The key went to the server and nowhere into the log.
  for (const auto& a : llm.authorizations()) CHECK(a == "Bearer sk-secret-e2e");
  std::ifstream in(db, std::ios::binary);
  const std::string bytes((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  CHECK(bytes.find("sk-secret-e2e") == std::string::npos);
  CHECK(QueryOne(db, "SELECT count(*) FROM episodes WHERE status = 'failed'") == "0");
  // The report says what its accuracy leaves out, and has no image-debate table.
  const auto report = RunOversight({"report", "--db", db});
  CHECK_THAT(report.out, Catch::Contains("direct_closed: 1 unparseable (no verdict"));
  CHECK_THAT(report.out, !Catch::Contains("Irving et al. 2018, Table 2"));
}

TEST_CASE("Text debate: a model server that dies fails episodes whole, and --resume plays them",
          "[text-e2e]") {
  TempDir dir("text-down");
  FakeLlm llm(kQa);
  ::setenv("OVERSIGHT_TEST_KEY", "sk-secret-e2e", 1);
  const std::string config = TextConfig(dir, llm, 1);
  const std::string db = dir.File("text.db");
  llm.SetDownAfter(10);
  auto r = RunOversight({"run", config, "--db", db, "--threads", "2"});
  REQUIRE(r.status == 1);
  CHECK_THAT(r.err, Catch::Contains("episodes failed") && Catch::Contains("--resume"));
  CHECK(QueryOne(db, "SELECT status FROM experiments") == "failed");
  const int failed =
      std::stoi(QueryOne(db, "SELECT count(*) FROM episodes WHERE status = 'failed'"));
  CHECK(failed > 0);
  CHECK(QueryOne(db,
                 "SELECT count(*) FROM episodes e WHERE status = 'failed' AND (error NOT LIKE "
                 "'%HTTP 503%' OR outcome <> 'failed' OR correct IS NOT NULL OR EXISTS (SELECT "
                 "1 FROM judgements j WHERE j.episode_id = e.id))") == "0");
  // Nothing half-written: every episode that is not failed is whole.
  CHECK(QueryOne(db,
                 "SELECT count(*) FROM episodes e WHERE status <> 'failed' AND NOT EXISTS "
                 "(SELECT 1 FROM judgements j WHERE j.episode_id = e.id)") == "0");

  llm.SetDownAfter(-1);
  llm.SetDown(false);
  r = RunOversight({"run", config, "--db", db, "--resume"});
  INFO(r.err);
  REQUIRE(r.status == 0);
  CHECK(QueryOne(db, "SELECT count(*) FROM episodes WHERE status = 'failed'") == "0");
  CHECK(QueryOne(db, "SELECT count(*) FROM episodes") == "72");
  CHECK(QueryOne(db,
                 "SELECT count(*) FROM turns t JOIN episodes e ON e.id = t.episode_id "
                 "WHERE e.stage = 'debate'") == "96");
}

TEST_CASE("Text debate: Ctrl-C abandons the episodes in flight, and --resume completes the run",
          "[text-e2e]") {
  TempDir dir("text-int");
  FakeLlm llm(kQa);
  ::setenv("OVERSIGHT_TEST_KEY", "k", 1);
  const std::string config = TextConfig(dir, llm);
  const std::string db = dir.File("text.db");
  llm.SetDelay(0.2);  // every call 0.2 s: the run would take ~30 s
  const auto t0 = std::chrono::steady_clock::now();
  const auto r =
      RunCommand("", "sh",
                 {"-c", std::string("'") + OVERSIGHT_BIN + "' run '" + config + "' --db '" + db +
                            "' & p=$!; sleep 2; kill -INT $p; wait $p"});
  const double s = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  INFO(r.err);
  CHECK(r.status == 130);
  CHECK(s < 8);  // the calls in flight end; the episodes are not played out
  CHECK(QueryOne(db, "SELECT status FROM experiments") == "interrupted");
  const int logged = std::stoi(QueryOne(db, "SELECT count(*) FROM episodes"));
  CHECK(logged < 72);
  CHECK(QueryOne(db,
                 "SELECT count(*) FROM episodes e WHERE status <> 'complete' OR NOT EXISTS "
                 "(SELECT 1 FROM judgements j WHERE j.episode_id = e.id)") == "0");
  llm.SetDelay(0);
  const auto resumed = RunOversight({"run", config, "--db", db, "--resume"});
  INFO(resumed.err);
  REQUIRE(resumed.status == 0);
  CHECK(QueryOne(db, "SELECT count(*) FROM episodes") == "72");
  CHECK(QueryOne(db,
                 "SELECT count(*) FROM turns t JOIN episodes e ON e.id = t.episode_id "
                 "WHERE e.stage = 'debate'") == "96");
  CHECK(QueryOne(db, "SELECT status FROM experiments") == "finished");
}

TEST_CASE(
    "Text debate: simultaneous turns see only earlier rounds and sequential turns see the other "
    "side too",
    "[text-e2e]") {
  TempDir dir("text-turns");
  ::setenv("OVERSIGHT_TEST_KEY", "k", 1);
  for (const std::string turns : {"simultaneous", "sequential"}) {
    FakeLlm llm(kQa);
    const std::string config = DebateAloneConfig(
        dir, llm, [&](nlohmann::json& debate) { debate["protocol"]["turns"] = turns; });
    const std::string db = dir.File(turns + ".db");
    llm.SetDelay(0.1);  // so that calls made at once overlap
    const auto r = RunOversight({"run", config, "--db", db});
    INFO(r.err);
    REQUIRE(r.status == 0);
    // Episode 0's requests: A and B of round 1 (at once when simultaneous),
    // then of round 2, then the judge.
    const auto bodies = llm.bodies();
    REQUIRE(bodies.size() == 10);
    auto prompt = [&](int i) { return bodies[i]["messages"].back()["content"].get<std::string>(); };
    // The prompt among the first 4 of debater `side` in `round`.
    auto of = [&](const std::string& side, int round) {
      for (int i = 0; i < 4; ++i)
        if (prompt(i).find("named Debater " + side) != std::string::npos &&
            prompt(i).find("round " + std::to_string(round) + " of 2") != std::string::npos)
          return prompt(i);
      return std::string("(none)");
    };
    INFO(turns);
    const bool sequential = turns == "sequential";
    CHECK(of("A", 1).find("Debater B, round 1:") == std::string::npos);
    CHECK((of("B", 1).find("Debater A, round 1:") != std::string::npos) == sequential);
    // Round 2: both see round 1 whole; B sees A's round 2 only when sequential.
    CHECK_THAT(of("A", 2),
               Catch::Contains("Debater A, round 1:") && Catch::Contains("Debater B, round 1:"));
    CHECK((of("B", 2).find("Debater A, round 2:") != std::string::npos) == sequential);
    CHECK_THAT(prompt(4), Catch::Contains("You are the judge") &&
                              Catch::Contains("Debater B, round 2:") &&
                              !Catch::Contains("<passage>"));
    CHECK(bodies[4]["model"] == "fake-judge");
    CHECK(bodies[0]["model"] == "fake-debater");
    // Simultaneous turns are requested at once (one episode worker here).
    CHECK((llm.max_in_flight() == 2) == !sequential);
    CHECK(llm.max_in_flight() <= 2);
  }
}

TEST_CASE("A person judges text debates in the GUI connected to oversight serve",
          "[text-e2e][gui]") {
  TempDir dir("text-human");
  FakeLlm llm(kQa);
  ::setenv("OVERSIGHT_TEST_KEY", "k", 1);
  // Judged by a person: the judge "human" without "model".
  const std::string config = DebateAloneConfig(dir, llm, [](nlohmann::json& debate) {
    debate["judge"] = {{"name", "human"}, {"timeout_s", 120}, {"poll_ms", 50}};
  });
  const std::string db = dir.File("human.db");
  Store::Open(db);  // exists before the service opens it
  uint16_t port = 0;
  {
    HttpServer probe({}, [](const HttpRequest&) { return HttpReply{}; });
    port = probe.port();  // a free port, released for the service
  }
  const std::string url = "http://127.0.0.1:" + std::to_string(port);
  const std::string bin = std::string("'") + OVERSIGHT_BIN + "'";
  // The experiment, the service and the GUI; the person answers A for the
  // first item and B for the second (layout of a text item at 1280x800:
  // radio A at (18, 493), B at (56, 493), submit at (118, 572)).
  const std::string script =
      bin + " run '" + config + "' --db '" + db + "' > '" + dir.File("run.log") +
      "' 2>&1 & run=$!; " + bin + " serve --db '" + db + "' --port " + std::to_string(port) +
      " --judge alice=alice-token-1 > '" + dir.File("serve.log") + "' 2>&1 & srv=$!; sleep 1.5; '" +
      OVERSIGHT_GUI_BIN + "' --connect " + url +
      " --token alice-token-1 --panel queue --seconds 150 & gui=$!; " +
      XWaitForTitle("Oversight Lab", 10) + XClickUntilTitle(118, 85, "item 1", 240) +
      XClicksUntilTitle({{18, 493}, {118, 572}}, "answered 1", 60) +
      XClickUntilTitle(118, 85, "item 2", 240) +
      XClicksUntilTitle({{56, 493}, {118, 572}}, "answered 2", 60) +
      "kill $gui; wait $gui; wait $run; echo run=$?; kill -INT $srv; wait $srv; echo serve=$?";
  const CommandResult r = RunUnderXvfb(script);
  INFO(r.err << "\n" << ReadFile(dir.File("run.log")));
  CHECK_THAT(r.out, Catch::Contains("run=0") && Catch::Contains("serve=0"));
  CHECK(QueryColumn(db,
                    "SELECT claimed_by || ':' || verdict || ':' || json_extract(question, "
                    "'$.kind') || ':' || json_extract(question, '$.answer_a') FROM "
                    "pending_judgements ORDER BY id") ==
        std::vector<std::string>{"alice:A:text:An electric beacon replaced the old lamp.",
                                 "alice:B:text:The keeper ran out of oil for the lamp."});
  // A then B: both times the correct answer (the order was swapped), so
  // the verdicts are dataset answer 0, right.
  CHECK(QueryColumn(db,
                    "SELECT j.judge_kind || ':' || j.verdict || ':' || e.correct || ':' || "
                    "j.confidence FROM episodes e JOIN judgements j ON j.episode_id = e.id "
                    "ORDER BY e.idx") ==
        std::vector<std::string>{"human:0:1:0.75", "human:0:1:0.75"});
  // The person saw the arguments with their quotes marked.
  CHECK_THAT(QueryOne(db,
                      "SELECT json_extract(question, '$.transcript') FROM pending_judgements "
                      "WHERE id = 1"),
             Catch::Contains("<v_quote>") && Catch::Contains("<u_quote>"));
}

TEST_CASE("Text protocols: bad configs fail before anything runs, naming the key", "[text-e2e]") {
  TempDir dir("text-bad");
  FakeLlm llm(kQa);
  ::setenv("OVERSIGHT_TEST_KEY", "k", 1);
  const std::string config = TextConfig(dir, llm);
  const std::string db = dir.File("bad.db");
  struct Case {
    std::string set, expect;
  };
  for (const Case& c : std::vector<Case>{
           {"stages[0].judge.name=sparse", "stages[0]"},
           {"stages[2].protocol.debaters[0].name=greedy", "cannot argue in text"},
           {"stages[2].protocol.debaters[0].prompt=prompts/nope.txt", "prompts/nope.txt"},
           {"stages[2].protocol.turns=interleaved", "stages[2].protocol.turns"},
           {"stages[0].judge.endpoint.api_key_env=OVERSIGHT_NO_SUCH_KEY", "OVERSIGHT_NO_SUCH_KEY"},
           {"stages[0].task.path=data/qa/none.jsonl", "none.jsonl"},
           {"stages[0].judge={\"name\":\"human\",\"model\":{\"name\":\"sparse\","
            "\"checkpoint\":\"k6\"}}",
            "or \"human\" without \"model\""},
       }) {
    const auto r = RunOversight({"run", config, "--db", db, "--set", c.set});
    INFO(c.set << "\n" << r.err);
    CHECK(r.status == 2);
    CHECK_THAT(r.err, Catch::Contains(c.expect));
  }
  CHECK(llm.requests() == 0);
}
