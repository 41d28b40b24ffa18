// Evaluation of an amplification model against the ground truth (the only
// code besides the supervised baseline that reads protocols/amplify_truth.h).
#pragma once

#include <map>

#include "agents/ida.h"

namespace oversight {

struct AmplifyAccuracy {
  double overall = 0;
  std::map<int, double> by_depth;  // AmplifyTask::Depth -> accuracy
  int questions = 0;               // questions asked (all depths)
};

// The teacher's accuracy on every question of `instances` fresh instances of
// `size` elements drawn from `rng`.
AmplifyAccuracy TeacherAccuracy(IdaTrainer& ida, const AmplifyTask& task, int size, int instances,
                                Rng& rng);

}  // namespace oversight
