// Choosing among scored options with random tie-breaks, as the debaters do
// (greedy: its best reveal; MCTS: the child to descend to, the most-visited
// move). Private to agents/.
#pragma once

#include <vector>

#include "engine/rng.h"

namespace oversight {

// An index i in [0, n) with the highest score(i), uniformly among ties (one
// UniformInt draw). `ties` is scratch space, reused to avoid allocations.
// REQUIRES: n > 0.
template <class Score>
int ArgMaxRandomTie(int n, const Score& score, std::vector<int>* ties, Rng& rng) {
  auto best = score(0);
  ties->assign(1, 0);
  for (int i = 1; i < n; ++i) {
    const auto s = score(i);
    if (s > best) {
      best = s;
      ties->assign(1, i);
    } else if (s == best) {
      ties->push_back(i);
    }
  }
  return (*ties)[UniformInt(rng, ties->size())];
}

}  // namespace oversight
