// The process-supervision policy (agents/stepwise_policy.h): its encoding,
// SFT that learns the arithmetic from demonstrations, sampling, and the
// oracle judges' per-step rewards with label noise.
#include <catch2/catch.hpp>

#include <torch/torch.h>

#include "agents/stepwise_policy.h"

using namespace oversight;

namespace {

StepwisePolicyOptions Small() {
  StepwisePolicyOptions o;
  o.embed = 48;
  o.layers = 2;
  o.max_steps = 6;
  return o;
}

TraceErrorStats Evaluate(StepwisePolicy& policy, const StepwiseOptions& so, double temperature, uint64_t seed) {
  Rng rng(seed);
  std::vector<StepwiseProblem> problems;
  for (int i = 0; i < 300; ++i) problems.push_back(MakeStepwiseProblem(so, rng));
  const StepwiseSamples s = SampleStepwise(policy, problems, temperature, rng);
  TraceErrorStats t;
  for (size_t i = 0; i < problems.size(); ++i) t.Add(CheckSteps(problems[i], s.steps[i]));
  return t;
}

}  // namespace

TEST_CASE("Stepwise encoding: the problem, a separator, the solution's steps but the last", "[stepwise]") {
  StepwiseProblem p;
  p.start = 3;
  p.ops = {{false, 1}, {true, 5}, {false, 2}};
  const torch::Tensor t = EncodeStepwise({p}, {{4, 0, 2}}, 10);
  // PLUS = 10, TIMES = 11, SEP = 12.
  CHECK(t.sizes() == torch::IntArrayRef({1, 10}));
  const std::vector<int64_t> want{3, 10, 1, 11, 5, 10, 2, 12, 4, 0};
  CHECK(std::vector<int64_t>(t.data_ptr<int64_t>(), t.data_ptr<int64_t>() + 10) == want);

  StepwiseProblem q = p;
  q.ops.pop_back();
  CHECK_THROWS_WITH(EncodeStepwise({p, q}, {}, 10), Catch::Contains("different lengths"));
  StepwisePolicy policy(Small());
  CHECK_THROWS_WITH(StepLogProbs(policy, {p}, {{4, 0}}), Catch::Contains("2 steps for 3 operations"));
  CHECK_THROWS_WITH(StepLogProbs(policy, {p}, {{4, 10, 2}}), Catch::Contains("step value 10"));
  p.ops.resize(7, {false, 1});  // longer than max_steps 6
  CHECK_THROWS_WITH(StepLogProbs(policy, {p}, {std::vector<int>(7, 0)}), Catch::Contains("max_steps 6"));
}

TEST_CASE("SFT on demonstrations teaches the policy the arithmetic, and sampling is reproducible", "[stepwise]") {
  torch::manual_seed(2);
  StepwiseOptions so;
  so.steps = 3;
  Rng rng(3);
  std::vector<StepwiseProblem> demos;
  std::vector<std::vector<int>> solutions;
  for (int i = 0; i < 1000; ++i) {
    demos.push_back(MakeStepwiseProblem(so, rng));
    solutions.push_back(SolveSteps(demos.back()));
  }
  StepwisePolicy policy(Small());
  torch::optim::Adam adam(policy->parameters(), torch::optim::AdamOptions(1e-3));
  const TraceErrorStats before = Evaluate(policy, so, 0.0, 50);
  double loss = 0;
  for (int k = 0; k < 800; ++k) {
    std::vector<StepwiseProblem> bp;
    std::vector<std::vector<int>> bs;
    for (int j = 0; j < 32; ++j) {
      const size_t i = UniformInt(rng, demos.size());
      bp.push_back(demos[i]);
      bs.push_back(solutions[i]);
    }
    loss = StepwiseSftStep(policy, adam, bp, bs);
  }
  const TraceErrorStats after = Evaluate(policy, so, 0.0, 50);  // held-out problems, greedy
  INFO("final-answer error " << before.FinalAnswerError() << " -> " << after.FinalAnswerError() << ", loss " << loss);
  CHECK(before.FinalAnswerError() > 0.7);
  CHECK(after.FinalAnswerError() < 0.2);
  CHECK(loss < 0.3);

  // Sampling at temperature 1 from the same generator state is the same.
  const TraceErrorStats a = Evaluate(policy, so, 1.0, 60), b = Evaluate(policy, so, 1.0, 60);
  CHECK(a.final_correct == b.final_correct);
  CHECK(a.trace_errors == b.trace_errors);
}

TEST_CASE("Oracle step rewards: the outcome on the last step, the process on every step, labels flipped at the requested rate", "[stepwise]") {
  StepwiseProblem p;
  p.start = 3;
  p.ops = {{false, 1}, {true, 5}, {false, 2}};
  const StepCheck recovered = CheckSteps(p, {6, 0, 2});  // right answer, wrong first step
  Rng rng(4);
  CHECK(OracleStepRewards(recovered, StepwiseReward::kOutcome, 0.0, rng) == std::vector<double>{0, 0, 1});
  CHECK(OracleStepRewards(recovered, StepwiseReward::kProcess, 0.0, rng) == std::vector<double>{0, 1.0 / 3, 1.0 / 3});
  int flipped = 0, labels = 0;
  for (int i = 0; i < 4000; ++i) {
    const std::vector<double> r = OracleStepRewards(recovered, StepwiseReward::kProcess, 0.2, rng);
    flipped += (r[0] > 0) + (r[1] == 0) + (r[2] == 0);
    labels += 3;
  }
  CHECK(static_cast<double>(flipped) / labels == Approx(0.2).margin(0.015));
}
