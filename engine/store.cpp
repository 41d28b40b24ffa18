// Store: SQLite implementation of engine/store.h.
//
// [SECTION] Errors, statements and transactions (RAII over the C API)
// [SECTION] Connections: open, pragmas, schema migrations
// [SECTION] EpisodeInserter: the one place that writes episodes
// [SECTION] Store
// [SECTION] EpisodeWriter
//
// Conventions of the stored rows:
//  - uint64 seeds are stored bit-cast to int64 and read back the same way.
//  - Nullable TEXT columns fed from a std::string (outcome, timestamps,
//    turns.content, judgements.verdict/detail, artifacts.stage) store an empty
//    string as NULL; readers get "" back for NULL.
//  - Timestamps are NowIso() strings.
#include "engine/store.h"

#include <sqlite3.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdio>
#include <ctime>
#include <deque>
#include <filesystem>
#include <mutex>
#include <string_view>
#include <thread>
#include <utility>

namespace oversight {
namespace {

// ---------------------------------------------------------------------------
// [SECTION] Errors, statements and transactions
// ---------------------------------------------------------------------------

// "<db path>: <what> failed: <sqlite errmsg>".
StoreError Error(const std::string& path, std::string_view what,
                 std::string_view message) {
  std::string text;
  text.reserve(path.size() + what.size() + message.size() + 12);
  text.append(path).append(": ").append(what).append(" failed: ");
  text.append(message);
  return StoreError(text);
}

[[noreturn]] void Fail(sqlite3* db, const std::string& path,
                       std::string_view what) {
  throw Error(path, what, db ? sqlite3_errmsg(db) : "out of memory");
}

// A prepared statement, finalized on destruction. Text bound with Text() uses
// SQLITE_STATIC: the string must stay alive until the statement is stepped.
// Every execution resets the statement and clears its bindings, so a reused
// statement never refers to a string that has since been destroyed.
class Stmt {
 public:
  // `persistent`: statement kept for many executions (SQLITE_PREPARE_PERSISTENT).
  Stmt(sqlite3* db, const std::string& path, const char* sql,
       bool persistent = false)
      : db_(db), path_(path) {
    const unsigned flags = persistent ? SQLITE_PREPARE_PERSISTENT : 0;
    if (sqlite3_prepare_v3(db, sql, -1, flags, &stmt_, nullptr) != SQLITE_OK) {
      std::string what = "prepare \"";
      what.append(sql, std::min<size_t>(std::char_traits<char>::length(sql), 60));
      what += "...\"";
      Fail(db, path, what);
    }
  }
  ~Stmt() { sqlite3_finalize(stmt_); }
  Stmt(const Stmt&) = delete;
  Stmt& operator=(const Stmt&) = delete;

  Stmt& Text(int i, const std::string& v) {
    return Check(sqlite3_bind_text(stmt_, i, v.data(), static_cast<int>(v.size()),
                                   SQLITE_STATIC));
  }
  Stmt& Text(int i, const char* v) {
    return Check(sqlite3_bind_text(stmt_, i, v, -1, SQLITE_STATIC));
  }
  // Empty -> NULL.
  Stmt& TextOrNull(int i, const std::string& v) {
    return v.empty() ? Null(i) : Text(i, v);
  }
  Stmt& Text(int i, const std::optional<std::string>& v) {
    return v ? Text(i, *v) : Null(i);
  }
  Stmt& Int(int i, int64_t v) { return Check(sqlite3_bind_int64(stmt_, i, v)); }
  Stmt& Real(int i, double v) { return Check(sqlite3_bind_double(stmt_, i, v)); }
  Stmt& Real(int i, const std::optional<double>& v) {
    return v ? Real(i, *v) : Null(i);
  }
  Stmt& Null(int i) { return Check(sqlite3_bind_null(stmt_, i)); }

  // Steps to completion, then resets. Returns false on failure, keeping
  // SQLite's message in error() (callers add context without allocating on
  // the success path).
  bool TryRun() {
    const int rc = sqlite3_step(stmt_);
    if (rc != SQLITE_DONE && rc != SQLITE_ROW) {
      error_ = sqlite3_errmsg(db_);
      Reset();
      return false;
    }
    Reset();
    return true;
  }
  void Run(std::string_view what) {
    if (!TryRun()) throw Error(path_, what, error_);
  }
  // Query stepping: true while there is a row; resets after the last one.
  bool Next(std::string_view what) {
    const int rc = sqlite3_step(stmt_);
    if (rc == SQLITE_ROW) return true;
    if (rc != SQLITE_DONE) {
      error_ = sqlite3_errmsg(db_);
      Reset();
      throw Error(path_, what, error_);
    }
    Reset();
    return false;
  }
  void Reset() {
    sqlite3_reset(stmt_);
    sqlite3_clear_bindings(stmt_);
  }

  int64_t ColumnInt(int i) { return sqlite3_column_int64(stmt_, i); }
  double ColumnReal(int i) { return sqlite3_column_double(stmt_, i); }
  bool ColumnIsNull(int i) { return sqlite3_column_type(stmt_, i) == SQLITE_NULL; }
  // NULL -> "".
  std::string ColumnText(int i) {
    const auto* p = sqlite3_column_text(stmt_, i);
    return p ? std::string(reinterpret_cast<const char*>(p),
                           static_cast<size_t>(sqlite3_column_bytes(stmt_, i)))
             : std::string();
  }
  const std::string& error() const { return error_; }

