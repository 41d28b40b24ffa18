// agents/ with LibTorch (library oversight_policy): the neural debater policy
// and its trainers. Configs use agent "policy" and stage kinds "sft" (later
// "ppo", "dpo").
#pragma once

#include <memory>
#include <string>

#include <vector>

#include "engine/goodhart.h"
#include "engine/interfaces.h"
#include "engine/rng.h"
#include "protocols/debate.h"

namespace at {
class Tensor;
}

namespace oversight {

// Registers agent "policy" and the policy trainers' stage kinds.
void RegisterPolicyAgents(Registries& registries);

// Every registry of the `oversight` binary: the engine's stages, the
// protocols, judges, agents, and the policy trainers.
Registries AllRegistries();

// The file of policy artifact `name` (this experiment's latest, else any
// experiment's), checked against its SHA-256. ConfigError naming `where`
// when there is none, DataError when the file is missing or changed.
std::string FindPolicyArtifact(StageContext& ctx, const std::string& name,
                               const std::string& where);

// The policy debater of the file at `path` (a policy artifact's file), for
// tools and benchmarks; configs load policies by artifact name instead.
// Throws DataError naming `path` when it cannot be read.
std::unique_ptr<PixelDebater> LoadPolicyDebaterFile(const std::string& path,
                                                    const std::string& device, bool greedy);

// A move from pixel `logits` [784] over the `legal` ones [784, bool]:
// sampled at `temperature` with `rng`, or the argmax when `greedy`.
// REQUIRES: at least one legal pixel.
int SampleMove(const at::Tensor& logits, const at::Tensor& legal, bool greedy,
               double temperature, Rng& rng);

// Gao et al.'s fit (engine/goodhart.h) of the gold reward gained, `gain`,
// against `d` = sqrt(KL), logged as metrics fit_a, fit_b, fit_r2, fit_rmse,
// fit_points and, when the fitted curve peaks, fit_peak_d of the running
// stage at `step`, and printed. Points that cannot determine a fit log
// nothing and print why.
void LogGoodhartFit(StageContext& ctx, GoodhartForm form, const std::vector<double>& d,
                    const std::vector<double>& gain, int64_t step);

}  // namespace oversight
