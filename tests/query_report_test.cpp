// `oversight query` and `oversight report` against a hand-made log whose
// expected output is worked out by hand. The log is built with raw SQL (not
// the Store) so that these tests pin the schema contract, not the writer.
#include <sqlite3.h>
#include <unistd.h>

#include <atomic>
#include <catch2/catch.hpp>
#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>
#include <sstream>
#include <string>
#include <vector>

#include "experiments/commands.h"

#include "tests/test_util.h"

namespace {

namespace fs = std::filesystem;

using oversight::testing::TempDir;

std::string ReadBytes(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  REQUIRE(in.good());
  std::ostringstream s;
  s << in.rdbuf();
  return s.str();
}

void Exec(sqlite3* db, const std::string& sql) {
  char* message = nullptr;
  const int rc = sqlite3_exec(db, sql.c_str(), nullptr, nullptr, &message);
  INFO(sql << "\n-> " << (message ? message : ""));
  sqlite3_free(message);
  REQUIRE(rc == SQLITE_OK);
}

// The log schema contract (tables and columns as the store writes them).
const char* const kSchema = R"sql(
PRAGMA journal_mode=WAL;
PRAGMA user_version=1;
CREATE TABLE experiments(id INTEGER PRIMARY KEY, name TEXT NOT NULL,
  config_json TEXT NOT NULL, seed INTEGER NOT NULL, status TEXT NOT NULL,
  started_at TEXT NOT NULL, finished_at TEXT, code_version TEXT NOT NULL);
CREATE TABLE stages(experiment_id INTEGER NOT NULL, idx INTEGER NOT NULL,
  name TEXT NOT NULL, kind TEXT NOT NULL, status TEXT NOT NULL,
  started_at TEXT, finished_at TEXT, PRIMARY KEY(experiment_id, idx));
CREATE TABLE episodes(id INTEGER PRIMARY KEY, experiment_id INTEGER NOT NULL,
  stage TEXT NOT NULL, idx INTEGER NOT NULL, protocol TEXT NOT NULL,
  task TEXT NOT NULL, instance TEXT NOT NULL, seed INTEGER NOT NULL,
  truth TEXT, outcome TEXT, correct INTEGER, status TEXT NOT NULL,
  started_at TEXT, finished_at TEXT, UNIQUE(experiment_id, stage, idx));
CREATE TABLE turns(id INTEGER PRIMARY KEY, episode_id INTEGER NOT NULL,
  idx INTEGER NOT NULL, role TEXT NOT NULL, agent TEXT NOT NULL,
  action TEXT NOT NULL, content TEXT, parent_turn_id INTEGER,
  latency_ms REAL, created_at TEXT NOT NULL);
CREATE TABLE judgements(id INTEGER PRIMARY KEY, episode_id INTEGER NOT NULL,
  judge TEXT NOT NULL, judge_kind TEXT NOT NULL, verdict TEXT,
  confidence REAL, detail TEXT, latency_ms REAL, created_at TEXT NOT NULL);
CREATE TABLE metrics(experiment_id INTEGER NOT NULL, stage TEXT NOT NULL,
  step INTEGER NOT NULL, name TEXT NOT NULL, value REAL,
  created_at TEXT NOT NULL);
CREATE TABLE artifacts(id INTEGER PRIMARY KEY, experiment_id INTEGER NOT NULL,
  kind TEXT NOT NULL, name TEXT NOT NULL, path TEXT NOT NULL,
  sha256 TEXT NOT NULL, stage TEXT, step INTEGER, created_at TEXT NOT NULL);
CREATE INDEX metrics_series ON metrics(experiment_id, stage, name, step);
)sql";

// Experiment 1 "mnist_debate":
//   train_judge (stages idx 0): metrics only; loss written at steps 1, 10, 2
//     (the last row written is not the last step), accuracy at step 10.
//   eval_debate (idx 1): 4 debate episodes, correct 1,1,1,0 -> 3/4 = 75.0%,
//     Wilson [30.06%, 95.44%]; metric mean_turns = 6 at step 0.
//   eval_judge_only (idx 2): 3 episodes, correct 1,0,NULL -> 1/2 = 50.0%,
//     Wilson [9.45%, 90.55%].
//   aa_untracked (not in `stages`): 2 episodes, correct NULL -> "—".
//   bb_probe (not in `stages`): metric probe_loss NULL at step 3.
// Experiment 2 'ablation, "quoted"' (running, no `stages` rows):
//   b_stage 1 episode correct 1; a_stage 1 episode correct 0.
// Experiment 3 "empty_run": failed, seed 2^64-1 (stored bit-cast as -1).
const char* const kRows = R"sql(
INSERT INTO experiments VALUES
  (1, 'mnist_debate', '{}', 7, 'finished', '2026-01-01T00:00:00.000Z',
   '2026-01-01T01:00:00.000Z', 'v1.2.3'),
  (2, 'ablation, "quoted"', '{}', 8, 'running', '2026-01-02T00:00:00.000Z',
   NULL, 'v1.2.3'),
  (3, 'empty_run', '{}', -1, 'failed', '2026-01-03T00:00:00.000Z',
   '2026-01-03T00:00:01.000Z', 'v1.2.4');
