// bench_store: SQLite logging throughput of the store.
//
// Compares, each into a fresh database file in a temporary directory:
//  1. EpisodeWriter: batched, many episodes per transaction (what runs use);
//  2. baseline: every episode, turn and judgement row committed on its own
//     (measured on a sample, rate extrapolated);
//  3. reference: the same turn rows as plain prepared inserts in a single
//     transaction, with no episode structure (a) into the contract `turns`
//     table (episode rows inserted beforehand, untimed) and (b) into a bare
//     table without constraints or indexes.
//
// Usage: bench_store [--episodes N] [--turns N] [--sample N]
#include <sched.h>
#include <sqlite3.h>
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <random>
#include <string>
#include <vector>

#include "engine/store.h"

namespace fs = std::filesystem;
using namespace oversight;

namespace {

struct Args {
  int episodes = 20000;  // episodes for the batched writer and the references
  int turns = 20;        // turns per episode
  int sample = 1000;     // episodes for the per-row-commit baseline
};

Args ParseArgs(int argc, char** argv) {
  Args args;
  for (int i = 1; i < argc; ++i) {
    const std::string flag = argv[i];
    int* target = flag == "--episodes" ? &args.episodes
                  : flag == "--turns"  ? &args.turns
                  : flag == "--sample" ? &args.sample
                                       : nullptr;
    if (!target || i + 1 >= argc || std::atoi(argv[i + 1]) <= 0) {
      std::fprintf(stderr,
                   "usage: %s [--episodes N (default %d)] [--turns N (default "
                   "%d)] [--sample N (default %d)]\n",
                   argv[0], Args().episodes, Args().turns, Args().sample);
      std::exit(2);
    }
    *target = std::atoi(argv[++i]);
  }
  return args;
}

int CpuCount() {
  cpu_set_t set;
  if (sched_getaffinity(0, sizeof set, &set) == 0) return CPU_COUNT(&set);
  return static_cast<int>(sysconf(_SC_NPROCESSORS_ONLN));
}

double Seconds(std::chrono::steady_clock::time_point since) {
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - since)
      .count();
}

std::vector<EpisodeRecord> BuildEpisodes(int64_t experiment_id, int n, int turns) {
  std::mt19937 rng(7);
  std::uniform_int_distribution<int> pixel(0, 27);
  std::uniform_real_distribution<double> value(0, 1);
  const std::string finished = NowIso();
  std::vector<EpisodeRecord> out(static_cast<size_t>(n));
  for (int e = 0; e < n; ++e) {
    EpisodeRecord& ep = out[static_cast<size_t>(e)];
    ep.experiment_id = experiment_id;
    ep.stage = "eval";
    ep.idx = e;
    ep.protocol = "debate";
    ep.task = "mnist";
    ep.instance = "test/" + std::to_string(e);
    ep.seed = rng();
    ep.truth = "7";
    ep.outcome = "7";
    ep.correct = 1;
    ep.started_at = finished;
    ep.finished_at = finished;
    ep.turns.resize(static_cast<size_t>(turns));
    for (int t = 0; t < turns; ++t) {
      TurnRecord& turn = ep.turns[static_cast<size_t>(t)];
      char action[64];
      std::snprintf(action, sizeof action, "{\"pixel\":[%d,%d],\"value\":%.2f}",
                    pixel(rng), pixel(rng), value(rng));
      turn.idx = t;
      turn.role = t % 2 ? "liar" : "honest";
      turn.agent = "mcts";
      turn.action = action;
      turn.latency_ms = 0.8;
    }
    JudgementRecord j;
    j.judge = "sparse_mnist";
    j.verdict = "7";
    j.confidence = 0.93;
    j.detail = "{\"logits\":[0.1,0.9]}";
    ep.judgements.push_back(std::move(j));
  }
  return out;
}

void Check(int rc, sqlite3* db, const char* what) {
  if (rc != SQLITE_OK && rc != SQLITE_DONE && rc != SQLITE_ROW) {
    std::fprintf(stderr, "bench_store: %s failed: %s\n", what, sqlite3_errmsg(db));
    std::exit(1);
  }
}

sqlite3_stmt* Prepare(sqlite3* db, const char* sql) {
  sqlite3_stmt* stmt = nullptr;
  Check(sqlite3_prepare_v2(db, sql, -1, &stmt, nullptr), db, sql);
  return stmt;
}

void Step(sqlite3* db, sqlite3_stmt* stmt, const char* what) {
  Check(sqlite3_step(stmt), db, what);
  sqlite3_reset(stmt);
}

void BindText(sqlite3_stmt* stmt, int i, const std::string& s) {
  sqlite3_bind_text(stmt, i, s.data(), static_cast<int>(s.size()), SQLITE_STATIC);
}

