// Experiment: a named, seeded, ordered list of stages from a JSON config, run
// against one SQLite file.
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "engine/interfaces.h"

namespace oversight {

struct ExperimentOptions {
  // Name, logged in experiments.name; --resume looks experiments up by it.
  std::string name;
  // Root of all randomness: every episode and training batch derives its seed
  // from it (engine/rng.h).
  uint64_t seed = 0;
  // "cpu", "cuda" (an error without a CUDA LibTorch build) or "auto" (CUDA
  // when available, else CPU).
  std::string device = "cpu";
  // Episode workers; --threads overrides.
  int threads = 2;

  struct StageSpec {
    std::string kind;
    std::string name;  // unique within the experiment; defaults to the kind
    std::unique_ptr<Stage> stage;
  };
  std::vector<StageSpec> stages;
};

// Parses and validates a whole config (every stage's options included).
// Throws ConfigError.
ExperimentOptions ParseExperiment(const nlohmann::json& config,
                                  const std::string& file,
                                  const Registries& registries);

struct RunOptions {
  std::string db_path = "runs.db";
  bool resume = false;
  int threads = 0;  // 0: the config's value
  std::string device;  // resolved device, set by the caller
};

enum class RunStatus { kFinished, kInterrupted, kFailed };

// Runs (or resumes) the experiment. Config-level problems found at run time
// (e.g. a missing checkpoint) throw ConfigError / DataError; any other failure
// marks the experiment failed and rethrows.
RunStatus RunExperiment(ExperimentOptions& options,
                        const nlohmann::json& config, const RunOptions& run,
                        int64_t* experiment_id = nullptr);

}  // namespace oversight