INSERT INTO stages VALUES
  (1, 0, 'train_judge', 'train_judge', 'finished', NULL, NULL),
  (1, 1, 'eval_debate', 'episodes', 'finished', NULL, NULL),
  (1, 2, 'eval_judge_only', 'episodes', 'running', NULL, NULL);
INSERT INTO episodes(experiment_id, stage, idx, protocol, task, instance,
                     seed, truth, outcome, correct, status) VALUES
  (1, 'eval_debate', 0, 'debate', 'mnist', '0', 1, '7', '7', 1, 'complete'),
  (1, 'eval_debate', 1, 'debate', 'mnist', '1', 2, '2', '2', 1, 'complete'),
  (1, 'eval_debate', 2, 'debate', 'mnist', '2', 3, '1', '1', 1, 'complete'),
  (1, 'eval_debate', 3, 'debate', 'mnist', '3', 4, '0', '6', 0, 'complete'),
  (1, 'eval_judge_only', 0, 'judge_only', 'mnist', '0', 5, '7', '7', 1,
   'complete'),
  (1, 'eval_judge_only', 1, 'judge_only', 'mnist', '1', 6, '2', '3', 0,
   'complete'),
  (1, 'eval_judge_only', 2, 'judge_only', 'mnist', '2', 7, NULL, '1', NULL,
   'complete'),
  (1, 'aa_untracked', 0, 'debate', 'mnist', '0', 8, NULL, '1', NULL,
   'complete'),
  (1, 'aa_untracked', 1, 'debate', 'mnist', '1', 9, NULL, '4', NULL,
   'complete'),
  (2, 'b_stage', 0, 'debate', 'mnist', '0', 10, '7', '7', 1, 'complete'),
  (2, 'a_stage', 0, 'consultancy', 'mnist', '0', 11, '7', '1', 0,
   'complete');
INSERT INTO metrics VALUES
  (1, 'train_judge', 1, 'loss', 0.9, '2026-01-01T00:01:00.000Z'),
  (1, 'train_judge', 10, 'loss', 0.25, '2026-01-01T00:10:00.000Z'),
  (1, 'train_judge', 2, 'loss', 0.5, '2026-01-01T00:11:00.000Z'),
  (1, 'train_judge', 10, 'accuracy', 0.875, '2026-01-01T00:10:00.000Z'),
  (1, 'eval_debate', 0, 'mean_turns', 6.0, '2026-01-01T00:30:00.000Z'),
  (1, 'bb_probe', 3, 'probe_loss', NULL, '2026-01-01T00:40:00.000Z');
)sql";

// Writes the log and closes the writer, so that (as after a finished run) no
// -wal or -shm file is left.
std::string MakeLogDb(const TempDir& dir) {
  const std::string path = dir.File("log.db");
  sqlite3* db = nullptr;
  REQUIRE(sqlite3_open_v2(path.c_str(), &db,
                          SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE,
                          nullptr) == SQLITE_OK);
  Exec(db, kSchema);
  Exec(db, kRows);
  REQUIRE(sqlite3_close(db) == SQLITE_OK);
  REQUIRE_FALSE(fs::exists(path + "-wal"));
  REQUIRE_FALSE(fs::exists(path + "-shm"));
  return path;
}

struct Result {
  int code = -1;
  std::string out, err;
};

Result Query(const std::string& db, const std::string& sql,
             const std::string& format = "table") {
  std::ostringstream out, err;
  Result r;
  r.code = oversight::RunQueryCommand(db, sql, format, out, err);
  r.out = out.str();
  r.err = err.str();
  return r;
}

Result Report(const std::string& db, int64_t id,
              const std::string& format = "md") {
  std::ostringstream out, err;
  Result r;
  r.code = oversight::RunReportCommand(db, id, format, out, err);
  r.out = out.str();
  r.err = err.str();
  return r;
}

