// Small statistics helpers for summaries of logged experiments (reports, the
// end-of-run table, the GUI). Pure functions; thread-safe.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

namespace oversight {

// A closed interval of proportions, 0 <= lo <= hi <= 1.
struct Interval {
  double lo = 0;
  double hi = 1;
};

// Wilson score interval for a binomial proportion of `successes` out of `n`
// trials; the default z gives a two-sided 95% interval. Better behaved than
// the normal approximation near 0 and 1 and for small n: for 0/10 it is
// [0, 0.2775], for 50/100 [0.4038, 0.5962].
// n == 0 gives {0, 1} (nothing is known).
// REQUIRES: 0 <= successes <= n and z >= 0; throws std::invalid_argument
// (naming the values) otherwise.
Interval WilsonInterval(int64_t successes, int64_t n,
                        double z = 1.959963984540054);

// A proportion as a percentage with `decimals` digits after the point:
// FormatPercent(0.59375) == "59.4%", FormatPercent(0.5, 0) == "50%".
// Non-finite values give "n/a"; a value that rounds to zero never shows a
// minus sign. Negative `decimals` count as 0.
std::string FormatPercent(double p, int decimals = 1);

// The mean of `x` with the half-width of its two-sided 95% interval under
// the normal approximation: 1.96 * sd / sqrt(n), sd with n - 1. One value
// gives a half-width of 0 (nothing known about the spread); none gives
// mean NaN.
struct MeanCi {
  double mean = 0;
  double half_width = 0;
  int64_t n = 0;
};
MeanCi MeanWithCi(const std::vector<double>& x);

}  // namespace oversight
