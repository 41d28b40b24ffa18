// Tests of engine/store.h: the log schema contract, atomic episodes (also
// under SIGKILL), the batched EpisodeWriter, read-only access and lookups.
#include "engine/store.h"

#include <signal.h>
#include <sqlite3.h>
#include <sys/wait.h>
#include <unistd.h>

#include <atomic>
#include <catch2/catch.hpp>
#include <chrono>
#include <filesystem>
#include <fstream>
#include <random>
#include <regex>
#include <set>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include "tests/test_util.h"

namespace fs = std::filesystem;
using namespace oversight;

namespace {

using oversight::testing::TempDir;

// First column of the first row of `sql` as int64 / text (NULL -> "<null>").
int64_t QueryInt(sqlite3* db, const std::string& sql) {
  sqlite3_stmt* stmt = nullptr;
  REQUIRE(sqlite3_prepare_v2(db, sql.c_str(), -1, &stmt, nullptr) == SQLITE_OK);
  REQUIRE(sqlite3_step(stmt) == SQLITE_ROW);
  const int64_t v = sqlite3_column_int64(stmt, 0);
  sqlite3_finalize(stmt);
  return v;
}

std::string QueryText(sqlite3* db, const std::string& sql) {
  sqlite3_stmt* stmt = nullptr;
  REQUIRE(sqlite3_prepare_v2(db, sql.c_str(), -1, &stmt, nullptr) == SQLITE_OK);
  REQUIRE(sqlite3_step(stmt) == SQLITE_ROW);
  const auto* p = sqlite3_column_text(stmt, 0);
  std::string v = p ? reinterpret_cast<const char*>(p) : "<null>";
  sqlite3_finalize(stmt);
  return v;
}

std::set<std::string> Columns(sqlite3* db, const std::string& table) {
  sqlite3_stmt* stmt = nullptr;
  const std::string sql = "PRAGMA table_info(" + table + ")";
  REQUIRE(sqlite3_prepare_v2(db, sql.c_str(), -1, &stmt, nullptr) == SQLITE_OK);
  std::set<std::string> cols;
  while (sqlite3_step(stmt) == SQLITE_ROW)
    cols.insert(reinterpret_cast<const char*>(sqlite3_column_text(stmt, 1)));
  sqlite3_finalize(stmt);
  return cols;
}

std::string FileBytes(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  std::ostringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

// An episode with `turns` turns (idx 0..n-1, each turn's parent the one
// before) and one judgement.
EpisodeRecord MakeEpisode(int64_t experiment_id, const std::string& stage,
                          int64_t idx, int turns) {
  EpisodeRecord ep;
  ep.experiment_id = experiment_id;
  ep.stage = stage;
  ep.idx = idx;
  ep.protocol = "debate";
  ep.task = "mnist";
  ep.instance = "test/" + std::to_string(idx);
  ep.seed = 1000 + static_cast<uint64_t>(idx);
  ep.truth = "3";
  ep.outcome = "3";
  ep.correct = 1;
  ep.started_at = NowIso();
  ep.finished_at = NowIso();
  for (int t = 0; t < turns; ++t) {
    TurnRecord turn;
    turn.idx = t;
    turn.role = t % 2 ? "liar" : "honest";
    turn.agent = "mcts";
    turn.action = "{\"pixel\":[" + std::to_string(t) + ",17],\"value\":0.73}";
    if (t > 0) turn.parent_idx = t - 1;
    turn.latency_ms = 0.5;
    ep.turns.push_back(turn);
  }
  JudgementRecord j;
  j.judge = "sparse_mnist";
  j.judge_kind = JudgeKind::kModel;
  j.verdict = "3";
  j.confidence = 0.9;
  ep.judgements.push_back(j);
  return ep;
}

// Episodes whose turn count differs from `turns` or judgement count from
// `judgements` (a partial episode).
int64_t IncompleteEpisodes(sqlite3* db, int turns, int judgements) {
  return QueryInt(
      db, "SELECT count(*) FROM episodes e WHERE "
          "(SELECT count(*) FROM turns t WHERE t.episode_id=e.id) != " +
              std::to_string(turns) +
              " OR (SELECT count(*) FROM judgements j WHERE j.episode_id=e.id) != " +
              std::to_string(judgements));
}

}  // namespace

TEST_CASE("Schema: version, WAL and contract columns", "[store]") {
  TempDir dir("store");
  const std::string path = dir.File("log.db");
  {
    auto store = Store::Open(path);
    sqlite3* db = store->handle();
    CHECK(QueryInt(db, "PRAGMA user_version") == kSchemaVersion);
    CHECK(kSchemaVersion == 3);
    CHECK(QueryText(db, "PRAGMA journal_mode") == "wal");
    CHECK(QueryInt(db, "PRAGMA foreign_keys") == 1);
    CHECK(QueryInt(db, "PRAGMA synchronous") == 1);  // NORMAL
    CHECK(QueryInt(db, "PRAGMA page_size") == 16384);

    const std::vector<std::pair<std::string, std::vector<std::string>>> contract = {
        {"experiments",
         {"id", "name", "config_json", "seed", "status", "started_at",
          "finished_at", "code_version"}},
        {"stages",
         {"experiment_id", "idx", "name", "kind", "status", "started_at",
          "finished_at"}},
        {"episodes",
         {"id", "experiment_id", "stage", "idx", "protocol", "task", "instance",
          "seed", "truth", "outcome", "correct", "status", "started_at",
          "finished_at"}},
        {"turns",
         {"id", "episode_id", "idx", "role", "agent", "action", "content",
          "parent_turn_id", "latency_ms", "created_at"}},
        {"judgements",
         {"id", "episode_id", "judge", "judge_kind", "verdict", "confidence",
          "detail", "latency_ms", "created_at"}},
        {"metrics", {"experiment_id", "stage", "step", "name", "value", "created_at"}},
        {"artifacts",
         {"id", "experiment_id", "kind", "name", "path", "sha256", "stage", "step",
          "created_at"}},
        {"pending_judgements",
         {"id", "experiment_id", "stage", "episode_idx", "protocol", "task", "instance",
          "question", "status", "claimed_by", "claimed_at", "verdict", "confidence", "reason",
          "latency_ms", "created_at", "answered_at"}},
    };
    for (const auto& [table, columns] : contract) {
      const auto have = Columns(db, table);
      for (const auto& c : columns) {
        INFO(table << "." << c);
        CHECK(have.count(c) == 1);
      }
    }
    // Constraints of the contract are enforced.
    const int64_t exp = store->CreateExperiment("e", "{}", 1, "v");
    CHECK_THROWS_AS(store->SetExperimentStatus(exp, "bogus"), StoreError);
    CHECK_THROWS_AS(store->Exec("INSERT INTO judgements(episode_id, judge, "
                                "judge_kind, created_at) VALUES(1,'j','robot','t')",
                                "insert bad judgement"),
                    StoreError);
  }
  // Reopening does not migrate again and keeps the data.
  {
    auto store = Store::Open(path);
    CHECK(store->GetExperiment(1).has_value());
    store->Exec("PRAGMA user_version=7", "pretend newer");
  }
  try {
    Store::Open(path);
    FAIL("opened a file of a newer schema");
  } catch (const StoreError& e) {
    CHECK_THAT(e.what(), Catch::Contains(path) && Catch::Contains("newer"));
  }
}

TEST_CASE("NowIso and JudgeKindName", "[store]") {
  const std::regex iso(R"(^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$)");
  CHECK(std::regex_match(NowIso(), iso));
  CHECK(std::string(JudgeKindName(JudgeKind::kModel)) == "model");
  CHECK(std::string(JudgeKindName(JudgeKind::kHuman)) == "human");
  CHECK(std::string(JudgeKindName(JudgeKind::kOracle)) == "oracle");
  CHECK(std::string(JudgeKindName(JudgeKind::kRewardModel)) == "reward_model");
  CHECK(std::string(JudgeKindName(JudgeKind::kRemote)) == "remote");
}

TEST_CASE("An episode with turns and judgements round-trips", "[store]") {
  TempDir dir("store");
  auto store = Store::Open(dir.File("log.db"));
  sqlite3* db = store->handle();
  const int64_t exp = store->CreateExperiment("rt", "{\"a\":1}", 5, "v1");

  EpisodeRecord ep;
  ep.experiment_id = exp;
  ep.stage = "eval";
  ep.idx = 4;
  ep.protocol = "amplification";
  ep.task = "arith";
  ep.instance = "q17";
  ep.seed = 0xFFFFFFFFFFFFFFF0ull;  // above INT64_MAX: stored bit-cast
  ep.truth = "42";
  ep.outcome = "41";
  ep.correct = 0;
  ep.status = "complete";
  ep.started_at = "2026-01-02T03:04:05.000Z";
  ep.finished_at = "2026-01-02T03:04:06.500Z";
  // A tree with non-dense idx values: 10 <- 20 <- 30, 10 <- 40.
  const int idxs[] = {10, 20, 30, 40};
  const std::optional<int> parents[] = {std::nullopt, 10, 20, 10};
  for (int i = 0; i < 4; ++i) {
    TurnRecord t;
    t.idx = idxs[i];
    t.role = "decomposer";
    t.agent = "llm";
    t.action = "{\"q\":" + std::to_string(i) + "}";
    t.content = i == 2 ? "" : "text " + std::to_string(i);
    t.parent_idx = parents[i];
    t.latency_ms = 1.25 * i;
    ep.turns.push_back(t);
  }
  JudgementRecord j1;
  j1.judge = "rm";
  j1.judge_kind = JudgeKind::kRewardModel;
  j1.verdict = "accept";
  j1.confidence = 0.75;
  j1.detail = "{\"logits\":[1,2]}";
  j1.latency_ms = 3.5;
  JudgementRecord j2;
  j2.judge = "alice";
  j2.judge_kind = JudgeKind::kHuman;
  j2.verdict = "reject";
  ep.judgements = {j1, j2};

  // A second episode without finished_at: created_at comes from NowIso().
  EpisodeRecord ep2 = MakeEpisode(exp, "eval", 5, 3);
  ep2.finished_at.clear();
  ep2.correct.reset();
  ep2.truth.reset();

  store->InsertEpisodes({ep, ep2});

  CHECK(store->EpisodeIndexes(exp, "eval") == std::vector<int64_t>{4, 5});
  CHECK(store->EpisodeIndexes(exp, "train").empty());

  sqlite3_stmt* s = nullptr;
  REQUIRE(sqlite3_prepare_v2(db,
                             "SELECT id, experiment_id, stage, idx, protocol, task, "
                             "instance, seed, truth, outcome, correct, status, "
                             "started_at, finished_at FROM episodes WHERE idx=4",
                             -1, &s, nullptr) == SQLITE_OK);
  REQUIRE(sqlite3_step(s) == SQLITE_ROW);
  const int64_t episode_id = sqlite3_column_int64(s, 0);
  auto text = [&](int i) {
    return std::string(reinterpret_cast<const char*>(sqlite3_column_text(s, i)));
  };
  CHECK(sqlite3_column_int64(s, 1) == exp);
  CHECK(text(2) == "eval");
  CHECK(sqlite3_column_int64(s, 3) == 4);
  CHECK(text(4) == "amplification");
  CHECK(text(5) == "arith");
  CHECK(text(6) == "q17");
  CHECK(static_cast<uint64_t>(sqlite3_column_int64(s, 7)) == ep.seed);
  CHECK(text(8) == "42");
  CHECK(text(9) == "41");
  CHECK(sqlite3_column_int64(s, 10) == 0);
  CHECK(text(11) == "complete");
  CHECK(text(12) == ep.started_at);
  CHECK(text(13) == ep.finished_at);
  sqlite3_finalize(s);

  const std::string e = std::to_string(episode_id);
  CHECK(QueryInt(db, "SELECT count(*) FROM turns WHERE episode_id=" + e) == 4);
  for (int i = 0; i < 4; ++i) {
    const std::string where =
        " FROM turns WHERE episode_id=" + e + " AND idx=" + std::to_string(idxs[i]);
    INFO("turn idx " << idxs[i]);
    CHECK(QueryText(db, "SELECT role" + where) == "decomposer");
    CHECK(QueryText(db, "SELECT agent" + where) == "llm");
    CHECK(QueryText(db, "SELECT action" + where) == ep.turns[i].action);
    CHECK(QueryText(db, "SELECT content" + where) ==
          (i == 2 ? "<null>" : ep.turns[i].content));
    CHECK(QueryText(db, "SELECT latency_ms" + where) ==
          QueryText(db, "SELECT " + std::to_string(1.25 * i)));
    CHECK(QueryText(db, "SELECT created_at" + where) == ep.finished_at);
    if (parents[i]) {
      // parent_turn_id is the row id of the turn with idx == parent_idx.
      CHECK(QueryInt(db, "SELECT p.idx FROM turns c JOIN turns p ON "
                         "p.id=c.parent_turn_id WHERE c.episode_id=" +
                             e + " AND c.idx=" + std::to_string(idxs[i])) ==
            *parents[i]);
    } else {
      CHECK(QueryText(db, "SELECT parent_turn_id" + where) == "<null>");
    }
  }

  CHECK(QueryInt(db, "SELECT count(*) FROM judgements WHERE episode_id=" + e) == 2);
  const std::string j = " FROM judgements WHERE episode_id=" + e + " AND judge=";
  CHECK(QueryText(db, "SELECT judge_kind" + j + "'rm'") == "reward_model");
  CHECK(QueryText(db, "SELECT verdict" + j + "'rm'") == "accept");
  CHECK(QueryText(db, "SELECT confidence" + j + "'rm'") == "0.75");
  CHECK(QueryText(db, "SELECT detail" + j + "'rm'") == "{\"logits\":[1,2]}");
  CHECK(QueryText(db, "SELECT latency_ms" + j + "'rm'") == "3.5");
  CHECK(QueryText(db, "SELECT created_at" + j + "'rm'") == ep.finished_at);
  CHECK(QueryText(db, "SELECT judge_kind" + j + "'alice'") == "human");
  CHECK(QueryText(db, "SELECT confidence" + j + "'alice'") == "<null>");

  // Episode without ground truth / finish time.
  CHECK(QueryText(db, "SELECT correct FROM episodes WHERE idx=5") == "<null>");
  CHECK(QueryText(db, "SELECT truth FROM episodes WHERE idx=5") == "<null>");
  const std::string e2 = std::to_string(
      QueryInt(db, "SELECT id FROM episodes WHERE idx=5"));
  // Dense idx values: each turn's parent is the turn before it.
  CHECK(QueryInt(db, "SELECT count(*) FROM turns c JOIN turns p ON "
                     "p.id=c.parent_turn_id WHERE c.episode_id=" + e2 +
                     " AND p.episode_id=c.episode_id AND p.idx=c.idx-1") == 2);
  // One timestamp for all rows of the episode, in NowIso() format.
  CHECK(QueryInt(db, "SELECT count(DISTINCT created_at) FROM (SELECT created_at "
                     "FROM turns WHERE episode_id=" + e2 +
                     " UNION ALL SELECT created_at FROM judgements WHERE "
                     "episode_id=" + e2 + ")") == 1);
  CHECK(std::regex_match(
      QueryText(db, "SELECT created_at FROM turns WHERE episode_id=" + e2),
      std::regex(R"(^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$)")));
  CHECK(QueryInt(db, "SELECT count(*) FROM pragma_foreign_key_check") == 0);
}

TEST_CASE("A failing InsertEpisodes batch leaves no rows", "[store]") {
  TempDir dir("store");
  auto store = Store::Open(dir.File("log.db"));
  sqlite3* db = store->handle();
  const int64_t exp = store->CreateExperiment("dup", "{}", 1, "v");
  store->InsertEpisodes({MakeEpisode(exp, "s", 0, 5)});

  auto counts = [&] {
    return std::vector<int64_t>{QueryInt(db, "SELECT count(*) FROM episodes"),
                                QueryInt(db, "SELECT count(*) FROM turns"),
                                QueryInt(db, "SELECT count(*) FROM judgements")};
  };
  const auto before = counts();
  CHECK(before == std::vector<int64_t>{1, 5, 1});

  SECTION("duplicate (experiment, stage, idx) within the batch") {
    std::vector<EpisodeRecord> batch = {MakeEpisode(exp, "s", 1, 5),
                                        MakeEpisode(exp, "s", 2, 5),
                                        MakeEpisode(exp, "s", 1, 5)};
    try {
      store->InsertEpisodes(batch);
      FAIL("duplicate episode accepted");
    } catch (const StoreError& e) {
      CHECK_THAT(e.what(), Catch::Contains(store->path()) &&
                               Catch::Contains("UNIQUE"));
    }
  }
  SECTION("parent_idx of a later turn") {
    std::vector<EpisodeRecord> batch = {MakeEpisode(exp, "s", 1, 5),
                                        MakeEpisode(exp, "s", 2, 5)};
    batch[1].turns[1].parent_idx = 3;
    CHECK_THROWS_WITH(store->InsertEpisodes(batch), Catch::Contains("parent_idx 3"));
  }
  SECTION("unknown experiment (foreign key)") {
    std::vector<EpisodeRecord> batch = {MakeEpisode(exp, "s", 1, 5),
                                        MakeEpisode(exp + 100, "s", 2, 5)};
    CHECK_THROWS_AS(store->InsertEpisodes(batch), StoreError);
  }
  CHECK(counts() == before);
  CHECK(store->EpisodeIndexes(exp, "s") == std::vector<int64_t>{0});
}

TEST_CASE("EpisodeWriter writes every episode whole", "[store]") {
  TempDir dir("store");
  const std::string path = dir.File("log.db");
  int64_t exp = 0;
  {
    auto store = Store::Open(path);
    exp = store->CreateExperiment("w", "{}", 1, "v");
  }
  constexpr int kThreads = 4, kPerThread = 300, kTurns = 7;
  {
    EpisodeWriter::Options options;
    options.max_turns_per_transaction = 100;  // many transactions
    EpisodeWriter writer(path, options);
    std::vector<std::thread> producers;
    for (int t = 0; t < kThreads; ++t)
      producers.emplace_back([&, t] {
        for (int i = 0; i < kPerThread; ++i)
          writer.Submit(MakeEpisode(exp, "s", t * kPerThread + i, kTurns));
      });
    for (auto& p : producers) p.join();
    writer.Flush();
    CHECK(writer.committed() == kThreads * kPerThread);
    // Reusable after a flush.
    writer.Submit(MakeEpisode(exp, "s", kThreads * kPerThread, kTurns));
    writer.Flush();
    CHECK(writer.committed() == kThreads * kPerThread + 1);
  }
  auto store = Store::Open(path, Store::Mode::kReadOnly);
  sqlite3* db = store->handle();
  CHECK(QueryInt(db, "SELECT count(*) FROM episodes") == kThreads * kPerThread + 1);
  CHECK(QueryInt(db, "SELECT count(*) FROM turns") ==
        (kThreads * kPerThread + 1) * kTurns);
  CHECK(IncompleteEpisodes(db, kTurns, 1) == 0);
  CHECK(store->EpisodeIndexes(exp, "s").size() == kThreads * kPerThread + 1);
}

TEST_CASE("EpisodeWriter: a failed write loses whole episodes and sticks",
          "[store]") {
  TempDir dir("store");
  const std::string path = dir.File("log.db");
  int64_t exp = 0;
  {
    auto store = Store::Open(path);
    exp = store->CreateExperiment("w", "{}", 1, "v");
  }
  constexpr int kTurns = 6;
  int64_t committed = 0;
  {
    EpisodeWriter::Options options;
    options.max_turns_per_transaction = 20;
    EpisodeWriter writer(path, options);
    for (int i = 0; i < 10; ++i) writer.Submit(MakeEpisode(exp, "s", i, kTurns));
    writer.Flush();
    CHECK(writer.committed() == 10);
    // The writer thread may hit the error while episodes are still being
    // submitted: then a later Submit reports it, else Flush does.
    bool reported = false;
    try {
      for (int i = 10; i < 20; ++i) {
        EpisodeRecord ep = MakeEpisode(exp, "s", i, kTurns);
        if (i == 15) ep.turns[4].parent_idx = 99;  // fails after 4 turns written
        writer.Submit(std::move(ep));
      }
      writer.Flush();
    } catch (const StoreError& e) {
      reported = true;
      CHECK_THAT(e.what(), Catch::Contains(path) && Catch::Contains("parent_idx 99"));
    }
    CHECK(reported);
    CHECK_THROWS_AS(writer.Submit(MakeEpisode(exp, "s", 50, kTurns)), StoreError);
    CHECK_THROWS_AS(writer.Flush(), StoreError);
    committed = writer.committed();
  }  // destructor swallows the error
  CHECK(committed >= 10);
  CHECK(committed < 15);

  auto store = Store::Open(path, Store::Mode::kReadOnly);
  sqlite3* db = store->handle();
  CHECK(QueryInt(db, "SELECT count(*) FROM episodes") == committed);
  CHECK(QueryInt(db, "SELECT count(*) FROM turns") == committed * kTurns);
  CHECK(IncompleteEpisodes(db, kTurns, 1) == 0);
  CHECK(QueryInt(db, "SELECT count(*) FROM episodes WHERE idx >= 15") == 0);
}

TEST_CASE("EpisodeWriter needs an existing migrated database", "[store]") {
  TempDir dir("store");
  CHECK_THROWS_AS(EpisodeWriter(dir.File("missing.db")), StoreError);
  const std::string empty = dir.File("empty.db");
  {
    sqlite3* db = nullptr;
    REQUIRE(sqlite3_open(empty.c_str(), &db) == SQLITE_OK);
    REQUIRE(sqlite3_exec(db, "CREATE TABLE x(a)", nullptr, nullptr, nullptr) ==
            SQLITE_OK);
    sqlite3_close(db);
  }
  CHECK_THROWS_WITH(EpisodeWriter(empty), Catch::Contains("schema version 0"));
  // And Store refuses to adopt a foreign database.
  CHECK_THROWS_WITH(Store::Open(empty), Catch::Contains("not an oversight database"));
}

TEST_CASE("Episodes are atomic when the writer process is killed", "[store]") {
  TempDir dir("store");
  const std::string path = dir.File("killed.db");
  constexpr int kTurns = 50;

  int ready[2];
  REQUIRE(pipe(ready) == 0);
  // Fork before this process opens any connection to the file.
  const pid_t child = fork();
  REQUIRE(child >= 0);
  if (child == 0) {
    close(ready[0]);
    int code = 0;
    try {
      int64_t exp = 0;
      {
        auto store = Store::Open(path);
        exp = store->CreateExperiment("killed", "{}", 1, "v");
      }
      EpisodeWriter::Options options;
      options.max_turns_per_transaction = 2000;
      EpisodeWriter writer(path, options);
      for (int64_t i = 0;; ++i) {
        writer.Submit(MakeEpisode(exp, "s", i, kTurns));
        if (i % 200 == 199) {  // bound the queue; signal the first commit
          writer.Flush();
          if (i == 199 && write(ready[1], "r", 1) != 1) code = 2;
        }
      }
    } catch (...) {
      code = 1;
    }
    _exit(code);  // never return into the test runner
  }
  close(ready[1]);
  char byte = 0;
  const ssize_t got = read(ready[0], &byte, 1);
  close(ready[0]);
  if (got == 1) std::this_thread::sleep_for(std::chrono::milliseconds(300));
  kill(child, SIGKILL);
  int status = 0;
  REQUIRE(waitpid(child, &status, 0) == child);
  REQUIRE(got == 1);  // the child wrote its first episodes
  CHECK(WIFSIGNALED(status));

  auto store = Store::Open(path);  // read-write: recovers the WAL
  sqlite3* db = store->handle();
  CHECK(QueryText(db, "PRAGMA integrity_check") == "ok");
  const int64_t episodes = QueryInt(db, "SELECT count(*) FROM episodes");
  INFO("episodes committed before the kill: " << episodes);
  CHECK(episodes >= 200);
  CHECK(IncompleteEpisodes(db, kTurns, 1) == 0);
  CHECK(QueryInt(db, "SELECT count(*) FROM turns") == episodes * kTurns);
  // Episode indexes are a gap-free prefix: transactions commit in order.
  CHECK(QueryInt(db, "SELECT max(idx) FROM episodes") == episodes - 1);
}

TEST_CASE("Read-only open never changes the file", "[store]") {
  TempDir dir("store");
  const std::string path = dir.File("ro.db");
  {
    auto store = Store::Open(path);
    const int64_t exp = store->CreateExperiment("ro", "{}", 3, "v");
    store->InsertEpisodes({MakeEpisode(exp, "s", 0, 3)});
  }
  const std::string before = FileBytes(path);
  REQUIRE(!before.empty());
  {
    auto store = Store::Open(path, Store::Mode::kReadOnly);
    CHECK(store->GetExperiment(1)->name == "ro");
    CHECK(store->EpisodeIndexes(1, "s") == std::vector<int64_t>{0});
    try {
      store->Exec("INSERT INTO experiments(name, config_json, seed, status, "
                  "started_at, code_version) VALUES('x','{}',1,'running','t','v')",
                  "insert experiment");
      FAIL("read-only store accepted an INSERT");
    } catch (const StoreError& e) {
      CHECK_THAT(e.what(), Catch::Contains(path) &&
                               Catch::Contains("insert experiment failed"));
    }
    CHECK_THROWS_AS(store->CreateExperiment("x", "{}", 1, "v"), StoreError);
  }
  CHECK(FileBytes(path) == before);

  const std::string missing = dir.File("missing.db");
  CHECK_THROWS_WITH(Store::Open(missing, Store::Mode::kReadOnly),
                    Catch::Contains(missing));
  CHECK(!fs::exists(missing));
}

TEST_CASE("A file that is not SQLite is rejected, naming it", "[store]") {
  TempDir dir("store");
  const std::string path = dir.File("notes.db");
  const std::string garbage =
      "This is not a database, just some text that happens to be long enough "
      "to cover the 100-byte SQLite header and then some more words.\n";
  {
    std::ofstream out(path, std::ios::binary);
    out << garbage;
  }
  try {
    Store::Open(path);
    FAIL("opened a text file as a database");
  } catch (const StoreError& e) {
    CHECK_THAT(e.what(), Catch::Contains(path));
  }
  CHECK_THROWS_WITH(Store::Open(path, Store::Mode::kReadOnly), Catch::Contains(path));
  CHECK(FileBytes(path) == garbage);
}

TEST_CASE("Experiments, stages, metrics and artifacts", "[store]") {
  TempDir dir("store");
  auto store = Store::Open(dir.File("log.db"));
  sqlite3* db = store->handle();

  SECTION("experiment status and FindResumable") {
    CHECK(!store->FindResumable("exp").has_value());
    const uint64_t big_seed = 0x8000000000000001ull;
    const int64_t a = store->CreateExperiment("exp", "{\"x\":1}", big_seed, "v1");
    const int64_t other = store->CreateExperiment("other", "{}", 2, "v1");
    const int64_t b = store->CreateExperiment("exp", "{\"x\":2}", 3, "v2");

    auto row = store->GetExperiment(a);
    REQUIRE(row);
    CHECK(row->name == "exp");
    CHECK(row->config_json == "{\"x\":1}");
    CHECK(row->seed == big_seed);
    CHECK(row->status == "running");
    CHECK(row->code_version == "v1");
    CHECK(!row->started_at.empty());
    CHECK(row->finished_at.empty());
    CHECK(!store->GetExperiment(9999).has_value());

    CHECK(store->FindResumable("exp")->id == b);  // latest unfinished
    store->SetExperimentStatus(b, "finished");
    CHECK(!store->GetExperiment(b)->finished_at.empty());
    CHECK(store->FindResumable("exp")->id == a);
    store->SetExperimentStatus(a, "interrupted");
    CHECK(store->GetExperiment(a)->status == "interrupted");
    CHECK(!store->GetExperiment(a)->finished_at.empty());
    CHECK(store->FindResumable("exp")->id == a);  // interrupted is resumable
    store->SetExperimentStatus(a, "running");
    CHECK(store->GetExperiment(a)->finished_at.empty());
    store->SetExperimentStatus(a, "failed");
    CHECK(store->FindResumable("exp")->id == a);
    store->SetExperimentStatus(a, "finished");
    CHECK(!store->FindResumable("exp").has_value());
    CHECK(store->FindResumable("other")->id == other);
    CHECK_THROWS_WITH(store->SetExperimentStatus(12345, "finished"),
                      Catch::Contains("no such experiment"));
  }

  SECTION("stage status upsert") {
    const int64_t exp = store->CreateExperiment("s", "{}", 1, "v");
    CHECK(!store->GetStageStatus(exp, 0).has_value());
    store->SetStageStatus(exp, 0, "pretrain", "train_judge", "running");
    CHECK(store->GetStageStatus(exp, 0) == std::optional<std::string>("running"));
    const std::string q = "FROM stages WHERE experiment_id=" + std::to_string(exp) +
                          " AND idx=0";
    const std::string started = QueryText(db, "SELECT started_at " + q);
    CHECK(started != "<null>");
    CHECK(QueryText(db, "SELECT finished_at " + q) == "<null>");
    std::this_thread::sleep_for(std::chrono::milliseconds(5));
    store->SetStageStatus(exp, 0, "pretrain", "train_judge", "interrupted");
    store->SetStageStatus(exp, 0, "pretrain", "train_judge", "running");
    CHECK(QueryText(db, "SELECT started_at " + q) == started);  // kept
    store->SetStageStatus(exp, 0, "pretrain", "train_judge", "finished");
    CHECK(store->GetStageStatus(exp, 0) == std::optional<std::string>("finished"));
    CHECK(QueryText(db, "SELECT finished_at " + q) != "<null>");
    CHECK(QueryInt(db, "SELECT count(*) FROM stages") == 1);
    store->SetStageStatus(exp, 1, "eval", "episodes", "running");
    CHECK(QueryInt(db, "SELECT count(*) FROM stages") == 2);
    CHECK_THROWS_AS(store->SetStageStatus(exp, 1, "eval", "episodes", "bogus"),
                    StoreError);
  }

  SECTION("metrics") {
    const int64_t exp = store->CreateExperiment("m", "{}", 1, "v");
    store->InsertMetrics(exp, "train", {{"loss", 1, 0.5}, {"loss", 2, 0.25},
                                        {"acc", 2, 0.9}});
    CHECK(QueryInt(db, "SELECT count(*) FROM metrics WHERE stage='train'") == 3);
    CHECK(QueryText(db, "SELECT value FROM metrics WHERE name='loss' AND step=2") ==
          "0.25");
    CHECK(QueryInt(db, "SELECT count(DISTINCT created_at) FROM metrics") == 1);
    // All or nothing.
    CHECK_THROWS_AS(store->InsertMetrics(exp + 50, "train", {{"loss", 3, 0.1}}),
                    StoreError);
    CHECK(QueryInt(db, "SELECT count(*) FROM metrics") == 3);
  }

  SECTION("FindArtifact prefers the experiment's own, then the latest") {
    const int64_t e1 = store->CreateExperiment("a", "{}", 1, "v");
    const int64_t e2 = store->CreateExperiment("b", "{}", 1, "v");
    ArtifactRow row;
    row.experiment_id = e1;
    row.kind = "judge";
    row.name = "sparse";
    row.path = "/m/e1_old.pt";
    row.sha256 = "aa";
    row.stage = "pretrain";
    row.step = 7;
    const int64_t e1_old = store->InsertArtifact(row);
    row.path = "/m/e1_new.pt";
    const int64_t e1_new = store->InsertArtifact(row);
    row.experiment_id = e2;
    row.path = "/m/e2.pt";
    row.stage.clear();
    const int64_t e2_id = store->InsertArtifact(row);
    row.kind = "agent";  // same name, other kind
    const int64_t agent_id = store->InsertArtifact(row);
    CHECK(e1_old < e1_new);
    CHECK(e1_new < e2_id);

    auto own = store->FindArtifact("judge", "sparse", e1);
    REQUIRE(own);
    CHECK(own->id == e1_new);
    CHECK(own->path == "/m/e1_new.pt");
    CHECK(own->experiment_id == e1);
    CHECK(own->stage == "pretrain");
    CHECK(own->step == 7);
    CHECK(own->sha256 == "aa");
    CHECK(store->FindArtifact("judge", "sparse", e2)->id == e2_id);
    CHECK(store->FindArtifact("judge", "sparse")->id == e2_id);  // latest overall
    const int64_t e3 = store->CreateExperiment("c", "{}", 1, "v");
    CHECK(store->FindArtifact("judge", "sparse", e3)->id == e2_id);  // fallback
    CHECK(store->FindArtifact("agent", "sparse")->id == agent_id);
    CHECK(store->FindArtifact("agent", "sparse")->stage.empty());
    CHECK(!store->FindArtifact("judge", "dense").has_value());
  }
}

TEST_CASE("Schema 1 logs migrate to 3 (the human-judge queue, episodes.error) and keep their data", "[store]") {
  TempDir dir("store-migrate");
  const std::string path = dir.File("old.db");
  {
    auto store = Store::Open(path);
    store->CreateExperiment("old", "{}", 1, "v");
    // What a schema-1 build left: no queue table, version 1.
    store->Exec("DROP TABLE pending_judgements; ALTER TABLE episodes DROP COLUMN error; "
                "PRAGMA user_version=1", "make schema 1");
  }
  auto store = Store::Open(path);
  CHECK(QueryInt(store->handle(), "PRAGMA user_version") == 3);
  CHECK(QueryInt(store->handle(), "SELECT count(*) FROM pragma_table_info('episodes') "
                                  "WHERE name = 'error'") == 1);
  CHECK(store->GetExperiment(1).has_value());
  CHECK(store->CountPending() == 0);
}

TEST_CASE("The human-judge queue: claims are exclusive, answers need the claim", "[store]") {
  TempDir dir("store-queue");
  const std::string path = dir.File("log.db");
  auto store = Store::Open(path);
  const int64_t x = store->CreateExperiment("q", "{}", 1, "v");
  auto item = [&](int idx) {
    PendingJudgement p;
    p.experiment_id = x;
    p.stage = "debate";
    p.episode_idx = idx;
    p.protocol = "debate";
    p.task = "mnist";
    p.instance = "test/" + std::to_string(idx);
    p.question = "{\"claims\":[3,7]}";
    return p;
  };
  const PendingJudgement a = store->AddPending(item(0));
  CHECK(a.status == "pending");
  CHECK(store->AddPending(item(0)).id == a.id);  // idempotent: a resumed episode finds it
  const PendingJudgement b = store->AddPending(item(1));
  CHECK(store->CountPending() == 2);

  const auto first = store->ClaimPending("gui-1");
  REQUIRE(first);
  CHECK(first->id == a.id);
  const auto second = store->ClaimPending("gui-2");
  REQUIRE(second);
  CHECK(second->id == b.id);  // never the same item
  CHECK_FALSE(store->ClaimPending("gui-3"));

  HumanVerdict v{"3", 0.75, "the loop at the top", 1234.0};
  CHECK_FALSE(store->AnswerPending(a.id, "gui-2", v));  // not gui-2's claim
  CHECK(store->AnswerPending(a.id, "gui-1", v));
  CHECK_FALSE(store->AnswerPending(a.id, "gui-1", v));  // once
  const auto answered = store->GetPending(a.id);
  REQUIRE(answered);
  CHECK(answered->status == "answered");
  CHECK(answered->verdict.verdict == "3");
  CHECK(*answered->verdict.confidence == Approx(0.75));
  CHECK(answered->verdict.reason == "the loop at the top");
  CHECK_FALSE(store->TimeOutPending(a.id));  // the verdict came first

  // gui-2 went away: its claim is free again once stale.
  std::this_thread::sleep_for(std::chrono::milliseconds(20));
  const auto reclaimed = store->ClaimPending("gui-3", /*stale_after_s=*/0.005);
  REQUIRE(reclaimed);
  CHECK(reclaimed->id == b.id);
  CHECK(store->TimeOutPending(b.id));
  CHECK(store->GetPending(b.id)->status == "timed_out");
  CHECK_FALSE(store->AnswerPending(b.id, "gui-3", v));  // too late
  CHECK(store->CountPending() == 0);
}

TEST_CASE("Two connections claiming at once never get the same item", "[store]") {
  TempDir dir("store-queue-race");
  const std::string path = dir.File("log.db");
  {
    auto store = Store::Open(path);
    const int64_t x = store->CreateExperiment("q", "{}", 1, "v");
    for (int i = 0; i < 60; ++i) {
      PendingJudgement p;
      p.experiment_id = x;
      p.stage = "s";
      p.episode_idx = i;
      p.protocol = "debate";
      p.task = "mnist";
      p.instance = "test/" + std::to_string(i);
      p.question = "{}";
      store->AddPending(p);
    }
  }
  std::vector<int64_t> got[2];
  std::vector<std::thread> gui;
  for (int g = 0; g < 2; ++g)
    gui.emplace_back([&, g] {
      auto store = Store::Open(path);
      while (auto p = store->ClaimPending("gui-" + std::to_string(g))) got[g].push_back(p->id);
    });
  for (auto& t : gui) t.join();
  std::set<int64_t> all(got[0].begin(), got[0].end());
  all.insert(got[1].begin(), got[1].end());
  CHECK(got[0].size() + got[1].size() == 60);
  CHECK(all.size() == 60);
}