// A failure: exit 2, nothing on out, exactly one line on err naming the db
// and containing `what`.
void CheckBadInput(const Result& r, const std::string& db,
                   const std::string& what) {
  CHECK(r.code == 2);
  CHECK(r.out.empty());
  CHECK(r.err.find(db) != std::string::npos);
  CHECK(r.err.find(what) != std::string::npos);
  CHECK(r.err.find('\n') == r.err.size() - 1);
}

const char* const kExperimentsSql =
    "SELECT id, name, seed, finished_at FROM experiments WHERE id <= 2 "
    "ORDER BY id";

}  // namespace

// ---------------------------------------------------------------------------
// oversight query
// ---------------------------------------------------------------------------

TEST_CASE("query prints an aligned table with NULL", "[query]") {
  TempDir dir("query");
  const std::string db = MakeLogDb(dir);
  const Result r = Query(db, kExperimentsSql, "table");
  CHECK(r.code == 0);
  CHECK(r.err.empty());
  CHECK(r.out ==
        "id  name                seed  finished_at\n"
        "--  ------------------  ----  ------------------------\n"
        " 1  mnist_debate           7  2026-01-01T01:00:00.000Z\n"
        " 2  ablation, \"quoted\"     8  NULL\n");
}

TEST_CASE("query prints RFC 4180 CSV", "[query]") {
  TempDir dir("query");
  const std::string db = MakeLogDb(dir);
  const Result r = Query(db, kExperimentsSql, "csv");
  CHECK(r.code == 0);
  CHECK(r.out ==
        "id,name,seed,finished_at\n"
        "1,mnist_debate,7,2026-01-01T01:00:00.000Z\n"
        "2,\"ablation, \"\"quoted\"\"\",8,\n");
}

TEST_CASE("query prints JSON objects with typed values", "[query]") {
  TempDir dir("query");
  const std::string db = MakeLogDb(dir);
  const Result r = Query(db, kExperimentsSql, "json");
  CHECK(r.code == 0);
  CHECK(r.out ==
        "[\n"
        "  {\"id\":1,\"name\":\"mnist_debate\",\"seed\":7,"
        "\"finished_at\":\"2026-01-01T01:00:00.000Z\"},\n"
        "  {\"id\":2,\"name\":\"ablation, \\\"quoted\\\"\",\"seed\":8,"
        "\"finished_at\":null}\n"
        "]\n");
  const auto parsed = nlohmann::json::parse(r.out);
  REQUIRE(parsed.size() == 2);
  CHECK(parsed[1]["name"] == "ablation, \"quoted\"");
  CHECK(parsed[1]["finished_at"].is_null());
  CHECK(parsed[0]["seed"].is_number_integer());
}

TEST_CASE("query formats reals, empty text, newlines and empty results",
          "[query]") {
  TempDir dir("query");
  const std::string db = MakeLogDb(dir);
  const std::string sql =
      "SELECT name, step, value FROM metrics WHERE experiment_id = 1 AND "
      "stage IN ('train_judge', 'eval_debate') ORDER BY stage DESC, name, step";
  CHECK(Query(db, sql, "table").out ==
        "name        step  value\n"
        "----------  ----  -----\n"
        "accuracy      10  0.875\n"
        "loss           1    0.9\n"
        "loss           2    0.5\n"
        "loss          10   0.25\n"
        "mean_turns     0    6.0\n");
  CHECK(Query(db, sql, "csv").out ==
        "name,step,value\naccuracy,10,0.875\nloss,1,0.9\nloss,2,0.5\n"
        "loss,10,0.25\nmean_turns,0,6.0\n");
  const auto parsed = nlohmann::json::parse(Query(db, sql, "json").out);
  CHECK(parsed[4]["value"].get<double>() == 6.0);
  CHECK(parsed[0]["value"].get<double>() == 0.875);

  const std::string text_sql =
      "SELECT 'a' || char(10) || 'b' AS t, '' AS e, NULL AS n";
  CHECK(Query(db, text_sql, "csv").out == "t,e,n\n\"a\nb\",\"\",\n");
  CHECK(Query(db, text_sql, "table").out ==
        "t     e  n\n"
        "----  -  ----\n"
        "a\\nb     NULL\n");
  CHECK(Query(db, text_sql, "json").out ==
        "[\n  {\"t\":\"a\\nb\",\"e\":\"\",\"n\":null}\n]\n");

  const std::string none = "SELECT id, name FROM experiments WHERE id > 100";
  CHECK(Query(db, none, "table").out == "id  name\n--  ----\n");
  CHECK(Query(db, none, "csv").out == "id,name\n");
  CHECK(Query(db, none, "json").out == "[]\n");
}

