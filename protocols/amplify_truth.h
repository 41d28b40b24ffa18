// The ground truth of the amplification tasks (protocols/amplify_tasks.h),
// computed directly from an instance's facts. Only evaluation code and the
// supervised baseline may include this header: the amplification trainer
// learns from H's decompositions alone, and a test checks that a training run
// never calls GroundTruth() (GroundTruthCalls()).
#pragma once

#include <cstdint>

#include "protocols/amplify_tasks.h"

namespace oversight {

// The right answer to `question` (for a primitive question, its lookup).
// Throws std::invalid_argument for a task it does not know.
Tokens GroundTruth(const AmplifyTask& task, const AmplifyInstance& instance, const Tokens& question);

// Calls of GroundTruth() in this process so far.
int64_t GroundTruthCalls();

}  // namespace oversight
