// Reward-model losses (private to judges/ and its trainers): a pairwise
// Bradley-Terry model trained on preferences, and pointwise outcome / process
// models trained on 0/1 labels. Dtype-generic and differentiable w.r.t. the
// model outputs (rewards, logits); margins and labels are constants. Shape
// errors throw c10::Error. Tests: tests/losses_test.cpp.
#pragma once

#include <torch/torch.h>

namespace oversight {

struct BradleyTerryResult {
  torch::Tensor loss;        // scalar
  double accuracy = 0.0;     // share of pairs with r_w > r_l (ties count as wrong)
  double mean_margin = 0.0;  // mean(r_w - r_l), without the margin m
};

// -mean(log sigmoid(r_w - r_l - m)) + center_coef * mean((r_w + r_l)^2).
// `margin` m: a per-pair required gap (e.g. from preference strength, as in
// Llama 2), [P]; undefined (torch::Tensor()) means 0. The second term is the
// reward-centering auxiliary loss of Eisenstein et al. 2023, which pins the
// otherwise free offset of the rewards near 0 (0.01 is their value; 0 turns it
// off). REQUIRES: reward_chosen, reward_rejected (and a defined margin) 1-D of
// the same nonzero length.
BradleyTerryResult BradleyTerryLoss(const torch::Tensor& reward_chosen,
                                    const torch::Tensor& reward_rejected,
                                    const torch::Tensor& margin = {}, double center_coef = 0.0);

// Outcome reward model: mean binary cross-entropy with logits, the model's
// logit of "this answer is correct / this side won" against 0/1 float labels.
// REQUIRES: labels of the shape of logits, values in [0, 1].
torch::Tensor PointwiseOutcomeLoss(const torch::Tensor& logits, const torch::Tensor& labels);

// Process reward model: the same binary cross-entropy, one logit and one 0/1
// label per step of each sequence ([B, T], padded), averaged over the valid
// steps only (step_mask, bool): every valid step weighs the same whatever the
// length of its sequence. Padded steps get no gradient. With no valid step the
// loss is 0, not NaN. REQUIRES: three tensors of the same shape.
torch::Tensor ProcessLoss(const torch::Tensor& step_logits, const torch::Tensor& step_labels,
                          const torch::Tensor& step_mask);

}  // namespace oversight