constexpr const char* kTurnInsert =
    "INSERT INTO %s(episode_id, idx, role, agent, action, content, "
    "parent_turn_id, latency_ms, created_at) VALUES(?1,?2,?3,?4,?5,NULL,NULL,?6,?7)";

void BindTurn(sqlite3_stmt* stmt, int64_t episode_id, const TurnRecord& t,
              const std::string& created_at) {
  sqlite3_bind_int64(stmt, 1, episode_id);
  sqlite3_bind_int(stmt, 2, t.idx);
  BindText(stmt, 3, t.role);
  BindText(stmt, 4, t.agent);
  BindText(stmt, 5, t.action);
  sqlite3_bind_double(stmt, 6, t.latency_ms);
  BindText(stmt, 7, created_at);
}

// Inserts one episode row with its own commit (autocommit); returns its id.
int64_t InsertEpisodeRow(sqlite3* db, sqlite3_stmt* stmt, const EpisodeRecord& ep) {
  sqlite3_bind_int64(stmt, 1, ep.experiment_id);
  BindText(stmt, 2, ep.stage);
  sqlite3_bind_int64(stmt, 3, ep.idx);
  BindText(stmt, 4, ep.protocol);
  BindText(stmt, 5, ep.task);
  BindText(stmt, 6, ep.instance);
  sqlite3_bind_int64(stmt, 7, static_cast<int64_t>(ep.seed));
  BindText(stmt, 8, *ep.truth);
  BindText(stmt, 9, ep.outcome);
  sqlite3_bind_int(stmt, 10, *ep.correct);
  BindText(stmt, 11, ep.status);
  BindText(stmt, 12, ep.started_at);
  BindText(stmt, 13, ep.finished_at);
  Step(db, stmt, "insert episode");
  return sqlite3_last_insert_rowid(db);
}

constexpr const char* kEpisodeInsert =
    "INSERT INTO episodes(experiment_id, stage, idx, protocol, task, instance, "
    "seed, truth, outcome, correct, status, started_at, finished_at) "
    "VALUES(?1,?2,?3,?4,?5,?6,?7,?8,?9,?10,?11,?12,?13)";

}  // namespace

