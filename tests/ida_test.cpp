// Iterated amplification's trainer (agents/ida.h) on permutation powering:
// the replay buffer and the moving-average teacher, and the property that IDA
// never reads the ground truth (a run in which it learns: not yet).
#include <catch2/catch.hpp>

#include <torch/torch.h>

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
