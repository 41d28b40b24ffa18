#include "agents/ppo.h"

#include <chrono>
#include <numeric>
#include <stdexcept>

#include "agents/policy.h"

namespace oversight {

PpoTrainer::PpoTrainer(PpoOptions options, DebatePolicyNet policy, DebatePolicyNet reference,
                       DebateRole trained, const PixelDebater& opponent,
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
Final FinalReward(const DebateGame& game, const Logits& logits, DebateRole trained, bool margin) {
  const double honest_margin = game.HonestMargin(logits);
  const double mine = trained == DebateRole::kHonest ? honest_margin : -honest_margin;
  Final f;
  f.won = trained == DebateRole::kHonest ? honest_margin > 0 : honest_margin <= 0;
  f.reward = margin ? mine : (f.won ? 1.0 : -1.0);
  return f;
}

double Variance(const torch::Tensor& x) {
  return x.numel() < 2 ? 0.0 : x.var(/*unbiased=*/false).item<double>();
}

}  // namespace

PpoStats PpoTrainer::Update(Rng& rng, const std::function<PpoGame(Rng&)>& next_game) {
  const int n_games = o_.games_per_update;
  std::vector<PpoGame> games;
  games.reserve(static_cast<size_t>(n_games));
  for (int g = 0; g < n_games; ++g) games.push_back(next_game(rng));
  std::vector<DebatePosition> pos(games.size());
  for (size_t g = 0; g < games.size(); ++g) {
    pos[g].game = &games[g].game;
    pos[g].image = games[g].image;
    pos[g].nonzero = games[g].nonzero;
  }

  // Play every game to its end, in lockstep: each round the trained player's
  // positions of all games go through one forward.
  std::vector<torch::Tensor> planes, vectors, legals;
  std::vector<int64_t> actions;
  std::vector<float> logp_old, logp_ref, values;
  std::vector<std::vector<int64_t>> steps_of(games.size());  // step indexes per game
  double policy_seconds = 0;
  PpoStats s;
  policy_->eval();
  for (bool more = true; more;) {
    more = false;
    std::vector<size_t> mine, theirs;  // the games each side moves in this round
    std::vector<const DebatePosition*> ptrs;
    for (size_t g = 0; g < games.size(); ++g) {
      if (pos[g].Terminal()) continue;
      more = true;
      if (pos[g].ToMove() == trained_) {
        mine.push_back(g);
        ptrs.push_back(&pos[g]);
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
      const torch::Tensor logp = MaskedLogSoftmax(out.logits, legal).to(torch::kCPU);
      const torch::Tensor ref = MaskedLogSoftmax(reference_->forward(pl, ve).logits, legal)
                                    .to(torch::kCPU);
      const torch::Tensor value = out.value.to(torch::kCPU);
      const torch::Tensor logits_cpu = out.logits.to(torch::kCPU);
      for (size_t i = 0; i < mine.size(); ++i) {
        const int64_t ii = static_cast<int64_t>(i);
        const int a = SampleMove(logits_cpu[ii], in.legal[ii], false, 1.0, rng);
        steps_of[mine[i]].push_back(static_cast<int64_t>(actions.size()));
        actions.push_back(a);
        logp_old.push_back(logp[ii][a].item<float>());
        logp_ref.push_back(ref[ii][a].item<float>());
        values.push_back(value[ii].item<float>());
        pos[mine[i]].revealed.push_back(a);
      }
      planes.push_back(in.planes);
      vectors.push_back(in.vector);
      legals.push_back(in.legal);
      policy_seconds +=
          std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
    }
    for (size_t g : theirs) pos[g].revealed.push_back(opponent_.ChooseMove(pos[g], judge_, rng));
  }

  // Rewards: the judge's verdict at the end, a KL penalty at every move.
  std::vector<SparseQuery> finals;
  for (const DebatePosition& p : pos) finals.push_back(p.Query());
  std::vector<Logits> verdicts, gold;
  judge_.Logits(finals, &verdicts);
  if (gold_) gold_->Logits(finals, &gold);
  const int64_t n = static_cast<int64_t>(actions.size());
  s.games = n_games;
  s.moves = n;
  s.moves_per_s = policy_seconds > 0 ? n / policy_seconds : 0;
  s.beta = kl_.beta();
  const torch::Tensor old_t = torch::tensor(logp_old), ref_t = torch::tensor(logp_ref);
  const torch::Tensor kl_steps = KlPenalty(old_t, ref_t, o_.kl_estimator);
  std::vector<double> final_rewards;
  double wins = 0, gold_sum = 0;
  for (size_t g = 0; g < games.size(); ++g) {
    const Final f = FinalReward(games[g].game, verdicts[g], trained_, o_.margin_reward);
    wins += f.won;
    final_rewards.push_back(f.reward);
    if (gold_) gold_sum += FinalReward(games[g].game, gold[g], trained_, o_.margin_reward).reward;
  }
  if (reward_model_) {
    // The learned reward is the proxy; the judge's own reward is the gold.
    if (!gold_) gold_sum = std::accumulate(final_rewards.begin(), final_rewards.end(), 0.0);
    final_rewards = reward_model_(pos);
    if (final_rewards.size() != games.size())
      throw std::logic_error("PPO reward model: " + std::to_string(final_rewards.size()) +
                             " rewards for " + std::to_string(games.size()) + " games");
  }
  s.win_rate = wins / n_games;
  s.proxy_reward = std::accumulate(final_rewards.begin(), final_rewards.end(), 0.0) / n_games;
  if (gold_ || reward_model_) s.gold_reward = gold_sum / n_games;
  s.kl_ref = kl_steps.sum().item<double>() / n_games;
  if (o_.normalize_rewards || o_.center_rewards)
    reward_moments_.Update(torch::tensor(final_rewards, torch::kFloat64));
  const double shift = o_.center_rewards ? reward_moments_.mean() : 0.0;
  const double scale = o_.normalize_rewards && reward_moments_.std() > 0
                           ? 1.0 / reward_moments_.std()
                           : 1.0;

  torch::Tensor advantages = torch::zeros({n}), returns = torch::zeros({n});
  const torch::Tensor values_t = torch::tensor(values);
  for (size_t g = 0; g < games.size(); ++g) {
    const std::vector<int64_t>& idx = steps_of[g];
    if (idx.empty()) continue;
    const torch::Tensor at = torch::tensor(idx);
    torch::Tensor r = -kl_.beta() * kl_steps.index_select(0, at);
    r[static_cast<int64_t>(idx.size()) - 1] += (final_rewards[g] - shift) * scale;
    const GaeResult gae = Gae(r, values_t.index_select(0, at), o_.gamma, o_.lambda, 0.0);
    advantages.index_copy_(0, at, gae.advantages.to(torch::kFloat32));
    returns.index_copy_(0, at, gae.returns.to(torch::kFloat32));
  }
  kl_.Update(s.kl_ref, n_games);
  if (n == 0) return s;
  s.explained_variance =
      Variance(returns) > 0 ? 1.0 - Variance(returns - values_t) / Variance(returns) : 0.0;
  if (o_.whiten_advantages) advantages = Whiten(advantages);

  // PPO epochs over shuffled minibatches.
  const torch::Tensor all_planes = torch::cat(planes).to(device_);
  const torch::Tensor all_vectors = torch::cat(vectors).to(device_);
  const torch::Tensor all_legal = torch::cat(legals).to(device_);
  const torch::Tensor all_actions = torch::tensor(actions).to(device_);
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
