// agents/: policies that make moves. Registered by name for configs
// ("honest": {"name": "greedy"}).
#pragma once

#include <memory>
#include <string>

#include <nlohmann/json.hpp>

#include "engine/interfaces.h"
#include "protocols/debate.h"

namespace oversight {

// Registers "random", "greedy" and "mcts" (sparse-pixel debaters), and the
// "remote" agent and judge (text models behind an OpenAI-compatible server).
void RegisterAgents(Registries& registries);
void RegisterRemoteModels(Registries& registries);

// A debater from its options outside a config file (benchmarks, the GUI),
// e.g. {"name": "mcts", "rollouts": 1000}; errors name `where`.
std::unique_ptr<PixelDebater> MakePixelDebater(const nlohmann::json& options,
                                               const std::string& where);

}  // namespace oversight