TEST_CASE("query reads a WAL log whose writer has closed, and leaves it "
          "byte-for-byte unchanged", "[query]") {
  TempDir dir("query");
  const std::string db = MakeLogDb(dir);
  const std::string before = ReadBytes(db);
  const Result r = Query(db, "SELECT count(*) AS n FROM episodes", "csv");
  CHECK(r.code == 0);
  CHECK(r.err.empty());
  CHECK(r.out == "n\n11\n");
  CHECK(ReadBytes(db) == before);
  // A trailing semicolon and comments are not a second statement.
  CHECK(Query(db, "  SELECT 1 AS one; -- done\n ;", "csv").out == "one\n1\n");
  CHECK(Query(db, "/* c */ SELECT 1 AS one /* d */", "csv").out ==
        "one\n1\n");
}

TEST_CASE("query and report read a WAL log in a directory they cannot write",
          "[query][report]") {
  TempDir dir("query");
  const std::string db = MakeLogDb(dir);
  const std::string before = ReadBytes(db);
  const fs::path parent = fs::path(db).parent_path();
  fs::permissions(parent, fs::perms::owner_write | fs::perms::group_write |
                              fs::perms::others_write,
                  fs::perm_options::remove);
  // Restore write permission whatever happens, so that TempDir can clean up.
  struct Restore {
    fs::path p;
    ~Restore() {
      std::error_code ec;
      fs::permissions(p, fs::perms::owner_write, fs::perm_options::add, ec);
    }
  } restore{parent};
  if (std::ofstream(dir.File("probe")).good()) {
    WARN("skipped: the directory stays writable (running as root?)");
    return;
  }
  // SQLite cannot create the -shm file here; the opener falls back to
  // reading the file as immutable (no writer can be active without a -wal).
  const Result q = Query(db, "SELECT count(*) AS n FROM episodes", "csv");
  CHECK(q.err.empty());
  CHECK(q.code == 0);
  CHECK(q.out == "n\n11\n");
  CHECK(Report(db, 1, "json").code == 0);
  CHECK_FALSE(fs::exists(db + "-shm"));
  CHECK(ReadBytes(db) == before);
}

TEST_CASE("query sees rows committed by a writer that is still open",
          "[query]") {
  TempDir dir("query");
  const std::string db = MakeLogDb(dir);
  sqlite3* writer = nullptr;
  REQUIRE(sqlite3_open_v2(db.c_str(), &writer, SQLITE_OPEN_READWRITE,
                          nullptr) == SQLITE_OK);
  Exec(writer,
       "INSERT INTO experiments VALUES (4, 'live', '{}', 1, 'running', "
       "'2026-01-04T00:00:00.000Z', NULL, 'v1')");
  const std::string before = ReadBytes(db);
  const Result r = Query(db, "SELECT name FROM experiments WHERE id = 4",
                         "csv");
  CHECK(r.code == 0);
  CHECK(r.out == "name\nlive\n");
  CHECK(ReadBytes(db) == before);
  REQUIRE(sqlite3_close(writer) == SQLITE_OK);
}

TEST_CASE("query refuses anything that could write; the file is unchanged",
          "[query]") {
  TempDir dir("query");
  const std::string db = MakeLogDb(dir);
  const std::string other = dir.File("other.db");
  const std::string copy = dir.File("copy.db");
  const std::string before = ReadBytes(db);

  struct Case {
    std::string sql;
    std::string what;  // expected in the message
  };
  const std::vector<Case> cases = {
      {"INSERT INTO experiments(name, config_json, seed, status, started_at, "
       "code_version) VALUES ('x', '{}', 1, 'running', 't', 'v')",
       "would write"},
      {"UPDATE experiments SET status = 'failed'", "would write"},
      {"DELETE FROM episodes", "would write"},
      {"DROP TABLE metrics", "would write"},
      {"CREATE TABLE evil(x)", "would write"},
      {"CREATE TEMP TABLE scratch(x)", "would write"},
      {"CREATE INDEX evil_idx ON episodes(task)", "would write"},
      {"ALTER TABLE experiments ADD COLUMN evil TEXT", "would write"},
      {"PRAGMA user_version=5", "would write"},
      {"PRAGMA journal_mode=DELETE", "would write"},
      {"PRAGMA wal_checkpoint(TRUNCATE)", "would write"},
      {"VACUUM", "would write"},
      {"VACUUM INTO '" + copy + "'", "would write"},
      {"ANALYZE", "would write"},
      {"ATTACH '" + other + "' AS other", "ATTACH"},
      {"ATTACH ':memory:' AS mem", "ATTACH"},
      {"DETACH other", "ATTACH and DETACH"},
      {"SELECT 1; DELETE FROM episodes", "more than one statement"},
      {"SELECT 1; SELECT 2", "more than one statement"},
      {"", "empty statement"},
      {"  ;; ", "empty statement"},
      {"-- only a comment", "empty statement"},
  };
  for (const Case& c : cases) {
    INFO("SQL: " << c.sql);
    const Result r = Query(db, c.sql, "table");
    CheckBadInput(r, db, c.what);
    CHECK(ReadBytes(db) == before);
  }
  CHECK_FALSE(fs::exists(other));
  CHECK_FALSE(fs::exists(copy));
  CHECK(Query(db, "PRAGMA user_version", "csv").out == "user_version\n1\n");
  CHECK(Query(db, "SELECT count(*) AS n FROM episodes", "csv").out ==
        "n\n11\n");
  CHECK(ReadBytes(db) == before);
}

