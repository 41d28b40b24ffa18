#include "engine/rng.h"

namespace oversight {

uint64_t Mix64(uint64_t x) {
  x += 0x9e3779b97f4a7c15ULL;
  x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9ULL;
  x = (x ^ (x >> 27)) * 0x94d049bb133111ebULL;
  return x ^ (x >> 31);
}

uint64_t DeriveSeed(uint64_t seed, std::string_view stream, uint64_t index) {
  uint64_t h = 0xcbf29ce484222325ULL;  // FNV-1a of the stream name
  for (unsigned char c : stream) h = (h ^ c) * 0x100000001b3ULL;
  return Mix64(Mix64(Mix64(seed) ^ h) ^ index);
}

uint64_t UniformInt(Rng& rng, uint64_t n) {
  const uint64_t limit = UINT64_MAX - UINT64_MAX % n;
  uint64_t x;
  do {
    x = rng();
  } while (x >= limit);
  return x % n;
}

double UniformDouble(Rng& rng) {
  return static_cast<double>(rng() >> 11) * (1.0 / 9007199254740992.0);
}

}  // namespace oversight
