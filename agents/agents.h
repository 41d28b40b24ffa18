// agents/: policies that make moves. Registered by name for configs
// ("honest": {"name": "greedy"}).
#pragma once

#include "engine/interfaces.h"

namespace oversight {

// Registers "random" and "greedy" (sparse-pixel debaters).
void RegisterAgents(Registries& registries);

}  // namespace oversight
