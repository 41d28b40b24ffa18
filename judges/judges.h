// judges/: the sparse-pixel classifier judge and its training stage (later:
// oracles, learned reward models, human and remote judges).
#pragma once

#include "engine/interfaces.h"

namespace oversight {

// Registers judge "sparse" and stage kind "train_judge".
void RegisterJudges(Registries& registries);

}  // namespace oversight