TEST_CASE("query reports SQL errors and bad files with the db path",
          "[query]") {
  TempDir dir("query");
  const std::string db = MakeLogDb(dir);
  const std::string before = ReadBytes(db);

  CheckBadInput(Query(db, "SELEC * FROM experiments"), db, "syntax error");
  CheckBadInput(Query(db, "SELECT nope FROM experiments"), db,
                "no such column: nope");
  CheckBadInput(Query(db, "SELECT * FROM nope"), db, "no such table: nope");
  // A runtime error after prepare is bad input too.
  CheckBadInput(Query(db, "SELECT abs(-9223372036854775807 - 1)"), db,
                "integer overflow");
  CheckBadInput(Query(db, "SELECT 1", "xml"), db, "unknown --format 'xml'");
  CHECK(ReadBytes(db) == before);

  const std::string missing = dir.File("missing.db");
  CheckBadInput(Query(missing, "SELECT 1"), missing, "no such file");
  CHECK_FALSE(fs::exists(missing));  // never created

  const std::string text = dir.File("notes.txt");
  { std::ofstream(text) << "hello, this is not a database at all\n"; }
  const std::string text_before = ReadBytes(text);
  CheckBadInput(Query(text, "SELECT 1"), text, "not a SQLite database");
  CHECK(ReadBytes(text) == text_before);

  CheckBadInput(Query(dir.File(""), "SELECT 1"), dir.File(""),
                "is a directory");
}

// ---------------------------------------------------------------------------
// oversight report
// ---------------------------------------------------------------------------

TEST_CASE("report md: stages in order, accuracy with Wilson CI, last metric "
          "values", "[report]") {
  TempDir dir("query");
  const std::string db = MakeLogDb(dir);
  const std::string before = ReadBytes(db);
  const Result r = Report(db, 1, "md");
  CHECK(r.code == 0);
  CHECK(r.err.empty());
  CHECK(r.out ==
        "# Oversight Lab report: " + db + "\n"
        "\n"
        "## Experiment 1: mnist_debate\n"
        "\n"
        "- status: finished\n"
        "- seed: 7\n"
        "- code_version: v1.2.3\n"
        "- started: 2026-01-01T00:00:00.000Z\n"
        "- finished: 2026-01-01T01:00:00.000Z\n"
        "\n"
        "### Stages\n"
        "\n"
        "| stage | protocol | episodes | accuracy | 95% CI |\n"
        "| --- | --- | ---: | ---: | --- |\n"
        "| train_judge | — | 0 | — | — |\n"
        "| eval_debate | debate | 4 | 75.0% | [30.1%, 95.4%] |\n"
        "| eval_judge_only | judge_only | 3 | 50.0% | [9.5%, 90.5%] |\n"
        "| aa_untracked | debate | 2 | — | — |\n"
        "| bb_probe | — | 0 | — | — |\n"
        "\n"
        "### Metrics\n"
        "\n"
        "| stage | metric | step | last value |\n"
        "| --- | --- | ---: | ---: |\n"
        "| train_judge | accuracy | 10 | 0.875 |\n"
        "| train_judge | loss | 10 | 0.25 |\n"
        "| eval_debate | mean_turns | 0 | 6 |\n"
        "| bb_probe | probe_loss | 3 | NULL |\n");
  CHECK(ReadBytes(db) == before);
}

