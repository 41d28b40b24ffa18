// The policy of process supervision (issue 7): a small causal transformer
// that reads a step-by-step arithmetic problem (protocols/stepwise.h) and
// writes its solution one step (one value token) at a time, with a value
// head for PPO. Trained by SFT on demonstrations and by PPO with an outcome
// reward (the final answer only) or a process reward (every step).
//
// Sequence: [start, op_1, c_1, ..., op_n, c_n, SEP, s_1, ..., s_{n-1}]; the
// outputs at SEP, s_1, ..., s_{n-1} predict s_1 .. s_n. Tokens: values 0 ..
// M-1, then PLUS, TIMES, SEP (and ASIDE, in a model made with asides).
#pragma once

#include <torch/torch.h>

#include <functional>
#include <vector>

#include "agents/rl_losses.h"
#include "protocols/stepwise.h"

namespace oversight {

struct StepwisePolicyOptions {
  int modulus = 10;
  int max_steps = 16;
  int embed = 64;
  int heads = 4;
  int layers = 2;
  bool asides = false;  // a token for "? + c" asides (protocols/stepwise.h)
};

class StepwisePolicyImpl : public torch::nn::Module {
 public:
  explicit StepwisePolicyImpl(StepwisePolicyOptions options);
  // tokens [B, T] -> (logits over the M values [B, T, M], values [B, T]).
  std::pair<torch::Tensor, torch::Tensor> forward(const torch::Tensor& tokens);
  const StepwisePolicyOptions& options() const { return options_; }

 private:
  StepwisePolicyOptions options_;
  torch::nn::Embedding token_{nullptr}, position_{nullptr};
  std::vector<torch::nn::TransformerEncoderLayer> layers_;
  torch::nn::LayerNorm norm_{nullptr};
  torch::nn::Linear head_{nullptr}, value_{nullptr};
};
TORCH_MODULE(StepwisePolicy);

// [B, 2n + 2 + (n - 1)] tokens of problems (all with n operations) and
// solutions of n steps (teacher forcing: the solution's first n - 1 steps
// are inputs). Throws std::invalid_argument on problems of different lengths.
// The model functions below also throw it on problems with asides for a
// model without their token.
torch::Tensor EncodeStepwise(const std::vector<StepwiseProblem>& problems,
                             const std::vector<std::vector<int>>& solutions, int modulus);

// A reward model of written solutions is the same transformer read as a
// classifier: where the policy predicts step k, the logit of the value the
// solution wrote there is the reward model's logit for step k, [B, n], with
// gradient (it sees the problem, steps 1 .. k - 1 and the value of step k).
// An outcome model is trained on the last one (is the final answer right?),
// a process model on every one (is step k valid?); initialised from the SFT
// policy it starts from the policy's own belief in each written value.
// Throws std::invalid_argument on a solution of the wrong length or a value
// out of range.
torch::Tensor StepScoreLogits(StepwisePolicy& model, const std::vector<StepwiseProblem>& problems,
                              const std::vector<std::vector<int>>& solutions);

struct StepwiseSamples {
  std::vector<std::vector<int>> steps;  // per problem, n values
  torch::Tensor tokens;                 // the full sequences [B, T]
  torch::Tensor logp;                   // [B, n] log-prob of each sampled step
  torch::Tensor values;                 // [B, n] value estimate before each step
};

// Writes a solution to every problem, sampling from the policy (with `rng`,
// at `temperature`) or greedily (temperature 0). No gradient.
StepwiseSamples SampleStepwise(StepwisePolicy& policy, const std::vector<StepwiseProblem>& problems,
                               double temperature, Rng& rng);

// Log-probs [B, n] of the given solutions' steps and the values [B, n]
// before each step, with gradient.
std::pair<torch::Tensor, torch::Tensor> StepLogProbs(StepwisePolicy& policy,
                                                     const std::vector<StepwiseProblem>& problems,
                                                     const std::vector<std::vector<int>>& solutions);

// One supervised step on demonstrations (teacher forcing): the mean
// negative log-likelihood of their steps, before the update.
double StepwiseSftStep(StepwisePolicy& policy, torch::optim::Adam& adam,
                       const std::vector<StepwiseProblem>& problems,
                       const std::vector<std::vector<int>>& demonstrations);

// Per-step rewards of the oracle judges: outcome: 1 on the last step if the
// final answer is right, else 0, and 0 on every other step; process: 1 / n
// on every valid step, 0 on an invalid one. Each label (the final answer's,
// or every step's) is flipped with probability `flip` (a noisy labeller).
enum class StepwiseReward { kOutcome, kProcess };
std::vector<double> OracleStepRewards(const StepCheck& check, StepwiseReward kind, double flip, Rng& rng);

struct StepwisePpoOptions {
  double learning_rate = 3e-4;
  double clip_eps = 0.2;
  double value_coef = 0.5;
  double kl_coef = 0.05;  // per-step KL(policy || the reference) penalty
  double gamma = 1.0, lambda = 0.95;
  int epochs = 4;
  double max_grad_norm = 1.0;
};

struct StepwisePpoStats {
  double reward = 0;       // mean summed oracle reward per solution
  double kl = 0;           // mean summed KL estimate (k3) per solution
  double final_error = 0;  // of the sampled solutions
  double trace_error = 0;
  double approx_kl = 0, clip_fraction = 0;
};

// sigmoid(StepScoreLogits) per solution and step, without gradient (the
// model is put in eval mode).
std::vector<std::vector<double>> StepScoreProbabilities(StepwisePolicy& model,
                                                        const std::vector<StepwiseProblem>& problems,
                                                        const std::vector<std::vector<int>>& solutions);

// Per-step rewards of every solution (n per solution) from a judge: an
// oracle (OracleStepRewards) or a learned reward model.
using StepRewardFn = std::function<std::vector<std::vector<double>>(
    const std::vector<StepwiseProblem>& problems, const std::vector<std::vector<int>>& solutions,
    const std::vector<StepCheck>& checks, Rng& rng)>;
StepRewardFn OracleRewardFn(StepwiseReward kind, double flip);
// A learned model's rewards: outcome, sigmoid(the last logit) on the last
// step; process, sigmoid(logit_k) / n on step k.
StepRewardFn RewardModelFn(StepwisePolicy model, StepwiseReward kind);

// One PPO update on fresh samples of `problems`: the policy against a frozen
// reference (the SFT policy), rewards from `reward` per step.
StepwisePpoStats StepwisePpoUpdate(StepwisePolicy& policy, StepwisePolicy& reference,
                                   torch::optim::Adam& adam, const std::vector<StepwiseProblem>& problems,
                                   const StepRewardFn& reward, const StepwisePpoOptions& options, Rng& rng);

}  // namespace oversight
