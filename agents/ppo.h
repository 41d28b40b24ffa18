// PPO for a debater policy (private to agents/): one side of the sparse-pixel
// debate (`trained`) plays a batch of games against a fixed opponent, the
// judge's verdict is the reward, and the policy is updated with PPO under a
// per-step KL penalty to a frozen reference policy (Ziegler et al. 2019;
// Ouyang et al. 2022). The stage kind "ppo" (ppo_stage.cpp) wraps this with
// data, checkpoints, metrics and evaluation episodes; tests drive it
// directly.
#pragma once

#include <torch/torch.h>

#include <functional>
#include <optional>

#include "agents/policy_net.h"
#include "agents/rl_losses.h"

namespace oversight {

enum class PpoReward { kBinary, kMargin, kLogProb };

// Defaults beside the values of common RLHF / RL libraries (TRL's
// PPOConfig, Stable-Baselines3's PPO), where ours differ because a debate is
// a 3-move episode, not a 100-token completion.
struct PpoOptions {
  int games_per_update = 64;   // rollouts per update (TRL batch_size 256; SB3 n_steps 2048)
  int epochs = 4;              // passes over the batch (TRL ppo_epochs 4; SB3 n_epochs 10)
  int minibatch = 64;          // positions per gradient step (TRL mini_batch_size 1..; SB3 64)
  double learning_rate = 3e-4; // Adam (SB3 3e-4; TRL 1.41e-5 for language models)
  double clip = 0.2;           // ratio clip (TRL cliprange 0.2; SB3 clip_range 0.2)
  double value_clip = 0.2;     // value clip, <= 0 off (TRL cliprange_value 0.2; SB3 None)
  double value_coef = 0.5;     // (TRL vf_coef 0.1; SB3 vf_coef 0.5)
  double entropy_coef = 0.0;   // entropy bonus (SB3 ent_coef 0.0; TRL none)
  double gamma = 1.0;          // (TRL gamma 1; SB3 0.99): a game has no horizon to discount
  double lambda = 0.95;        // GAE (TRL lam 0.95; SB3 gae_lambda 0.95)
  double max_grad_norm = 0.5;  // <= 0 off (SB3 0.5; TRL max_grad_norm None)
  bool whiten_advantages = true;   // (both: yes)
  bool normalize_rewards = false;  // divide rewards by their running std (TRL use_score_scaling false)
  // Subtract the running mean of rewards first (TRL use_score_norm false). A
  // learned reward model's scores sit far from 0; uncentered, the value
  // loss of the offset dominates the clipped gradient of the shared trunk.
  bool center_rewards = false;
  double kl_coef = 0.05;       // initial beta (TRL init_kl_coef 0.2)
  // Adaptive beta when > 0: the target KL to the reference per game, summed
  // over the trained player's moves (TRL adap_kl_ctrl true, target 6 per
  // completion); 0 keeps beta fixed.
  double kl_target = 0.0;
  double kl_horizon = 10000;   // games (TRL horizon 10000)
  KlEstimator kl_estimator = KlEstimator::kK1;  // (TRL kl_penalty "k1")
  // Stop the update's epochs once a minibatch's approx KL(old || new)
  // exceeds 1.5 x this (SB3 target_kl, default None); <= 0 never stops.
  double target_kl = 0.05;
  // The trained side's final reward from the judge: +1 / -1 for a win /
  // loss, the judge's margin, or the judge's log-probability of the trained
  // side's claim (a consultant explaining an image: Gao et al.'s gold reward).
  PpoReward reward = PpoReward::kBinary;
};

// A game to play: the rules and the image.
struct PpoGame {
  DebateGame game;
  const uint8_t* image = nullptr;
  const std::vector<int>* nonzero = nullptr;
};

struct PpoStats {
  int64_t games = 0;
  int64_t moves = 0;           // the trained player's
  double moves_per_s = 0;      // the trained player's moves while playing (policy forwards)
  // Mean per-game sum over the trained player's positions of the exact
  // KL(policy || reference) of the move distribution there: an unbiased
  // estimate of the games' KL with less variance than kl_ref's.
  double kl_exact = 0;
  double win_rate = 0;         // the trained side's, under the judge
  double proxy_reward = 0;     // mean final reward optimized (the judge's or the reward model's)
  std::optional<double> gold_reward;  // the same under the gold judge (or the judge, with a reward model)
  double kl_ref = 0;           // mean per-game KL to the reference (the estimator's)
  double beta = 0;             // the KL coefficient used for this batch
  double policy_loss = 0, value_loss = 0, entropy = 0;
  double approx_kl = 0, clip_fraction = 0, explained_variance = 0;
  int minibatches = 0;         // gradient steps taken
  bool early_stopped = false;
};

class PpoTrainer {
 public:
  // `policy` is trained; `reference` stays frozen (the KL anchor). The
  // opponent plays the other side with `judge` (its search judge too); it may
  // be nullptr when every game is a consultancy of the trained side.
  PpoTrainer(PpoOptions options, DebatePolicyNet policy, DebatePolicyNet reference,
             DebateRole trained, const PixelDebater* opponent, const SparseImageJudge& judge,
             const SparseImageJudge* gold_judge, torch::Device device);

  // Plays options.games_per_update games from `next_game` and updates the
  // policy once. Deterministic given `rng`'s state.
  PpoStats Update(Rng& rng, const std::function<PpoGame(Rng&)>& next_game);

  // The current policy on `games`, without updating it: per game, the reward
  // optimized (the reward model's, else the judge's), the gold reward (the
  // gold judge's, else the judge's) and the exact KL to the reference summed
  // over the trained player's positions (as PpoStats::kl_exact).
  struct Evaluation {
    std::vector<double> proxy, gold, kl;
  };
  Evaluation Evaluate(Rng& rng, std::vector<PpoGame> games);

  // Final rewards of the trained side from a learned reward model instead of
  // the judge (one per finished game, in order). The judge still decides
  // win_rate, and its reward (or the gold judge's) becomes gold_reward.
  using RewardModel = std::function<std::vector<double>(const std::vector<DebatePosition>&)>;
  void SetRewardModel(RewardModel reward_model) { reward_model_ = std::move(reward_model); }

  torch::optim::Adam& optimizer() { return adam_; }
  AdaptiveKlController& kl() { return kl_; }
  RunningMoments& reward_moments() { return reward_moments_; }
  DebatePolicyNet& policy() { return policy_; }

 private:
  struct Rollout;
  // Plays `games` to the end with the current policy (sampling at T = 1).
  Rollout Play(Rng& rng, std::vector<PpoGame> games);
  // Fills the rollout's final rewards (optimized and gold) and wins.
  void Score(Rollout& r);

  PpoOptions o_;
  DebatePolicyNet policy_, reference_;
  DebateRole trained_;
  const PixelDebater* opponent_;
  const SparseImageJudge& judge_;
  const SparseImageJudge* gold_;
  torch::Device device_;
  torch::optim::Adam adam_;
  AdaptiveKlController kl_;
  RunningMoments reward_moments_;
  RewardModel reward_model_;
};

}  // namespace oversight
