// The process-supervision policy (agents/stepwise_policy.h): its encoding,
// SFT that learns the arithmetic from demonstrations, sampling, and the
// oracle judges' per-step rewards with label noise.
#include <catch2/catch.hpp>

#include <torch/torch.h>

#include <numeric>

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

// `demos` demonstrations drawn from `rng`, then `steps` SFT batches of 32
// from them; returns the last batch's loss.
double TrainOnDemonstrations(StepwisePolicy& policy, const StepwiseOptions& so, int demos, int steps, Rng& rng) {
  std::vector<StepwiseProblem> problems;
  std::vector<std::vector<int>> solutions;
  for (int i = 0; i < demos; ++i) {
    problems.push_back(MakeStepwiseProblem(so, rng));
    solutions.push_back(SolveSteps(problems.back()));
  }
  torch::optim::Adam adam(policy->parameters(), torch::optim::AdamOptions(1e-3));
  double loss = 0;
  for (int k = 0; k < steps; ++k) {
    std::vector<StepwiseProblem> bp;
    std::vector<std::vector<int>> bs;
    for (int j = 0; j < 32; ++j) {
      const size_t i = UniformInt(rng, problems.size());
      bp.push_back(problems[i]);
      bs.push_back(solutions[i]);
    }
    loss = StepwiseSftStep(policy, adam, bp, bs);
  }
  return loss;
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
  StepwisePolicy policy(Small());
  const TraceErrorStats before = Evaluate(policy, so, 0.0, 50);
  const double loss = TrainOnDemonstrations(policy, so, 1000, 800, rng);
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

TEST_CASE("A reward model reads every step: one logit per written value, causal, and rewards from them", "[stepwise]") {
  torch::manual_seed(3);
  StepwisePolicy rm(Small());
  StepwiseProblem p;
  p.start = 3;
  p.ops = {{false, 1}, {true, 5}, {false, 2}};
  const torch::Tensor a = StepScoreLogits(rm, {p, p}, {{4, 0, 2}, {4, 0, 7}});
  CHECK(a.sizes() == torch::IntArrayRef({2, 3}));
  CHECK(a.requires_grad());
  // Step k's logit sees steps 1..k only: changing the last step moves the
  // last logit and nothing before it. It is the policy's logit of the
  // written value where the policy writes step k.
  CHECK(a[0][0].item<float>() == a[1][0].item<float>());
  CHECK(a[0][1].item<float>() == a[1][1].item<float>());
  CHECK(a[0][2].item<float>() != a[1][2].item<float>());
  const torch::Tensor policy_logits = rm->forward(EncodeStepwise({p}, {{4, 0, 7}}, 10)).first;
  CHECK(a[1][2].item<float>() == Approx(policy_logits[0][9][7].item<float>()));
  CHECK(a[1][0].item<float>() == Approx(policy_logits[0][7][4].item<float>()));
  CHECK_THROWS_WITH(StepScoreLogits(rm, {p}, {{4, 0}}), Catch::Contains("2 steps for 3 operations"));

  Rng rng(1);
  const std::vector<StepCheck> checks{CheckSteps(p, {4, 0, 2})};
  const auto outcome = RewardModelFn(rm, StepwiseReward::kOutcome)({p}, {{4, 0, 2}}, checks, rng)[0];
  const float last = torch::sigmoid(a[0][2]).item<float>();
  CHECK(outcome[0] == 0);
  CHECK(outcome[1] == 0);
  CHECK(outcome[2] == Approx(last).epsilon(1e-5));
  const auto process = RewardModelFn(rm, StepwiseReward::kProcess)({p}, {{4, 0, 2}}, checks, rng)[0];
  for (int k = 0; k < 3; ++k)
    CHECK(process[static_cast<size_t>(k)] == Approx(torch::sigmoid(a[0][k]).item<float>() / 3).epsilon(1e-5));
}

// Issue 7's tiny run: PPO on the outcome oracle alone raises the share of
// right answers, and among them are solutions with a wrong step that got the
// full outcome reward; the step checker names the step, and the process
// oracle withholds its reward.
TEST_CASE("Outcome-only PPO reaches right answers through wrong steps that the step checker catches", "[stepwise]") {
  torch::manual_seed(4);
  StepwiseOptions so;
  so.steps = 3;
  Rng rng(5);
  StepwisePolicy policy(Small()), reference(Small());
  TrainOnDemonstrations(policy, so, 1000, 400, rng);
  {
    torch::NoGradGuard no_grad;
    auto to = reference->parameters(), from = policy->parameters();
    for (size_t i = 0; i < to.size(); ++i) to[i].copy_(from[i]);
  }
  const TraceErrorStats before = Evaluate(policy, so, 1.0, 70);
  StepwisePpoOptions o;
  o.kl_coef = 0.01;
  torch::optim::Adam adam(policy->parameters(), torch::optim::AdamOptions(o.learning_rate));
  const StepRewardFn outcome = OracleRewardFn(StepwiseReward::kOutcome, 0.0);
  for (int u = 0; u < 60; ++u) {
    std::vector<StepwiseProblem> problems;
    for (int j = 0; j < 128; ++j) problems.push_back(MakeStepwiseProblem(so, rng));
    StepwisePpoUpdate(policy, reference, adam, problems, outcome, o, rng);
  }
  const TraceErrorStats after = Evaluate(policy, so, 1.0, 70);  // the same held-out problems and draws
  INFO("final-answer error " << before.FinalAnswerError() << " -> " << after.FinalAnswerError() << ", trace error "
                             << before.TraceError() << " -> " << after.TraceError());
  CHECK(after.FinalAnswerError() < before.FinalAnswerError() - 0.05);

  // The trained policy's right answers through wrong steps.
  Rng eval(71);
  std::vector<StepwiseProblem> problems;
  for (int i = 0; i < 300; ++i) problems.push_back(MakeStepwiseProblem(so, eval));
  const StepwiseSamples s = SampleStepwise(policy, problems, 1.0, eval);
  int caught = 0;
  for (size_t i = 0; i < problems.size(); ++i) {
    const StepCheck c = CheckSteps(problems[i], s.steps[i]);
    if (!c.trace_error) continue;
    ++caught;
    INFO(DescribeProblem(problems[i]) << ": " << DescribeSteps(s.steps[i]));
    REQUIRE(c.first_error >= 0);
    CHECK_FALSE(c.valid[static_cast<size_t>(c.first_error)]);
    CHECK(s.steps[i].back() == SolveSteps(problems[i]).back());
    const std::vector<double> r_out = OracleStepRewards(c, StepwiseReward::kOutcome, 0.0, eval);
    const std::vector<double> r_proc = OracleStepRewards(c, StepwiseReward::kProcess, 0.0, eval);
    CHECK(r_out.back() == 1.0);  // full marks from the outcome judge
    CHECK(r_proc[static_cast<size_t>(c.first_error)] == 0.0);
    CHECK(std::accumulate(r_proc.begin(), r_proc.end(), 0.0) < 1.0);
  }
  CHECK(caught > 0);
}

TEST_CASE("Asides have their own token, and a model made without it refuses problems with asides", "[stepwise]") {
  StepwiseProblem p;
  p.start = 3;
  p.ops = {{false, 1}, {false, 5, true}, {true, 5}};
  // PLUS = 10, TIMES = 11, SEP = 12, ASIDE = 13.
  const torch::Tensor t = EncodeStepwise({p}, {{4, 9, 0}}, 10);
  const std::vector<int64_t> want{3, 10, 1, 13, 5, 11, 5, 12, 4, 9};
  CHECK(std::vector<int64_t>(t.data_ptr<int64_t>(), t.data_ptr<int64_t>() + 10) == want);
  StepwisePolicy without(Small());
  CHECK_THROWS_WITH(StepLogProbs(without, {p}, {{4, 9, 0}}), Catch::Contains("made without them"));
  StepwisePolicyOptions o = Small();
  o.asides = true;
  StepwisePolicy with(o);
  const auto [logp, values] = StepLogProbs(with, {p}, {{4, 9, 0}});
  CHECK(logp.sizes() == torch::IntArrayRef({1, 3}));
  CHECK(logp.lt(0).all().item<bool>());
}
