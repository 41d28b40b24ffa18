// Iterated distillation and amplification (Christiano, Shlegeris, Amodei
// 2018; shared/REFERENCE-amplification.md 1.6), single-threaded: each round
// amplifies a batch of fresh instances (H decomposes every question, the
// moving-average teacher answers the non-primitive subquestions, lookup the
// primitive ones, H combines them into the target), pushes them into a replay
// buffer, and distils: the student is trained on targets sampled from the
// buffer and the teacher follows it as an exponential moving average. A
// curriculum grows the instance size when the teacher agrees with the
// targets often enough.
//
// This file does not include protocols/amplify_truth.h: the trainer learns
// from H alone. The supervised baseline passes the ground truth in as
// `label` (same model, data, curriculum and steps).
#pragma once

#include <torch/torch.h>

#include <deque>
#include <functional>

#include "agents/amplify_model.h"

namespace oversight {

struct IdaOptions {
  double h_noise = 0.0;           // H's step corrupted with this probability
  int instances_per_round = 16;   // fresh instances amplified per round (paper 50)
  int train_instances = 16;       // instances per distillation step (paper 50)
  int steps_per_round = 1;        // distillation steps per round
  int buffer_instances = 4000;    // replay buffer capacity (paper 10,000)
  int min_buffer = 64;            // instances before distillation starts (paper 500)
  double curriculum_threshold = 0.85;  // teacher / target agreement to grow (paper 0.85)
  int curriculum_min_rounds = 50; // rounds at a difficulty before it may grow (paper 50)
  int quality_horizon = 100;      // rounds the agreement is averaged over (paper 100)
  int ema_horizon = 1000;         // teacher decay 1 - 1 / min(step, horizon) (paper 1000)
  double learning_rate = 1e-3;    // Adam, beta2 0.98 (paper 1e-5 over 400k steps)
  double max_grad_norm = 1.0;     // (paper 1.0)
  int start_difficulty = 0;
  int max_difficulty = 56;        // size = task.SizeAt(difficulty)
  // Not in the paper: the curriculum first grows the deepest question asked
  // (task.FirstCurriculumDepth() .. LastCurriculumDepth(), at the smallest
  // size), then the size. Without it every depth is asked from the start.
  bool depth_curriculum = false;
};

// What a curriculum difficulty asks: instances of `size` elements, questions
// of depth <= max_depth (kAnyDepth: all).
struct IdaLevel {
  int size = 0;
  int max_depth = kAnyDepth;
};
IdaLevel LevelAt(const AmplifyTask& task, const IdaOptions& options, int difficulty);

// Targets for the supervised baseline: the right answer of a question.
using AmplifyLabelFn = std::function<Tokens(const AmplifyInstance&, const Tokens&)>;

struct IdaStats {
  double loss = 0;              // distillation cross-entropy (0 before it starts)
  double teacher_quality = 0;   // this round: teacher's answer == target, target not idk
  double running_quality = 0;   // averaged over quality_horizon rounds
  int difficulty = 0;
  int size = 0;
  int max_depth = kAnyDepth;
  int64_t h_calls = 0;          // H's steps so far (all rounds)
  int64_t teacher_calls = 0;    // subquestions the teacher answered so far
  int64_t buffer = 0;           // instances in the replay buffer
  bool distilled = false;       // whether this round trained the student
};

class IdaTrainer {
 public:
  // With `label`, targets are label(instance, question) (supervised); without,
  // they are H's amplified answers (IDA).
  IdaTrainer(const AmplifyTask& task, IdaOptions options, AnswererNet student,
             AnswererNet teacher, torch::Device device, AmplifyLabelFn label = nullptr);

  // One round: amplify, buffer, distil, curriculum. Deterministic given `rng`.
  IdaStats Round(Rng& rng);

  // `net`'s argmax answers to `questions` about `instances`, batched.
  std::vector<std::vector<Tokens>> Answer(AnswererNet& net,
                                          const std::vector<const AmplifyInstance*>& instances,
                                          const std::vector<std::vector<Tokens>>& questions);
  // H's answers to `questions`, the teacher answering its non-primitive
  // subquestions (H noisy at options.h_noise when `rng` is given).
  std::vector<std::vector<Tokens>> Amplify(const std::vector<const AmplifyInstance*>& instances,
                                           const std::vector<std::vector<Tokens>>& questions,
                                           Rng* rng);

  AnswererNet& student() { return student_; }
  AnswererNet& teacher() { return teacher_; }
  torch::optim::Adam& optimizer() { return adam_; }
  int difficulty() const { return difficulty_; }
  IdaLevel level() const { return LevelAt(task_, o_, difficulty_); }
  int64_t steps() const { return steps_; }
  // Restores the counters of a checkpoint (the buffer is refilled by rounds).
  void Restore(int difficulty, int64_t steps, int64_t h_calls, int64_t teacher_calls);
  int64_t h_calls() const { return h_calls_; }
  int64_t teacher_calls() const { return teacher_calls_; }

 private:
  struct Entry {
    AmplifyInstance instance;
    std::vector<Tokens> questions, targets;
  };
  double Distil(Rng& rng);

  const AmplifyTask& task_;
  IdaOptions o_;
  AnswererNet student_, teacher_;
  torch::Device device_;
  AmplifyLabelFn label_;
  torch::optim::Adam adam_;
  std::deque<Entry> buffer_;
  std::deque<double> quality_;
  int difficulty_ = 0;
  int rounds_at_difficulty_ = 0;
  int64_t steps_ = 0, h_calls_ = 0, teacher_calls_ = 0;
};

}  // namespace oversight