 private:
  Stmt& Check(int rc) {
    if (rc != SQLITE_OK) Fail(db_, path_, "bind parameter");
    return *this;
  }

  sqlite3* db_;
  const std::string& path_;  // outlives the statement (owned by its connection)
  sqlite3_stmt* stmt_ = nullptr;
  std::string error_;
};

void ExecSql(sqlite3* db, const std::string& path, const char* sql,
             std::string_view what) {
  char* message = nullptr;
  if (sqlite3_exec(db, sql, nullptr, nullptr, &message) != SQLITE_OK) {
    std::string text = message ? message : sqlite3_errmsg(db);
    sqlite3_free(message);
    throw Error(path, what, text);
  }
}

// Write transaction (BEGIN IMMEDIATE: take the write lock up front so a
// concurrent writer waits on busy_timeout instead of failing on upgrade).
// Rolls back unless Commit() succeeded.
class Transaction {
 public:
  Transaction(sqlite3* db, const std::string& path) : db_(db), path_(path) {
    ExecSql(db_, path_, "BEGIN IMMEDIATE", "begin transaction");
  }
  ~Transaction() {
    if (!done_) sqlite3_exec(db_, "ROLLBACK", nullptr, nullptr, nullptr);
  }
  Transaction(const Transaction&) = delete;
  Transaction& operator=(const Transaction&) = delete;

  void Commit() {
    ExecSql(db_, path_, "COMMIT", "commit");
    done_ = true;
  }

 private:
  sqlite3* db_;
  const std::string& path_;
  bool done_ = false;
};

// ---------------------------------------------------------------------------
// [SECTION] Connections
// ---------------------------------------------------------------------------

struct DbCloser {
  void operator()(sqlite3* db) const { sqlite3_close_v2(db); }
};
using DbPtr = std::unique_ptr<sqlite3, DbCloser>;

DbPtr OpenConnection(const std::string& path, int flags) {
  sqlite3* raw = nullptr;
  const int rc = sqlite3_open_v2(path.c_str(), &raw, flags, nullptr);
  DbPtr db(raw);
  if (rc != SQLITE_OK) Fail(db.get(), path, "open");
  sqlite3_extended_result_codes(db.get(), 1);
  if (sqlite3_busy_timeout(db.get(), 5000) != SQLITE_OK)
    Fail(db.get(), path, "set busy_timeout");
  return db;
}

int64_t QueryInt(sqlite3* db, const std::string& path, const char* sql,
                 std::string_view what) {
  Stmt stmt(db, path, sql);
  if (!stmt.Next(what)) throw Error(path, what, "no result row");
  const int64_t v = stmt.ColumnInt(0);
  stmt.Reset();
  return v;
}

// Pragmas of every read-write connection. The journal_mode query is the first
// statement that reads the file, so it is where a non-database is detected.
void ConfigureReadWrite(sqlite3* db, const std::string& path) {
  ExecSql(db, path, "PRAGMA journal_mode=WAL", "open (set journal_mode=WAL)");
  ExecSql(db, path, "PRAGMA synchronous=NORMAL", "set synchronous=NORMAL");
  ExecSql(db, path, "PRAGMA foreign_keys=ON", "set foreign_keys=ON");
}

// Schema migrations: kMigrations[v] takes the schema from user_version v to
// v + 1. Append one for every change of a contract table.
constexpr const char* kMigrations[] = {
    // 0 -> 1: the initial contract (README.md, "Log schema").
    R"sql(
CREATE TABLE experiments(
  id INTEGER PRIMARY KEY,
  name TEXT NOT NULL,
  config_json TEXT NOT NULL,
  seed INTEGER NOT NULL,
  status TEXT NOT NULL
    CHECK(status IN ('running','finished','failed','interrupted')),
  started_at TEXT NOT NULL,
  finished_at TEXT,
  code_version TEXT NOT NULL);
CREATE TABLE stages(
  experiment_id INTEGER NOT NULL REFERENCES experiments(id),
  idx INTEGER NOT NULL,
  name TEXT NOT NULL,
  kind TEXT NOT NULL,
  status TEXT NOT NULL
    CHECK(status IN ('running','finished','failed','interrupted')),
  started_at TEXT,
  finished_at TEXT,
  PRIMARY KEY(experiment_id, idx));
CREATE TABLE episodes(
  id INTEGER PRIMARY KEY,
  experiment_id INTEGER NOT NULL REFERENCES experiments(id),
  stage TEXT NOT NULL,
  idx INTEGER NOT NULL,
  protocol TEXT NOT NULL,
  task TEXT NOT NULL,
  instance TEXT NOT NULL,
  seed INTEGER NOT NULL,
  truth TEXT,
  outcome TEXT,
  correct INTEGER CHECK(correct IN (0,1)),
  status TEXT NOT NULL,
  started_at TEXT,
  finished_at TEXT,
  UNIQUE(experiment_id, stage, idx));
CREATE TABLE turns(
  id INTEGER PRIMARY KEY,
  episode_id INTEGER NOT NULL REFERENCES episodes(id),
  idx INTEGER NOT NULL,
  role TEXT NOT NULL,
  agent TEXT NOT NULL,
  action TEXT NOT NULL,
  content TEXT,
  parent_turn_id INTEGER REFERENCES turns(id),
  latency_ms REAL,
  created_at TEXT NOT NULL,
  UNIQUE(episode_id, idx));
CREATE TABLE judgements(
  id INTEGER PRIMARY KEY,
  episode_id INTEGER NOT NULL REFERENCES episodes(id),
  judge TEXT NOT NULL,
  judge_kind TEXT NOT NULL
    CHECK(judge_kind IN ('model','human','oracle','reward_model','remote')),
  verdict TEXT,
  confidence REAL,
  detail TEXT,
  latency_ms REAL,
  created_at TEXT NOT NULL);
CREATE TABLE metrics(
  experiment_id INTEGER NOT NULL REFERENCES experiments(id),
  stage TEXT NOT NULL,
  step INTEGER NOT NULL,
  name TEXT NOT NULL,
  value REAL,
  created_at TEXT NOT NULL);
CREATE TABLE artifacts(
  id INTEGER PRIMARY KEY,
  experiment_id INTEGER NOT NULL REFERENCES experiments(id),
  kind TEXT NOT NULL,
  name TEXT NOT NULL,
  path TEXT NOT NULL,
  sha256 TEXT NOT NULL,
  stage TEXT,
  step INTEGER,
  created_at TEXT NOT NULL);
-- episodes(experiment_id, stage) and turns(episode_id) lookups use the
-- indexes of their UNIQUE constraints (same leading columns).
CREATE INDEX judgements_episode ON judgements(episode_id);
CREATE INDEX metrics_series ON metrics(experiment_id, stage, name, step);
CREATE INDEX artifacts_name_kind ON artifacts(name, kind);
)sql",
    // 1 -> 2: the queue of judgements waiting for a person (see
    // Store::AddPending and the GUI's queue).
    R"sql(
CREATE TABLE pending_judgements(
  id INTEGER PRIMARY KEY,
  experiment_id INTEGER NOT NULL REFERENCES experiments(id),
  stage TEXT NOT NULL,
  episode_idx INTEGER NOT NULL,
  protocol TEXT NOT NULL,
  task TEXT NOT NULL,
  instance TEXT NOT NULL,
  question TEXT NOT NULL,
  status TEXT NOT NULL
    CHECK(status IN ('pending','claimed','answered','timed_out')),
  claimed_by TEXT,
  claimed_at TEXT,
  verdict TEXT,
  confidence REAL,
  reason TEXT,
  latency_ms REAL,
  created_at TEXT NOT NULL,
  answered_at TEXT,
  UNIQUE(experiment_id, stage, episode_idx));
CREATE INDEX pending_status ON pending_judgements(status, id);
)sql",
    // 2 -> 3: why an episode failed (a model server that stayed down).
    R"sql(
ALTER TABLE episodes ADD COLUMN error TEXT;
)sql",
};
static_assert(sizeof(kMigrations) / sizeof(kMigrations[0]) == kSchemaVersion,
              "one migration per schema version");

