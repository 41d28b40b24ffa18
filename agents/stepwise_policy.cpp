#include "agents/stepwise_policy.h"

#include <algorithm>
#include <cmath>
#include <stdexcept>

namespace oversight {
namespace {

int Plus(int m) { return m; }
int Times(int m) { return m + 1; }
int Sep(int m) { return m + 2; }
int Aside(int m) { return m + 3; }

// Position of the output that predicts step 0.
int64_t FirstStepOutput(int64_t n) { return 2 * n + 1; }

int64_t CommonSteps(const std::vector<StepwiseProblem>& problems) {
  if (problems.empty()) throw std::invalid_argument("stepwise batch: no problems");
  const size_t n = problems.front().ops.size();
  for (const StepwiseProblem& p : problems)
    if (p.ops.size() != n) throw std::invalid_argument("stepwise batch: problems of different lengths");
  return static_cast<int64_t>(n);
}

// CommonSteps, and std::invalid_argument if the problems have asides that
// `model` has no token for.
int64_t ModelSteps(StepwisePolicy& model, const std::vector<StepwiseProblem>& problems) {
  const int64_t n = CommonSteps(problems);
  if (!model->options().asides)
    for (const StepwiseProblem& p : problems)
      for (const StepOp& op : p.ops)
        if (op.aside)
          throw std::invalid_argument("stepwise batch: a problem with asides (" + DescribeProblem(p) +
                                      ") for a model made without them");
  return n;
}

// The solutions' steps [B, n]; throws on a wrong length or value.
torch::Tensor SolutionTensor(const std::vector<std::vector<int>>& solutions, int64_t n, int m, int64_t b) {
  if (static_cast<int64_t>(solutions.size()) != b)
    throw std::invalid_argument("stepwise batch: " + std::to_string(solutions.size()) + " solutions for " +
                                std::to_string(b) + " problems");
  torch::Tensor targets = torch::zeros({b, n}, torch::kLong);
  auto a = targets.accessor<int64_t, 2>();
  for (int64_t i = 0; i < b; ++i) {
    const auto& sol = solutions[static_cast<size_t>(i)];
    if (static_cast<int64_t>(sol.size()) != n)
      throw std::invalid_argument("stepwise batch: a solution of " + std::to_string(sol.size()) + " steps for " +
                                  std::to_string(n) + " operations");
    for (int64_t k = 0; k < n; ++k) {
      const int v = sol[static_cast<size_t>(k)];
      if (v < 0 || v >= m) throw std::invalid_argument("stepwise batch: step value " + std::to_string(v) + " out of range");
      a[i][k] = v;
    }
  }
  return targets;
}

}  // namespace

StepwisePolicyImpl::StepwisePolicyImpl(StepwisePolicyOptions o) : options_(o) {
  namespace nn = torch::nn;
  token_ = register_module("token", nn::Embedding(o.modulus + (o.asides ? 4 : 3), o.embed));
  position_ = register_module("position", nn::Embedding(3 * o.max_steps + 2, o.embed));
  for (int i = 0; i < o.layers; ++i)
    layers_.push_back(register_module("layer" + std::to_string(i),
                                      nn::TransformerEncoderLayer(nn::TransformerEncoderLayerOptions(o.embed, o.heads)
                                                                      .dim_feedforward(4 * o.embed)
                                                                      .dropout(0.0))));
  norm_ = register_module("norm", nn::LayerNorm(nn::LayerNormOptions({o.embed})));
  head_ = register_module("head", nn::Linear(o.embed, o.modulus));
  value_ = register_module("value", nn::Linear(o.embed, 1));
}

std::pair<torch::Tensor, torch::Tensor> StepwisePolicyImpl::forward(const torch::Tensor& tokens) {
  const int64_t t = tokens.size(1);
  if (t > 3 * options_.max_steps + 2)
    throw std::invalid_argument("stepwise policy: " + std::to_string(t) + " tokens, more than max_steps " +
                                std::to_string(options_.max_steps) + " allow");
  torch::Tensor x = token_(tokens) + position_(torch::arange(t, tokens.options())).unsqueeze(0);
  x = x.transpose(0, 1);  // [T, B, E]
  const torch::Tensor causal =
      torch::full({t, t}, -INFINITY, x.options()).triu(1);  // no attention to later positions
  for (auto& layer : layers_) x = layer->forward(x, causal);
  x = norm_(x.transpose(0, 1));  // [B, T, E]
  return {head_(x), value_(x).squeeze(-1)};
}

torch::Tensor EncodeStepwise(const std::vector<StepwiseProblem>& problems,
                             const std::vector<std::vector<int>>& solutions, int modulus) {
  const int64_t n = CommonSteps(problems), b = static_cast<int64_t>(problems.size());
  torch::Tensor tokens = torch::zeros({b, 3 * n + 1}, torch::kLong);
  auto a = tokens.accessor<int64_t, 2>();
  for (int64_t i = 0; i < b; ++i) {
    const StepwiseProblem& p = problems[static_cast<size_t>(i)];
    a[i][0] = p.start;
    for (int64_t k = 0; k < n; ++k) {
      const StepOp& op = p.ops[static_cast<size_t>(k)];
      a[i][1 + 2 * k] = op.aside ? Aside(modulus) : op.multiply ? Times(modulus) : Plus(modulus);
      a[i][2 + 2 * k] = op.operand;
    }
    a[i][2 * n + 1] = Sep(modulus);
    if (i < static_cast<int64_t>(solutions.size()))
      for (int64_t k = 0; k + 1 < n && k < static_cast<int64_t>(solutions[static_cast<size_t>(i)].size()); ++k)
        a[i][2 * n + 2 + k] = solutions[static_cast<size_t>(i)][static_cast<size_t>(k)];
  }
  return tokens;
}

StepwiseSamples SampleStepwise(StepwisePolicy& policy, const std::vector<StepwiseProblem>& problems,
                               double temperature, Rng& rng) {
  torch::NoGradGuard no_grad;
  const int m = policy->options().modulus;
  const int64_t n = ModelSteps(policy, problems), b = static_cast<int64_t>(problems.size());
  const auto device = policy->parameters().front().device();
  StepwiseSamples s;
  s.steps.assign(static_cast<size_t>(b), {});
  torch::Tensor tokens = EncodeStepwise(problems, {}, m);
  s.logp = torch::zeros({b, n});
  s.values = torch::zeros({b, n});
  auto tokens_a = tokens.accessor<int64_t, 2>();
  auto logp_out = s.logp.accessor<float, 2>();
  auto values_out = s.values.accessor<float, 2>();
  const int64_t first = FirstStepOutput(n);
  for (int64_t k = 0; k < n; ++k) {
    auto [logits, values] = policy->forward(tokens.to(device));
    const torch::Tensor logp =
        torch::log_softmax(logits.select(1, first + k).to(torch::kCPU).to(torch::kDouble), -1).contiguous();
    const torch::Tensor probs = temperature > 0 ? torch::softmax(logp / temperature, -1).contiguous() : logp;
    const torch::Tensor value = values.select(1, first + k).to(torch::kCPU).to(torch::kFloat).contiguous();
    auto pa = probs.accessor<double, 2>();
    auto la = logp.accessor<double, 2>();
    auto va = value.accessor<float, 1>();
    for (int64_t i = 0; i < b; ++i) {
      int pick = 0;
      if (temperature > 0) {
        double u = UniformDouble(rng), acc = 0;
        for (pick = 0; pick < m - 1; ++pick) {
          acc += pa[i][pick];
          if (u < acc) break;
        }
      } else {
        for (int v = 1; v < m; ++v)
          if (pa[i][v] > pa[i][pick]) pick = v;
      }
      s.steps[static_cast<size_t>(i)].push_back(pick);
      logp_out[i][k] = static_cast<float>(la[i][pick]);
      values_out[i][k] = va[i];
      if (k + 1 < n) tokens_a[i][first + 1 + k] = pick;
    }
  }
  s.tokens = tokens;
  return s;
}

std::pair<torch::Tensor, torch::Tensor> StepLogProbs(StepwisePolicy& policy,
                                                     const std::vector<StepwiseProblem>& problems,
                                                     const std::vector<std::vector<int>>& solutions) {
  const int m = policy->options().modulus;
  const int64_t n = ModelSteps(policy, problems);
  const auto device = policy->parameters().front().device();
  const torch::Tensor targets = SolutionTensor(solutions, n, m, static_cast<int64_t>(problems.size()));
  auto [logits, values] = policy->forward(EncodeStepwise(problems, solutions, m).to(device));
  const int64_t first = FirstStepOutput(n);
  const torch::Tensor step_logits = logits.narrow(1, first, n);  // [B, n, M]
  const torch::Tensor logp =
      torch::log_softmax(step_logits, -1).gather(-1, targets.to(device).unsqueeze(-1)).squeeze(-1);
  return {logp, values.narrow(1, first, n)};
}

torch::Tensor StepScoreLogits(StepwisePolicy& model, const std::vector<StepwiseProblem>& problems,
                              const std::vector<std::vector<int>>& solutions) {
  const int m = model->options().modulus;
  const int64_t n = ModelSteps(model, problems);
  const auto device = model->parameters().front().device();
  const torch::Tensor written = SolutionTensor(solutions, n, m, static_cast<int64_t>(problems.size()));
  const torch::Tensor logits = model->forward(EncodeStepwise(problems, solutions, m).to(device)).first;
  return logits.narrow(1, FirstStepOutput(n), n).gather(-1, written.to(device).unsqueeze(-1)).squeeze(-1);
}

double StepwiseSftStep(StepwisePolicy& policy, torch::optim::Adam& adam,
                       const std::vector<StepwiseProblem>& problems,
                       const std::vector<std::vector<int>>& demonstrations) {
  policy->train();
  const torch::Tensor loss = -StepLogProbs(policy, problems, demonstrations).first.mean();
  adam.zero_grad();
  loss.backward();
  torch::nn::utils::clip_grad_norm_(policy->parameters(), 1.0);
  adam.step();
  return loss.item<double>();
}

std::vector<double> OracleStepRewards(const StepCheck& check, StepwiseReward kind, double flip, Rng& rng) {
  const size_t n = check.valid.size();
  std::vector<double> r(n, 0.0);
  if (n == 0) return r;
  if (kind == StepwiseReward::kOutcome) {
    r[n - 1] = FlipLabel(check.final_correct, flip, rng) ? 1.0 : 0.0;
  } else {
    for (size_t i = 0; i < n; ++i) r[i] = FlipLabel(check.valid[i], flip, rng) ? 1.0 / static_cast<double>(n) : 0.0;
  }
  return r;
}

StepRewardFn OracleRewardFn(StepwiseReward kind, double flip) {
  return [kind, flip](const std::vector<StepwiseProblem>&, const std::vector<std::vector<int>>&,
                      const std::vector<StepCheck>& checks, Rng& rng) {
    std::vector<std::vector<double>> r;
    for (const StepCheck& c : checks) r.push_back(OracleStepRewards(c, kind, flip, rng));
    return r;
  };
}

std::vector<std::vector<double>> StepScoreProbabilities(StepwisePolicy& model,
                                                        const std::vector<StepwiseProblem>& problems,
                                                        const std::vector<std::vector<int>>& solutions) {
  torch::NoGradGuard no_grad;
  model->eval();
  const torch::Tensor p =
      torch::sigmoid(StepScoreLogits(model, problems, solutions)).to(torch::kCPU).to(torch::kDouble).contiguous();
  auto a = p.accessor<double, 2>();
  std::vector<std::vector<double>> out(static_cast<size_t>(p.size(0)));
  for (int64_t i = 0; i < p.size(0); ++i)
    for (int64_t k = 0; k < p.size(1); ++k) out[static_cast<size_t>(i)].push_back(a[i][k]);
  return out;
}

StepRewardFn RewardModelFn(StepwisePolicy model, StepwiseReward kind) {
  return [model, kind](const std::vector<StepwiseProblem>& problems, const std::vector<std::vector<int>>& solutions,
                       const std::vector<StepCheck>&, Rng&) mutable {
    std::vector<std::vector<double>> r = StepScoreProbabilities(model, problems, solutions);
    for (std::vector<double>& steps : r) {
      if (kind == StepwiseReward::kOutcome) {
        std::fill(steps.begin(), steps.end() - 1, 0.0);
      } else {
        for (double& x : steps) x /= static_cast<double>(steps.size());
      }
    }
    return r;
  };
}

StepwisePpoStats StepwisePpoUpdate(StepwisePolicy& policy, StepwisePolicy& reference,
                                   torch::optim::Adam& adam, const std::vector<StepwiseProblem>& problems,
                                   const StepRewardFn& reward, const StepwisePpoOptions& o, Rng& rng) {
  policy->eval();
  const StepwiseSamples s = SampleStepwise(policy, problems, 1.0, rng);
  const int64_t b = static_cast<int64_t>(problems.size());
  torch::Tensor ref_logp;
  {
    torch::NoGradGuard no_grad;
    ref_logp = StepLogProbs(reference, problems, s.steps).first.to(torch::kCPU).to(torch::kDouble);
  }
  StepwisePpoStats stats;
  TraceErrorStats trace;
  std::vector<torch::Tensor> advantages, returns;
  std::vector<StepCheck> checks;
  for (int64_t i = 0; i < b; ++i) {
    checks.push_back(CheckSteps(problems[static_cast<size_t>(i)], s.steps[static_cast<size_t>(i)]));
    trace.Add(checks.back());
  }
  const std::vector<std::vector<double>> all_rewards = reward(problems, s.steps, checks, rng);
  for (int64_t i = 0; i < b; ++i) {
    torch::Tensor rewards = torch::tensor(all_rewards.at(static_cast<size_t>(i)), torch::kDouble);
    stats.reward += rewards.sum().item<double>();
    const torch::Tensor log_ratio = s.logp[i] - ref_logp[i];
    stats.kl += KlK3(s.logp[i], ref_logp[i]).sum().item<double>();
    rewards = rewards - o.kl_coef * log_ratio;
    const GaeResult g = Gae(rewards, s.values[i], o.gamma, o.lambda, 0.0);
    advantages.push_back(g.advantages);
    returns.push_back(g.returns);
  }
  stats.reward /= static_cast<double>(b);
  stats.kl /= static_cast<double>(b);
  stats.final_error = trace.FinalAnswerError();
  stats.trace_error = trace.TraceError();
  const auto device = policy->parameters().front().device();
  const torch::Tensor adv = Whiten(torch::stack(advantages).reshape({-1})).to(torch::kFloat).to(device);
  const torch::Tensor ret = torch::stack(returns).reshape({-1}).to(torch::kFloat).to(device);
  const torch::Tensor old_logp = s.logp.reshape({-1}).to(torch::kFloat).to(device);
  const torch::Tensor old_values = s.values.reshape({-1}).to(torch::kFloat).to(device);
  policy->train();
  for (int e = 0; e < o.epochs; ++e) {
    auto [logp, values] = StepLogProbs(policy, problems, s.steps);
    const PpoPolicyLossResult pl = PpoPolicyLoss(logp.reshape({-1}), old_logp, adv, o.clip_eps);
    const torch::Tensor loss = pl.loss + o.value_coef * ValueLoss(values.reshape({-1}), old_values, ret, o.clip_eps);
    adam.zero_grad();
    loss.backward();
    torch::nn::utils::clip_grad_norm_(policy->parameters(), o.max_grad_norm);
    adam.step();
    stats.approx_kl = pl.approx_kl;
    stats.clip_fraction = pl.clip_fraction;
  }
  return stats;
}

}  // namespace oversight
