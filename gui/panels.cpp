// [SECTION] Browse panel
// [SECTION] Replay panel
// [SECTION] Dashboard panel
// [SECTION] Queue panel
#include "gui/panels.h"

#include <imgui.h>

#include <algorithm>
#include <cfloat>
#include <cmath>
#include <nlohmann/json.hpp>

#include "engine/sql_stmt.h"

namespace oversight {

// ---------------------------------------------------------------------------
// [SECTION] Browse panel
// ---------------------------------------------------------------------------
namespace {

constexpr int64_t kPageRows = 256;  // rows fetched per query

// A combo over "any" + `values`; true when the choice changed.
bool FilterCombo(const char* label, const std::vector<std::string>& values, std::string* value) {
  bool changed = false;
  if (ImGui::BeginCombo(label, value->empty() ? "any" : value->c_str())) {
    if (ImGui::Selectable("any", value->empty())) {
      value->clear();
      changed = true;
    }
    for (const std::string& v : values)
      if (ImGui::Selectable(v.c_str(), *value == v)) {
        *value = v;
        changed = true;
      }
    ImGui::EndCombo();
  }
  return changed;
}

}  // namespace

void BrowsePanel::SelectExperiment(int64_t id) {
  filter = EpisodeFilter{};
  filter.experiment_id = id;
  try {
    stages = view->Stages(id);
    protocols = view->Protocols(id);
  } catch (const SqlError& e) {
    error = e.what();
  }
  order.clear();
  last_refresh = -1e9;
}

void BrowsePanel::Refresh() {
  last_refresh = ImGui::GetTime();
  try {
    experiments = view->Experiments();
    if (filter.experiment_id == 0 && !experiments.empty()) {
      SelectExperiment(experiments.front().id);
      last_refresh = ImGui::GetTime();
    }
    const int64_t n = view->CountEpisodes(filter);
    if (n != count) order.clear();
    count = n;
    error.clear();
  } catch (const SqlError& e) {
    error = e.what();
  }
}

std::optional<int64_t> BrowsePanel::Draw() {
  std::optional<int64_t> opened;
  if (ImGui::GetTime() - last_refresh > 1.0) Refresh();  // follow a running experiment

  ImGui::BeginChild("experiments", ImVec2(260, 0), true);
  ImGui::TextUnformatted("Experiments");
  ImGui::Separator();
  for (const ExperimentItem& x : experiments) {
    const std::string label = std::to_string(x.id) + "  " + x.name + "  (" + x.status + ", " +
                              std::to_string(x.episodes) + ")";
    if (ImGui::Selectable(label.c_str(), x.id == filter.experiment_id)) SelectExperiment(x.id);
  }
  ImGui::EndChild();
  ImGui::SameLine();

  ImGui::BeginChild("episodes");
  if (!error.empty()) ImGui::TextColored(ImVec4(1, 0.4f, 0.4f, 1), "%s", error.c_str());
  bool changed = false;
  ImGui::PushItemWidth(150);
  changed |= FilterCombo("stage", stages, &filter.stage);
  ImGui::SameLine();
  changed |= FilterCombo("protocol", protocols, &filter.protocol);
  ImGui::SameLine();
  static const std::vector<std::string> kinds = {"model", "human", "oracle", "reward_model",
                                                 "remote"};
  changed |= FilterCombo("judge kind", kinds, &filter.judge_kind);
  ImGui::SameLine();
  const char* correct_names[] = {"any", "0", "1", "none"};
  int correct = filter.correct + 1;
  if (ImGui::Combo("correct", &correct, correct_names, 4)) {
    filter.correct = correct - 1;
    changed = true;
  }
  ImGui::SameLine();
  char outcome[64];
  std::snprintf(outcome, sizeof outcome, "%s", filter.outcome.c_str());
  if (ImGui::InputText("outcome", outcome, sizeof outcome)) {
    filter.outcome = outcome;
    changed = true;
  }
  ImGui::PopItemWidth();
  if (changed) {
    order.clear();
    last_refresh = -1e9;
  }
  ImGui::Text("%lld episodes", static_cast<long long>(count));

  const ImGuiTableFlags flags = ImGuiTableFlags_Sortable | ImGuiTableFlags_ScrollY |
                                ImGuiTableFlags_RowBg | ImGuiTableFlags_BordersOuter |
                                ImGuiTableFlags_Resizable;
  if (ImGui::BeginTable("episode_table", 7, flags)) {
    ImGui::TableSetupScrollFreeze(0, 1);
    const struct {
      const char* name;
      EpisodeColumn col;
    } columns[] = {{"id", EpisodeColumn::kId},
                   {"stage", EpisodeColumn::kStage},
                   {"protocol", EpisodeColumn::kProtocol},
                   {"instance", EpisodeColumn::kInstance},
                   {"truth", EpisodeColumn::kTruth},
                   {"outcome", EpisodeColumn::kOutcome},
                   {"correct", EpisodeColumn::kCorrect}};
    for (const auto& c : columns)
      ImGui::TableSetupColumn(c.name,
                              c.col == EpisodeColumn::kId ? ImGuiTableColumnFlags_DefaultSort : 0,
                              0.0f, static_cast<ImGuiID>(c.col));
    ImGui::TableHeadersRow();
    if (ImGuiTableSortSpecs* specs = ImGui::TableGetSortSpecs()) {
      if (specs->SpecsDirty && specs->SpecsCount > 0) {
        sort = static_cast<EpisodeColumn>(specs->Specs[0].ColumnUserID);
        descending = specs->Specs[0].SortDirection == ImGuiSortDirection_Descending;
        order.clear();
        specs->SpecsDirty = false;
      }
    }
    if (order.empty() && count > 0) {
      try {
        order = view->EpisodeIds(filter, sort, descending);
      } catch (const SqlError& e) {
        error = e.what();
      }
      page_offset = -1;
    }
    const int64_t rows = static_cast<int64_t>(order.size());
    ImGuiListClipper clipper;
    clipper.Begin(static_cast<int>(rows));
    while (clipper.Step()) {
      const int64_t first = clipper.DisplayStart, last = clipper.DisplayEnd;
      if (page_offset < 0 || first < page_offset ||
          last > page_offset + static_cast<int64_t>(page.size())) {
        page_offset = std::max<int64_t>(0, first - kPageRows / 4);
        try {
          page = view->EpisodesByIds(order.data() + page_offset,
                                     static_cast<size_t>(std::min(kPageRows, rows - page_offset)));
        } catch (const SqlError& e) {
          error = e.what();
          page.clear();
        }
      }
      for (int64_t row = first; row < last; ++row) {
        const int64_t k = row - page_offset;
        if (k < 0 || k >= static_cast<int64_t>(page.size())) break;
        const EpisodeItem& e = page[k];
        ImGui::TableNextRow();
        ImGui::TableNextColumn();
        char id[32];
        std::snprintf(id, sizeof id, "%lld", static_cast<long long>(e.id));
        if (ImGui::Selectable(id, false, ImGuiSelectableFlags_SpanAllColumns)) opened = e.id;
        ImGui::TableNextColumn();
        ImGui::TextUnformatted(e.stage.c_str());
        ImGui::TableNextColumn();
        ImGui::TextUnformatted(e.protocol.c_str());
        ImGui::TableNextColumn();
        ImGui::TextUnformatted(e.instance.c_str());
        ImGui::TableNextColumn();
        ImGui::TextUnformatted(e.truth.c_str());
        ImGui::TableNextColumn();
        ImGui::TextUnformatted(e.outcome.c_str());
        ImGui::TableNextColumn();
        ImGui::TextUnformatted(e.correct ? (*e.correct ? "1" : "0") : "-");
      }
    }
    if (scroll_rows_per_frame > 0) {  // wraps to the top at the end
      const float y =
          ImGui::GetScrollY() + scroll_rows_per_frame * ImGui::GetTextLineHeightWithSpacing();
      ImGui::SetScrollY(y > ImGui::GetScrollMaxY() ? 0.0f : y);
    }
    ImGui::EndTable();
  }
  ImGui::EndChild();
  return opened;
}

// ---------------------------------------------------------------------------
// [SECTION] Replay panel
// ---------------------------------------------------------------------------
namespace {

// Reveal turns: (pixel, value, role) from actions {"pixel": p, "value": v}.
struct Reveal {
  int pixel;
  float value;
  std::string role;
};

std::vector<Reveal> Reveals(const EpisodeDetail& d) {
  std::vector<Reveal> out;
  for (const TurnItem& t : d.turns) {
    const nlohmann::json a = nlohmann::json::parse(t.action, nullptr, /*allow_exceptions=*/false);
    if (!a.is_object() || !a.contains("pixel") || !a["pixel"].is_number_integer()) continue;
    const int p = a["pixel"].get<int>();
    if (p < 0 || p >= 784) continue;
    const float v = a.contains("value") && a["value"].is_number() ? a["value"].get<float>() : 1.0f;
    out.push_back({p, v, t.role});
  }
  return out;
}

Rgb RoleRgb(const std::string& role) {
  if (role == "honest") return kHonestRgb;
  if (role == "liar") return kLiarRgb;
  return kOtherRgb;
}

}  // namespace

void DrawPixelCanvas(const uint8_t* image, const std::vector<CanvasPixel>& pixels, bool numbered) {
  const float cell = 12.0f;
  const ImVec2 origin = ImGui::GetCursorScreenPos();
  ImDrawList* draw = ImGui::GetWindowDrawList();
  auto cell_at = [&](int p) {
    return ImVec2(origin.x + (p % 28) * cell, origin.y + (p / 28) * cell);
  };
  draw->AddRectFilled(origin, ImVec2(origin.x + 28 * cell, origin.y + 28 * cell),
                      ImGui::GetColorU32(ImVec4(0.12f, 0.12f, 0.14f, 1)));
  if (image)
    for (int p = 0; p < 784; ++p) {
      if (!image[p]) continue;
      const float g = image[p] / 255.0f * 0.6f;
      const ImVec2 a = cell_at(p);
      draw->AddRectFilled(a, ImVec2(a.x + cell, a.y + cell),
                          ImGui::GetColorU32(ImVec4(g, g, g, 1)));
    }
  for (size_t k = 0; k < pixels.size(); ++k) {
    const CanvasPixel& c = pixels[k];
    const float v = 0.35f + 0.65f * std::clamp(c.value, 0.0f, 1.0f);
    const ImVec2 a = cell_at(c.pixel);
    draw->AddRectFilled(
        a, ImVec2(a.x + cell, a.y + cell),
        ImGui::GetColorU32(ImVec4(c.colour.r * v, c.colour.g * v, c.colour.b * v, 1)));
    if (!numbered) continue;
    char label[16];
    std::snprintf(label, sizeof label, "%zu", k + 1);
    draw->AddText(ImVec2(a.x + 2, a.y - 1), IM_COL32(255, 255, 255, 255), label);
  }
  ImGui::Dummy(ImVec2(28 * cell, 28 * cell));
}

bool VerdictControls(bool chosen, int* confidence, char* reason, size_t reason_size) {
  ImGui::SetNextItemWidth(240);
  ImGui::SliderInt("confidence (%)", confidence, 55, 100, "%d%%");
  *confidence = std::clamp((*confidence + 2) / 5 * 5, 55, 100);  // 5% steps, never 50%
  ImGui::SetNextItemWidth(480);
  ImGui::InputText("reason (optional)", reason, reason_size);
  ImGui::BeginDisabled(!chosen);
  const bool submitted = ImGui::Button("Submit verdict", ImVec2(220, 40));
  ImGui::EndDisabled();
  return submitted;
}

void ReplayPanel::Open(int64_t episode_id) {
  try {
    detail = view->Episode(episode_id);
    error = detail ? "" : "no episode with id " + std::to_string(episode_id);
  } catch (const SqlError& e) {
    detail.reset();
    error = e.what();
  }
  image = detail ? EpisodeImage(detail->episode.task, detail->episode.instance)
                 : std::vector<uint8_t>{};
  step = detail ? static_cast<int>(Reveals(*detail).size()) : 0;
}

namespace {

// A text argument with its quotes marked (protocols/text.h): verified quotes
// green, unverified red, each on its own wrapped line.
void DrawMarkedText(const std::string& text) {
  size_t pos = 0;
  while (pos < text.size()) {
    const size_t v = text.find("<v_quote>", pos), u = text.find("<u_quote>", pos);
    const size_t open = std::min(v, u);
    const std::string plain =
        text.substr(pos, open == std::string::npos ? std::string::npos : open - pos);
    if (!plain.empty()) ImGui::TextWrapped("%s", plain.c_str());
    if (open == std::string::npos) break;
    const bool verified = open == v;
    const std::string close = verified ? "</v_quote>" : "</u_quote>";
    const size_t end = text.find(close, open + 9);
    const std::string quote =
        text.substr(open + 9, end == std::string::npos ? std::string::npos : end - open - 9);
    ImGui::PushStyleColor(ImGuiCol_Text,
                          verified ? ImVec4(0.4f, 0.9f, 0.4f, 1) : ImVec4(1, 0.4f, 0.4f, 1));
    ImGui::TextWrapped("%s \"%s\"", verified ? "[verified]" : "[unverified]", quote.c_str());
    ImGui::PopStyleColor();
    pos = end == std::string::npos ? text.size() : end + close.size();
  }
}

}  // namespace

void ReplayPanel::Draw() {
  if (!error.empty()) ImGui::TextColored(ImVec4(1, 0.4f, 0.4f, 1), "%s", error.c_str());
  if (!detail) {
    ImGui::TextUnformatted("Open an episode from the browser.");
    return;
  }
  const EpisodeItem& e = detail->episode;
  ImGui::Text("episode %lld  stage %s  protocol %s  task %s  instance %s  truth %s  outcome %s",
              static_cast<long long>(e.id), e.stage.c_str(), e.protocol.c_str(), e.task.c_str(),
              e.instance.c_str(), e.truth.c_str(), e.outcome.c_str());
  const std::vector<Reveal> reveals = Reveals(*detail);
  if (!reveals.empty()) {
    const int n = static_cast<int>(reveals.size());
    if (ImGui::Button("<")) step = std::max(0, step - 1);
    ImGui::SameLine();
    if (ImGui::Button(">")) step = std::min(n, step + 1);
    ImGui::SameLine();
    ImGui::SetNextItemWidth(200);
    ImGui::SliderInt("reveals", &step, 0, n);
    ImGui::SameLine();
    ImGui::Checkbox("show image", &show_image);
    ImGui::SameLine();
    ImGui::TextColored(ImVec4(0.3f, 0.6f, 1, 1), "honest");
    ImGui::SameLine();
    ImGui::TextColored(ImVec4(1, 0.35f, 0.3f, 1), "liar");
    std::vector<CanvasPixel> shown;
    for (int k = 0; k < std::min(step, n); ++k)
      shown.push_back({reveals[k].pixel, reveals[k].value, RoleRgb(reveals[k].role)});
    DrawPixelCanvas(show_image && image.size() == 784 ? image.data() : nullptr, shown,
                    /*numbered=*/true);
  }
  if (ImGui::BeginTable(
          "turns", 5,
          ImGuiTableFlags_RowBg | ImGuiTableFlags_BordersOuter | ImGuiTableFlags_ScrollY,
          ImVec2(0, 180))) {
    for (const char* h : {"turn", "role", "agent", "action", "parent"}) ImGui::TableSetupColumn(h);
    ImGui::TableHeadersRow();
    for (const TurnItem& t : detail->turns) {
      ImGui::TableNextRow();
      ImGui::TableNextColumn();
      ImGui::Text("%lld", static_cast<long long>(t.idx));
      ImGui::TableNextColumn();
      ImGui::TextUnformatted(t.role.c_str());
      ImGui::TableNextColumn();
      ImGui::TextUnformatted(t.agent.c_str());
      ImGui::TableNextColumn();
      ImGui::TextUnformatted((t.action + (t.content.empty() ? "" : "  " + t.content)).c_str());
      ImGui::TableNextColumn();
      if (t.parent_turn_id) ImGui::Text("%lld", static_cast<long long>(*t.parent_turn_id));
    }
    ImGui::EndTable();
  }
  const bool text = e.task == "qa";
  if (text && ImGui::BeginChild("transcript", ImVec2(0, 360), true)) {
    // A text protocol's arguments, readable, quotes marked.
    for (const TurnItem& t : detail->turns) {
      const nlohmann::json a = nlohmann::json::parse(t.action, nullptr, false);
      std::string head = t.role;
      if (a.is_object() && a.contains("round")) head += ", round " + a["round"].dump();
      if (a.is_object() && a.contains("answer"))
        head += ", arguing for answer " + a["answer"].dump() +
                (e.truth == a["answer"].dump() ? " (correct)" : " (wrong)");
      ImGui::TextColored(ImVec4(0.5f, 0.7f, 1, 1), "%s", head.c_str());
      DrawMarkedText(t.content);
      ImGui::Separator();
    }
    for (const JudgementItem& j : detail->judgements) {
      const nlohmann::json d = nlohmann::json::parse(j.detail, nullptr, false);
      if (!d.is_object() || !d.contains("answers") || !d["answers"].is_array()) continue;
      for (const auto& answer : d["answers"]) {
        ImGui::TextColored(ImVec4(0.5f, 0.7f, 1, 1), "judge's answer");
        if (answer.is_string()) ImGui::TextWrapped("%s", answer.get<std::string>().c_str());
      }
    }
  }
  if (text) ImGui::EndChild();
  if (!detail->error.empty())
    ImGui::TextColored(ImVec4(1, 0.4f, 0.4f, 1), "failed: %s", detail->error.c_str());
  for (const JudgementItem& j : detail->judgements) {
    ImGui::Text("judge %s (%s): verdict %s, confidence %s", j.judge.c_str(), j.judge_kind.c_str(),
                j.verdict.c_str(), j.confidence ? std::to_string(*j.confidence).c_str() : "-");
    const nlohmann::json d = nlohmann::json::parse(j.detail, nullptr, false);
    if (d.is_object() && d.contains("logits") && d["logits"].is_array()) {
      std::vector<float> logits;
      for (const auto& v : d["logits"])
        if (v.is_number()) logits.push_back(v.get<float>());
      if (!logits.empty()) {
        const auto [lo, hi] = std::minmax_element(logits.begin(), logits.end());
        ImGui::PlotHistogram("logits (class 0..9)", logits.data(), static_cast<int>(logits.size()),
                             0, nullptr, std::min(0.0f, *lo), std::max(0.0f, *hi), ImVec2(360, 90));
      }
    }
  }
}

// ---------------------------------------------------------------------------
// [SECTION] Dashboard panel
// ---------------------------------------------------------------------------
void DashboardPanel::Draw(int64_t experiment_id) {
  const double now = ImGui::GetTime();
  if (experiment_id != shown || now - last_refresh > 2.0) {
    last_refresh = now;
    shown = experiment_id;
    try {
      accuracy = view->Accuracy(experiment_id);
      metrics = view->Metrics(experiment_id);
      error.clear();
    } catch (const SqlError& e) {
      error = e.what();
    }
  }
  if (!error.empty()) ImGui::TextColored(ImVec4(1, 0.4f, 0.4f, 1), "%s", error.c_str());
  ImGui::Text("Experiment %lld", static_cast<long long>(experiment_id));
  if (ImGui::BeginTable("accuracy", 5, ImGuiTableFlags_RowBg | ImGuiTableFlags_BordersOuter)) {
    for (const char* h : {"stage", "protocol", "episodes with truth", "accuracy", "95% interval"})
      ImGui::TableSetupColumn(h);
    ImGui::TableHeadersRow();
    for (const AccuracyRow& r : accuracy) {
      ImGui::TableNextRow();
      ImGui::TableNextColumn();
      ImGui::TextUnformatted(r.stage.c_str());
      ImGui::TableNextColumn();
      ImGui::TextUnformatted(r.protocol.c_str());
      ImGui::TableNextColumn();
      ImGui::Text("%lld", static_cast<long long>(r.n));
      ImGui::TableNextColumn();
      if (r.n == 0) {
        ImGui::TextUnformatted("-");
        ImGui::TableNextColumn();
        continue;
      }
      const float acc = static_cast<float>(r.correct) / static_cast<float>(r.n);
      ImGui::ProgressBar(acc, ImVec2(160, 0));
      ImGui::TableNextColumn();
      ImGui::Text("%.1f%% [%.1f%%, %.1f%%]", 100.0 * acc, 100.0 * r.lo, 100.0 * r.hi);
    }
    ImGui::EndTable();
  }
  for (const MetricSeries& m : metrics) {
    std::vector<float> v(m.values.begin(), m.values.end());
    const std::string label = m.stage + " / " + m.name + "  (last " +
                              std::to_string(m.values.back()) + " at step " +
                              std::to_string(m.steps.back()) + ")";
    ImGui::PlotLines(label.c_str(), v.data(), static_cast<int>(v.size()), 0, nullptr, FLT_MAX,
                     FLT_MAX, ImVec2(480, 90));
  }
}

// ---------------------------------------------------------------------------
// [SECTION] Queue panel
// ---------------------------------------------------------------------------
QueuePanel::~QueuePanel() = default;

// A text item: the question, the answers, the passage (direct with the
// passage), the arguments, and the choice of A or B.
void QueuePanel::DrawTextItem() {
  auto str = [&](const char* k) {
    return text.contains(k) && text[k].is_string() ? text[k].get<std::string>() : std::string();
  };
  ImGui::TextWrapped("Question: %s", str("question").c_str());
  ImGui::TextWrapped("A: %s", str("answer_a").c_str());
  ImGui::TextWrapped("B: %s", str("answer_b").c_str());
  if (!str("consultant_side").empty())
    ImGui::Text("The consultant argues for %s (as often for the wrong answer as the right one).",
                str("consultant_side").c_str());
  if (ImGui::BeginChild("item text", ImVec2(0, 330), true)) {
    if (!str("passage").empty()) {
      ImGui::TextColored(ImVec4(0.5f, 0.7f, 1, 1), "passage");
      ImGui::TextWrapped("%s", str("passage").c_str());
    }
    if (!str("transcript").empty()) DrawMarkedText(str("transcript"));
  }
  ImGui::EndChild();
  ImGui::TextUnformatted("Which answer is correct?");
  ImGui::RadioButton("A", &choice, 0);
  ImGui::SameLine();
  ImGui::RadioButton("B", &choice, 1);
}

// Sends the verdict for the item shown.
void QueuePanel::Submit(const std::string& verdict) {
  HumanVerdict v;
  v.verdict = verdict;
  v.confidence = confidence / 100.0;
  v.reason = reason;
  v.latency_ms = 1000.0 * (ImGui::GetTime() - shown_at);
  try {
    if (queue->Answer(item->id, v)) {
      ++answered;
      message = "Verdict " + v.verdict + " submitted for item " + std::to_string(item->id) + ".";
    } else {
      message = "Item " + std::to_string(item->id) +
                " was no longer ours (timed out or taken over); verdict not recorded.";
    }
    item.reset();
    last_refresh = -1e9;
  } catch (const std::exception& e) {
    error = e.what();
  }
}

void QueuePanel::Draw() {
  state.clear();
  try {
    if (ImGui::GetTime() - last_refresh > 1.0) {
      last_refresh = ImGui::GetTime();
      waiting = queue->CountPending();
      error.clear();
    }
  } catch (const std::exception& e) {
    error = e.what();
  }
  if (!error.empty()) ImGui::TextColored(ImVec4(1, 0.4f, 0.4f, 1), "%s", error.c_str());
  if (answered > 0) state = "answered " + std::to_string(answered);
  ImGui::Text("Items waiting for a person: %lld   answered in this session: %d",
              static_cast<long long>(waiting), answered);
  if (!message.empty()) ImGui::TextUnformatted(message.c_str());
  if (!item) {
    if (ImGui::Button("Take the next item", ImVec2(220, 40))) {
      try {
        item = queue->Claim();
        message = item ? "" : "Nothing is waiting.";
        choices.clear();
        reveals.clear();
        text = nullptr;
        choice = -1;
        confidence = 75;
        reason[0] = 0;
        if (item) {
          const nlohmann::json q = nlohmann::json::parse(item->question, nullptr, false);
          if (q.is_object() && q.value("kind", "") == "text") text = q;
          if (q.is_object() && q.contains("choices") && q["choices"].is_array())
            for (const auto& c : q["choices"])
              if (c.is_number_integer()) choices.push_back(c.get<int>());
          if (q.is_object() && q.contains("reveals") && q["reveals"].is_array())
            for (const auto& r : q["reveals"]) {
              if (!r.is_object() || !r.contains("pixel") || !r["pixel"].is_number_integer())
                continue;
              const int p = r["pixel"].get<int>();
              if (p < 0 || p >= 784) continue;
              reveals.push_back({p, r.value("value", 1.0f),
                                 r.value("player", "") == "A" ? kPlayerARgb : kPlayerBRgb});
            }
          if (choices.empty() && text.is_null())
            message = "Item " + std::to_string(item->id) + " has no choices.";
          shown_at = ImGui::GetTime();
        }
        last_refresh = -1e9;
      } catch (const std::exception& e) {
        error = e.what();
      }
    }
    return;
  }
  state = "item " + std::to_string(item->id);
  ImGui::Text("Item %lld: %s, %s, episode %lld of stage %s", static_cast<long long>(item->id),
              item->protocol.c_str(), item->task.c_str(), static_cast<long long>(item->episode_idx),
              item->stage.c_str());
  const bool is_text = !text.is_null();
  if (is_text) {
    DrawTextItem();
  } else {
    ImGui::TextColored(ImVec4(0.3f, 0.6f, 1, 1), "player A");
    ImGui::SameLine();
    ImGui::TextColored(ImVec4(1, 0.6f, 0.1f, 1), "player B");
    ImGui::SameLine();
    ImGui::Text("(%zu pixels revealed; the image stays hidden)", reveals.size());
    DrawPixelCanvas(nullptr, reveals, /*numbered=*/false);
    const bool two = choices.size() == 2;
    ImGui::TextUnformatted(two ? "Which claim is true?" : "Which label is it?");
    for (size_t k = 0; k < choices.size(); ++k) {
      const std::string label =
          two ? std::string(k == 0 ? "A claims " : "B claims ") + std::to_string(choices[k])
              : std::to_string(choices[k]);
      if (k > 0 && (two || k % 5 != 0)) ImGui::SameLine();
      ImGui::RadioButton(label.c_str(), &choice, static_cast<int>(k));
    }
  }
  if (VerdictControls(choice >= 0, &confidence, reason, sizeof reason))
    Submit(is_text ? (choice == 0 ? "A" : "B")
                   : std::to_string(choices[static_cast<size_t>(choice)]));
  ImGui::SameLine();
  if (ImGui::Button("Skip")) {  // leave it claimed: free again after the stale time
    item.reset();
    message = "Skipped.";
  }
}

}  // namespace oversight
