// Policy-side loss and RL math for the debater trainers (library
// oversight_policy, not oversight_agents: it needs LibTorch, so it is kept out
// of agents.h). Everything here is dtype-generic (float or double tensors, on
// any device) and differentiable where a loss is returned; inputs that are
// targets or old/reference quantities are detached, so gradients flow only
// into the first (policy) argument(s). Shape errors throw c10::Error.
// Tests: tests/losses_test.cpp.
#pragma once

#include <torch/torch.h>

#include <cstdint>

namespace oversight {

struct PpoPolicyLossResult {
  torch::Tensor loss;          // scalar; gradient w.r.t. logp_new only
  double clip_fraction = 0.0;  // share of samples with |r - 1| > clip_eps
  double approx_kl = 0.0;      // mean((r - 1) - log r): k3 estimate of KL(old || new)
};

// PPO's clipped surrogate: -mean(min(r * A, clip(r, 1 - eps, 1 + eps) * A)),
// r = exp(logp_new - logp_old). logp_old and advantages are constants.
// REQUIRES: 1-D tensors of the same nonzero length; clip_eps > 0.
PpoPolicyLossResult PpoPolicyLoss(const torch::Tensor& logp_new, const torch::Tensor& logp_old,
                                  const torch::Tensor& advantages, double clip_eps);

// Clipped value loss 0.5 * mean(max((v - R)^2, (v_clipped - R)^2)) with
// v_clipped = v_old + clamp(v - v_old, -eps, eps); with clip_eps <= 0 the plain
// 0.5 * mean((v - R)^2). values_old and returns are constants.
// REQUIRES: 1-D tensors of the same nonzero length.
torch::Tensor ValueLoss(const torch::Tensor& values_new, const torch::Tensor& values_old,
                        const torch::Tensor& returns, double clip_eps);

struct GaeResult {
  torch::Tensor advantages;  // [T], A_t = delta_t + gamma * lambda * A_{t+1}
  torch::Tensor returns;     // [T], advantages + values: the value targets
};

// Generalised advantage estimation over ONE episode of T steps:
// delta_t = r_t + gamma * V_{t+1} - V_t with V_T = bootstrap (the value of the
// state after the last step; 0 when the episode ended, not truncated).
// Computed in double on the CPU; results have the dtype and device of
// `rewards` and carry no gradient.
// REQUIRES: rewards and values 1-D of the same length T (T = 0 gives empty results).
GaeResult Gae(const torch::Tensor& rewards, const torch::Tensor& values, double gamma,
              double lambda, double bootstrap);

// (x - mean) / (std + 1e-8) over all elements, std with unbiased = false.
// With shift_mean = false the mean is added back (TRL does this for rewards:
// the scale is normalised, the sign of the rewards is kept).
// With fewer than two elements there is no spread to normalise by: returns
// zeros (shift_mean) or x itself (!shift_mean), never NaN. A constant input of
// any length gives zeros (or x) too, but its gradient is NaN: whiten detached
// quantities (advantages, rewards), not something to differentiate through.
torch::Tensor Whiten(const torch::Tensor& x, bool shift_mean = true);

// Per-sample estimators of KL(policy || reference) from the log-probs of
// actions sampled from the policy (Schulman, "Approximating KL divergence").
enum class KlEstimator {
  kK1,  // logp - logp_ref: unbiased, high variance, can be negative
  kK3,  // exp(d) - 1 - d, d = logp_ref - logp: unbiased, always >= 0
};

torch::Tensor KlK1(const torch::Tensor& logp, const torch::Tensor& logp_ref);
// Uses expm1, so it is accurate (~ d^2 / 2) for small d.
torch::Tensor KlK3(const torch::Tensor& logp, const torch::Tensor& logp_ref);
torch::Tensor KlPenalty(const torch::Tensor& logp, const torch::Tensor& logp_ref,
                        KlEstimator estimator);

// The KL coefficient beta of RLHF (Ziegler et al. 2019). Adaptive when
// target > 0: Update moves beta so that the measured KL approaches target.
// Fixed when target <= 0: Update does nothing and beta stays init_beta (one
// type for both, so a trainer holds one controller whatever its config).
// Not thread-safe.
class AdaptiveKlController {
 public:
  // REQUIRES: init_beta >= 0; horizon > 0 when target > 0.
  AdaptiveKlController(double init_beta, double target, double horizon);

  double beta() const { return beta_; }
  bool adaptive() const { return target_ > 0; }

  // error = clip(current_kl / target - 1, -0.2, 0.2);
  // beta *= 1 + error * n_steps / horizon. `n_steps` = samples (or steps)
  // since the last update, in the unit `horizon` is counted in.
  void Update(double current_kl, int64_t n_steps);

 private:
  double beta_;
  double target_;
  double horizon_;
};

// Entropy of the categorical softmax(logits) restricted to the legal entries,
// per row: [B, N] logits and bool mask -> [B]. A row with one legal entry has
// entropy 0; values and gradients are finite (the gradient is 0 at illegal
// entries). REQUIRES: every row has at least one legal entry.
torch::Tensor MaskedEntropy(const torch::Tensor& logits, const torch::Tensor& legal_mask);

// log_softmax over the last dimension with illegal entries at -inf (finite for
// legal ones). Backpropagate only through legal entries (e.g. gather the
// sampled action's log-prob); p * logp at an illegal entry is 0 * -inf = NaN,
// use MaskedEntropy for the entropy.
// REQUIRES: legal_mask has the shape of logits; each row has a legal entry.
torch::Tensor MaskedLogSoftmax(const torch::Tensor& logits, const torch::Tensor& legal_mask);

struct DpoLossResult {
  torch::Tensor loss;     // scalar; gradient w.r.t. the policy log-probs only
  double accuracy = 0.0;  // share of pairs with margin > 0 (ties count as wrong)
  double margin = 0.0;    // mean margin (TRL's rewards/margins)
};

// DPO (Rafailov et al. 2023): -mean(log sigmoid(margin)), with the margin
// beta * ((pi_w - ref_w) - (pi_l - ref_l)) = the difference of the implicit
// rewards beta * (pi - ref) of the chosen (w) and rejected (l) answers.
// Arguments are summed log-probs of whole answers, [P] each; the reference
// ones are constants. REQUIRES: four 1-D tensors of the same nonzero length.
DpoLossResult DpoLoss(const torch::Tensor& policy_logp_w, const torch::Tensor& policy_logp_l,
                      const torch::Tensor& ref_logp_w, const torch::Tensor& ref_logp_l,
                      double beta);

// Running mean and variance of every element seen, for reward normalisation.
// Batches are merged with the parallel formula of Chan et al. (exact up to
// rounding: two halves give the moments of the whole), in double. Before any
// element: mean 0, std 1 (normalising by it is the identity). Not thread-safe.
class RunningMoments {
 public:
  // Adds every element of `batch` (any shape; empty is a no-op).
  void Update(const torch::Tensor& batch);

  int64_t count() const { return count_; }
  double m2() const { return m2_; }  // sum of squared deviations (for checkpoints)
  // Restores a state read back from count(), mean() and m2().
  void Restore(int64_t count, double mean, double m2) {
    count_ = count;
    mean_ = mean;
    m2_ = m2;
  }
  double mean() const { return mean_; }
  // Population std (unbiased = false, as Whiten); 0 after one element.
  double std() const;

 private:
  int64_t count_ = 0;
  double mean_ = 0.0;
  double m2_ = 0.0;  // sum of squared deviations from mean_
};

}  // namespace oversight
