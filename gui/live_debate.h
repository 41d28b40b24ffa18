// "Judge a live debate": a person plays the judge of a debate the GUI runs
// itself (the debaters search on a worker thread, never on the UI thread).
// The image stays hidden until the verdict; the verdict is logged as an
// episode of the experiment "gui_live_debates" (judge_kind human), and the
// panel keeps a running accuracy and log score for the session.
#pragma once

#include <atomic>
#include <cstdint>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

namespace oversight {

class Store;
class SparseImageJudge;

struct LiveDebatePanel {
  LiveDebatePanel(std::string db_path, const std::string& judge_path, int step_ms);
  ~LiveDebatePanel();  // stops and joins the worker
  void Draw();
  void Start();  // a new debate with the current settings

  // Settings (the controls).
  int dataset = 0;        // 0 mnist, 1 fashion_mnist
  int pixels = 6;
  bool precommit = true;
  int first = 0;          // 0 honest, 1 liar
  int agent[2] = {0, 0};  // honest, liar: 0 greedy, 1 mcts, 2 random
  int rollouts[2] = {1000, 1000};
  char judge_path[512] = {};
  int step_ms;            // auto-play: one reveal shown per step

  // The game, written by the worker under mu.
  struct Move {
    int pixel;
    float value;
    bool honest;
  };
  std::mutex mu;
  std::vector<Move> moves;
  bool done = false;
  bool prepared = false;  // image, truth and lie chosen (by the worker)
  std::string worker_error;
  std::thread worker;
  std::atomic<bool> stop{false};

  // Facts of the current game (written by the worker before `prepared`,
  // read by the UI after it).
  bool active = false;
  std::string task, instance;
  std::vector<uint8_t> image;
  int truth = -1, lie = -1;
  bool a_is_honest = true;  // who is "player A" on screen
  int shown = 0;
  bool autoplay = true;
  double last_step = 0;
  // The verdict.
  int choice = -1;
  int confidence = 75;
  char reason[256] = {};
  double ready_at = 0;
  bool judged = false;
  bool was_correct = false;
  // The session's score.
  int judged_n = 0, correct_n = 0;
  double log_score = 0;  // sum of ln p(truth)
  std::string db_path, message;
  // "awaiting verdict" while the verdict controls are shown, "verdict
  // logged N" after the N-th verdict; main.cpp puts it in the window title,
  // where tests driving the GUI with input events wait for it.
  std::string state;
  std::unique_ptr<Store> store;
  int64_t experiment_id = 0;
  std::shared_ptr<SparseImageJudge> judge;  // loaded on the worker, kept
  std::string loaded_judge_path;

 private:
  void Submit();
};

}  // namespace oversight