int main(int argc, char** argv) {
  const Args args = ParseArgs(argc, argv);
  const int64_t total_turns = int64_t{args.episodes} * args.turns;
  const int sample = std::min(args.sample, args.episodes);

  std::printf("bench_store  %s  nproc=%d  sqlite %s  episodes=%d turns/episode=%d\n",
              NowIso().c_str(), CpuCount(), sqlite3_libversion(), args.episodes,
              args.turns);

  const fs::path dir = fs::temp_directory_path() /
                       ("oversight_bench_store_" + std::to_string(getpid()));
  fs::create_directories(dir);
  const auto db_path = [&](const char* name) { return (dir / name).string(); };

  try {
    std::vector<EpisodeRecord> episodes = BuildEpisodes(1, args.episodes, args.turns);

    // 1. EpisodeWriter (batched).
    double batched = 0;
    {
      const std::string path = db_path("batched.db");
      Store::Open(path)->CreateExperiment("bench", "{}", 1, "bench");
      std::vector<EpisodeRecord> copy = episodes;  // Submit consumes them
      EpisodeWriter writer(path);
      const auto t0 = std::chrono::steady_clock::now();
      for (EpisodeRecord& ep : copy) writer.Submit(std::move(ep));
      writer.Flush();
      const double s = Seconds(t0);
      batched = static_cast<double>(total_turns) / s;
      std::printf("1. EpisodeWriter, batched:            %12.0f turns/s  "
                  "(%lld turns + %d episodes + %d judgements in %.3f s)\n",
                  batched, static_cast<long long>(total_turns), args.episodes,
                  args.episodes, s);
    }

    // 2. One transaction per row (sample, extrapolated).
    double per_row = 0;
    {
      auto store = Store::Open(db_path("per_row.db"));
      store->CreateExperiment("bench", "{}", 1, "bench");
      sqlite3* db = store->handle();
      char sql[512];
      std::snprintf(sql, sizeof sql, kTurnInsert, "turns");
      sqlite3_stmt* ep_stmt = Prepare(db, kEpisodeInsert);
      sqlite3_stmt* turn_stmt = Prepare(db, sql);
      sqlite3_stmt* judge_stmt = Prepare(
          db,
          "INSERT INTO judgements(episode_id, judge, judge_kind, verdict, "
          "confidence, detail, latency_ms, created_at) "
          "VALUES(?1,?2,'model',?3,?4,?5,?6,?7)");
      int64_t rows = 0, turns = 0;
      const auto t0 = std::chrono::steady_clock::now();
      for (int e = 0; e < sample; ++e) {
        const EpisodeRecord& ep = episodes[static_cast<size_t>(e)];
        const int64_t id = InsertEpisodeRow(db, ep_stmt, ep);
        ++rows;
        for (const TurnRecord& t : ep.turns) {
          BindTurn(turn_stmt, id, t, ep.finished_at);
          Step(db, turn_stmt, "insert turn");
          ++rows;
          ++turns;
        }
        for (const JudgementRecord& j : ep.judgements) {
          sqlite3_bind_int64(judge_stmt, 1, id);
          BindText(judge_stmt, 2, j.judge);
          BindText(judge_stmt, 3, j.verdict);
          sqlite3_bind_double(judge_stmt, 4, *j.confidence);
          BindText(judge_stmt, 5, j.detail);
          sqlite3_bind_double(judge_stmt, 6, j.latency_ms);
          BindText(judge_stmt, 7, ep.finished_at);
          Step(db, judge_stmt, "insert judgement");
          ++rows;
        }
      }
      const double s = Seconds(t0);
      per_row = static_cast<double>(turns) / s;
      std::printf("2. one transaction per row:          %12.0f turns/s  "
                  "(sample of %d episodes: %lld rows in %.3f s, %.0f commits/s)\n",
                  per_row, sample, static_cast<long long>(rows), s, static_cast<double>(rows) / s);
      sqlite3_finalize(ep_stmt);
      sqlite3_finalize(turn_stmt);
      sqlite3_finalize(judge_stmt);
    }

    // 3a. Plain prepared turn inserts, one transaction, contract table.
    double plain = 0;
    {
      auto store = Store::Open(db_path("plain.db"));
      store->CreateExperiment("bench", "{}", 1, "bench");
      sqlite3* db = store->handle();
      // Episode rows first (untimed) so the turns' foreign keys resolve.
      std::vector<int64_t> ids;
      ids.reserve(episodes.size());
      {
        sqlite3_stmt* ep_stmt = Prepare(db, kEpisodeInsert);
        store->Exec("BEGIN", "begin");
        for (const EpisodeRecord& ep : episodes)
          ids.push_back(InsertEpisodeRow(db, ep_stmt, ep));
        store->Exec("COMMIT", "commit");
        sqlite3_finalize(ep_stmt);
      }
      char sql[512];
      std::snprintf(sql, sizeof sql, kTurnInsert, "turns");
      sqlite3_stmt* stmt = Prepare(db, sql);
      const auto t0 = std::chrono::steady_clock::now();
      store->Exec("BEGIN", "begin");
      for (size_t e = 0; e < episodes.size(); ++e)
        for (const TurnRecord& t : episodes[e].turns) {
          BindTurn(stmt, ids[e], t, episodes[e].finished_at);
          Step(db, stmt, "insert turn");
        }
      store->Exec("COMMIT", "commit");
      const double s = Seconds(t0);
      plain = static_cast<double>(total_turns) / s;
      std::printf("3a. plain inserts, 1 txn, turns:     %12.0f turns/s  (%.3f s)\n",
                  plain, s);
      sqlite3_finalize(stmt);
    }

    // 3b. Same rows into a bare table (no constraints, no indexes).
    double bare = 0;
    {
      auto store = Store::Open(db_path("bare.db"));
      sqlite3* db = store->handle();
      store->Exec("CREATE TABLE bare_turns(id INTEGER PRIMARY KEY, episode_id "
                  "INTEGER, idx INTEGER, role TEXT, agent TEXT, action TEXT, "
                  "content TEXT, parent_turn_id INTEGER, latency_ms REAL, "
                  "created_at TEXT)",
                  "create bare_turns");
      char sql[512];
      std::snprintf(sql, sizeof sql, kTurnInsert, "bare_turns");
      sqlite3_stmt* stmt = Prepare(db, sql);
      const auto t0 = std::chrono::steady_clock::now();
      store->Exec("BEGIN", "begin");
      for (size_t e = 0; e < episodes.size(); ++e)
        for (const TurnRecord& t : episodes[e].turns) {
          BindTurn(stmt, static_cast<int64_t>(e + 1), t, episodes[e].finished_at);
          Step(db, stmt, "insert turn");
        }
      store->Exec("COMMIT", "commit");
      const double s = Seconds(t0);
      bare = static_cast<double>(total_turns) / s;
      std::printf("3b. plain inserts, 1 txn, bare table:%12.0f turns/s  (%.3f s)\n",
                  bare, s);
      sqlite3_finalize(stmt);
    }

    std::printf("ratio batched / per-row commit:  %8.1fx\n", batched / per_row);
    std::printf("ratio batched / plain (turns):   %8.2fx\n", batched / plain);
    std::printf("ratio batched / plain (bare):    %8.2fx\n", batched / bare);
  } catch (const std::exception& e) {
    std::fprintf(stderr, "bench_store: %s\n", e.what());
    std::error_code ec;
    fs::remove_all(dir, ec);
    return 1;
  }
  std::error_code ec;
  fs::remove_all(dir, ec);
  return 0;
}
