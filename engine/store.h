// Store: the SQLite log of experiments, episodes, turns, judgements, metrics
// and artifacts. The schema is a public contract (see README.md, "The log schema", and DESIGN.md)
// versioned with PRAGMA user_version; WAL mode so readers never block the
// writer.
//
// Thread-safety: a Store is used by one thread at a time, except
// EpisodeWriter, which owns its own connection and a background thread and
// accepts episodes from any thread.
#pragma once

#include <cstdint>
#include <memory>
#include <optional>
#include <stdexcept>
#include <string>
#include <vector>

struct sqlite3;
struct sqlite3_stmt;

namespace oversight {

// Current schema version (PRAGMA user_version). Bump it, and add a migration
// in store.cpp, for every change of a table in the contract.
inline constexpr int kSchemaVersion = 3;

// Raised for any SQLite failure; the message names the statement's purpose and
// the database file.
class StoreError : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

// One turn of an episode. `action` is JSON text (a pixel, a subquestion, a
// step). `parent_idx` is the idx of the parent turn in the same episode (for
// amplification trees); the store maps it to parent_turn_id.
struct TurnRecord {
  int idx = 0;
  std::string role;
  std::string agent;
  std::string action = "{}";
  std::string content;
  std::optional<int> parent_idx;
  double latency_ms = 0;
};

enum class JudgeKind { kModel, kHuman, kOracle, kRewardModel, kRemote };
// Stable names written to judgements.judge_kind.
const char* JudgeKindName(JudgeKind kind);

struct JudgementRecord {
  std::string judge;
  JudgeKind judge_kind = JudgeKind::kModel;
  std::string verdict;
  std::optional<double> confidence;
  std::string detail = "{}";  // JSON text, e.g. {"logits":[...]}
  double latency_ms = 0;
};

// An episode with everything it wrote. Committed in one transaction with its
// turns and judgements, or not at all.
struct EpisodeRecord {
  int64_t experiment_id = 0;
  std::string stage;
  int64_t idx = 0;  // episode index within the stage; unique per stage
  std::string protocol;
  std::string task;
  std::string instance;
  uint64_t seed = 0;
  std::optional<std::string> truth;
  std::string outcome;
  std::optional<int> correct;  // 1 / 0, or none without ground truth
  std::string status = "complete";  // or failed, timed_out, unparseable
  std::string error;  // why a failed episode failed (episodes.error, schema 3)
  std::string started_at;   // ISO-8601 UTC, see NowIso()
  std::string finished_at;
  std::vector<TurnRecord> turns;
  std::vector<JudgementRecord> judgements;
};

struct ExperimentRow {
  int64_t id = 0;
  std::string name;
  std::string config_json;
  uint64_t seed = 0;
  std::string status;
  std::string started_at;
  std::string finished_at;
  std::string code_version;
};

struct ArtifactRow {
  int64_t id = 0;
  int64_t experiment_id = 0;
  std::string kind;
  std::string name;
  std::string path;
  std::string sha256;
  std::string stage;
  int64_t step = 0;
};

// ISO-8601 UTC with milliseconds, e.g. 2026-11-27T02:30:00.123Z.
std::string NowIso();

// A person's verdict on a pending judgement.
struct HumanVerdict {
  std::string verdict;                // as a model judge's verdict (a label, a winner)
  std::optional<double> confidence;   // 0.55 .. 1 in 0.05 steps in the GUI
  std::string reason;                 // optional free text
  double latency_ms = 0;              // from showing the item to submitting
};

// A judgement waiting for a person (table pending_judgements, schema 2): what
// the judge is shown (`question`, JSON) and, once answered, the verdict.
// status: pending -> claimed (by one GUI) -> answered, or timed_out.
struct PendingJudgement {
  int64_t id = 0;
  int64_t experiment_id = 0;
  std::string stage;
  int64_t episode_idx = 0;
  std::string protocol, task, instance;
  std::string question;
  std::string status;
  std::string claimed_by;
  std::string created_at;
  HumanVerdict verdict;  // when answered
};

class Store {
 public:
  enum class Mode { kReadWrite, kReadOnly };

  // Opens (and for kReadWrite creates and migrates) the database at `path`.
  // kReadOnly opens with SQLITE_OPEN_READONLY and never changes the file.
  static std::unique_ptr<Store> Open(const std::string& path,
                                     Mode mode = Mode::kReadWrite);
  ~Store();
  Store(const Store&) = delete;
  Store& operator=(const Store&) = delete;