// ---------------------------------------------------------------------------
// [SECTION] EpisodeInserter
// ---------------------------------------------------------------------------

// Writes whole episodes (row, turns, judgements) with statements prepared once.
// Shared by Store::InsertEpisodes and EpisodeWriter so there is one insert path.
// REQUIRES: Insert() runs inside a transaction the caller rolls back when it
// throws, so a failed episode leaves no rows.
class EpisodeInserter {
 public:
  EpisodeInserter(sqlite3* db, const std::string& path)
      : db_(db),
        path_(path),
        episode_(db, path,
                 "INSERT INTO episodes(experiment_id, stage, idx, protocol, "
                 "task, instance, seed, truth, outcome, correct, status, "
                 "started_at, finished_at, error) "
                 "VALUES(?1,?2,?3,?4,?5,?6,?7,?8,?9,?10,?11,?12,?13,?14)",
                 true),
        turn_(db, path,
              "INSERT INTO turns(episode_id, idx, role, agent, action, "
              "content, parent_turn_id, latency_ms, created_at) "
              "VALUES(?1,?2,?3,?4,?5,?6,?7,?8,?9)",
              true),
        judgement_(db, path,
                   "INSERT INTO judgements(episode_id, judge, judge_kind, "
                   "verdict, confidence, detail, latency_ms, created_at) "
                   "VALUES(?1,?2,?3,?4,?5,?6,?7,?8)",
                   true) {}