TEST_CASE("report md of all experiments", "[report]") {
  TempDir dir("query");
  const std::string db = MakeLogDb(dir);
  const Result r = Report(db, 0, "md");
  CHECK(r.code == 0);
  const std::string& md = r.out;
  const auto e1 = md.find("## Experiment 1: mnist_debate\n");
  const auto e2 = md.find("## Experiment 2: ablation, \"quoted\"\n");
  const auto e3 = md.find("## Experiment 3: empty_run\n");
  REQUIRE(e1 != std::string::npos);
  REQUIRE(e2 != std::string::npos);
  REQUIRE(e3 != std::string::npos);
  CHECK(e1 < e2);
  CHECK(e2 < e3);
  const std::string exp2 = md.substr(e2, e3 - e2);
  CHECK(exp2.find("- status: running\n- seed: 8\n") != std::string::npos);
  CHECK(exp2.find("- finished: —\n") != std::string::npos);
  // No `stages` rows: by name. 0/1 -> [0, 79.3%]; 1/1 -> [20.7%, 100%].
  CHECK(exp2.find("| a_stage | consultancy | 1 | 0.0% | [0.0%, 79.3%] |\n"
                  "| b_stage | debate | 1 | 100.0% | [20.7%, 100.0%] |\n") !=
        std::string::npos);
  CHECK(exp2.find("No metrics.\n") != std::string::npos);
  const std::string exp3 = md.substr(e3);
  CHECK(exp3.find("- seed: 18446744073709551615\n") != std::string::npos);
  CHECK(exp3.find("No stages.\n") != std::string::npos);
}

TEST_CASE("report json parses with the right numbers", "[report]") {
  TempDir dir("query");
  const std::string db = MakeLogDb(dir);
  const Result r = Report(db, 1, "json");
  REQUIRE(r.code == 0);
  CHECK(r.err.empty());
  const auto j = nlohmann::json::parse(r.out);
  CHECK(j["db"] == db);
  REQUIRE(j["experiments"].size() == 1);
  const auto& e = j["experiments"][0];
  CHECK(e["id"] == 1);
  CHECK(e["name"] == "mnist_debate");
  CHECK(e["status"] == "finished");
  CHECK(e["seed"] == 7);
  CHECK(e["code_version"] == "v1.2.3");
  CHECK(e["finished_at"] == "2026-01-01T01:00:00.000Z");

  const auto& stages = e["stages"];
  REQUIRE(stages.size() == 5);
  std::vector<std::string> names;
  for (const auto& s : stages) names.push_back(s["name"]);
  CHECK(names == std::vector<std::string>{"train_judge", "eval_debate",
                                          "eval_judge_only", "aa_untracked",
                                          "bb_probe"});

  const auto& train = stages[0];
  CHECK(train["idx"] == 0);
  CHECK(train["kind"] == "train_judge");
  CHECK(train["episodes"] == 0);
  CHECK(train["accuracy"].is_null());
  CHECK(train["ci95"].is_null());
  REQUIRE(train["metrics"].size() == 2);
  CHECK(train["metrics"][1]["name"] == "loss");
  CHECK(train["metrics"][1]["step"] == 10);
  CHECK(train["metrics"][1]["value"].get<double>() == 0.25);

  const auto& debate = stages[1];
  CHECK(debate["protocols"] == nlohmann::json::array({"debate"}));
  CHECK(debate["episodes"] == 4);
  CHECK(debate["judged"] == 4);
  CHECK(debate["correct"] == 3);
  CHECK(debate["accuracy"].get<double>() == 0.75);
  CHECK(debate["ci95"]["lo"].get<double>() ==
        Approx(0.30064184258240184).margin(1e-12));
  CHECK(debate["ci95"]["hi"].get<double>() ==
        Approx(0.9544127391902995).margin(1e-12));

  const auto& judge_only = stages[2];
  CHECK(judge_only["status"] == "running");
  CHECK(judge_only["episodes"] == 3);
  CHECK(judge_only["judged"] == 2);
  CHECK(judge_only["accuracy"].get<double>() == 0.5);
  CHECK(judge_only["metrics"].empty());

  const auto& untracked = stages[3];
  CHECK(untracked["idx"].is_null());
  CHECK(untracked["episodes"] == 2);
  CHECK(untracked["judged"] == 0);
  CHECK(untracked["accuracy"].is_null());

  const auto& probe = stages[4];
  CHECK(probe["metrics"][0]["value"].is_null());

  // All experiments: the bit-cast seed comes back as the uint64.
  const auto all = nlohmann::json::parse(Report(db, 0, "json").out);
  REQUIRE(all["experiments"].size() == 3);
  CHECK(all["experiments"][1]["finished_at"].is_null());
  CHECK(all["experiments"][2]["seed"].get<uint64_t>() ==
        18446744073709551615ull);
}

