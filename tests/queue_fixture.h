// A log whose human-judge queue holds `items` waiting items, each a
// precommit debate's view (`reveals` reveals, choices [3, 5]); for the
// judging service's tests and its benchmark.
#pragma once

#include <string>

#include "engine/store.h"

namespace oversight::testing {

inline std::string MakeQueueDb(const std::string& path, int items, int reveals = 6) {
  auto store = Store::Open(path);
  const int64_t x = store->CreateExperiment("queue", "{}", 1, "v");
  for (int i = 0; i < items; ++i) {
    PendingJudgement p;
    p.experiment_id = x;
    p.stage = "debate";
    p.episode_idx = i;
    p.protocol = "debate";
    p.task = "mnist";
    p.instance = "test-" + std::to_string(i);
    p.question = R"({"choices":[3,5],"reveals":[)";
    for (int k = 0; k < reveals; ++k)
      p.question += std::string(k ? "," : "") + R"({"pixel":)" + std::to_string(100 + 29 * k) +
                    R"(,"value":0.5,"player":")" + (k % 2 ? "B" : "A") + "\"}";
    p.question += "]}";
    store->AddPending(p);
  }
  return path;
}

}  // namespace oversight::testing
