#include "engine/goodhart.h"

#include <catch2/catch.hpp>
#include <cmath>
#include <random>
#include <stdexcept>
#include <vector>

using namespace oversight;

// KL(best-of-n || p) for a continuous score, integrated numerically: the
// score's CDF value u is uniform under p, and best-of-n has density n u^(n-1)
// on [0, 1], so KL = integral of n u^(n-1) log(n u^(n-1)) du. Substituting
// u = v^(1/n) (v uniform under best-of-n) makes the integrand smooth:
// KL = integral over v of log(n) + (n - 1)/n log v.
static double NumericBestOfNKl(int64_t n) {
  const int steps = 1000000;
  double sum = 0;
  for (int i = 0; i < steps; ++i) {
    const double v = (i + 0.5) / steps;
    sum += std::log(static_cast<double>(n)) + (n - 1.0) / n * std::log(v);
  }
  return sum / steps;
}

TEST_CASE("BestOfNKl is log n - (n-1)/n, the KL of the best of n continuous samples",
          "[goodhart]") {
  CHECK(BestOfNKl(1) == 0.0);
  CHECK(BestOfNKl(2) == Approx(std::log(2.0) - 0.5).margin(1e-15));
  CHECK(BestOfNKl(1000) == Approx(std::log(1000.0) - 0.999).margin(1e-12));
  for (int64_t n : {1, 2, 3, 10, 64, 1000, 4096}) {
    INFO("n = " << n);
    CHECK(BestOfNKl(n) == Approx(NumericBestOfNKl(n)).margin(1e-4));
  }
  // Monotone: more samples, further from the initial policy.
  for (int64_t n = 1; n < 2000; ++n) CHECK(BestOfNKl(n + 1) > BestOfNKl(n));
  CHECK_THROWS_WITH(BestOfNKl(0), Catch::Contains("n = ") || Catch::Contains("got 0"));
}

TEST_CASE("BestOfNEstimate equals the average over every n-subset of the pool", "[goodhart]") {
  std::mt19937_64 rng(7);
  std::uniform_real_distribution<double> u(-3, 3);
  const int m = 9;
  std::vector<double> scores(m), values(m);
  for (int i = 0; i < m; ++i) {
    scores[i] = u(rng);
    values[i] = u(rng);
  }
  for (int n = 1; n <= m; ++n) {
    // Enumerate every n-subset (bitmask) and average the value of its best.
    double sum = 0;
    int subsets = 0;
    for (int mask = 0; mask < (1 << m); ++mask) {
      if (__builtin_popcount(static_cast<unsigned>(mask)) != n) continue;
      int best = -1;
      for (int i = 0; i < m; ++i)
        if ((mask >> i & 1) && (best < 0 || scores[i] > scores[best])) best = i;
      sum += values[best];
      ++subsets;
    }
    INFO("n = " << n);
    CHECK(BestOfNEstimate(scores, values, n) == Approx(sum / subsets).margin(1e-12));
  }
  // n = 1 is the pool's mean; n = m its best sample.
  double mean = 0;
  for (double v : values) mean += v / m;
  CHECK(BestOfNEstimate(scores, values, 1) == Approx(mean).margin(1e-12));
  const size_t top = static_cast<size_t>(std::max_element(scores.begin(), scores.end()) - scores.begin());
  CHECK(BestOfNEstimate(scores, values, m) == Approx(values[top]).margin(1e-12));
  // Selecting by the value itself can only gain as n grows.
  for (int n = 1; n < m; ++n)
    CHECK(BestOfNEstimate(values, values, n + 1) >= BestOfNEstimate(values, values, n) - 1e-12);
}

TEST_CASE("BestOfNEstimate stays exact on a large pool", "[goodhart]") {
  // Scores 0..m-1 in order, value = score: best of n from a pool of m has
  // expectation n (m + 1) / (n + 1) - 1 (the mean of the n-th order
  // statistic of 1..m, minus one).
  const int m = 4096;
  std::vector<double> s(m);
  for (int i = 0; i < m; ++i) s[static_cast<size_t>(i)] = i;
  for (int n : {1, 2, 16, 1000, 4096}) {
    INFO("n = " << n);
    CHECK(BestOfNEstimate(s, s, n) == Approx(n * (m + 1.0) / (n + 1.0) - 1).epsilon(1e-9));
  }
}

