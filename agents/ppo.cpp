#include "agents/ppo.h"

#include <chrono>
#include <cmath>
#include <numeric>
#include <stdexcept>

#include "agents/policy.h"
#include "protocols/protocols.h"

namespace oversight {

PpoTrainer::PpoTrainer(PpoOptions options, DebatePolicyNet policy, DebatePolicyNet reference,
                       DebateRole trained, const PixelDebater* opponent,
                       const SparseImageJudge& judge, const SparseImageJudge* gold_judge,
                       torch::Device device)
    : o_(options), policy_(std::move(policy)), reference_(std::move(reference)),
      trained_(trained), opponent_(opponent), judge_(judge), gold_(gold_judge), device_(device),
      adam_(policy_->parameters(), torch::optim::AdamOptions(options.learning_rate).eps(1e-5)),
      kl_(options.kl_coef, options.kl_target, options.kl_horizon) {
  policy_->to(device_);
  reference_->to(device_);
  reference_->eval();
  for (auto& p : reference_->parameters()) p.set_requires_grad(false);
}

namespace {

// The trained side's final reward for a game the judge saw as `logits`.
struct Final {
  bool won = false;
  double reward = 0;
};
Final FinalReward(const DebateGame& game, const Logits& logits, DebateRole trained,
                  PpoReward kind) {
  const double honest_margin = game.HonestMargin(logits);
  const double mine = trained == DebateRole::kHonest ? honest_margin : -honest_margin;
  Final f;
  f.won = trained == DebateRole::kHonest ? honest_margin > 0 : honest_margin <= 0;
  switch (kind) {
    case PpoReward::kBinary:
      f.reward = f.won ? 1.0 : -1.0;
      break;
    case PpoReward::kMargin:
      f.reward = mine;
      break;
    case PpoReward::kLogProb: {
      // log softmax of the trained side's claim (REQUIRES a claim: the
      // truth for the honest side, game.lie >= 0 for the liar).
      const int claim = trained == DebateRole::kHonest ? game.truth : game.lie;
      if (claim < 0) throw std::logic_error("PPO log_prob reward: the liar has no claim");
      f.reward = LogProbOf(logits, claim);
      break;
    }
  }
  return f;
}

double Variance(const torch::Tensor& x) {
  return x.numel() < 2 ? 0.0 : x.var(/*unbiased=*/false).item<double>();
}

}  // namespace

struct PpoTrainer::Rollout {
  std::vector<PpoGame> games;
  std::vector<DebatePosition> pos;
  // The trained player's positions, as batches of inputs, and its moves.
  std::vector<torch::Tensor> planes, vectors, legals;
  std::vector<int64_t> actions;
  std::vector<float> logp_old, logp_ref, values;
  std::vector<std::vector<int64_t>> steps_of;  // step indexes per game
  std::vector<double> kl_exact;                // per game
  double policy_seconds = 0;
  // Score():
  std::vector<double> final_rewards, gold;  // gold: empty without a gold judge or reward model
  double wins = 0;
};

PpoTrainer::Rollout PpoTrainer::Play(Rng& rng, std::vector<PpoGame> games) {
  Rollout r;
  r.games = std::move(games);
  const size_t n_games = r.games.size();
  r.pos.resize(n_games);
  r.steps_of.resize(n_games);
  r.kl_exact.assign(n_games, 0.0);
  for (size_t g = 0; g < n_games; ++g) {
    r.pos[g].game = &r.games[g].game;
    r.pos[g].image = r.games[g].image;
    r.pos[g].nonzero = r.games[g].nonzero;
  }
  // Play every game to its end, in lockstep: each round the trained player's
  // positions of all games go through one forward.
  policy_->eval();
  for (bool more = true; more;) {
    more = false;
    std::vector<size_t> mine, theirs;  // the games each side moves in this round
    std::vector<const DebatePosition*> ptrs;
    for (size_t g = 0; g < n_games; ++g) {
      if (r.pos[g].Terminal()) continue;
      more = true;
      if (r.pos[g].ToMove() == trained_) {
        mine.push_back(g);
        ptrs.push_back(&r.pos[g]);
      } else {
        theirs.push_back(g);
      }
    }
    if (!mine.empty()) {
      const auto t0 = std::chrono::steady_clock::now();
      torch::NoGradGuard no_grad;
      const PolicyBatch in = MakePolicyBatch(ptrs);
      const torch::Tensor pl = in.planes.to(device_), ve = in.vector.to(device_);
      const auto out = policy_->forward(pl, ve);
      const torch::Tensor legal = in.legal.to(device_);
      const torch::Tensor logp = MaskedLogSoftmax(out.logits, legal);
      const torch::Tensor ref = MaskedLogSoftmax(reference_->forward(pl, ve).logits, legal);
      // Exact KL(pi || ref) per position, over the legal moves only.
      const torch::Tensor kl_pos =
          torch::where(legal, logp.exp() * (logp - ref), torch::zeros_like(logp)).sum(1).to(torch::kCPU);
      const torch::Tensor logp_cpu = logp.to(torch::kCPU), ref_cpu = ref.to(torch::kCPU);
      const torch::Tensor value = out.value.to(torch::kCPU);
      const torch::Tensor logits_cpu = out.logits.to(torch::kCPU);
      for (size_t i = 0; i < mine.size(); ++i) {
        const int64_t ii = static_cast<int64_t>(i);
        const int a = SampleMove(logits_cpu[ii], in.legal[ii], false, 1.0, rng);
        r.steps_of[mine[i]].push_back(static_cast<int64_t>(r.actions.size()));
        r.actions.push_back(a);
        r.logp_old.push_back(logp_cpu[ii][a].item<float>());
        r.logp_ref.push_back(ref_cpu[ii][a].item<float>());
        r.values.push_back(value[ii].item<float>());
        r.kl_exact[mine[i]] += kl_pos[ii].item<double>();
        r.pos[mine[i]].revealed.push_back(a);
      }
      r.planes.push_back(in.planes);
      r.vectors.push_back(in.vector);
      r.legals.push_back(in.legal);
      r.policy_seconds +=
          std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
    }
    for (size_t g : theirs) {
      if (!opponent_) throw std::logic_error("PPO: a game needs an opponent and none was given");
      r.pos[g].revealed.push_back(opponent_->ChooseMove(r.pos[g], judge_, rng));
    }
  }
  return r;
}

void PpoTrainer::Score(Rollout& r) {
  std::vector<SparseQuery> finals;
  for (const DebatePosition& p : r.pos) finals.push_back(p.Query());
  std::vector<Logits> verdicts, gold;
  judge_.Logits(finals, &verdicts);
  if (gold_) gold_->Logits(finals, &gold);
  r.final_rewards.clear();
  r.gold.clear();
  r.wins = 0;
  for (size_t g = 0; g < r.games.size(); ++g) {
    const Final f = FinalReward(r.games[g].game, verdicts[g], trained_, o_.reward);
    r.wins += f.won;
    r.final_rewards.push_back(f.reward);
    if (gold_) r.gold.push_back(FinalReward(r.games[g].game, gold[g], trained_, o_.reward).reward);
  }
  if (reward_model_) {
    // The learned reward is the proxy; the judge's own reward is the gold.
    if (!gold_) r.gold = r.final_rewards;
    r.final_rewards = reward_model_(r.pos);
    if (r.final_rewards.size() != r.games.size())
      throw std::logic_error("PPO reward model: " + std::to_string(r.final_rewards.size()) +
                             " rewards for " + std::to_string(r.games.size()) + " games");
  }
}

PpoTrainer::Evaluation PpoTrainer::Evaluate(Rng& rng, std::vector<PpoGame> games) {
  Rollout r = Play(rng, std::move(games));
  Score(r);
  Evaluation e;
  e.proxy = r.final_rewards;
  e.gold = r.gold.empty() ? r.final_rewards : r.gold;
  e.kl = r.kl_exact;
  return e;
}

PpoStats PpoTrainer::Update(Rng& rng, const std::function<PpoGame(Rng&)>& next_game) {
  const int n_games = o_.games_per_update;
  std::vector<PpoGame> games;
  games.reserve(static_cast<size_t>(n_games));
  for (int g = 0; g < n_games; ++g) games.push_back(next_game(rng));
  Rollout r = Play(rng, std::move(games));
  Score(r);
  const std::vector<std::vector<int64_t>>& steps_of = r.steps_of;
  const std::vector<double>& final_rewards = r.final_rewards;

  // Rewards: the final reward at the end, a KL penalty at every move.
  PpoStats s;
  const int64_t n = static_cast<int64_t>(r.actions.size());
  s.games = n_games;
  s.moves = n;
  s.moves_per_s = r.policy_seconds > 0 ? n / r.policy_seconds : 0;
  s.beta = kl_.beta();
  const torch::Tensor old_t = torch::tensor(r.logp_old), ref_t = torch::tensor(r.logp_ref);
  const torch::Tensor kl_steps = KlPenalty(old_t, ref_t, o_.kl_estimator);
  s.win_rate = r.wins / n_games;
  s.proxy_reward = std::accumulate(final_rewards.begin(), final_rewards.end(), 0.0) / n_games;
  if (!r.gold.empty()) s.gold_reward = std::accumulate(r.gold.begin(), r.gold.end(), 0.0) / n_games;
  s.kl_ref = kl_steps.sum().item<double>() / n_games;
  s.kl_exact = std::accumulate(r.kl_exact.begin(), r.kl_exact.end(), 0.0) / n_games;
  if (o_.normalize_rewards || o_.center_rewards)
    reward_moments_.Update(torch::tensor(final_rewards, torch::kFloat64));
  const double shift = o_.center_rewards ? reward_moments_.mean() : 0.0;
  const double scale = o_.normalize_rewards && reward_moments_.std() > 0
                           ? 1.0 / reward_moments_.std()
                           : 1.0;

  torch::Tensor advantages = torch::zeros({n}), returns = torch::zeros({n});
  const torch::Tensor values_t = torch::tensor(r.values);
  for (size_t g = 0; g < steps_of.size(); ++g) {
    const std::vector<int64_t>& idx = steps_of[g];
    if (idx.empty()) continue;
    const torch::Tensor at = torch::tensor(idx);
    torch::Tensor rew = -kl_.beta() * kl_steps.index_select(0, at);
    rew[static_cast<int64_t>(idx.size()) - 1] += (final_rewards[g] - shift) * scale;
    const GaeResult gae = Gae(rew, values_t.index_select(0, at), o_.gamma, o_.lambda, 0.0);
    advantages.index_copy_(0, at, gae.advantages.to(torch::kFloat32));
    returns.index_copy_(0, at, gae.returns.to(torch::kFloat32));
  }
  kl_.Update(s.kl_ref, n_games);
  if (n == 0) return s;
  s.explained_variance =
      Variance(returns) > 0 ? 1.0 - Variance(returns - values_t) / Variance(returns) : 0.0;
  if (o_.whiten_advantages) advantages = Whiten(advantages);

  // PPO epochs over shuffled minibatches.
  const torch::Tensor all_planes = torch::cat(r.planes).to(device_);
  const torch::Tensor all_vectors = torch::cat(r.vectors).to(device_);
  const torch::Tensor all_legal = torch::cat(r.legals).to(device_);
  const torch::Tensor all_actions = torch::tensor(r.actions).to(device_);
  const torch::Tensor old_d = old_t.to(device_), values_d = values_t.to(device_);
  const torch::Tensor adv_d = advantages.to(device_), ret_d = returns.to(device_);
  policy_->train();
  std::vector<int64_t> order(static_cast<size_t>(n));
  for (int64_t i = 0; i < n; ++i) order[static_cast<size_t>(i)] = i;
  double sums[5] = {0, 0, 0, 0, 0};  // policy loss, value loss, entropy, approx kl, clip fraction
  for (int epoch = 0; epoch < o_.epochs && !s.early_stopped; ++epoch) {
    PartialShuffle(order, order.size(), rng);
    for (int64_t start = 0; start < n; start += o_.minibatch) {
      const int64_t end = std::min<int64_t>(n, start + o_.minibatch);
      const torch::Tensor mb =
          torch::tensor(std::vector<int64_t>(order.begin() + start, order.begin() + end))
              .to(device_);
      const auto out =
          policy_->forward(all_planes.index_select(0, mb), all_vectors.index_select(0, mb));
      const torch::Tensor legal = all_legal.index_select(0, mb);
      const torch::Tensor logp_new = MaskedLogSoftmax(out.logits, legal)
                                         .gather(1, all_actions.index_select(0, mb).unsqueeze(1))
                                         .squeeze(1);
      const PpoPolicyLossResult pg = PpoPolicyLoss(logp_new, old_d.index_select(0, mb),
                                                   adv_d.index_select(0, mb), o_.clip);
      const torch::Tensor vloss = ValueLoss(out.value, values_d.index_select(0, mb),
                                            ret_d.index_select(0, mb), o_.value_clip);
      const torch::Tensor entropy = MaskedEntropy(out.logits, legal).mean();
      const torch::Tensor loss = pg.loss + o_.value_coef * vloss - o_.entropy_coef * entropy;
      adam_.zero_grad();
      loss.backward();
      if (o_.max_grad_norm > 0) torch::nn::utils::clip_grad_norm_(policy_->parameters(), o_.max_grad_norm);
      adam_.step();
      sums[0] += pg.loss.item<double>();
      sums[1] += vloss.item<double>();
      sums[2] += entropy.item<double>();
      sums[3] += pg.approx_kl;
      sums[4] += pg.clip_fraction;
      ++s.minibatches;
      if (o_.target_kl > 0 && pg.approx_kl > 1.5 * o_.target_kl) {
        s.early_stopped = true;
        break;
      }
    }
  }
  policy_->eval();
  const double m = std::max(1, s.minibatches);
  s.policy_loss = sums[0] / m;
  s.value_loss = sums[1] / m;
  s.entropy = sums[2] / m;
  s.approx_kl = sums[3] / m;
  s.clip_fraction = sums[4] / m;
  return s;
}

}  // namespace oversight
