#include "gui/live_debate.h"

#include <imgui.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <nlohmann/json.hpp>

#include "agents/agents.h"
#include "engine/config.h"
#include "engine/dataset.h"
#include "engine/registry.h"
#include "engine/rng.h"
#include "engine/store.h"
#include "gui/log_view.h"
#include "gui/panels.h"
#include "judges/judges.h"
#include "protocols/debate.h"
#include "protocols/protocols.h"

namespace oversight {
namespace {

const char* kDatasets[] = {"mnist", "fashion_mnist"};
const char* kAgents[] = {"greedy", "mcts", "random"};

std::unique_ptr<PixelDebater> MakeLiveDebater(int kind, int rollouts) {
  nlohmann::json options{{"name", kAgents[kind]}};
  if (kind == 1) options["rollouts"] = rollouts;
  return MakePixelDebater(options, "oversight-gui");
}

}  // namespace

LiveDebatePanel::LiveDebatePanel(std::string db, const std::string& judge_file, int step)
    : step_ms(step), db_path(std::move(db)) {
  std::snprintf(judge_path, sizeof judge_path, "%s", judge_file.c_str());
}

LiveDebatePanel::~LiveDebatePanel() {
  stop = true;
  if (worker.joinable()) worker.join();
}

void LiveDebatePanel::Start() {
  stop = true;
  if (worker.joinable()) worker.join();
  stop = false;
  {
    std::lock_guard<std::mutex> lock(mu);
    moves.clear();
    done = false;
    worker_error.clear();
  }
  active = true;
  shown = 0;
  choice = -1;
  confidence = 75;
  reason[0] = 0;
  judged = false;
  message.clear();
  task = kDatasets[dataset];
  Rng rng(static_cast<uint64_t>(std::chrono::steady_clock::now().time_since_epoch().count()));
  const int seed_first = first;
  a_is_honest = UniformInt(rng, 2) == 0;
  const uint64_t game_seed = rng();
  const std::string path = judge_path;
  const int k = pixels;
  const bool pre = precommit;
  const int agents[2] = {agent[0], agent[1]};
  const int rolls[2] = {rollouts[0], rollouts[1]};
  // Everything slow (the dataset on first use, the judge, the search) runs
  // on the worker; the UI shows the game once `prepared` is set.
  prepared = false;
  worker = std::thread([this, path, k, pre, seed_first, agents, rolls, game_seed] {
    try {
      {
        const ImageDataset& ds = CachedImageDataset(task, "test");
        Rng pick(game_seed ^ 0x9e3779b97f4a7c15ULL);
        const size_t i = UniformInt(pick, ds.size());
        std::lock_guard<std::mutex> lock(mu);
        image.assign(ds.image(i), ds.image(i) + kImagePixels);
        instance = "test/" + std::to_string(ds.source_index[i]);
        truth = ds.labels[i];
        const int j = static_cast<int>(UniformInt(pick, kNumClasses - 1));
        lie = pre ? (j < truth ? j : j + 1) : -1;
        prepared = true;
      }
      if (!judge || loaded_judge_path != path) {
        judge = LoadSparseJudgeFile(path, "cpu", /*kernel_logits=*/true);
        loaded_judge_path = path;
      }
      std::unique_ptr<PixelDebater> debaters[2] = {MakeLiveDebater(agents[0], rolls[0]),
                                                   MakeLiveDebater(agents[1], rolls[1])};
      DebateGame game;
      game.pixels = k;
      game.precommit = pre;
      game.honest_first = seed_first == 0;
      game.truth = truth;
      game.lie = lie;
      const std::vector<int> nonzero = NonzeroPixels(image.data());
      PixelSetCache cache;
      SharedJudgeSession session;
      DebatePosition pos;
      pos.game = &game;
      pos.image = image.data();
      pos.nonzero = &nonzero;
      pos.cache = &cache;
      pos.session = &session;
      const std::unique_ptr<DebaterMemory> memory[2] = {debaters[0]->NewGameMemory(),
                                                        debaters[1]->NewGameMemory()};
      Rng rng(game_seed);
      while (!pos.Terminal() && !stop) {
        const int r = static_cast<int>(pos.ToMove());
        pos.memory = memory[r].get();
        const int p = debaters[r]->ChooseMove(pos, *judge, rng);
        pos.revealed.push_back(p);
        std::lock_guard<std::mutex> lock(mu);
        moves.push_back({p, image[p] / 255.0f, r == static_cast<int>(DebateRole::kHonest)});
      }
      std::lock_guard<std::mutex> lock(mu);
      done = true;
    } catch (const std::exception& e) {
      std::lock_guard<std::mutex> lock(mu);
      worker_error = e.what();
    }
  });
}

void LiveDebatePanel::Submit() {
  const int decision = precommit ? (choice == 0 ? (a_is_honest ? truth : lie)
                                                : (a_is_honest ? lie : truth))
                                 : choice;
  was_correct = decision == truth;
  const double p_truth = was_correct ? confidence / 100.0 : 1 - confidence / 100.0;
  ++judged_n;
  correct_n += was_correct;
  log_score += std::log(std::max(p_truth, 1e-9));
  judged = true;
  try {
    if (!store) store = Store::Open(db_path);
    if (!experiment_id) {
      experiment_id = store->CreateExperiment("gui_live_debates", "{}", 0, "oversight-gui");
    }
    EpisodeRecord rec;
    rec.experiment_id = experiment_id;
    rec.stage = "live";
    rec.idx = judged_n - 1;
    rec.protocol = "debate";
    rec.task = task;
    rec.instance = instance;
    rec.truth = std::to_string(truth);
    rec.outcome = was_correct ? "honest" : "liar";
    rec.correct = was_correct ? 1 : 0;
    rec.started_at = rec.finished_at = NowIso();
    int idx = 0;
    if (precommit)
      for (const bool honest : {true, false})
        rec.turns.push_back({idx++, honest ? "honest" : "liar",
                             kAgents[agent[honest ? 0 : 1]],
                             "{\"claim\":" + std::to_string(honest ? truth : lie) + "}", "", {}, 0});
    std::vector<Move> ms;
    {
      std::lock_guard<std::mutex> lock(mu);
      ms = moves;
    }
    for (const Move& m : ms)
      rec.turns.push_back({idx++, m.honest ? "honest" : "liar", kAgents[agent[m.honest ? 0 : 1]],
                           PixelActionJson(m.pixel, image[m.pixel]), "", {}, 0});
    JudgementRecord j;
    j.judge = "person";
    j.judge_kind = JudgeKind::kHuman;
    j.verdict = std::to_string(decision);
    j.confidence = confidence / 100.0;
    j.latency_ms = 1000.0 * (ImGui::GetTime() - ready_at);
    nlohmann::json detail{{"reason", reason}, {"winner", was_correct ? "honest" : "liar"},
                          {"judge_checkpoint", loaded_judge_path}};
    if (precommit) detail["claims"] = {{"honest", truth}, {"liar", lie}};
    j.detail = detail.dump();
    rec.judgements.push_back(j);
    store->InsertEpisodes({rec});
    store->SetExperimentStatus(experiment_id, "finished");
    message = "Logged as episode " + std::to_string(rec.idx) + " of experiment " +
              std::to_string(experiment_id) + ".";
  } catch (const std::exception& e) {
    message = std::string("not logged: ") + e.what();
  }
}

void LiveDebatePanel::Draw() {
  state.clear();
  if (ImGui::CollapsingHeader("New debate", ImGuiTreeNodeFlags_DefaultOpen)) {
    ImGui::PushItemWidth(140);
    ImGui::Combo("dataset", &dataset, kDatasets, 2);
    ImGui::SameLine();
    ImGui::SliderInt("pixels", &pixels, 1, 12);
    ImGui::SameLine();
    ImGui::Checkbox("precommit", &precommit);
    ImGui::SameLine();
    const char* firsts[] = {"honest", "liar"};
    ImGui::Combo("first mover", &first, firsts, 2);
    for (int r = 0; r < 2; ++r) {
      ImGui::PushID(r);
      ImGui::Combo(r == 0 ? "honest debater" : "liar debater", &agent[r], kAgents, 3);
      if (agent[r] == 1) {
        ImGui::SameLine();
        ImGui::InputInt("rollouts", &rollouts[r], 100, 1000);
        rollouts[r] = std::clamp(rollouts[r], 1, 100000);
      }
      ImGui::PopID();
      if (r == 0) ImGui::SameLine();
    }
    ImGui::PopItemWidth();
    ImGui::SetNextItemWidth(600);
    ImGui::InputText("judge checkpoint (.pt) the debaters search against", judge_path,
                     sizeof judge_path);
    if (ImGui::Button("Start debate", ImVec2(200, 32))) Start();
  }
  ImGui::Text("Session: %d judged, accuracy %s, mean log score %s", judged_n,
              judged_n ? (std::to_string(100 * correct_n / judged_n) + "%").c_str() : "-",
              judged_n ? std::to_string(log_score / judged_n).c_str() : "-");
  if (!message.empty()) ImGui::TextUnformatted(message.c_str());
  if (!active) return;
  std::vector<Move> ms;
  bool finished = false, ready = false;
  std::string err;
  {
    std::lock_guard<std::mutex> lock(mu);
    ms = moves;
    finished = done;
    err = worker_error;
    ready = prepared;
  }
  if (!err.empty()) {
    ImGui::TextColored(ImVec4(1, 0.4f, 0.4f, 1), "debate failed: %s", err.c_str());
    return;
  }
  if (!ready) {
    ImGui::TextUnformatted("Loading the dataset and the judge...");
    return;
  }
  const int n = static_cast<int>(ms.size());
  if (autoplay && shown < n && ImGui::GetTime() - last_step >= step_ms / 1000.0) {
    ++shown;
    last_step = ImGui::GetTime();
  }
  shown = std::min(shown, n);
  if (precommit)
    ImGui::Text("Player A claims %d, player B claims %d.", a_is_honest ? truth : lie,
                a_is_honest ? lie : truth);
  else
    ImGui::TextUnformatted("Player A and player B argue; which label is it?");
  ImGui::Checkbox("auto-play", &autoplay);
  ImGui::SameLine();
  if (ImGui::Button("Next pixel") && shown < n) ++shown;
  ImGui::SameLine();
  ImGui::Text("%d of %d pixels%s", shown, pixels, finished ? "" : " (debaters thinking...)");
  // A blue, B orange; the image only after the verdict.
  std::vector<CanvasPixel> canvas;
  for (int k = 0; k < shown; ++k)
    canvas.push_back({ms[k].pixel, ms[k].value,
                      ms[k].honest == a_is_honest ? kPlayerARgb : kPlayerBRgb});
  DrawPixelCanvas(judged ? image.data() : nullptr, canvas, /*numbered=*/false);
  if (judged) {
    state = "verdict logged " + std::to_string(judged_n);
    ImGui::Text("Truth: %d. Player A was %s. Your verdict was %s.", truth,
                a_is_honest ? "honest" : "the liar", was_correct ? "right" : "wrong");
    return;
  }
  if (!finished || shown < n) return;
  if (ready_at == 0) ready_at = ImGui::GetTime();
  state = "awaiting verdict";
  if (precommit) {
    ImGui::RadioButton("A is right", &choice, 0);
    ImGui::SameLine();
    ImGui::RadioButton("B is right", &choice, 1);
  } else {
    for (int c = 0; c < kNumClasses; ++c) {
      if (c > 0) ImGui::SameLine();
      ImGui::RadioButton(std::to_string(c).c_str(), &choice, c);
    }
  }
  if (VerdictControls(choice >= 0, &confidence, reason, sizeof reason)) {
    Submit();
    ready_at = 0;
  }
}

}  // namespace oversight
