#include "engine/stats.h"

#include <catch2/catch.hpp>
#include <cmath>
#include <limits>
#include <stdexcept>

using oversight::FormatPercent;
using oversight::Interval;
using oversight::WilsonInterval;

// Reference values: the closed form
//   (p + z^2/2n -+ z sqrt(p(1-p)/n + z^2/4n^2)) / (1 + z^2/n), z = 1.959964,
// evaluated independently (Python, double precision).
TEST_CASE("WilsonInterval matches the closed form", "[stats]") {
  struct Case {
    int64_t k, n;
    double lo, hi;
  };
  const Case cases[] = {
      {50, 100, 0.4038315303659956, 0.5961684696340044},
      {0, 10, 0.0, 0.2775327998628892},
      {10, 10, 0.7224672001371107, 1.0},
      {3, 4, 0.30064184258240184, 0.9544127391902995},
      {1, 2, 0.09453120573423074, 0.9054687942657693},
      {1, 3, 0.06149194472039615, 0.7923403991979523},
      {59, 100, 0.4920143005341078, 0.6813268697886348},
  };
  for (const Case& c : cases) {
    INFO(c.k << "/" << c.n);
    const Interval iv = WilsonInterval(c.k, c.n);
    CHECK(iv.lo == Approx(c.lo).margin(1e-12));
    CHECK(iv.hi == Approx(c.hi).margin(1e-12));
  }
}

TEST_CASE("WilsonInterval edges are exact", "[stats]") {
  const Interval none = WilsonInterval(0, 0);
  CHECK(none.lo == 0.0);
  CHECK(none.hi == 1.0);
  CHECK(WilsonInterval(0, 10).lo == 0.0);
  CHECK(WilsonInterval(10, 10).hi == 1.0);
  CHECK(WilsonInterval(0, 1000000).lo == 0.0);
  // Symmetric: k/n and (n-k)/n mirror each other.
  const Interval a = WilsonInterval(7, 30), b = WilsonInterval(23, 30);
  CHECK(a.lo == Approx(1.0 - b.hi).margin(1e-12));
  CHECK(a.hi == Approx(1.0 - b.lo).margin(1e-12));
  // z = 0 collapses to the point estimate.
  const Interval point = WilsonInterval(3, 4, 0.0);
  CHECK(point.lo == Approx(0.75));
  CHECK(point.hi == Approx(0.75));
}

TEST_CASE("WilsonInterval rejects impossible counts", "[stats]") {
  CHECK_THROWS_AS(WilsonInterval(5, 4), std::invalid_argument);
  CHECK_THROWS_AS(WilsonInterval(-1, 4), std::invalid_argument);
  CHECK_THROWS_AS(WilsonInterval(0, -1), std::invalid_argument);
  CHECK_THROWS_AS(WilsonInterval(1, 2, -1.0), std::invalid_argument);
  CHECK_THROWS_AS(
      WilsonInterval(1, 2, std::numeric_limits<double>::quiet_NaN()),
      std::invalid_argument);
}

TEST_CASE("FormatPercent", "[stats]") {
  CHECK(FormatPercent(0.59375) == "59.4%");
  CHECK(FormatPercent(0.5, 0) == "50%");
  CHECK(FormatPercent(1.0) == "100.0%");
  CHECK(FormatPercent(0.0) == "0.0%");
  CHECK(FormatPercent(0.123456, 2) == "12.35%");
  CHECK(FormatPercent(0.0945312) == "9.5%");
  CHECK(FormatPercent(-0.0001) == "0.0%");  // no "-0.0%"
  CHECK(FormatPercent(-0.25) == "-25.0%");
  CHECK(FormatPercent(0.5, -3) == "50%");
  CHECK(FormatPercent(std::nan("")) == "n/a");
  CHECK(FormatPercent(std::numeric_limits<double>::infinity()) == "n/a");
}

TEST_CASE("MeanWithCi gives the mean and 1.96 standard errors", "[stats]") {
  const oversight::MeanCi a = oversight::MeanWithCi({1, 2, 3, 4});
  CHECK(a.n == 4);
  CHECK(a.mean == Approx(2.5));
  // sd = sqrt(5/3) = 1.2910; se = 0.6455; x 1.96 = 1.2652
  CHECK(a.half_width == Approx(1.959963984540054 * std::sqrt(5.0 / 3.0) / 2.0).epsilon(1e-12));
  const oversight::MeanCi one = oversight::MeanWithCi({7});
  CHECK(one.mean == 7);
  CHECK(one.half_width == 0);
  CHECK(std::isnan(oversight::MeanWithCi({}).mean));
}
