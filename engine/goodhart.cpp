#include "engine/goodhart.h"

#include <algorithm>
#include <cmath>
#include <limits>
#include <numeric>
#include <stdexcept>

namespace oversight {

double BestOfNKl(int64_t n) {
  if (n < 1) throw std::invalid_argument("BestOfNKl: n must be >= 1, got " + std::to_string(n));
  const double nd = static_cast<double>(n);
  return std::log(nd) - (nd - 1.0) / nd;
}

namespace {

double LogChoose(double n, double k) {
  return std::lgamma(n + 1) - std::lgamma(k + 1) - std::lgamma(n - k + 1);
}

}  // namespace

double BestOfNEstimate(const std::vector<double>& scores, const std::vector<double>& values,
                       int64_t n) {
  const int64_t m = static_cast<int64_t>(scores.size());
  if (static_cast<int64_t>(values.size()) != m || n < 1 || n > m)
    throw std::invalid_argument("BestOfNEstimate: need scores and values of one length m >= n >= 1; got " +
                                std::to_string(scores.size()) + " scores, " +
                                std::to_string(values.size()) + " values, n = " + std::to_string(n));
  std::vector<size_t> order(static_cast<size_t>(m));
  std::iota(order.begin(), order.end(), size_t{0});
  std::stable_sort(order.begin(), order.end(),
                   [&](size_t x, size_t y) { return scores[x] < scores[y]; });
  const double log_total = LogChoose(static_cast<double>(m), static_cast<double>(n));
  double sum = 0;
  for (int64_t i = n; i <= m; ++i) {  // 1-based rank i; ranks below n are never the best
    const double w = std::exp(LogChoose(static_cast<double>(i - 1), static_cast<double>(n - 1)) -
                              log_total);
    sum += w * values[order[static_cast<size_t>(i - 1)]];
  }
  return sum;
}

const char* GoodhartFormName(GoodhartForm form) {
  return form == GoodhartForm::kBestOfN ? "bon" : "rl";
}

namespace {

// f(d), g(d) of R = a f - b g.
void Basis(GoodhartForm form, double d, double* f, double* g) {
  *f = d;
  *g = form == GoodhartForm::kBestOfN ? d * d : (d > 0 ? d * std::log(d) : 0.0);
}

}  // namespace

double GoodhartCurve(GoodhartForm form, double a, double b, double d) {
  double f, g;
  Basis(form, d, &f, &g);
  return a * f - b * g;
}

GoodhartFit FitGoodhart(GoodhartForm form, const std::vector<double>& d,
                        const std::vector<double>& r) {
  if (d.size() != r.size())
    throw std::invalid_argument("FitGoodhart: " + std::to_string(d.size()) + " values of d but " +
                                std::to_string(r.size()) + " rewards");
  // Normal equations of r ~ a f + c g (c = -b).
  double ff = 0, fg = 0, gg = 0, fr = 0, gr = 0;
  int positive = 0;
  for (size_t i = 0; i < d.size(); ++i) {
    if (!(d[i] >= 0) || !std::isfinite(d[i]) || !std::isfinite(r[i]))
      throw std::invalid_argument("FitGoodhart: point " + std::to_string(i) + " has d = " +
                                  std::to_string(d[i]) + ", r = " + std::to_string(r[i]) +
                                  " (need finite d >= 0 and finite r)");
    double f, g;
    Basis(form, d[i], &f, &g);
    ff += f * f;
    fg += f * g;
    gg += g * g;
    fr += f * r[i];
    gr += g * r[i];
    positive += d[i] > 0;
  }
  const double det = ff * gg - fg * fg;
  if (positive < 2 || !(std::fabs(det) > 1e-12 * std::max(1.0, ff * gg)))
    throw std::invalid_argument(std::string("FitGoodhart (") + GoodhartFormName(form) +
                                "): the points do not determine two coefficients (" +
                                std::to_string(positive) + " with d > 0)");
  GoodhartFit fit;
  fit.a = (fr * gg - gr * fg) / det;
  fit.b = -(ff * gr - fg * fr) / det;
  fit.points = static_cast<int>(d.size());
  const double mean = std::accumulate(r.begin(), r.end(), 0.0) / static_cast<double>(r.size());
  double ss_res = 0, ss_tot = 0;
  for (size_t i = 0; i < d.size(); ++i) {
    const double e = r[i] - GoodhartCurve(form, fit.a, fit.b, d[i]);
    ss_res += e * e;
    ss_tot += (r[i] - mean) * (r[i] - mean);
  }
  fit.r2 = ss_tot > 0 ? 1.0 - ss_res / ss_tot : (ss_res == 0 ? 1.0 : 0.0);
  fit.rmse = std::sqrt(ss_res / static_cast<double>(d.size()));
  if (fit.b <= 0)
    fit.peak_d = std::numeric_limits<double>::infinity();
  else
    fit.peak_d = form == GoodhartForm::kBestOfN ? fit.a / (2 * fit.b) : std::exp(fit.a / fit.b - 1);
  return fit;
}

}  // namespace oversight
