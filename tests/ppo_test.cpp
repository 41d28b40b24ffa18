// PPO (agents/ppo.h) on a one-move debate whose optimum is known: the liar
// reveals one pixel of a synthetic image, and the judge (a real
// SparseImageJudge, written here: logit of the lie = revealed pixels in a
// small corner region) sides with the lie exactly when that pixel is in the
// corner. 25 of the image's 400 nonzero pixels win, so a uniform policy wins
// about 6% of games and the optimal one 100%.
#include <catch2/catch.hpp>
#include <torch/torch.h>

#include "agents/agents.h"
#include "agents/ppo.h"

namespace oversight {
namespace {

bool InCorner(int p) { return p / kImageSide >= 4 && p / kImageSide < 9 && p % kImageSide >= 4 && p % kImageSide < 9; }

class CornerJudge : public SparseImageJudge {
 public:
  std::string name() const override { return "corner"; }
  JudgeKind kind() const override { return JudgeKind::kModel; }
  void Open(StageContext&) override {}
  void Logits(const std::vector<SparseQuery>& queries, std::vector<oversight::Logits>* out) const override {
    out->assign(queries.size(), oversight::Logits{});
    for (size_t i = 0; i < queries.size(); ++i) {
      (*out)[i].fill(-10.0f);
      (*out)[i][0] = 0.5f;  // the truth
      int corner = 0;
      for (int k = 0; k < queries[i].count; ++k) corner += InCorner(queries[i].pixels[k]);
      (*out)[i][1] = static_cast<float>(corner);  // the lie
    }
  }
  std::unique_ptr<SparseJudgeSession> NewSession(const uint8_t*) const override {
    throw std::logic_error("CornerJudge has no sessions");
  }
};

// The synthetic image: a 20x20 square of nonzero pixels, 25 of them in the corner.
struct CornerGame {
  std::vector<uint8_t> image = std::vector<uint8_t>(kImagePixels, 0);
  std::vector<int> nonzero;
  CornerGame() {
    for (int p = 0; p < kImagePixels; ++p) {
      const int r = p / kImageSide, c = p % kImageSide;
      if (r >= 4 && r < 24 && c >= 4 && c < 24) {
        image[p] = 200;
        nonzero.push_back(p);
      }
    }
  }
  // The liar makes the game's only move.
  PpoGame operator()(Rng&) const {
    PpoGame g;
    g.game.pixels = 1;
    g.game.honest_first = false;
    g.game.truth = 0;
    g.game.lie = 1;
    g.image = image.data();
    g.nonzero = &nonzero;
    return g;
  }
};

DebatePolicyNet SeededNet(uint64_t seed) {
  torch::manual_seed(seed);
  return DebatePolicyNet(PolicyNetOptions{16});
}

}  // namespace

TEST_CASE("PPO finds the winning pixels of a one-move game whose optimum is known", "[ppo]") {
  const CornerGame next_game;
  REQUIRE(next_game.nonzero.size() == 400);
  CornerJudge judge;
  const auto opponent = MakePixelDebater({{"name", "random"}}, "test");
  PpoOptions o;
  o.games_per_update = 64;
  o.learning_rate = 1e-3;
  o.kl_coef = 0.01;
  o.target_kl = 0;  // no early stop: the test is about the objective
  PpoTrainer ppo(o, SeededNet(3), SeededNet(3), DebateRole::kLiar, opponent.get(), judge, &judge,
                 torch::kCPU);
  Rng rng(17);
  const PpoStats first = ppo.Update(rng, next_game);
  CHECK(first.win_rate < 0.25);
  CHECK(first.kl_ref == Approx(0.0).margin(1e-6));  // the policy starts as the reference
  CHECK(first.kl_exact == Approx(0.0).margin(1e-6));
  CHECK(first.moves == 64);
  PpoStats last;
  for (int u = 1; u < 40; ++u) last = ppo.Update(rng, next_game);
  INFO("win rate " << first.win_rate << " -> " << last.win_rate << ", KL to reference "
                   << last.kl_ref << ", entropy " << last.entropy);
  CHECK(last.win_rate > 0.9);
  CHECK(last.proxy_reward == Approx(2 * last.win_rate - 1));
  REQUIRE(last.gold_reward.has_value());
  CHECK(*last.gold_reward == Approx(last.proxy_reward));
  CHECK(last.kl_ref > 1.0);        // it moved far from the uniform-ish reference
  // The exact per-position KL estimates the same quantity with less noise.
  CHECK(last.kl_exact > 1.0);
  CHECK(last.kl_exact == Approx(last.kl_ref).epsilon(0.3));
  CHECK(last.entropy < first.entropy);
  // The value head learned the returns. (Not explained_variance > 0: once
  // every game is won, the returns can be exactly equal and it is 0 by
  // definition, as on some CPUs this test's run ends.)
  CHECK(last.value_loss < 0.5 * first.value_loss);
}

TEST_CASE("PPO with an adaptive KL coefficient raises beta while the KL is above target", "[ppo]") {
  const CornerGame next_game;
  CornerJudge judge;
  const auto opponent = MakePixelDebater({{"name", "random"}}, "test");
  PpoOptions o;
  o.learning_rate = 1e-3;
  o.kl_coef = 0.01;
  o.kl_target = 0.05;
  o.kl_horizon = 640;  // 10 updates of 64 games: each update moves beta by up to 2%
  o.target_kl = 0;
  PpoTrainer ppo(o, SeededNet(3), SeededNet(3), DebateRole::kLiar, opponent.get(), judge, nullptr,
                 torch::kCPU);
  Rng rng(5);
  PpoStats s;
  for (int u = 0; u < 25; ++u) s = ppo.Update(rng, next_game);
  CHECK_FALSE(s.gold_reward.has_value());
  REQUIRE(s.kl_ref > 0.05 * 1.2);  // far above target: every update raised beta by 2%
  CHECK(ppo.kl().beta() > 0.01 * 1.1);
}

}  // namespace oversight