TEST_CASE("BestOfNEstimate rejects mismatched or too small pools", "[goodhart]") {
  CHECK_THROWS_WITH(BestOfNEstimate({1, 2}, {1}, 1), Catch::Contains("2 scores, 1 values"));
  CHECK_THROWS_WITH(BestOfNEstimate({1, 2}, {1, 2}, 3), Catch::Contains("n = 3"));
  CHECK_THROWS_AS(BestOfNEstimate({1, 2}, {1, 2}, 0), std::invalid_argument);
}

TEST_CASE("FitGoodhart recovers known coefficients of both forms", "[goodhart]") {
  for (GoodhartForm form : {GoodhartForm::kBestOfN, GoodhartForm::kRl}) {
    INFO(GoodhartFormName(form));
    const double a = 0.8, b = form == GoodhartForm::kBestOfN ? 0.25 : 0.3;
    std::vector<double> d, r;
    for (int i = 0; i <= 20; ++i) {
      d.push_back(0.2 * i);
      r.push_back(GoodhartCurve(form, a, b, d.back()));
    }
    const GoodhartFit exact = FitGoodhart(form, d, r);
    CHECK(exact.a == Approx(a).margin(1e-9));
    CHECK(exact.b == Approx(b).margin(1e-9));
    CHECK(exact.r2 == Approx(1.0).margin(1e-12));
    CHECK(exact.rmse < 1e-9);
    CHECK(exact.points == 21);
    const double peak = form == GoodhartForm::kBestOfN ? a / (2 * b) : std::exp(a / b - 1);
    CHECK(exact.peak_d == Approx(peak).epsilon(1e-9));
    // The peak is where the curve is highest.
    CHECK(GoodhartCurve(form, a, b, peak) > GoodhartCurve(form, a, b, peak * 0.98));
    CHECK(GoodhartCurve(form, a, b, peak) > GoodhartCurve(form, a, b, peak * 1.02));

    // Noisy points: the estimates stay near the truth and the fit explains
    // most of the variance; a wrong sign of b would show as no peak.
    std::mt19937_64 rng(11);
    std::normal_distribution<double> noise(0.0, 0.02);
    std::vector<double> noisy = r;
    for (double& x : noisy) x += noise(rng);
    const GoodhartFit fit = FitGoodhart(form, d, noisy);
    CHECK(fit.a == Approx(a).margin(0.05));
    CHECK(fit.b == Approx(b).margin(0.05));
    CHECK(fit.r2 > 0.9);
    CHECK(fit.rmse == Approx(0.02).margin(0.01));
  }
}

TEST_CASE("FitGoodhart tells the two forms apart", "[goodhart]") {
  // Points made by the RL form are fit worse by the best-of-n form.
  std::vector<double> d, r;
  for (int i = 1; i <= 30; ++i) {
    d.push_back(0.3 * i);
    r.push_back(GoodhartCurve(GoodhartForm::kRl, 1.0, 0.5, d.back()));
  }
  CHECK(FitGoodhart(GoodhartForm::kRl, d, r).r2 == Approx(1.0).margin(1e-12));
  CHECK(FitGoodhart(GoodhartForm::kBestOfN, d, r).r2 < 0.99);
  // A rising curve without a peak: b <= 0, peak at infinity.
  std::vector<double> rising;
  for (double x : d) rising.push_back(0.5 * x);
  CHECK(std::isinf(FitGoodhart(GoodhartForm::kBestOfN, d, rising).peak_d));
}

TEST_CASE("FitGoodhart rejects points that cannot determine a fit", "[goodhart]") {
  CHECK_THROWS_WITH(FitGoodhart(GoodhartForm::kBestOfN, {0, 1}, {0}),
                    Catch::Contains("2 values of d but 1 rewards"));
  CHECK_THROWS_WITH(FitGoodhart(GoodhartForm::kBestOfN, {0, 1}, {0, 0.5}),
                    Catch::Contains("1 with d > 0"));
  CHECK_THROWS_WITH(FitGoodhart(GoodhartForm::kRl, {0, -1, 2}, {0, 0, 1}),
                    Catch::Contains("point 1"));
  CHECK_THROWS_WITH(FitGoodhart(GoodhartForm::kRl, {1, 2}, {0, NAN}), Catch::Contains("point 1"));
  CHECK_THROWS_AS(FitGoodhart(GoodhartForm::kBestOfN, {}, {}), std::invalid_argument);
}
