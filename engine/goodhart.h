// The measurements of reward-model overoptimization (Gao, Schulman, Hilton
// 2022): the KL of best-of-n sampling, an unbiased estimate of best-of-n
// from a larger pool of samples, and the least-squares fits of the gold
// reward against d = sqrt(KL). Pure functions (no LibTorch); the stages
// "best_of_n" and "ppo" (agents/) use them. Tests: tests/goodhart_test.cpp.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

namespace oversight {

// KL(best-of-n || initial policy) = log n - (n - 1) / n, exact when the
// score has no ties (Stiennon et al. 2020, appendix; Gao et al. eq. 2).
// REQUIRES: n >= 1 (throws std::invalid_argument naming n otherwise).
double BestOfNKl(int64_t n);

// The expected `values` of the sample with the highest `scores` among n
// drawn without replacement from the pool, i.e. of best-of-n under the score:
// with the pool sorted by score (ascending, ties kept in pool order), sample i
// (1-based) is the best of a random n-subset with probability
// C(i - 1, n - 1) / C(m, n). Unbiased for best-of-n from the distribution the
// pool came from, and lower-variance than splitting the pool into m / n
// disjoint groups (Nakano et al. 2021, appendix; Gao et al. section 2.3).
// REQUIRES: scores and values of the same length m >= n >= 1; throws
// std::invalid_argument naming the sizes otherwise.
double BestOfNEstimate(const std::vector<double>& scores, const std::vector<double>& values,
                       int64_t n);

// The two functional forms of Gao et al. for the gold reward gained
// (R(d) - R(0)) at d = sqrt(KL):
//   best-of-n: R(d) = d (a - b d)
//   RL:        R(d) = d (a - b log d)
enum class GoodhartForm { kBestOfN, kRl };
const char* GoodhartFormName(GoodhartForm form);  // "bon" / "rl"
double GoodhartCurve(GoodhartForm form, double a, double b, double d);

struct GoodhartFit {
  double a = 0, b = 0;
  double r2 = 0;      // 1 - SS_res / SS_tot (about the mean of r); can be < 0
  double rmse = 0;    // sqrt(SS_res / points)
  double peak_d = 0;  // argmax of the fitted curve: a / 2b (bon), exp(a / b - 1) (rl);
                      // +inf when b <= 0 (no peak)
  int points = 0;
};

// Least squares of r = a f(d) - b g(d) over (d_i, r_i), with f = d and
// g = d^2 (bon) or d log d (rl); no intercept, as R(0) = 0. Points with d = 0
// carry no information and are used as given (their residual is r_i).
// REQUIRES: d and r of the same length with at least two points of d > 0
// whose (f, g) are not collinear, all d >= 0 and finite; throws
// std::invalid_argument saying which requirement failed.
GoodhartFit FitGoodhart(GoodhartForm form, const std::vector<double>& d,
                        const std::vector<double>& r);

}  // namespace oversight
