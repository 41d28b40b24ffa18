// LibTorch helpers shared by judges/ and agents/. This header does not include
// torch; torch_util.cpp does.
#pragma once

#include <cstdint>
#include <functional>
#include <map>
#include <string>
#include <utility>
#include <vector>

namespace torch {
namespace nn {
class Module;
}
namespace optim {
class Optimizer;
}
namespace serialize {
class OutputArchive;
}
}  // namespace torch

namespace oversight {

class ConfigNode;
struct StageContext;

// Maps a config device ("cpu", "cuda", "auto") to the device to use:
// "cuda" without a CUDA-enabled LibTorch (or without a visible GPU) is a
// ConfigError; "auto" falls back to "cpu".
std::string ResolveDevice(const std::string& requested, const std::string& where);

// Sets LibTorch's intra-op thread count (process-wide). Measured on 2 cores:
// small single-example calls are fastest with 1, big training batches with 2.
void SetIntraOpThreads(int threads);

// Writes `archive` to `path` atomically (temp file + rename), so a crash
// never leaves a truncated file under the final name.
void SaveArchiveAtomic(torch::serialize::OutputArchive& archive, const std::string& path);

// Records the file at `path` (its SHA-256 computed now) as artifact
// (kind, name) of the running stage, at training step `step`.
void RecordArtifact(StageContext& ctx, const std::string& kind, const std::string& name,
                    const std::string& path, int64_t step);

// The file of artifact (kind, name) as this experiment sees it (its own, else
// the latest in the database), checked against its recorded SHA-256. Throws
// ConfigError naming `where` when there is none ("; " + `how_to_make` is
// appended, e.g. "train one first with a train_rm stage whose \"artifact\" is
// 'rm'"), DataError when the file is missing or changed.
std::string FindArtifactFile(StageContext& ctx, const std::string& kind, const std::string& name,
                             const std::string& where, const std::string& how_to_make);

// A trainer's resumable state, kept as artifact ("checkpoint", NAME) of the
// experiment: the model's parameters and buffers, the optimizer's state, the
// step and any named numbers the trainer needs to continue exactly (e.g. an
// adaptive KL coefficient). Written atomically; the latest one wins.
class TrainingCheckpoint {
 public:
  TrainingCheckpoint(StageContext& ctx, std::string name) : ctx_(ctx), name_(std::move(name)) {}

  // Loads this experiment's latest checkpoint NAME into `model` and
  // `optimizer` (on `device`); returns its step, or -1 when there is none.
  // Throws DataError naming the file if it cannot be read.
  int64_t Load(torch::nn::Module& model, torch::optim::Optimizer& optimizer,
               const std::string& device, std::map<std::string, double>* numbers = nullptr);
  // Saves (unless the last save was at the same step).
  void Save(torch::nn::Module& model, torch::optim::Optimizer& optimizer, int64_t step,
            const std::map<std::string, double>& numbers = {});

 private:
  StageContext& ctx_;
  const std::string name_;
  int64_t saved_step_ = -1;
};

// The loop every trainer of batches shares (train_judge, sft, dpo): from
// `step` to `batches`, with a progress line, figures averaged over
// `log_every` batches into metrics (plus batches_per_s, not counting
// evaluation time), held-out figures every `eval_every` batches and at the
// end, a checkpoint every `checkpoint_every` batches, and on Ctrl-C a
// checkpoint, the pending metrics and Interrupted.
struct TrainingLoop {
  using Figures = std::vector<std::pair<std::string, double>>;
  TrainingLoop() = default;
  TrainingLoop(int64_t batches, int64_t log_every, int64_t eval_every, int64_t checkpoint_every)
      : batches(batches), log_every(log_every), eval_every(eval_every),
        checkpoint_every(checkpoint_every) {}
  int64_t batches = 0;
  int64_t log_every = 100;
  int64_t eval_every = 1000;
  int64_t checkpoint_every = 1000;
  // Reads "batches", "log_every", "eval_every" and "checkpoint_every" from
  // a trainer's config node, the current values being the defaults.
  void ReadOptions(const ConfigNode& node);
  // Trains batch `step` (0-based); returns its figures, e.g. {"loss", 0.7}.
  std::function<Figures(int64_t step)> train;
  // Held-out figures after `step` batches (may be empty: no evaluation).
  std::function<Figures(int64_t step)> evaluate;
  // The progress note after an evaluation: "<note> NN.N%" with the first
  // held-out figure as a percentage (e.g. "held-out" -> "held-out 61.2%").
  std::string note = "held-out";
};
// The step to start from: the checkpoint's (saying "resuming <what> at
// batch N") or 0.
int64_t ResumeFrom(TrainingCheckpoint& checkpoint, torch::nn::Module& model,
                   torch::optim::Optimizer& optimizer, const std::string& device,
                   const std::string& what);
// Returns the step reached (loop.batches).
int64_t RunTrainingLoop(StageContext& ctx, const TrainingLoop& loop, int64_t step,
                        TrainingCheckpoint& checkpoint, torch::nn::Module& model,
                        torch::optim::Optimizer& optimizer);

}  // namespace oversight
