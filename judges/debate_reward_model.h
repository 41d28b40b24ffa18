// A learned reward model of the sparse-pixel debate (Christiano et al. 2017;
// Ouyang et al. 2022): it sees what the judge saw at the end of a game (the
// revealed pixels and their values), who revealed each pixel and both claims,
// and outputs one scalar reward for one side. Stage "train_rm" trains it on
// preference pairs (reward_model_stage.cpp); stage "ppo" can optimize a
// policy against it ("reward_model" option) instead of the judge's verdict.
#pragma once

#include <torch/torch.h>

#include <string>
#include <vector>

#include "protocols/debate.h"

namespace oversight {

struct StageContext;

// Planes [B, 4, 28, 28]: revealed mask, revealed values, revealed by the
// honest player, by the liar; vector [B, 20]: the honest and the liar claim
// (zero without precommit).
class DebateRewardNetImpl : public torch::nn::Module {
 public:
  explicit DebateRewardNetImpl(int hidden);
  torch::Tensor forward(const torch::Tensor& planes, const torch::Tensor& claims);
  int hidden() const { return hidden_; }

 private:
  int hidden_;
  torch::nn::Conv2d conv1_{nullptr}, conv2_{nullptr};
  torch::nn::Linear claims_{nullptr}, fc1_{nullptr}, fc2_{nullptr};
};
TORCH_MODULE(DebateRewardNet);

// One finished (or partial) game as the reward model sees it.
struct RewardModelInput {
  const DebateGame* game = nullptr;
  const uint8_t* image = nullptr;
  const std::vector<int>* reveals = nullptr;  // in order; movers from game->Mover(t)
};

// The rewards of `games` ([B], on `device`; with grad if the net has it).
torch::Tensor DebateRewards(DebateRewardNet& net, const std::vector<RewardModelInput>& games,
                            const torch::Device& device);

// The file: parameters + meta.hidden + meta.side ("honest" / "liar"). Atomic.
void SaveRewardModel(DebateRewardNet& net, const std::string& side, const std::string& path);
// Throws DataError naming `path` when it cannot be read as a reward model.
DebateRewardNet LoadRewardModel(const std::string& path, const torch::Device& device,
                                std::string* side);

// Artifact kind of reward models.
inline constexpr const char* kRewardModelArtifact = "reward_model";

// Reward model artifact `name` (FindArtifactFile: this experiment's, else the
// latest), frozen (no gradients), on `device`. ConfigError naming `where`
// when there is none (with `how_to_make` appended) or when it scores another
// side than `side`, whose role `purpose` describes ("this stage trains the
// honest side").
DebateRewardNet LoadRewardModelArtifact(StageContext& ctx, const std::string& name,
                                        const std::string& side, const std::string& purpose,
                                        const std::string& where, const std::string& how_to_make,
                                        const torch::Device& device);

}  // namespace oversight