  void Insert(const EpisodeRecord& ep) {
    // One timestamp per episode for its turns and judgements.
    const std::string* created_at = &ep.finished_at;
    if (ep.finished_at.empty()) {
      now_ = NowIso();
      created_at = &now_;
    }

    episode_.Int(1, ep.experiment_id)
        .Text(2, ep.stage)
        .Int(3, ep.idx)
        .Text(4, ep.protocol)
        .Text(5, ep.task)
        .Text(6, ep.instance)
        .Int(7, static_cast<int64_t>(ep.seed))
        .Text(8, ep.truth)
        .TextOrNull(9, ep.outcome);
    if (ep.correct) {
      episode_.Int(10, *ep.correct);
    } else {
      episode_.Null(10);
    }
    episode_.Text(11, ep.status)
        .TextOrNull(12, ep.started_at)
        .TextOrNull(13, ep.finished_at)
        .TextOrNull(14, ep.error);
    if (!episode_.TryRun()) Throw(ep, "insert episode", episode_.error());
    const int64_t episode_id = sqlite3_last_insert_rowid(db_);

    turn_ids_.clear();
    for (size_t pos = 0; pos < ep.turns.size(); ++pos) {
      const TurnRecord& t = ep.turns[pos];
      turn_.Int(1, episode_id)
          .Int(2, t.idx)
          .Text(3, t.role)
          .Text(4, t.agent)
          .Text(5, t.action)
          .TextOrNull(6, t.content);
      if (t.parent_idx) {
        turn_.Int(7, ParentTurnId(ep, pos, *t.parent_idx));
      } else {
        turn_.Null(7);
      }
      turn_.Real(8, t.latency_ms).Text(9, *created_at);
      if (!turn_.TryRun())
        Throw(ep, "insert turn " + std::to_string(t.idx), turn_.error());
      turn_ids_.push_back(sqlite3_last_insert_rowid(db_));
    }

    for (const JudgementRecord& j : ep.judgements) {
      judgement_.Int(1, episode_id)
          .Text(2, j.judge)
          .Text(3, JudgeKindName(j.judge_kind))
          .TextOrNull(4, j.verdict)
          .Real(5, j.confidence)
          .TextOrNull(6, j.detail)
          .Real(7, j.latency_ms)
          .Text(8, *created_at);
      if (!judgement_.TryRun())
        Throw(ep, "insert judgement by " + j.judge, judgement_.error());
    }
  }

 private:
  // Row id of the turn with idx `parent_idx` among turns [0, pos) of `ep`.
  int64_t ParentTurnId(const EpisodeRecord& ep, size_t pos, int parent_idx) {
    // Common case: idx == position in the vector.
    if (parent_idx >= 0 && static_cast<size_t>(parent_idx) < pos &&
        ep.turns[static_cast<size_t>(parent_idx)].idx == parent_idx)
      return turn_ids_[static_cast<size_t>(parent_idx)];
    for (size_t j = pos; j-- > 0;)
      if (ep.turns[j].idx == parent_idx) return turn_ids_[j];
    Throw(ep, "insert turn " + std::to_string(ep.turns[pos].idx),
          "parent_idx " + std::to_string(parent_idx) +
              " is not an earlier turn of the episode");
  }

  [[noreturn]] void Throw(const EpisodeRecord& ep, const std::string& what,
                          const std::string& message) {
    throw Error(path_,
                what + " (experiment " + std::to_string(ep.experiment_id) +
                    ", stage '" + ep.stage + "', episode " +
                    std::to_string(ep.idx) + ")",
                message);
  }

  sqlite3* db_;
  const std::string& path_;
  Stmt episode_, turn_, judgement_;
  std::vector<int64_t> turn_ids_;  // row ids of the current episode's turns
  std::string now_;
};

std::optional<ExperimentRow> ReadExperiment(Stmt& stmt, const char* what) {
  if (!stmt.Next(what)) return std::nullopt;
  ExperimentRow row;
  row.id = stmt.ColumnInt(0);
  row.name = stmt.ColumnText(1);
  row.config_json = stmt.ColumnText(2);
  row.seed = static_cast<uint64_t>(stmt.ColumnInt(3));
  row.status = stmt.ColumnText(4);
  row.started_at = stmt.ColumnText(5);
  row.finished_at = stmt.ColumnText(6);
  row.code_version = stmt.ColumnText(7);
  stmt.Reset();
  return row;
}

constexpr const char* kExperimentColumns =
    "SELECT id, name, config_json, seed, status, started_at, finished_at, "
    "code_version FROM experiments ";

}  // namespace

// ---------------------------------------------------------------------------
// [SECTION] Store
// ---------------------------------------------------------------------------

std::string NowIso() {
  using namespace std::chrono;
  const int64_t ms =
      duration_cast<milliseconds>(system_clock::now().time_since_epoch())
          .count();
  const time_t secs = static_cast<time_t>(ms / 1000);
  std::tm t{};
  gmtime_r(&secs, &t);
  char buf[80];  // 24 chars + NUL; room for any int the compiler imagines
  std::snprintf(buf, sizeof buf, "%04d-%02d-%02dT%02d:%02d:%02d.%03dZ",
                t.tm_year + 1900, t.tm_mon + 1, t.tm_mday, t.tm_hour, t.tm_min,
                t.tm_sec, static_cast<int>(ms % 1000));
  return buf;
}

const char* JudgeKindName(JudgeKind kind) {
  switch (kind) {
    case JudgeKind::kModel: return "model";
    case JudgeKind::kHuman: return "human";
    case JudgeKind::kOracle: return "oracle";
    case JudgeKind::kRewardModel: return "reward_model";
    case JudgeKind::kRemote: return "remote";
  }
  return "unknown";  // rejected by the judge_kind CHECK constraint
}

std::unique_ptr<Store> Store::Open(const std::string& path, Mode mode) {
  DbPtr db;
  if (mode == Mode::kReadOnly) {
    std::error_code ec;
    if (!std::filesystem::exists(path, ec))
      throw StoreError(path + ": open read-only failed: no such database file");
    db = OpenConnection(path, SQLITE_OPEN_READONLY);
    const int64_t version =
        QueryInt(db.get(), path, "PRAGMA user_version", "open (read schema version)");
    if (version == 0)
      throw StoreError(path + ": not an oversight database (no schema)");
    if (version > kSchemaVersion)
      throw StoreError(path + ": written by a newer version (schema " +
                       std::to_string(version) + ", this build reads up to " +
                       std::to_string(kSchemaVersion) + ")");
    return std::unique_ptr<Store>(new Store(path, db.release()));
  }
  db = OpenConnection(path, SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE);
  // 16 KiB pages for new files (ignored for existing ones; must precede WAL):
  // fewer WAL frames per commit and checkpoint, measured ~1.3x faster episode
  // logging than 4 KiB (tests/bench_store.cpp).
  ExecSql(db.get(), path, "PRAGMA page_size=16384", "open (set page_size)");
  ConfigureReadWrite(db.get(), path);
  std::unique_ptr<Store> store(new Store(path, db.release()));
  store->Migrate();
  return store;
}

