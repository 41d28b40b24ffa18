// Iterated amplification's trainer (agents/ida.h) on permutation powering:
// the replay buffer and the moving-average teacher, and the property that IDA
// never reads the ground truth, the depth curriculum, and a tiny run in which
// IDA learns.
#include <catch2/catch.hpp>

#include <torch/torch.h>

#include <set>

#include "agents/amplify_eval.h"
#include "agents/ida.h"
#include "protocols/amplify_truth.h"

using namespace oversight;

namespace {

AnswererOptions Small() {
  AnswererOptions o;
  o.embed = 16;
  o.hidden = 48;
  o.heads = 4;
  o.fact_layers = 1;
  o.question_layers = 2;
  return o;
}

// The teacher's accuracy against the ground truth on `n` fresh instances.
double Accuracy(IdaTrainer& ida, const AmplifyTask& task, int size, int n, uint64_t seed) {
  Rng rng(seed);
  return TeacherAccuracy(ida, task, size, n, rng).overall;
}

}  // namespace

TEST_CASE("The moving-average teacher and the replay buffer", "[ida]") {
  torch::manual_seed(1);
  const auto task = MakeAmplifyTask("permutation");
  AnswererNet a(*task, Small()), b(*task, Small());
  const torch::Tensor a0 = a->parameters()[0].clone(), b0 = b->parameters()[0].clone();
  EmaUpdate(a, b, 0.75);
  CHECK(torch::allclose(a->parameters()[0], 0.75 * a0 + 0.25 * b0));
  CHECK(torch::equal(b->parameters()[0], b0));

  IdaOptions o;
  o.instances_per_round = 4;
  o.train_instances = 4;
  o.buffer_instances = 10;
  o.min_buffer = 8;
  o.max_difficulty = 0;
  IdaTrainer ida(*task, o, AnswererNet(*task, Small()), AnswererNet(*task, Small()), torch::kCPU);
  Rng rng(2);
  const IdaStats r1 = ida.Round(rng);
  CHECK_FALSE(r1.distilled);  // 4 instances < min_buffer
  CHECK(r1.buffer == 4);
  const IdaStats r2 = ida.Round(rng);
  CHECK(r2.distilled);
  CHECK(r2.loss > 0);
  CHECK(ida.steps() == 1);
  // The first step's horizon is 1: the teacher is a copy of the student.
  CHECK(torch::equal(ida.teacher()->parameters()[3], ida.student()->parameters()[3]));
  ida.Round(rng);
  CHECK(ida.Round(rng).buffer == 10);  // capacity
  // Later the teacher lags: not equal to the student.
  CHECK_FALSE(torch::equal(ida.teacher()->parameters()[3], ida.student()->parameters()[3]));
  // H asked permutation's subquestions: up to 3 per question, plus the final step.
  CHECK(r2.h_calls > 2 * 4 * 8);
  CHECK(r2.teacher_calls > 0);
}

// By construction (agents/ida.cpp does not include amplify_truth.h) IDA's
// targets come from H and the teacher only; the supervised baseline reads
// the ground truth for every target.
TEST_CASE("IDA rounds never read the ground truth, the supervised baseline reads it for every target", "[ida]") {
  torch::manual_seed(3);
  const auto task = MakeAmplifyTask("permutation");
  IdaOptions o;
  o.instances_per_round = 8;
  o.train_instances = 8;
  o.min_buffer = 16;
  o.max_difficulty = 0;  // 8 elements
  IdaTrainer ida(*task, o, AnswererNet(*task, Small()), AnswererNet(*task, Small()), torch::kCPU);
  const double before = Accuracy(ida, *task, 8, 4, 99);  // evaluation reads it
  CHECK(before < 0.3);
  const int64_t truth_calls = GroundTruthCalls();
  Rng rng(4);
  int64_t distilled = 0;
  for (int r = 0; r < 30; ++r) distilled += ida.Round(rng).distilled;
  CHECK(distilled == 29);
  CHECK(ida.h_calls() > 30 * 8 * 8);
  CHECK(GroundTruthCalls() == truth_calls);

  IdaTrainer supervised(*task, o, AnswererNet(*task, Small()), AnswererNet(*task, Small()), torch::kCPU,
                        [&](const AmplifyInstance& i, const Tokens& q) { return GroundTruth(*task, i, q); });
  supervised.Round(rng);
  CHECK(GroundTruthCalls() == truth_calls + 8 * 8);
  CHECK(supervised.h_calls() == 0);
}

