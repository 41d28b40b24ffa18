// The GUI's panels (Dear ImGui), apart from the platform glue in main.cpp.
// Each is a small struct with Draw(); they read the log through LogView.
// UI thread only.
#pragma once

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "engine/store.h"
#include "gui/log_view.h"
#include "net/judge_service.h"

namespace oversight {

// A pixel on a canvas: where (0..783), its image value (0..1), and the
// colour of whoever revealed it at full value.
struct Rgb {
  float r, g, b;
};
struct CanvasPixel {
  int pixel;
  float value;
  Rgb colour;
};
// Players' colours: by role in replays, by A / B where the roles are hidden.
inline constexpr Rgb kHonestRgb{0.25f, 0.55f, 1.0f}, kLiarRgb{1.0f, 0.3f, 0.25f},
    kOtherRgb{0.9f, 0.9f, 0.3f}, kPlayerARgb{0.25f, 0.55f, 1.0f}, kPlayerBRgb{1.0f, 0.6f, 0.1f};

// The enlarged 28x28 canvas (12-pixel cells) at the cursor: `image` (784
// bytes, or null: hidden) in grey, then `pixels`, each in its colour times
// 0.35 + 0.65 * value; `numbered` writes each pixel's order (from 1) on it.
void DrawPixelCanvas(const uint8_t* image, const std::vector<CanvasPixel>& pixels, bool numbered);

// A person's verdict controls, below the choices: a confidence (55-100% in
// 5% steps, never 50%), an optional reason, and "Submit verdict" (enabled
// once `chosen`). True when submitted.
bool VerdictControls(bool chosen, int* confidence, char* reason, size_t reason_size);

// Experiments -> episodes, with filters and sorting. The table reads the
// order of the episode ids once per filter and sort, then only the rows on
// screen (ImGuiListClipper + LogView::EpisodesByIds); it re-counts once a
// second and re-reads the order when the count moved, so it follows a
// running experiment.
struct BrowsePanel {
  explicit BrowsePanel(LogView* view) : view(view) {}
  // Draws the panel; returns the id of an episode the user opened, if any.
  std::optional<int64_t> Draw();
  void SelectExperiment(int64_t id);
  // Re-reads the experiments and the count (Draw() does, once a second);
  // selects the first experiment if none is.
  void Refresh();

  LogView* view;
  std::vector<ExperimentItem> experiments;
  std::vector<std::string> stages, protocols;
  EpisodeFilter filter;
  EpisodeColumn sort = EpisodeColumn::kId;
  bool descending = false;
  int64_t count = 0;
  std::vector<int64_t> order;  // episode ids in table order; empty: to read
  int64_t page_offset = -1;    // rows [page_offset, + page.size()) are cached
  std::vector<EpisodeItem> page;
  double last_refresh = -1e9;
  std::string error;              // the last database error, shown in the panel
  int scroll_rows_per_frame = 0;  // > 0: scroll the table by itself (benchmarks)
};

// One episode, turn by turn: image debates on an enlarged 28x28 canvas (the
// revealed pixels in order, coloured by who revealed them), other protocols
// as a transcript; the judgements with a bar chart of their logits.
struct ReplayPanel {
  explicit ReplayPanel(LogView* view) : view(view) {}
  void Open(int64_t episode_id);
  void Draw();

  LogView* view;
  std::optional<EpisodeDetail> detail;
  std::vector<uint8_t> image;  // 784 bytes, or empty
  int step = 0;                // reveals shown
  bool show_image = false;
  std::string error;
};

// An experiment at a glance: accuracy per stage and protocol with 95%
// intervals, and each metric over steps as a line plot. Re-read every two
// seconds, so it follows a running experiment.
struct DashboardPanel {
  explicit DashboardPanel(LogView* view) : view(view) {}
  void Draw(int64_t experiment_id);

  LogView* view;
  int64_t shown = -1;  // experiment of the data below
  std::vector<AccuracyRow> accuracy;
  std::vector<MetricSeries> metrics;
  double last_refresh = -1e9;
  std::string error;
};

// The human-judge queue: takes the oldest item an experiment with a `human`
// judge is waiting on (claimed for this GUI: another GUI on the same file
// never gets it), shows what a model judge would see (the revealed pixels,
// marked by player A or B, not by role) and the choices, and submits the
// person's verdict: a choice, a confidence in 5% steps above 50%, and an
// optional reason, with the time taken. A text episode's item (protocols/
// text.h, TextQuestionJson) shows the question, both answers, the passage
// when the protocol gives it, and the arguments with their quotes marked;
// the verdict is A or B. The experiment's episode continues
// as soon as the verdict is in the log. The queue is the SQLite file or a
// judging service (`oversight serve`, `oversight-gui --connect`).
struct QueuePanel {
  explicit QueuePanel(std::unique_ptr<JudgeQueue> queue) : queue(std::move(queue)) {}
  ~QueuePanel();
  void Draw();
  void DrawTextItem();
  void Submit(const std::string& verdict);

  std::unique_ptr<JudgeQueue> queue;
  std::optional<PendingJudgement> item;
  std::vector<int> choices;
  std::vector<CanvasPixel> reveals;  // coloured by player A / B
  nlohmann::json text;               // a text item's question; null otherwise
  int choice = -1;                   // index into choices
  int confidence = 75;               // percent, 55..100
  char reason[512] = {};
  double shown_at = 0;
  int64_t waiting = 0;  // items pending or claimed
  int answered = 0;     // this session
  double last_refresh = -1e9;
  std::string message, error;
  // "item N" while an item is shown, else "answered K" once K verdicts are
  // in (see LiveDebatePanel::state).
  std::string state;
};

}  // namespace oversight