Store::~Store() { sqlite3_close_v2(db_); }

void Store::Migrate() {
  const auto check_version = [this] {
    const int64_t version =
        QueryInt(db_, path_, "PRAGMA user_version", "read schema version");
    if (version > kSchemaVersion)
      throw StoreError(path_ + ": written by a newer version (schema " +
                       std::to_string(version) +
                       ", this build supports up to " +
                       std::to_string(kSchemaVersion) + ")");
    return version;
  };
  if (check_version() == kSchemaVersion) return;
  // Read the version again inside the write transaction so two processes
  // opening a new file cannot both create the schema.
  Transaction tx(db_, path_);
  const int64_t version = check_version();
  if (version == kSchemaVersion) return;
  if (version == 0 &&
      QueryInt(db_, path_, "SELECT count(*) FROM sqlite_master",
               "inspect schema") != 0)
    throw StoreError(path_ +
                     ": not an oversight database (has tables but no schema "
                     "version)");
  for (int64_t v = version; v < kSchemaVersion; ++v)
    ExecSql(db_, path_, kMigrations[v],
            "migrate schema to version " + std::to_string(v + 1));
  ExecSql(db_, path_,
          ("PRAGMA user_version=" + std::to_string(kSchemaVersion)).c_str(),
          "set schema version");
  tx.Commit();
}

int64_t Store::SchemaVersion() {
  return QueryInt(db_, path_, "PRAGMA user_version", "read schema version");
}

void Store::Exec(const std::string& sql, const char* what) {
  ExecSql(db_, path_, sql.c_str(), what);
}

int64_t Store::CreateExperiment(const std::string& name,
                                const std::string& config_json, uint64_t seed,
                                const std::string& code_version) {
  Stmt stmt(db_, path_,
            "INSERT INTO experiments(name, config_json, seed, status, "
            "started_at, code_version) VALUES(?1,?2,?3,'running',?4,?5)");
  const std::string now = NowIso();
  stmt.Text(1, name)
      .Text(2, config_json)
      .Int(3, static_cast<int64_t>(seed))
      .Text(4, now)
      .Text(5, code_version);
  stmt.Run("create experiment '" + name + "'");
  return sqlite3_last_insert_rowid(db_);
}

void Store::SetExperimentStatus(int64_t id, const std::string& status) {
  Stmt stmt(db_, path_,
            "UPDATE experiments SET status=?1, "
            "finished_at=CASE WHEN ?1='running' THEN NULL ELSE ?2 END "
            "WHERE id=?3");
  const std::string now = NowIso();
  stmt.Text(1, status).Text(2, now).Int(3, id);
  const std::string what =
      "set status of experiment " + std::to_string(id) + " to '" + status + "'";
  stmt.Run(what);
  if (sqlite3_changes(db_) == 0) throw Error(path_, what, "no such experiment");
}

std::optional<ExperimentRow> Store::GetExperiment(int64_t id) {
  Stmt stmt(db_, path_, (std::string(kExperimentColumns) + "WHERE id=?1").c_str());
  stmt.Int(1, id);
  return ReadExperiment(stmt, "get experiment");
}

std::optional<ExperimentRow> Store::FindResumable(const std::string& name) {
  Stmt stmt(db_, path_,
            (std::string(kExperimentColumns) +
             "WHERE name=?1 AND status<>'finished' ORDER BY id DESC LIMIT 1")
                .c_str());
  stmt.Text(1, name);
  return ReadExperiment(stmt, "find resumable experiment");
}

void Store::SetStageStatus(int64_t experiment_id, int stage_idx,
                           const std::string& name, const std::string& kind,
                           const std::string& status) {
  // started_at: first time the stage runs. finished_at: when it finishes;
  // cleared when it runs again (resume).
  Stmt stmt(db_, path_,
            "INSERT INTO stages(experiment_id, idx, name, kind, status, "
            "started_at, finished_at) VALUES(?1,?2,?3,?4,?5,"
            "CASE WHEN ?5='running' THEN ?6 END,"
            "CASE WHEN ?5='finished' THEN ?6 END) "
            "ON CONFLICT(experiment_id, idx) DO UPDATE SET "
            "name=excluded.name, kind=excluded.kind, status=excluded.status, "
            "started_at=CASE WHEN excluded.status='running' AND "
            "stages.started_at IS NULL THEN ?6 ELSE stages.started_at END, "
            "finished_at=CASE excluded.status WHEN 'finished' THEN ?6 "
            "WHEN 'running' THEN NULL ELSE stages.finished_at END");
  const std::string now = NowIso();
  stmt.Int(1, experiment_id)
      .Int(2, stage_idx)
      .Text(3, name)
      .Text(4, kind)
      .Text(5, status)
      .Text(6, now);
  stmt.Run("set status of stage " + std::to_string(stage_idx) + " ('" + name +
           "') of experiment " + std::to_string(experiment_id));
}