TEST_CASE("The depth curriculum asks shallow questions first, then every depth, then grows the size", "[ida]") {
  const auto task = MakeAmplifyTask("permutation");
  IdaOptions o;
  CHECK(LevelAt(*task, o, 0).max_depth == kAnyDepth);  // off: the paper's curriculum
  CHECK(LevelAt(*task, o, 3).size == 11);
  o.depth_curriculum = true;
  // Permutation powering: k of 2..5 bits at 8 elements, then all k, then 9, 10, ... elements.
  for (int d = 0; d < 4; ++d) {
    CHECK(LevelAt(*task, o, d).size == 8);
    CHECK(LevelAt(*task, o, d).max_depth == 2 + d);
  }
  CHECK(LevelAt(*task, o, 4).size == 8);
  CHECK(LevelAt(*task, o, 4).max_depth == kAnyDepth);
  CHECK(LevelAt(*task, o, 6).size == 10);
  Rng rng(8);
  for (const std::string name : {"permutation", "assignments"}) {
    const auto t = MakeAmplifyTask(name);
    for (int max_depth = t->FirstCurriculumDepth(); max_depth <= t->LastCurriculumDepth(); ++max_depth) {
      std::set<int> seen;
      for (int i = 0; i < 20; ++i) {
        const AmplifyInstance inst = t->MakeInstance(12, rng);
        for (const Tokens& q : t->MakeQuestions(inst, rng, max_depth)) seen.insert(t->Depth(inst, q));
      }
      INFO(name << " max_depth " << max_depth);
      REQUIRE_FALSE(seen.empty());
      CHECK(*seen.rbegin() == max_depth);  // up to the limit, and no deeper
      CHECK(*seen.begin() == t->FirstCurriculumDepth());
    }
  }
}

// IDA learns from H alone: with the depth curriculum, questions with k of 2
// bits (H combines two lookups) are learnt first, and then those with 3 bits,
// whose targets are built from the teacher's own answers; the ground truth is
// read only by the evaluation.
TEST_CASE("A tiny IDA run learns permutation powering from H alone", "[ida]") {
  torch::manual_seed(11);
  const auto task = MakeAmplifyTask("permutation");
  IdaOptions o;
  o.depth_curriculum = true;
  o.max_difficulty = 1;  // k of up to 3 bits, 8 elements
  o.ema_horizon = 50;
  o.curriculum_min_rounds = 50;
  IdaTrainer ida(*task, o, AnswererNet(*task, Small()), AnswererNet(*task, Small()), torch::kCPU);
  Rng eval_rng(12);
  const AmplifyAccuracy before = TeacherAccuracy(ida, *task, 8, 30, eval_rng);
  const int64_t truth_calls = GroundTruthCalls();
  Rng rng(13);
  int rounds = 0;
  for (; rounds < 3000 && ida.difficulty() < 1; ++rounds) ida.Round(rng);
  INFO("rounds to master k of 2 bits: " << rounds);
  CHECK(ida.difficulty() == 1);  // agreement with H's targets passed 0.85
  for (int r = 0; r < 1000; ++r) ida.Round(rng);
  CHECK(GroundTruthCalls() == truth_calls);
  Rng eval_again(12);
  const AmplifyAccuracy after = TeacherAccuracy(ida, *task, 8, 30, eval_again);
  INFO("depth 2: " << before.by_depth.at(2) << " -> " << after.by_depth.at(2) << ", depth 3: "
                   << before.by_depth.at(3) << " -> " << after.by_depth.at(3));
  CHECK(before.by_depth.at(2) < 0.35);
  CHECK(after.by_depth.at(2) > 0.9);
  CHECK(after.by_depth.at(3) > 0.5);  // chance: 1/8, before: 0.05
}
