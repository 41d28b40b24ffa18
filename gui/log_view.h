// What the GUI reads from an Oversight Lab log (engine/store.h schema), with
// no ImGui in it so tests can check it directly: experiments, a filtered and
// sorted page of episodes (the browser asks only for the rows on screen), and
// one episode in full for the replay. Opens the file read-only; the file may
// be written by a running experiment at the same time (WAL). Not
// thread-safe: one LogView per thread.
#pragma once

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include <sqlite3.h>

#include "engine/dataset.h"

namespace oversight {

class Store;

struct ExperimentItem {
  int64_t id = 0;
  std::string name, status, started_at;
  int64_t episodes = 0;
};

// Episode filters: empty strings and -1 mean "any".
struct EpisodeFilter {
  int64_t experiment_id = 0;
  std::string stage, protocol, outcome, judge_kind;
  int correct = -1;  // -1 any, 0, 1, 2 = NULL (no ground truth)
};

// Columns the browser sorts by.
enum class EpisodeColumn { kId, kStage, kProtocol, kInstance, kTruth, kOutcome, kCorrect };

struct EpisodeItem {
  int64_t id = 0, idx = 0;
  std::string stage, protocol, task, instance, truth, outcome, status;
  std::optional<int64_t> correct;
};

struct TurnItem {
  int64_t id = 0, idx = 0;
  std::string role, agent, action, content;  // action: JSON text
  std::optional<int64_t> parent_turn_id;
};

struct JudgementItem {
  std::string judge, judge_kind, verdict, detail;  // detail: JSON text
  std::optional<double> confidence;
};

struct EpisodeDetail {
  EpisodeItem episode;
  std::string error;  // why a failed episode failed (schema 3; "" before)
  std::vector<TurnItem> turns;
  std::vector<JudgementItem> judgements;
};

// One metric of one stage over steps (the dashboard's line plots).
struct MetricSeries {
  std::string stage, name;
  std::vector<int64_t> steps;
  std::vector<double> values;
};

// Accuracy of one stage and protocol: episodes with ground truth, correct
// ones, and the 95% Wilson interval.
struct AccuracyRow {
  std::string stage, protocol;
  int64_t n = 0, correct = 0;
  double lo = 0, hi = 0;
};

class LogView {
 public:
  // Throws StoreError with a message naming `path` for a missing file, a
  // file that is not an Oversight Lab log, or one of a newer schema.
  explicit LogView(const std::string& path);
  ~LogView();

  const std::string& path() const { return path_; }
  std::vector<ExperimentItem> Experiments();
  // Distinct values of a column for the filter menus, for one experiment.
  std::vector<std::string> Stages(int64_t experiment_id);
  std::vector<std::string> Protocols(int64_t experiment_id);
  int64_t CountEpisodes(const EpisodeFilter& filter);
  // The ids of the filtered episodes in sort order (ties by id): one query
  // when the filter or the order changes (8 bytes an episode), after which a
  // page anywhere in the table costs the same as the first
  // (EpisodesByIds). Throws SqlError on a database failure.
  std::vector<int64_t> EpisodeIds(const EpisodeFilter& filter, EpisodeColumn sort,
                                  bool descending);
  // The episodes `ids[0..n)`, in that order (ids not found are skipped).
  std::vector<EpisodeItem> EpisodesByIds(const int64_t* ids, size_t n);
  std::optional<EpisodeDetail> Episode(int64_t id);
  // Every metric of the experiment by stage and name, in step order.
  std::vector<MetricSeries> Metrics(int64_t experiment_id);
  // Per stage and protocol, in stage order.
  std::vector<AccuracyRow> Accuracy(int64_t experiment_id);

 private:
  std::string path_;
  std::unique_ptr<Store> store_;
  bool has_error_column_;  // episodes.error (schema 3)
};

// The `split` of image dataset `name` ("mnist", "fashion_mnist"), loaded on
// first use and kept for the process. Thread-safe; throws as
// LoadImageDataset.
const ImageDataset& CachedImageDataset(const std::string& name, const std::string& split);

// The image of an episode of a sparse-pixel task ("mnist", "fashion_mnist";
// instance "test/<index in the source>"), 784 bytes; empty when the task is
// not an image task or the dataset is not installed. Datasets are loaded once
// and kept.
std::vector<uint8_t> EpisodeImage(const std::string& task, const std::string& instance);

}  // namespace oversight
