#include "engine/stats.h"

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <stdexcept>

namespace oversight {

Interval WilsonInterval(int64_t successes, int64_t n, double z) {
  if (n < 0 || successes < 0 || successes > n || !(z >= 0) || std::isinf(z)) {
    throw std::invalid_argument(
        "WilsonInterval: need 0 <= successes <= n and finite z >= 0, got " +
        std::to_string(successes) + " successes of " + std::to_string(n) +
        ", z = " + std::to_string(z));
  }
  if (n == 0) return {0.0, 1.0};
  const double nd = static_cast<double>(n);
  const double p = static_cast<double>(successes) / nd;
  const double z2 = z * z;
  const double denom = 1.0 + z2 / nd;
  const double center = (p + z2 / (2.0 * nd)) / denom;
  const double half =
      z / denom * std::sqrt(p * (1.0 - p) / nd + z2 / (4.0 * nd * nd));
  Interval out{std::max(0.0, center - half), std::min(1.0, center + half)};
  // At the edges the bound is exact in real arithmetic; don't let rounding
  // leave 1e-17 instead of 0 (or 0.9999999999999999 instead of 1).
  if (successes == 0) out.lo = 0.0;
  if (successes == n) out.hi = 1.0;
  return out;
}

std::string FormatPercent(double p, int decimals) {
  if (!std::isfinite(p)) return "n/a";
  decimals = std::clamp(decimals, 0, 17);
  char buf[64];
  std::snprintf(buf, sizeof buf, "%.*f%%", decimals, p * 100.0);
  std::string s = buf;
  if (s[0] == '-' && s.find_first_not_of("0.%", 1) == std::string::npos) {
    s.erase(0, 1);  // "-0.0%" -> "0.0%"
  }
  return s;
}

MeanCi MeanWithCi(const std::vector<double>& x) {
  MeanCi r;
  r.n = static_cast<int64_t>(x.size());
  if (x.empty()) {
    r.mean = std::nan("");
    return r;
  }
  double sum = 0;
  for (double v : x) sum += v;
  r.mean = sum / static_cast<double>(r.n);
  if (r.n < 2) return r;
  double ss = 0;
  for (double v : x) ss += (v - r.mean) * (v - r.mean);
  r.half_width = 1.959963984540054 * std::sqrt(ss / static_cast<double>(r.n - 1) / static_cast<double>(r.n));
  return r;
}

}  // namespace oversight