TEST_CASE("report refuses unknown experiments, formats and files",
          "[report]") {
  TempDir dir("query");
  const std::string db = MakeLogDb(dir);
  const std::string before = ReadBytes(db);
  CheckBadInput(Report(db, 99), db, "no experiment with id 99");
  CHECK(Report(db, 99).err.find("latest ids: 3, 2, 1") != std::string::npos);
  CheckBadInput(Report(db, 1, "html"), db, "unknown --format 'html'");
  CHECK(ReadBytes(db) == before);

  const std::string missing = dir.File("missing.db");
  CheckBadInput(Report(missing, 0), missing, "no such file");
  CHECK_FALSE(fs::exists(missing));

  // A SQLite file that is not an Oversight Lab log.
  const std::string plain = dir.File("plain.db");
  sqlite3* raw = nullptr;
  REQUIRE(sqlite3_open(plain.c_str(), &raw) == SQLITE_OK);
  Exec(raw, "CREATE TABLE notes(x)");
  REQUIRE(sqlite3_close(raw) == SQLITE_OK);
  CheckBadInput(Report(plain, 0), plain, "no table 'experiments'");
}

TEST_CASE("report of a log without experiments", "[report]") {
  TempDir dir("query");
  const std::string db = MakeLogDb(dir);
  sqlite3* raw = nullptr;
  REQUIRE(sqlite3_open(db.c_str(), &raw) == SQLITE_OK);
  Exec(raw, "DELETE FROM metrics; DELETE FROM episodes; DELETE FROM stages; "
            "DELETE FROM experiments");
  REQUIRE(sqlite3_close(raw) == SQLITE_OK);
  const Result md = Report(db, 0, "md");
  CHECK(md.code == 0);
  CHECK(md.out == "# Oversight Lab report: " + db + "\n\nNo experiments.\n");
  const Result json = Report(db, 0, "json");
  CHECK(json.code == 0);
  CHECK(nlohmann::json::parse(json.out)["experiments"].empty());
  CheckBadInput(Report(db, 1), db, "the log has no experiments");
}

// ---------------------------------------------------------------------------
// Table 2 (debate_table.cpp): per-image aggregation over lies and seeds
// ---------------------------------------------------------------------------

namespace {

// Experiment 1 on MNIST, 6 pixels, honest first only:
//   alone (direct): test/1 correct, test/2 and test/3 wrong -> 1/3.
//   pre3 (debate, precommit, 9 lies x 3 seeds):
//     test/1 (truth 0): lie 3 wins seeds 0 and 1 narrowly (truth 1.0 vs lie
//       1.1) and loses seed 2 badly (5 vs 0): majority -> liar wins the image;
//       mean of logits (2.33 vs 0.73) -> honest; seed 0 alone -> liar.
//     test/2 (truth 1): lie 6 wins only seed 2 -> honest under every rule.
//     test/3 (truth 2): honest wins everything.
//   Expected honest rates: majority 2/3, mean 3/3, single seed 2/3.
std::string MakeDebateLogDb(const TempDir& dir) {
  const std::string path = dir.File("debate.db");
  sqlite3* db = nullptr;
  REQUIRE(sqlite3_open_v2(path.c_str(), &db, SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE,
                          nullptr) == SQLITE_OK);
  Exec(db, kSchema);
  std::ostringstream sql;
  sql << "INSERT INTO experiments VALUES(1,'debate','{}',1,'finished','t','t','v');\n";
  int id = 0;
  auto episode = [&](const std::string& stage, const std::string& protocol,
                     const std::string& instance, int truth, bool correct,
                     const std::string& detail) {
    ++id;
    sql << "INSERT INTO episodes VALUES(" << id << ",1,'" << stage << "'," << id << ",'"
        << protocol << "','mnist','" << instance << "',0,'" << truth << "','x'," << correct
        << ",'finished','t','t');\n";
    for (int t = 0; t < 6; ++t)
      sql << "INSERT INTO turns(episode_id,idx,role,agent,action,created_at) VALUES(" << id
          << "," << t << ",'r','a','{\"pixel\":" << 100 + t << "}','t');\n";
    sql << "INSERT INTO judgements(episode_id,judge,judge_kind,verdict,detail,created_at) "
           "VALUES(" << id << ",'j','model','0','" << detail << "','t');\n";
  };
  const bool alone_correct[3] = {true, false, false};
  for (int im = 1; im <= 3; ++im)
    episode("alone", "direct", "test/" + std::to_string(im), im - 1, alone_correct[im - 1],
            "{\"logits\":[0,0,0,0,0,0,0,0,0,0]}");
  for (int im = 1; im <= 3; ++im) {
    const int truth = im - 1;
    for (int j = 0; j < 9; ++j) {
      const int lie = j < truth ? j : j + 1;
      for (int seed = 0; seed < 3; ++seed) {
        double t = 3, l = 0;  // honest wins clearly
        if (im == 1 && lie == 3) {
          t = seed < 2 ? 1.0 : 5.0;
          l = seed < 2 ? 1.1 : 0.0;
        }
        if (im == 2 && lie == 6 && seed == 2) {
          t = 0;
          l = 1;
        }
        std::ostringstream logits;
        for (int c = 0; c < 10; ++c)
          logits << (c ? "," : "") << (c == truth ? t : c == lie ? l : -5.0);
        episode("pre3", "debate",
                "test/" + std::to_string(im) + "#first=honest,lie_index=" + std::to_string(j) +
                    ",seed=" + std::to_string(seed),
                truth, t > l,
                "{\"logits\":[" + logits.str() + "],\"claims\":{\"honest\":" +
                    std::to_string(truth) + ",\"liar\":" + std::to_string(lie) + "}}");
      }
    }
  }
  Exec(db, sql.str());
  REQUIRE(sqlite3_close(db) == SQLITE_OK);
  return path;
}

std::string Row(const std::string& report, const std::string& prefix) {
  const size_t at = report.find(prefix);
  if (at == std::string::npos) return "";
  return report.substr(at, report.find('\n', at) - at);
}

}  // namespace

