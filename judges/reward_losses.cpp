#include "judges/reward_losses.h"

namespace oversight {

BradleyTerryResult BradleyTerryLoss(const torch::Tensor& reward_chosen,
                                    const torch::Tensor& reward_rejected,
                                    const torch::Tensor& margin, double center_coef) {
  TORCH_CHECK(reward_chosen.dim() == 1 && reward_chosen.size(0) > 0,
              "BradleyTerryLoss: expected non-empty 1-D rewards, got ", reward_chosen.sizes());
  TORCH_CHECK(reward_rejected.sizes() == reward_chosen.sizes(),
              "BradleyTerryLoss: reward_rejected shape ", reward_rejected.sizes(),
              " differs from reward_chosen ", reward_chosen.sizes());
  TORCH_CHECK(!margin.defined() || margin.sizes() == reward_chosen.sizes(),
              "BradleyTerryLoss: margin shape ",
              margin.defined() ? margin.sizes() : at::IntArrayRef{}, " differs from the rewards ",
              reward_chosen.sizes());
  const torch::Tensor diff = reward_chosen - reward_rejected;
  const torch::Tensor logits = margin.defined() ? diff - margin.detach() : diff;
  BradleyTerryResult result;
  result.loss = -torch::nn::functional::logsigmoid(logits).mean();
  if (center_coef != 0.0)
    result.loss = result.loss + center_coef * (reward_chosen + reward_rejected).square().mean();
  torch::NoGradGuard no_grad;
  result.accuracy = (diff > 0).to(torch::kDouble).mean().item<double>();
  result.mean_margin = diff.to(torch::kDouble).mean().item<double>();
  return result;
}

torch::Tensor PointwiseOutcomeLoss(const torch::Tensor& logits, const torch::Tensor& labels) {
  TORCH_CHECK(labels.sizes() == logits.sizes(), "PointwiseOutcomeLoss: labels shape ",
              labels.sizes(), " differs from logits ", logits.sizes());
  return torch::binary_cross_entropy_with_logits(logits, labels.detach().to(logits.dtype()));
}

torch::Tensor ProcessLoss(const torch::Tensor& step_logits, const torch::Tensor& step_labels,
                          const torch::Tensor& step_mask) {
  TORCH_CHECK(
      step_labels.sizes() == step_logits.sizes() && step_mask.sizes() == step_logits.sizes(),
      "ProcessLoss: step_logits ", step_logits.sizes(), ", step_labels ", step_labels.sizes(),
      " and step_mask ", step_mask.sizes(), " must have one shape");
  TORCH_CHECK(step_mask.scalar_type() == torch::kBool, "ProcessLoss: step_mask must be bool");
  const torch::Tensor per_step = torch::binary_cross_entropy_with_logits(
      step_logits, step_labels.detach().to(step_logits.dtype()), /*weight=*/{},
      /*pos_weight=*/{}, at::Reduction::None);
  // where(), not a product with the mask: a padded step's loss may be inf.
  const torch::Tensor valid = torch::where(step_mask, per_step, torch::zeros_like(per_step));
  return valid.sum() / step_mask.sum().clamp_min(1).to(step_logits.dtype());
}

}  // namespace oversight
