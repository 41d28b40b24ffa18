#include "agents/rl_losses.h"

#include <algorithm>
#include <cmath>
#include <limits>

namespace oversight {
namespace {

void CheckSameLength1d(const char* fn, std::initializer_list<const torch::Tensor*> tensors) {
  const torch::Tensor& first = **tensors.begin();
  for (const torch::Tensor* t : tensors) {
    TORCH_CHECK(t->defined() && t->dim() == 1, fn, ": expected 1-D tensors");
    TORCH_CHECK(t->size(0) == first.size(0), fn, ": length mismatch, ", t->size(0), " vs ",
                first.size(0));
  }
}

void CheckNonEmpty1d(const char* fn, std::initializer_list<const torch::Tensor*> tensors) {
  CheckSameLength1d(fn, tensors);
  TORCH_CHECK((*tensors.begin())->size(0) > 0, fn, ": empty batch");
}

void CheckMask(const char* fn, const torch::Tensor& logits, const torch::Tensor& legal_mask) {
  TORCH_CHECK(legal_mask.scalar_type() == torch::kBool, fn, ": legal_mask must be bool");
  TORCH_CHECK(legal_mask.sizes() == logits.sizes(), fn, ": legal_mask shape ", legal_mask.sizes(),
              " differs from logits ", logits.sizes());
  TORCH_CHECK(logits.dim() >= 1 && legal_mask.any(-1).all().item<bool>(), fn,
              ": a row has no legal entry");
}

}  // namespace

PpoPolicyLossResult PpoPolicyLoss(const torch::Tensor& logp_new, const torch::Tensor& logp_old,
                                  const torch::Tensor& advantages, double clip_eps) {
  CheckNonEmpty1d("PpoPolicyLoss", {&logp_new, &logp_old, &advantages});
  TORCH_CHECK(clip_eps > 0, "PpoPolicyLoss: clip_eps must be > 0, got ", clip_eps);
  const torch::Tensor log_ratio = logp_new - logp_old.detach();
  const torch::Tensor ratio = torch::exp(log_ratio);
  const torch::Tensor adv = advantages.detach();
  const torch::Tensor surrogate = ratio * adv;
  const torch::Tensor clipped = torch::clamp(ratio, 1.0 - clip_eps, 1.0 + clip_eps) * adv;

  PpoPolicyLossResult result;
  result.loss = -torch::min(surrogate, clipped).mean();
  torch::NoGradGuard no_grad;
  result.clip_fraction = ((ratio - 1).abs() > clip_eps).to(torch::kDouble).mean().item<double>();
  result.approx_kl = (torch::expm1(log_ratio) - log_ratio).mean().item<double>();
  return result;
}

torch::Tensor ValueLoss(const torch::Tensor& values_new, const torch::Tensor& values_old,
                        const torch::Tensor& returns, double clip_eps) {
  CheckNonEmpty1d("ValueLoss", {&values_new, &values_old, &returns});
  const torch::Tensor target = returns.detach();
  const torch::Tensor plain = (values_new - target).square();
  if (clip_eps <= 0) return 0.5 * plain.mean();
  const torch::Tensor old = values_old.detach();
  const torch::Tensor v_clipped = old + torch::clamp(values_new - old, -clip_eps, clip_eps);
  return 0.5 * torch::max(plain, (v_clipped - target).square()).mean();
}

GaeResult Gae(const torch::Tensor& rewards, const torch::Tensor& values, double gamma,
              double lambda, double bootstrap) {
  CheckSameLength1d("Gae", {&rewards, &values});
  torch::NoGradGuard no_grad;
  const auto to_cpu_double = [](const torch::Tensor& t) {
    return t.detach().to(torch::kCPU, torch::kDouble).contiguous();
  };
  const torch::Tensor r = to_cpu_double(rewards);
  const torch::Tensor v = to_cpu_double(values);
  const int64_t steps = r.size(0);
  torch::Tensor adv = torch::empty({steps}, torch::kDouble);
  const auto r_acc = r.accessor<double, 1>();
  const auto v_acc = v.accessor<double, 1>();
  auto a_acc = adv.accessor<double, 1>();
  double next_value = bootstrap;
  double next_adv = 0.0;
  for (int64_t t = steps - 1; t >= 0; --t) {
    const double delta = r_acc[t] + gamma * next_value - v_acc[t];
    next_adv = delta + gamma * lambda * next_adv;
    a_acc[t] = next_adv;
    next_value = v_acc[t];
  }
  const torch::Tensor ret = adv + v;
  const auto back = [&](const torch::Tensor& t) {
    return t.to(rewards.device(), rewards.scalar_type());
  };
  return {back(adv), back(ret)};
}

torch::Tensor Whiten(const torch::Tensor& x, bool shift_mean) {
  if (x.numel() < 2) return shift_mean ? torch::zeros_like(x) : x;
  const torch::Tensor mean = x.mean();
  const torch::Tensor whitened = (x - mean) / (x.std(/*unbiased=*/false) + 1e-8);
  return shift_mean ? whitened : whitened + mean;
}

torch::Tensor KlK1(const torch::Tensor& logp, const torch::Tensor& logp_ref) {
  return logp - logp_ref.detach();
}

torch::Tensor KlK3(const torch::Tensor& logp, const torch::Tensor& logp_ref) {
  const torch::Tensor d = logp_ref.detach() - logp;
  return torch::expm1(d) - d;
}

torch::Tensor KlPenalty(const torch::Tensor& logp, const torch::Tensor& logp_ref,
                        KlEstimator estimator) {
  switch (estimator) {
    case KlEstimator::kK1:
      return KlK1(logp, logp_ref);
    case KlEstimator::kK3:
      return KlK3(logp, logp_ref);
  }
  TORCH_CHECK(false, "KlPenalty: unknown estimator ", static_cast<int>(estimator));
}

AdaptiveKlController::AdaptiveKlController(double init_beta, double target, double horizon)
    : beta_(init_beta), target_(target), horizon_(horizon) {
  TORCH_CHECK(init_beta >= 0, "AdaptiveKlController: init_beta must be >= 0, got ", init_beta);
  TORCH_CHECK(target <= 0 || horizon > 0,
              "AdaptiveKlController: horizon must be > 0 for an adaptive controller, got ",
              horizon);
}

void AdaptiveKlController::Update(double current_kl, int64_t n_steps) {
  if (!adaptive()) return;
  const double error = std::clamp(current_kl / target_ - 1.0, -0.2, 0.2);
  beta_ *= 1.0 + error * static_cast<double>(n_steps) / horizon_;
}

torch::Tensor MaskedLogSoftmax(const torch::Tensor& logits, const torch::Tensor& legal_mask) {
  CheckMask("MaskedLogSoftmax", logits, legal_mask);
  return torch::log_softmax(
      logits.masked_fill(legal_mask.logical_not(), -std::numeric_limits<double>::infinity()), -1);
}

torch::Tensor MaskedEntropy(const torch::Tensor& logits, const torch::Tensor& legal_mask) {
  TORCH_CHECK(logits.dim() == 2, "MaskedEntropy: expected [B, N] logits, got ", logits.sizes());
  const torch::Tensor logp = MaskedLogSoftmax(logits, legal_mask);
  // -inf -> 0 before the product: 0 * -inf would be NaN, in the value and in
  // the backward of the product.
  const torch::Tensor finite_logp = logp.masked_fill(legal_mask.logical_not(), 0.0);
  return -(torch::exp(logp) * finite_logp).sum(-1);
}

DpoLossResult DpoLoss(const torch::Tensor& policy_logp_w, const torch::Tensor& policy_logp_l,
                      const torch::Tensor& ref_logp_w, const torch::Tensor& ref_logp_l,
                      double beta) {
  CheckNonEmpty1d("DpoLoss", {&policy_logp_w, &policy_logp_l, &ref_logp_w, &ref_logp_l});
  const torch::Tensor margin =
      beta * ((policy_logp_w - ref_logp_w.detach()) - (policy_logp_l - ref_logp_l.detach()));
  DpoLossResult result;
  result.loss = -torch::nn::functional::logsigmoid(margin).mean();
  torch::NoGradGuard no_grad;
  result.accuracy = (margin > 0).to(torch::kDouble).mean().item<double>();
  result.margin = margin.to(torch::kDouble).mean().item<double>();
  return result;
}

void RunningMoments::Update(const torch::Tensor& batch) {
  if (batch.numel() == 0) return;
  torch::NoGradGuard no_grad;
  const torch::Tensor x = batch.detach().to(torch::kDouble);
  const int64_t n = x.numel();
  const double batch_mean = x.mean().item<double>();
  const double batch_m2 = (x - batch_mean).square().sum().item<double>();
  const int64_t total = count_ + n;
  const double delta = batch_mean - mean_;
  mean_ += delta * static_cast<double>(n) / static_cast<double>(total);
  m2_ += batch_m2 + delta * delta * static_cast<double>(count_) * static_cast<double>(n) /
                        static_cast<double>(total);
  count_ = total;
}

double RunningMoments::std() const {
  if (count_ == 0) return 1.0;
  return std::sqrt(m2_ / static_cast<double>(count_));
}

}  // namespace oversight