TEST_CASE("report: Table 2 aggregates each image over all lies and seeds", "[report][debate]") {
  TempDir dir("debate-table");
  const std::string db = MakeDebateLogDb(dir);
  auto report = [&](const std::string& rule) {
    std::ostringstream out, err;
    REQUIRE(oversight::RunReportCommand(db, 0, "md", out, err, rule) == 0);
    return out.str();
  };
  const std::string majority = Row(report("majority"), "| 6 | honest |");
  INFO(majority);
  // judge alone on the same 3 images; majority of seeds; single seed 0.
  CHECK_THAT(majority, Catch::StartsWith("| 6 | honest | 33.3% [") &&
                           Catch::Contains("n=3 (paper 59.4%)") &&
                           Catch::Contains("| — | 66.7% [") &&
                           Catch::Contains("n=3 (paper 87.4%) | 66.7% [") &&
                           Catch::EndsWith("| pre3 |"));
  const std::string mean = Row(report("mean"), "| 6 | honest |");
  INFO(mean);
  CHECK_THAT(mean, Catch::Contains("| — | 100.0% [") && Catch::Contains("n=3 (paper 87.4%) | 66.7% ["));
  // No liar-first games: that row is empty; the mean row pools the orders.
  CHECK_THAT(Row(report("majority"), "| 6 | liar |"), Catch::Contains("| — | — |"));
  CHECK_THAT(Row(report("majority"), "| 6 | mean |"), Catch::Contains("66.7% ["));
  // The same figures in JSON.
  std::ostringstream js, jerr;
  REQUIRE(oversight::RunReportCommand(db, 0, "json", js, jerr, "majority") == 0);
  const auto table = nlohmann::json::parse(js.str())["experiments"][0]["debate_table"];
  CHECK(table["lie_rule"] == "majority");
  REQUIRE(table["rows"].size() == 3);
  const auto& honest = table["rows"][0];
  CHECK(honest["first"] == "honest");
  CHECK(honest["precommit_stage"] == "pre3");
  CHECK(honest["judge_alone"]["wins"] == 1);
  CHECK(honest["judge_alone"]["n"] == 3);
  CHECK(honest["judge_alone"]["paper"] == "59.4%");
  CHECK(honest["precommit"]["wins"] == 2);
  CHECK(honest["precommit"]["ci95"]["lo"].get<double>() < 2.0 / 3);
  CHECK(honest["precommit_single_seed"]["wins"] == 2);
  CHECK(honest["no_precommit"]["rate"].is_null());
  CHECK(table["rows"][1]["judge_alone"].is_null());
  std::ostringstream out, err;
  CHECK(oversight::RunReportCommand(db, 0, "md", out, err, "median") == 2);
  CHECK_THAT(err.str(), Catch::Contains("unknown --lie-rule 'median'"));
}