  const std::string& path() const { return path_; }
  sqlite3* handle() { return db_; }
  // PRAGMA user_version: kSchemaVersion, or less for an older file opened
  // read-only (readers then skip what the file does not have).
  int64_t SchemaVersion();

  // Experiments.
  int64_t CreateExperiment(const std::string& name,
                           const std::string& config_json, uint64_t seed,
                           const std::string& code_version);
  void SetExperimentStatus(int64_t id, const std::string& status);
  std::optional<ExperimentRow> GetExperiment(int64_t id);
  // Latest experiment with this name whose status is not "finished".
  std::optional<ExperimentRow> FindResumable(const std::string& name);

  // Stage progress (table `stages`): lets --resume skip finished stages.
  void SetStageStatus(int64_t experiment_id, int stage_idx,
                      const std::string& name, const std::string& kind,
                      const std::string& status);
  std::optional<std::string> GetStageStatus(int64_t experiment_id,
                                            int stage_idx);

  // Episodes written directly (one transaction per call). Bulk writers should
  // use EpisodeWriter.
  void InsertEpisodes(const std::vector<EpisodeRecord>& episodes);
  // Indexes of episodes already stored for (experiment, stage).
  std::vector<int64_t> EpisodeIndexes(int64_t experiment_id,
                                      const std::string& stage);
  // Deletes the (experiment, stage) episodes whose status is "failed" (they
  // have no turns or judgements), so a resumed stage plays them again;
  // returns how many.
  int64_t DeleteFailedEpisodes(int64_t experiment_id, const std::string& stage);

  // Metrics: many rows per transaction.
  struct Metric {
    std::string name;
    int64_t step = 0;
    double value = 0;
  };
  void InsertMetrics(int64_t experiment_id, const std::string& stage,
                     const std::vector<Metric>& metrics);

  // Artifacts.
  int64_t InsertArtifact(const ArtifactRow& row);
  // Latest artifact of `kind` named `name`, preferring `experiment_id`'s own.
  std::optional<ArtifactRow> FindArtifact(const std::string& kind,
                                          const std::string& name,
                                          int64_t experiment_id = 0);

  // The human-judge queue. The experiment side: AddPending (idempotent per
  // experiment, stage and episode index, so a resumed episode finds its
  // item, answered or not), GetPending to poll, TimeOutPending when it stops
  // waiting (false if a verdict came first). The GUI side: ClaimPending takes
  // the oldest free item atomically, so two GUIs on one file never get the
  // same one (a claim older than `stale_after_s` is free again: its GUI went
  // away); AnswerPending stores the verdict if `who` still holds the claim.
  PendingJudgement AddPending(const PendingJudgement& item);
  std::optional<PendingJudgement> GetPending(int64_t id);
  int64_t CountPending();  // pending or claimed
  // The oldest `limit` items pending or claimed.
  std::vector<PendingJudgement> ListPending(int limit);
  std::optional<PendingJudgement> ClaimPending(const std::string& who,
                                               double stale_after_s = 600);
  bool AnswerPending(int64_t id, const std::string& who, const HumanVerdict& verdict);
  bool TimeOutPending(int64_t id);

  // Runs `sql` (no results) and throws StoreError with `what` on failure.
  void Exec(const std::string& sql, const char* what);

 private:
  Store(std::string path, sqlite3* db) : path_(std::move(path)), db_(db) {}
  void Migrate();

  std::string path_;
  sqlite3* db_ = nullptr;
};

// EpisodeWriter: the batched writer. Episodes submitted from any thread are
// queued; a background thread writes them with prepared statements, many
// episodes per transaction, never splitting an episode across transactions.
// Flush() waits until everything submitted so far is committed.
class EpisodeWriter {
 public:
  struct Options {
    // Commit after this many queued turns (or when the queue drains).
    size_t max_turns_per_transaction = 50000;
  };
  EpisodeWriter(const std::string& db_path, Options options);
  explicit EpisodeWriter(const std::string& db_path)
      : EpisodeWriter(db_path, Options()) {}
  ~EpisodeWriter();  // Flushes, then stops the thread.

  void Submit(EpisodeRecord episode);
  // Blocks until all submitted episodes are committed; rethrows a write error.
  void Flush();
  int64_t committed() const;

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace oversight