std::optional<std::string> Store::GetStageStatus(int64_t experiment_id,
                                                 int stage_idx) {
  Stmt stmt(db_, path_,
            "SELECT status FROM stages WHERE experiment_id=?1 AND idx=?2");
  stmt.Int(1, experiment_id).Int(2, stage_idx);
  if (!stmt.Next("get stage status")) return std::nullopt;
  std::string status = stmt.ColumnText(0);
  stmt.Reset();
  return status;
}

void Store::InsertEpisodes(const std::vector<EpisodeRecord>& episodes) {
  if (episodes.empty()) return;
  EpisodeInserter inserter(db_, path_);
  Transaction tx(db_, path_);
  for (const EpisodeRecord& ep : episodes) inserter.Insert(ep);
  tx.Commit();
}

std::vector<int64_t> Store::EpisodeIndexes(int64_t experiment_id,
                                           const std::string& stage) {
  Stmt stmt(db_, path_,
            "SELECT idx FROM episodes WHERE experiment_id=?1 AND stage=?2 "
            "ORDER BY idx");
  stmt.Int(1, experiment_id).Text(2, stage);
  std::vector<int64_t> out;
  while (stmt.Next("list episode indexes")) out.push_back(stmt.ColumnInt(0));
  return out;
}

int64_t Store::DeleteFailedEpisodes(int64_t experiment_id, const std::string& stage) {
  Stmt stmt(db_, path_,
            "DELETE FROM episodes WHERE experiment_id=?1 AND stage=?2 AND status='failed' "
            "AND NOT EXISTS (SELECT 1 FROM turns WHERE turns.episode_id = episodes.id) "
            "AND NOT EXISTS (SELECT 1 FROM judgements j WHERE j.episode_id = episodes.id)");
  stmt.Int(1, experiment_id).Text(2, stage);
  stmt.Run("delete failed episodes of stage '" + stage + "'");
  return sqlite3_changes(db_);
}

void Store::InsertMetrics(int64_t experiment_id, const std::string& stage,
                          const std::vector<Metric>& metrics) {
  if (metrics.empty()) return;
  Stmt stmt(db_, path_,
            "INSERT INTO metrics(experiment_id, stage, step, name, value, "
            "created_at) VALUES(?1,?2,?3,?4,?5,?6)");
  const std::string now = NowIso();
  Transaction tx(db_, path_);
  for (const Metric& m : metrics) {
    stmt.Int(1, experiment_id)
        .Text(2, stage)
        .Int(3, m.step)
        .Text(4, m.name)
        .Real(5, m.value)
        .Text(6, now);
    if (!stmt.TryRun())
      throw Error(path_, "insert metric '" + m.name + "' (stage '" + stage + "')",
                  stmt.error());
  }
  tx.Commit();
}

int64_t Store::InsertArtifact(const ArtifactRow& row) {
  Stmt stmt(db_, path_,
            "INSERT INTO artifacts(experiment_id, kind, name, path, sha256, "
            "stage, step, created_at) VALUES(?1,?2,?3,?4,?5,?6,?7,?8)");
  const std::string now = NowIso();
  stmt.Int(1, row.experiment_id)
      .Text(2, row.kind)
      .Text(3, row.name)
      .Text(4, row.path)
      .Text(5, row.sha256)
      .TextOrNull(6, row.stage)
      .Int(7, row.step)
      .Text(8, now);
  stmt.Run("insert artifact " + row.kind + " '" + row.name + "'");
  return sqlite3_last_insert_rowid(db_);
}

std::optional<ArtifactRow> Store::FindArtifact(const std::string& kind,
                                               const std::string& name,
                                               int64_t experiment_id) {
  // experiment_id <= 0 matches no experiment, so the order is just "latest".
  Stmt stmt(db_, path_,
            "SELECT id, experiment_id, kind, name, path, sha256, stage, step "
            "FROM artifacts WHERE kind=?1 AND name=?2 "
            "ORDER BY (experiment_id=?3) DESC, id DESC LIMIT 1");
  stmt.Text(1, kind).Text(2, name).Int(3, experiment_id > 0 ? experiment_id : 0);
  if (!stmt.Next("find artifact " + kind + " '" + name + "'"))
    return std::nullopt;
  ArtifactRow row;
  row.id = stmt.ColumnInt(0);
  row.experiment_id = stmt.ColumnInt(1);
  row.kind = stmt.ColumnText(2);
  row.name = stmt.ColumnText(3);
  row.path = stmt.ColumnText(4);
  row.sha256 = stmt.ColumnText(5);
  row.stage = stmt.ColumnText(6);
  row.step = stmt.ColumnInt(7);
  stmt.Reset();
  return row;
}

// ---------------------------------------------------------------------------
// [SECTION] EpisodeWriter
// ---------------------------------------------------------------------------

struct EpisodeWriter::Impl {
  // Constant after construction.
  std::string path;
  Options options;
  DbPtr db;  // used only by the writer thread once it runs
  std::unique_ptr<EpisodeInserter> inserter;

  // Protected by mu.
  std::mutex mu;
  std::condition_variable work_cv;  // writer: queue non-empty or stop
  std::condition_variable done_cv;  // Flush: processed advanced
  std::deque<EpisodeRecord> queue;
  uint64_t submitted = 0;
  uint64_t processed = 0;  // committed or dropped after an error
  std::string error;       // first write error; non-empty = writer failed
  bool stop = false;

