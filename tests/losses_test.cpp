// The loss and RL-math functions of agents/rl_losses.h and
// judges/reward_losses.h against values worked out by hand on tiny tensors
// (the arithmetic is in the comment beside each expected number), and the
// autograd gradients of the pairwise and PPO losses against central finite
// differences in double.
#include <catch2/catch.hpp>
#include <torch/torch.h>

#include <algorithm>
#include <cmath>
#include <functional>
#include <vector>

#include "agents/rl_losses.h"
#include "judges/reward_losses.h"

namespace oversight {
namespace {

torch::Tensor F(std::vector<float> v) { return torch::tensor(v, torch::kFloat); }
torch::Tensor D(std::vector<double> v) { return torch::tensor(v, torch::kDouble); }
torch::Tensor B(std::vector<int> v) {
  return torch::tensor(std::vector<int64_t>(v.begin(), v.end())).to(torch::kBool);
}
double At(const torch::Tensor& t, int64_t i) { return t.reshape({-1})[i].item<double>(); }

// Checks t (any shape, read in row-major order) against `expected`.
void CheckValues(const torch::Tensor& t, const std::vector<double>& expected,
                 double margin = 1e-6) {
  REQUIRE(t.numel() == static_cast<int64_t>(expected.size()));
  for (size_t i = 0; i < expected.size(); ++i) {
    INFO("element " << i);
    CHECK(At(t, static_cast<int64_t>(i)) == Approx(expected[i]).margin(margin));
  }
}

// max |autograd - central difference| / max |central difference| for the
// scalar function f at x (double), step h.
double GradientRelError(const std::function<torch::Tensor(const torch::Tensor&)>& f,
                        const torch::Tensor& x, double h = 1e-5) {
  torch::Tensor xg = x.detach().clone().requires_grad_(true);
  f(xg).backward();
  const torch::Tensor analytic = xg.grad();
  torch::NoGradGuard no_grad;
  torch::Tensor numeric = torch::zeros_like(x);
  for (int64_t i = 0; i < x.numel(); ++i) {
    torch::Tensor plus = x.detach().clone(), minus = x.detach().clone();
    plus.reshape({-1})[i] += h;
    minus.reshape({-1})[i] -= h;
    numeric.reshape({-1})[i] = (f(plus) - f(minus)) / (2 * h);
  }
  const double scale = numeric.abs().max().item<double>();
  REQUIRE(scale > 0);
  return (analytic - numeric).abs().max().item<double>() / scale;
}

}  // namespace

// Four samples, old log-probs 0 so r = exp(logp_new), clip_eps = 0.2:
//   0: r = 1.1, A =  2: inside [0.8, 1.2]; min(2.2, 2.2)       =  2.2
//   1: r = 1.5, A =  1: clipped above;     min(1.5, 1.2 * 1)   =  1.2
//   2: r = 0.5, A = -1: clipped below;     min(-0.5, 0.8 * -1) = -0.8
//   3: r = 1.5, A = -1: outside, but the unclipped term is the
//      pessimistic one;                    min(-1.5, -1.2)     = -1.5
TEST_CASE("PPO policy loss clips the ratio on the side the advantage sign selects", "[losses]") {
  const torch::Tensor logp_new = torch::log(F({1.1f, 1.5f, 0.5f, 1.5f})).requires_grad_(true);
  const torch::Tensor logp_old = F({0, 0, 0, 0});
  const torch::Tensor adv = F({2, 1, -1, -1});
  const PpoPolicyLossResult r = PpoPolicyLoss(logp_new, logp_old, adv, 0.2);
  // -(2.2 + 1.2 - 0.8 - 1.5) / 4 = -1.1 / 4
  CHECK(r.loss.item<double>() == Approx(-0.275).margin(1e-6));
  // |r - 1| = 0.1, 0.5, 0.5, 0.5: three of four above 0.2
  CHECK(r.clip_fraction == Approx(0.75));
  // (r - 1) - ln r: 1.1 -> 0.1 - 0.0953102 = 0.0046898; 1.5 -> 0.5 - 0.4054651 =
  // 0.0945349 (twice); 0.5 -> -0.5 + 0.6931472 = 0.1931472. Sum 0.3869068 / 4
  CHECK(r.approx_kl == Approx(0.0967267).margin(1e-6));
  // d loss / d logp_new_i = -r_i A_i / 4 where the unclipped term is the min,
  // 0 where the clipped (constant) one is: [-2.2/4, 0, 0, 1.5/4]
  r.loss.backward();
  CheckValues(logp_new.grad(), {-0.55, 0, 0, 0.375});
}

TEST_CASE("PPO policy loss gradient matches finite differences away from the clip kinks",
          "[losses]") {
  // Ratios exp(.) = 1.105, 1.492, 0.670, 0.951, 1.35: two inside the clip
  // range, three outside, none within 0.04 of a kink at 0.8 or 1.2.
  const torch::Tensor logp_new = D({0.1, 0.4, -0.4, -0.05, 0.3}) + D({-1, -2, -0.5, -1, -3});
  const torch::Tensor logp_old = D({-1, -2, -0.5, -1, -3});
  const torch::Tensor adv = D({1.5, 0.7, -2.0, -0.3, -1.1});
  const auto f = [&](const torch::Tensor& x) { return PpoPolicyLoss(x, logp_old, adv, 0.2).loss; };
  CHECK(GradientRelError(f, logp_new) < 1e-6);
}

TEST_CASE("PPO policy loss needs 1-D inputs of one length", "[losses]") {
  CHECK_THROWS(PpoPolicyLoss(F({0, 0}), F({0}), F({1, 1}), 0.2));
  CHECK_THROWS(PpoPolicyLoss(F({}), F({}), F({}), 0.2));
}

// clip_eps = 0.2, v_old = 1 for all three samples:
//   0: v = 1.1, R = 1:   (0.1)^2 = 0.01; clipped v 1.1 -> 0.01;          max 0.01
//   1: v = 1.5, R = 2:   (-0.5)^2 = 0.25; clipped v 1.2 -> (-0.8)^2 = 0.64; max 0.64
//   2: v = 0.5, R = 1.5: (-1)^2 = 1;     clipped v 0.8 -> (-0.7)^2 = 0.49; max 1
TEST_CASE("Clipped value loss takes the larger of the clipped and unclipped errors", "[losses]") {
  const torch::Tensor v = F({1.1f, 1.5f, 0.5f}), v_old = F({1, 1, 1}), ret = F({1, 2, 1.5f});
  // 0.5 * (0.01 + 0.64 + 1) / 3 = 0.5 * 1.65 / 3
  CHECK(ValueLoss(v, v_old, ret, 0.2).item<double>() == Approx(0.275).margin(1e-6));
  // Unclipped: 0.5 * (0.01 + 0.25 + 1) / 3 = 0.5 * 1.26 / 3
  CHECK(ValueLoss(v, v_old, ret, 0.0).item<double>() == Approx(0.21).margin(1e-6));
}

// gamma = lambda = 0.5 (gamma * lambda = 0.25), r = [1, 0, 2], V = [0.5, 1, 0.5].
TEST_CASE("GAE on a three-step episode matches the recursion worked by hand", "[losses]") {
  const torch::Tensor rewards = F({1, 0, 2}), values = F({0.5f, 1, 0.5f});
  SECTION("truncated with bootstrap value 1") {
    // delta_2 = 2 + 0.5 * 1 - 0.5 = 2;  delta_1 = 0 + 0.5 * 0.5 - 1 = -0.75;
    // delta_0 = 1 + 0.5 * 1 - 0.5 = 1.
    // A_2 = 2;  A_1 = -0.75 + 0.25 * 2 = -0.25;  A_0 = 1 + 0.25 * -0.25 = 0.9375
    const GaeResult g = Gae(rewards, values, 0.5, 0.5, 1.0);
    CheckValues(g.advantages, {0.9375, -0.25, 2.0});
    // A + V = [0.9375 + 0.5, -0.25 + 1, 2 + 0.5]
    CheckValues(g.returns, {1.4375, 0.75, 2.5});
    CHECK(g.advantages.scalar_type() == torch::kFloat);
  }
  SECTION("terminal, bootstrap 0") {
    // delta_2 = 2 + 0 - 0.5 = 1.5;  A_2 = 1.5;  A_1 = -0.75 + 0.25 * 1.5 = -0.375;
    // A_0 = 1 + 0.25 * -0.375 = 0.90625
    const GaeResult g = Gae(rewards, values, 0.5, 0.5, 0.0);
    CheckValues(g.advantages, {0.90625, -0.375, 1.5});
    // [0.90625 + 0.5, -0.375 + 1, 1.5 + 0.5]
    CheckValues(g.returns, {1.40625, 0.625, 2.0});
  }
  SECTION("gamma = lambda = 1 gives Monte Carlo returns") {
    // returns_t = sum of r from t on: [1 + 0 + 2, 0 + 2, 2]
    CheckValues(Gae(rewards, values, 1.0, 1.0, 0.0).returns, {3, 2, 2});
  }
  SECTION("an empty episode gives empty results") {
    CHECK(Gae(F({}), F({}), 0.5, 0.5, 0.0).advantages.numel() == 0);
  }
}

// x = [1, 3, 3, 5]: mean 3, deviations [-2, 0, 0, 2], variance 8 / 4 = 2,
// std sqrt(2) = 1.4142136.
TEST_CASE("Whiten normalises to zero mean and unit std or keeps the mean", "[losses]") {
  const torch::Tensor x = F({1, 3, 3, 5});
  // deviations / sqrt(2) = [-2 / 1.4142136, 0, 0, 2 / 1.4142136]
  CheckValues(Whiten(x), {-1.4142136, 0, 0, 1.4142136});
  // + 3: [3 - 1.4142136, 3, 3, 3 + 1.4142136]
  CheckValues(Whiten(x, /*shift_mean=*/false), {1.5857864, 3, 3, 4.4142136});
}

TEST_CASE("Whiten of a single element is zero or the element, never NaN", "[losses]") {
  CheckValues(Whiten(F({7})), {0});
  CheckValues(Whiten(F({7}), /*shift_mean=*/false), {7});
  CHECK(Whiten(F({})).numel() == 0);
}

// logp = [-1, -2], logp_ref = [-1.5, -1]; d = logp_ref - logp = [-0.5, 1].
TEST_CASE("KL estimators k1 and k3 at a chosen point", "[losses]") {
  const torch::Tensor logp = F({-1, -2}), ref = F({-1.5f, -1});
  // k1 = logp - logp_ref = [-1 + 1.5, -2 + 1]
  CheckValues(KlK1(logp, ref), {0.5, -1});
  // k3 = e^d - 1 - d: e^-0.5 - 1 + 0.5 = 0.6065307 - 0.5; e^1 - 1 - 1 = 2.7182818 - 2
  CheckValues(KlK3(logp, ref), {0.1065307, 0.7182818});
  CheckValues(KlPenalty(logp, ref, KlEstimator::kK1), {0.5, -1});
  CheckValues(KlPenalty(logp, ref, KlEstimator::kK3), {0.1065307, 0.7182818});
}

TEST_CASE("KL k3 is never negative and is about k1 squared over 2 for small differences",
          "[losses]") {
  const torch::Tensor logp = torch::zeros({201});
  const torch::Tensor ref = torch::linspace(-10, 10, 201);
  CHECK(KlK3(logp, ref).min().item<double>() >= 0.0);
  // d = 1e-3: e^d - 1 - d = d^2/2 + d^3/6 + ... = 5e-7 * (1 + d/3 + ...)
  for (double d : {1e-3, -1e-3, 1e-4}) {
    const torch::Tensor k1 = KlK1(D({0}), D({d}));
    const double k3 = KlK3(D({0}), D({d})).item<double>();
    CHECK(k3 == Approx(k1.square().item<double>() / 2).epsilon(1e-3));
  }
}

// init_beta 0.1, target 6, horizon 10000.
TEST_CASE("Adaptive KL controller saturates the error at 0.2 and is proportional inside",
          "[losses]") {
  AdaptiveKlController kl(0.1, 6.0, 10000.0);
  CHECK(kl.beta() == 0.1);
  // 12 / 6 - 1 = 1, clipped to 0.2; beta = 0.1 * (1 + 0.2 * 1000 / 10000) = 0.1 * 1.02
  kl.Update(12.0, 1000);
  CHECK(kl.beta() == Approx(0.102));
  // 6.6 / 6 - 1 = 0.1, inside; beta = 0.102 * (1 + 0.1 * 500 / 10000) = 0.102 * 1.005
  kl.Update(6.6, 500);
  CHECK(kl.beta() == Approx(0.10251));
  // 3 / 6 - 1 = -0.5, clipped to -0.2; beta = 0.10251 * (1 - 0.2 * 10000 / 10000) = 0.10251 * 0.8
  kl.Update(3.0, 10000);
  CHECK(kl.beta() == Approx(0.082008));
}

TEST_CASE("KL controller with target 0 keeps beta fixed", "[losses]") {
  AdaptiveKlController kl(0.05, 0.0, 0.0);
  CHECK_FALSE(kl.adaptive());
  kl.Update(100.0, 1000);
  CHECK(kl.beta() == 0.05);
}

// Row 0: legal [0, 0] -> p = [1/2, 1/2].  Row 1: one legal entry.
// Row 2: legal logits [0, ln 2, 0] -> p = [1/4, 1/2, 1/4].  Illegal logits are large
// so that a missing mask would show.
TEST_CASE("Masked entropy counts legal entries only and is 0 with one legal move", "[losses]") {
  const double ln2 = std::log(2.0);
  const torch::Tensor logits = D({0, 0, 9, 9, 1, 2, 3, 4, 0, ln2, 0, 9}).reshape({3, 4});
  const torch::Tensor mask = B({1, 1, 0, 0, 0, 0, 1, 0, 1, 1, 1, 0}).reshape({3, 4});
  torch::Tensor x = logits.clone().requires_grad_(true);
  const torch::Tensor h = MaskedEntropy(x, mask);
  // Row 0: ln 2 = 0.6931472.  Row 1: -1 * ln 1 = 0.
  // Row 2: -(2 * 1/4 * ln(1/4) + 1/2 * ln(1/2)) = ln 2 + ln 2 / 2 = 1.5 ln 2 = 1.0397208
  CheckValues(h, {0.6931472, 0, 1.0397208});
  h.sum().backward();
  const torch::Tensor g = x.grad();
  CHECK_FALSE(torch::isnan(g).any().item<bool>());
  // dH/dz_i = -p_i (ln p_i + H). Row 0: ln p_i = -H, so 0. Row 1: p = 1, ln p = 0, H = 0.
  // Row 2: ln p + H = [-2 ln2 + 1.5 ln2, -ln2 + 1.5 ln2, ...] = [-0.5, 0.5, -0.5] ln 2,
  // so dH/dz = [1/8, -1/4, 1/8] ln 2 = [0.0866434, -0.1732868, 0.0866434]. Illegal: 0.
  CheckValues(g, {0, 0, 0, 0, 0, 0, 0, 0, 0.0866434, -0.1732868, 0.0866434, 0});
}

TEST_CASE("Masked log-softmax is -inf at illegal entries and normalised over legal ones",
          "[losses]") {
  // Legal logits [0, ln 3] -> p = [1/4, 3/4]
  const torch::Tensor logp = MaskedLogSoftmax(
      F({0, static_cast<float>(std::log(3.0)), 7}).reshape({1, 3}), B({1, 1, 0}).reshape({1, 3}));
  // [ln(1/4), ln(3/4)] = [-1.3862944, -0.2876821]
  CHECK(At(logp, 0) == Approx(-1.3862944).margin(1e-6));
  CHECK(At(logp, 1) == Approx(-0.2876821).margin(1e-6));
  CHECK(std::isinf(At(logp, 2)));
  CHECK(At(logp, 2) < 0);
  CHECK_THROWS(MaskedLogSoftmax(F({0, 1}).reshape({1, 2}), B({0, 0}).reshape({1, 2})));
}

// beta = 0.5. Pair 0: pi_w - ref_w = -1 + 2 = 1, pi_l - ref_l = -3 + 2 = -1, margin
// 0.5 * (1 + 1) = 1. Pair 1: pi_w - ref_w = 0, pi_l - ref_l = -1 + 2 = 1, margin
// 0.5 * (0 - 1) = -0.5.
TEST_CASE("DPO loss accuracy and margin at a chosen point", "[losses]") {
  const DpoLossResult r = DpoLoss(F({-1, -2}), F({-3, -1}), F({-2, -2}), F({-2, -2}), 0.5);
  // -log sigmoid(m) = ln(1 + e^-m): ln(1 + e^-1) = 0.3132617, ln(1 + e^0.5) = 0.9740770;
  // mean (0.3132617 + 0.9740770) / 2
  CHECK(r.loss.item<double>() == Approx(0.6436693).margin(1e-6));
  // one margin of two is positive
  CHECK(r.accuracy == Approx(0.5));
  // (1 - 0.5) / 2
  CHECK(r.margin == Approx(0.25));
}

TEST_CASE("DPO loss gradient matches finite differences", "[losses]") {
  const torch::Tensor pi_w = D({-1.2, -3.5, -0.7}), pi_l = D({-2.0, -1.1, -0.9});
  const torch::Tensor ref_w = D({-1.5, -3.0, -1.0}), ref_l = D({-1.8, -1.5, -0.4});
  const double beta = 0.3;
  CHECK(GradientRelError(
            [&](const torch::Tensor& x) { return DpoLoss(x, pi_l, ref_w, ref_l, beta).loss; },
            pi_w) < 1e-6);
  CHECK(GradientRelError(
            [&](const torch::Tensor& x) { return DpoLoss(pi_w, x, ref_w, ref_l, beta).loss; },
            pi_l) < 1e-6);
}

// Running moments of 1..6: mean 3.5, sum of squared deviations 17.5, variance
// 17.5 / 6 = 2.9166667, std 1.7078251.
TEST_CASE("Running moments merged from two halves equal those of the whole", "[losses]") {
  RunningMoments fresh;
  CHECK(fresh.mean() == 0.0);
  CHECK(fresh.std() == 1.0);

  // Halves [1, 2, 3] (mean 2, M2 2) and [4, 5, 6] (mean 5, M2 2); merged: delta 3,
  // mean 2 + 3 * 3 / 6 = 3.5, M2 = 2 + 2 + 3^2 * 3 * 3 / 6 = 17.5
  RunningMoments halves;
  halves.Update(F({1, 2, 3}));
  halves.Update(F({4, 5, 6}));
  CHECK(halves.count() == 6);
  CHECK(halves.mean() == Approx(3.5));
  CHECK(halves.std() == Approx(std::sqrt(17.5 / 6)));

  RunningMoments whole, uneven;
  whole.Update(F({1, 2, 3, 4, 5, 6}));
  uneven.Update(F({1}));
  uneven.Update(F({}));
  uneven.Update(F({2, 3, 4, 5, 6}).reshape({5, 1}));
  for (const RunningMoments* m : {&whole, &uneven}) {
    CHECK(m->mean() == Approx(halves.mean()).epsilon(1e-12));
    CHECK(m->std() == Approx(halves.std()).epsilon(1e-12));
  }

  torch::manual_seed(5);
  const torch::Tensor x = torch::randn({1000}, torch::kDouble) * 3 + 2;
  RunningMoments chunks;
  for (int64_t i = 0; i < 1000; i += 137)
    chunks.Update(x.slice(0, i, std::min<int64_t>(i + 137, 1000)));
  CHECK(chunks.mean() == Approx(x.mean().item<double>()).epsilon(1e-12));
  CHECK(chunks.std() == Approx(x.std(/*unbiased=*/false).item<double>()).epsilon(1e-12));
}

// r_w = [2, 0, 1], r_l = [1, 1, 1]: differences [1, -1, 0].
TEST_CASE("Bradley-Terry loss with margin and centering at a chosen point", "[losses]") {
  const torch::Tensor rw = F({2, 0, 1}), rl = F({1, 1, 1});
  // -log sigmoid(x) = ln(1 + e^-x): ln(1 + e^-1) = 0.3132617, ln(1 + e) = 1.3132617,
  // ln 2 = 0.6931472; mean 2.3196706 / 3
  const BradleyTerryResult plain = BradleyTerryLoss(rw, rl);
  CHECK(plain.loss.item<double>() == Approx(0.7732235).margin(1e-6));
  // only pair 0 has r_w > r_l (the tie does not count)
  CHECK(plain.accuracy == Approx(1.0 / 3));
  // (1 - 1 + 0) / 3
  CHECK(plain.mean_margin == Approx(0.0).margin(1e-12));
  // + 0.01 * mean((r_w + r_l)^2) = 0.01 * (9 + 1 + 4) / 3 = 0.0466667
  CHECK(BradleyTerryLoss(rw, rl, {}, 0.01).loss.item<double>() == Approx(0.8198902).margin(1e-6));
  // margin [1, 0, 0]: pair 0 becomes ln(1 + e^0) = ln 2; (0.6931472 + 1.3132617 + 0.6931472) / 3
  const BradleyTerryResult m = BradleyTerryLoss(rw, rl, F({1, 0, 0}));
  CHECK(m.loss.item<double>() == Approx(0.8998520).margin(1e-6));
  CHECK(m.mean_margin == Approx(0.0).margin(1e-12));
}

TEST_CASE("Bradley-Terry loss gradient matches finite differences", "[losses]") {
  const torch::Tensor rw = D({0.3, -1.2, 2.0, 0.1}), rl = D({0.5, -2.0, 1.1, 0.1});
  const torch::Tensor margin = D({0.2, 0.0, 0.5, -0.3});
  CHECK(GradientRelError(
            [&](const torch::Tensor& x) { return BradleyTerryLoss(x, rl, margin, 0.05).loss; },
            rw) < 1e-6);
  CHECK(GradientRelError(
            [&](const torch::Tensor& x) { return BradleyTerryLoss(rw, x, margin, 0.05).loss; },
            rl) < 1e-6);
}

TEST_CASE("Outcome loss is binary cross-entropy with logits", "[losses]") {
  // logit 0, label 1: ln(1 + e^0) = ln 2 = 0.6931472; logit 2, label 0:
  // ln(1 + e^2) = 2.1269280; mean (0.6931472 + 2.1269280) / 2
  CHECK(PointwiseOutcomeLoss(F({0, 2}), F({1, 0})).item<double>() ==
        Approx(1.4100376).margin(1e-6));
}

TEST_CASE("Process loss averages over the valid steps only", "[losses]") {
  // Valid: (0, 0) logit 0 label 1 -> ln 2 = 0.6931472; (0, 1) logit 2 label 0 ->
  // ln(1 + e^2) = 2.1269280; (1, 0) logit -1 label 0 -> ln(1 + e^-1) = 0.3132617.
  // Padded steps have logit 9, label 0 (loss ~9) and must not count.
  const torch::Tensor logits = F({0, 2, 9, -1, 9, 9}).reshape({2, 3}).requires_grad_(true);
  const torch::Tensor labels = F({1, 0, 0, 0, 0, 0}).reshape({2, 3});
  const torch::Tensor mask = B({1, 1, 0, 1, 0, 0}).reshape({2, 3});
  const torch::Tensor loss = ProcessLoss(logits, labels, mask);
  // (0.6931472 + 2.1269280 + 0.3132617) / 3 valid steps
  CHECK(loss.item<double>() == Approx(1.0444456).margin(1e-6));
  loss.backward();
  // (sigmoid(x) - y) / 3 on valid steps: (0.5 - 1) / 3, 0.8807971 / 3, 0.2689414 / 3
  CheckValues(logits.grad(), {-0.1666667, 0.2935990, 0, 0.0896471, 0, 0});
  CheckValues(
      ProcessLoss(F({1, 2}).reshape({1, 2}), F({0, 1}).reshape({1, 2}), B({0, 0}).reshape({1, 2})),
      {0});
}

}  // namespace oversight
