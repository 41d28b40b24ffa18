// Deterministic randomness. Every episode's generator is seeded from
// (experiment seed, stage name, episode index) so results never depend on
// thread count or scheduling order. The helpers below use only the raw 64-bit
// output of std::mt19937_64 (whose sequence the standard fixes), never
// std::*_distribution (whose output differs between standard libraries).
#pragma once

#include <cstdint>
#include <random>
#include <string_view>

namespace oversight {

using Rng = std::mt19937_64;

// splitmix64 finaliser: a bijective 64-bit mix.
uint64_t Mix64(uint64_t x);

// Seed for item `index` of `stream` (e.g. a stage name) under `seed`.
uint64_t DeriveSeed(uint64_t seed, std::string_view stream, uint64_t index);

// Uniform integer in [0, n); n > 0. Unbiased (rejection).
uint64_t UniformInt(Rng& rng, uint64_t n);

// Uniform double in [0, 1) with 53 random bits.
double UniformDouble(Rng& rng);

// Fisher-Yates shuffle of the first `count` positions only: afterwards
// v[0..count) is a uniform random sample without replacement of v.
template <class Vec>
void PartialShuffle(Vec& v, size_t count, Rng& rng) {
  const size_t n = v.size();
  for (size_t i = 0; i < count && i < n; ++i) {
    size_t j = i + static_cast<size_t>(UniformInt(rng, n - i));
    std::swap(v[i], v[j]);
  }
}

}  // namespace oversight
