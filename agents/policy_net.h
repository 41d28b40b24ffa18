// The neural debater policy (private to agents/): sees the image, who
// revealed what, the legal moves and both claims; outputs a logit per pixel
// (illegal ones masked by the caller) and a value (the mover's expected
// outcome, +1 win / -1 loss).
//
// Input: planes [B, 4, 28, 28] = (image / 255, pixels the mover revealed,
// pixels the opponent revealed, legal moves) and a vector [B, 22] = (the
// mover's claim one-hot, the opponent's claim one-hot (zeros without
// precommit), moves left / k, 1 if the mover moved first).
// Net: conv 5x5x`hidden` + a per-channel bias from the vector, ReLU ->
// conv 3x3 + ReLU -> conv 3x3 + ReLU -> a global context (mean-pooled
// features and the vector -> dense) added per channel, ReLU -> 1x1 conv to
// the pixel logits; value: dense over the pooled features and the vector.
#pragma once

#include <torch/torch.h>

#include <string>
#include <vector>

#include "protocols/debate.h"

namespace oversight {

inline constexpr int kPolicyPlanes = 4;
inline constexpr int kPolicyVector = 2 * kNumClasses + 2;

struct PolicyNetOptions {
  int hidden = 32;  // channels of every conv layer
};

class DebatePolicyNetImpl : public torch::nn::Module {
 public:
  explicit DebatePolicyNetImpl(PolicyNetOptions options = {});
  struct Output {
    torch::Tensor logits;  // [B, 784], not masked
    torch::Tensor value;   // [B]
  };
  Output forward(const torch::Tensor& planes, const torch::Tensor& vector);
  const PolicyNetOptions& options() const { return options_; }
  // Zeroes the pixel head: every legal move gets the same logit, so the
  // policy is uniform over the legal moves (the value head is untouched).
  void MakeUniform();

 private:
  PolicyNetOptions options_;
  torch::nn::Conv2d conv1_{nullptr}, conv2_{nullptr}, conv3_{nullptr}, head_{nullptr};
  torch::nn::Linear claim_bias_{nullptr}, context_{nullptr}, value1_{nullptr}, value2_{nullptr};
};
TORCH_MODULE(DebatePolicyNet);

// The inputs of a batch of positions, each seen by the player to move.
struct PolicyBatch {
  torch::Tensor planes;  // [B, 4, 28, 28]
  torch::Tensor vector;  // [B, 22]
  torch::Tensor legal;   // [B, 784] bool
};
PolicyBatch MakePolicyBatch(const std::vector<const DebatePosition*>& positions);

// Checkpoint file of a policy: parameters + "meta.hidden". Atomic.
void SavePolicy(DebatePolicyNet& net, const std::string& path);
// Saves `net` as artifact ("policy", name) of the running stage, at `step`.
void SavePolicyArtifact(StageContext& ctx, DebatePolicyNet& net, const std::string& name,
                        int64_t step);
// Throws DataError naming `path` when it cannot be read.
DebatePolicyNet LoadPolicy(const std::string& path, const torch::Device& device);

}  // namespace oversight