  std::atomic<int64_t> committed{0};
  std::thread thread;  // last: started after everything above exists

  void Run();
  // Writes `batch` (and whatever is queued meanwhile) in transactions of at
  // most max_turns_per_transaction turns; returns with batch empty.
  void WriteBatch(std::deque<EpisodeRecord>& batch);
  void Publish(uint64_t episodes, bool was_committed) {
    if (was_committed) committed.fetch_add(static_cast<int64_t>(episodes));
    {
      std::lock_guard<std::mutex> lock(mu);
      processed += episodes;
    }
    done_cv.notify_all();
  }
};

void EpisodeWriter::Impl::Run() {
  std::deque<EpisodeRecord> batch;
  for (;;) {
    {
      std::unique_lock<std::mutex> lock(mu);
      work_cv.wait(lock, [&] { return stop || !queue.empty(); });
      if (queue.empty()) return;  // stopping and drained
      batch.swap(queue);
      if (!error.empty()) {  // failed writer: drop what was still queued
        processed += batch.size();
        lock.unlock();
        done_cv.notify_all();
        batch.clear();
        continue;
      }
    }
    WriteBatch(batch);
  }
}

void EpisodeWriter::Impl::WriteBatch(std::deque<EpisodeRecord>& batch) {
  const size_t max_turns = std::max<size_t>(options.max_turns_per_transaction, 1);
  uint64_t in_tx = 0;  // episodes written in the open transaction
  try {
    while (!batch.empty()) {
      Transaction tx(db.get(), path);
      size_t turns = 0;
      in_tx = 0;
      for (;;) {
        if (batch.empty()) {
          // Keep the transaction open for episodes queued meanwhile; commit
          // once the queue is empty.
          std::lock_guard<std::mutex> lock(mu);
          if (queue.empty()) break;
          batch.swap(queue);
        }
        const EpisodeRecord& ep = batch.front();
        inserter->Insert(ep);
        turns += ep.turns.size();
        ++in_tx;
        batch.pop_front();
        if (turns >= max_turns) break;
      }
      tx.Commit();
      Publish(in_tx, true);
      in_tx = 0;
    }
  } catch (const std::exception& e) {
    // The transaction rolled back: its episodes are lost, none half-written.
    {
      std::lock_guard<std::mutex> lock(mu);
      if (error.empty()) error = e.what();
    }
    Publish(in_tx + batch.size(), false);
    batch.clear();
  }
}

EpisodeWriter::EpisodeWriter(const std::string& db_path, Options options)
    : impl_(std::make_unique<Impl>()) {
  Impl& im = *impl_;
  im.path = db_path;
  im.options = options;
  // No SQLITE_OPEN_CREATE: the file must exist and carry the schema
  // (Store::Open migrates; this connection never does). NOMUTEX: the
  // connection is used by one thread at a time.
  im.db = OpenConnection(db_path, SQLITE_OPEN_READWRITE | SQLITE_OPEN_NOMUTEX);
  ConfigureReadWrite(im.db.get(), im.path);
  // Room for a whole transaction's pages, so commits don't spill mid-way.
  ExecSql(im.db.get(), im.path, "PRAGMA cache_size=-32768", "set cache_size");
  const int64_t version = QueryInt(im.db.get(), im.path, "PRAGMA user_version",
                                   "episode writer: read schema version");
  if (version != kSchemaVersion)
    throw StoreError(im.path + ": episode writer: schema version " +
                     std::to_string(version) + ", expected " +
                     std::to_string(kSchemaVersion) +
                     " (open the file with Store::Open first)");
  im.inserter = std::make_unique<EpisodeInserter>(im.db.get(), im.path);
  im.thread = std::thread([&im] { im.Run(); });
}

EpisodeWriter::~EpisodeWriter() {
  {
    std::lock_guard<std::mutex> lock(impl_->mu);
    impl_->stop = true;
  }
  impl_->work_cv.notify_one();
  // The thread drains the queue before it returns; write errors are dropped.
  if (impl_->thread.joinable()) impl_->thread.join();
  impl_->inserter.reset();  // finalize statements before closing
}

void EpisodeWriter::Submit(EpisodeRecord episode) {
  {
    std::lock_guard<std::mutex> lock(impl_->mu);
    if (!impl_->error.empty()) throw StoreError(impl_->error);
    impl_->queue.push_back(std::move(episode));
    ++impl_->submitted;
  }
  impl_->work_cv.notify_one();
}

void EpisodeWriter::Flush() {
  std::unique_lock<std::mutex> lock(impl_->mu);
  const uint64_t target = impl_->submitted;
  impl_->done_cv.wait(lock, [&] { return impl_->processed >= target; });
  if (!impl_->error.empty()) throw StoreError(impl_->error);
}

int64_t EpisodeWriter::committed() const { return impl_->committed.load(); }

// ---------------------------------------------------------------------------
// [SECTION] The human-judge queue
// ---------------------------------------------------------------------------
namespace {

constexpr const char* kPendingColumns =
    "SELECT id, experiment_id, stage, episode_idx, protocol, task, instance, question, "
    "status, coalesce(claimed_by, ''), created_at, coalesce(verdict, ''), confidence, "
    "coalesce(reason, ''), coalesce(latency_ms, 0) FROM pending_judgements ";

PendingJudgement ReadPending(Stmt& q) {
  PendingJudgement p;
  p.id = q.ColumnInt(0);
  p.experiment_id = q.ColumnInt(1);
  p.stage = q.ColumnText(2);
  p.episode_idx = q.ColumnInt(3);
  p.protocol = q.ColumnText(4);
  p.task = q.ColumnText(5);
  p.instance = q.ColumnText(6);
  p.question = q.ColumnText(7);
  p.status = q.ColumnText(8);
  p.claimed_by = q.ColumnText(9);
  p.created_at = q.ColumnText(10);
  p.verdict.verdict = q.ColumnText(11);
  if (!q.ColumnIsNull(12)) p.verdict.confidence = q.ColumnReal(12);
  p.verdict.reason = q.ColumnText(13);
  p.verdict.latency_ms = q.ColumnReal(14);
  return p;
}

}  // namespace

PendingJudgement Store::AddPending(const PendingJudgement& item) {
  Transaction tx(db_, path_);
  {
    Stmt ins(db_, path_,
             "INSERT INTO pending_judgements(experiment_id, stage, episode_idx, protocol, task, "
             "instance, question, status, created_at) VALUES(?1,?2,?3,?4,?5,?6,?7,'pending',?8) "
             "ON CONFLICT(experiment_id, stage, episode_idx) DO NOTHING");
    const std::string now = NowIso();
    ins.Int(1, item.experiment_id)
        .Text(2, item.stage)
        .Int(3, item.episode_idx)
        .Text(4, item.protocol)
        .Text(5, item.task)
        .Text(6, item.instance)
        .Text(7, item.question)
        .Text(8, now);
    ins.Run("add pending judgement");
  }
  Stmt q(db_, path_,
         (std::string(kPendingColumns) +
          "WHERE experiment_id=?1 AND stage=?2 AND episode_idx=?3").c_str());
  q.Int(1, item.experiment_id).Text(2, item.stage).Int(3, item.episode_idx);
  if (!q.Next("read pending judgement")) throw Error(path_, "add pending judgement", "row vanished");
  PendingJudgement out = ReadPending(q);
  q.Reset();
  tx.Commit();
  return out;
}

std::optional<PendingJudgement> Store::GetPending(int64_t id) {
  Stmt q(db_, path_, (std::string(kPendingColumns) + "WHERE id=?1").c_str());
  q.Int(1, id);
  if (!q.Next("read pending judgement")) return std::nullopt;
  PendingJudgement out = ReadPending(q);
  q.Reset();
  return out;
}

int64_t Store::CountPending() {
  return QueryInt(db_, path_,
                  "SELECT count(*) FROM pending_judgements WHERE status IN ('pending','claimed')",
                  "count pending judgements");
}

std::vector<PendingJudgement> Store::ListPending(int limit) {
  Stmt q(db_, path_,
         (std::string(kPendingColumns) +
          "WHERE status IN ('pending','claimed') ORDER BY id LIMIT ?1").c_str());
  q.Int(1, limit);
  std::vector<PendingJudgement> out;
  while (q.Next("list pending judgements")) out.push_back(ReadPending(q));
  return out;
}

std::optional<PendingJudgement> Store::ClaimPending(const std::string& who,
                                                    double stale_after_s) {
  Transaction tx(db_, path_);  // BEGIN IMMEDIATE: one claimer at a time
  const std::string now = NowIso();
  // A claim older than stale_after_s (a GUI that went away) is free again.
  Stmt q(db_, path_,
         (std::string(kPendingColumns) +
          "WHERE status='pending' OR (status='claimed' AND "
          "julianday(?1) - julianday(claimed_at) > ?2 / 86400.0) ORDER BY id LIMIT 1").c_str());
  q.Text(1, now).Real(2, stale_after_s);
  if (!q.Next("find pending judgement")) return std::nullopt;
  PendingJudgement out = ReadPending(q);
  q.Reset();
  Stmt up(db_, path_,
          "UPDATE pending_judgements SET status='claimed', claimed_by=?1, claimed_at=?2 "
          "WHERE id=?3");
  up.Text(1, who).Text(2, now).Int(3, out.id);
  up.Run("claim pending judgement");
  tx.Commit();
  out.status = "claimed";
  out.claimed_by = who;
  return out;
}

bool Store::AnswerPending(int64_t id, const std::string& who, const HumanVerdict& v) {
  Stmt up(db_, path_,
          "UPDATE pending_judgements SET status='answered', verdict=?1, confidence=?2, "
          "reason=?3, latency_ms=?4, answered_at=?5 "
          "WHERE id=?6 AND status='claimed' AND claimed_by=?7");
  const std::string now = NowIso();
  up.Text(1, v.verdict).Real(2, v.confidence).Text(3, v.reason).Real(4, v.latency_ms)
      .Text(5, now).Int(6, id).Text(7, who);
  up.Run("answer pending judgement");
  return sqlite3_changes(db_) == 1;
}

bool Store::TimeOutPending(int64_t id) {
  Stmt up(db_, path_,
          "UPDATE pending_judgements SET status='timed_out', answered_at=?1 "
          "WHERE id=?2 AND status IN ('pending','claimed')");
  const std::string now = NowIso();
  up.Text(1, now).Int(2, id);
  up.Run("time out pending judgement");
  return sqlite3_changes(db_) == 1;
}

}  // namespace oversight
