#include "engine/torch_util.h"

#include <torch/torch.h>

#include <chrono>
#include <cstdio>
#include <filesystem>
#include <iostream>

#include "engine/config.h"
#include "engine/dataset.h"
#include "engine/interfaces.h"
#include "engine/progress.h"
#include "engine/util.h"

namespace oversight {

std::string ResolveDevice(const std::string& requested, const std::string& where) {
  const bool cuda = torch::cuda::is_available();
  if (requested == "cpu") return "cpu";
  if (requested == "auto") return cuda ? "cuda" : "cpu";
  if (requested == "cuda") {
    if (!cuda)
      throw ConfigError(where + ": device \"cuda\" requested, but this LibTorch build has no "
                        "CUDA support or no GPU is visible; use \"cpu\" or \"auto\", or build "
                        "with a CUDA LibTorch (-DTorch_DIR=...)");
    return "cuda";
  }
  throw ConfigError(where + ": unknown device \"" + requested +
                    "\"; expected \"cpu\", \"cuda\" or \"auto\"");
}

void SetIntraOpThreads(int threads) {
  if (threads > 0 && at::get_num_threads() != threads) at::set_num_threads(threads);
}

void SaveArchiveAtomic(torch::serialize::OutputArchive& archive, const std::string& path) {
  const std::string tmp = path + ".tmp";
  archive.save_to(tmp);
  if (std::rename(tmp.c_str(), path.c_str()) != 0)
    throw std::runtime_error(path + ": cannot rename checkpoint into place");
}

std::string FindArtifactFile(StageContext& ctx, const std::string& kind, const std::string& name,
                             const std::string& where, const std::string& how_to_make) {
  const auto artifact = ctx.store->FindArtifact(kind, name, ctx.experiment_id);
  if (!artifact)
    throw ConfigError(where + ": no " + kind + " named '" + name + "' in " + ctx.store->path() +
                      "; " + how_to_make);
  if (!std::filesystem::exists(artifact->path))
    throw DataError(artifact->path + ": file of " + kind + " '" + name + "' is missing");
  if (Sha256File(artifact->path) != artifact->sha256)
    throw DataError(artifact->path + ": file of " + kind + " '" + name +
                    "' does not match its recorded SHA-256 (file changed or corrupt)");
  return artifact->path;
}

void RecordArtifact(StageContext& ctx, const std::string& kind, const std::string& name,
                    const std::string& path, int64_t step) {
  ArtifactRow row;
  row.experiment_id = ctx.experiment_id;
  row.kind = kind;
  row.name = name;
  row.path = path;
  row.sha256 = Sha256File(path);
  row.stage = ctx.stage_name;
  row.step = step;
  ctx.store->InsertArtifact(row);
}

int64_t TrainingCheckpoint::Load(torch::nn::Module& model, torch::optim::Optimizer& optimizer,
                                 const std::string& device,
                                 std::map<std::string, double>* numbers) {
  const auto ckpt = ctx_.store->FindArtifact("checkpoint", name_, ctx_.experiment_id);
  if (!ckpt || ckpt->experiment_id != ctx_.experiment_id) return -1;
  try {
    torch::serialize::InputArchive archive, model_ar, optim_ar;
    archive.load_from(ckpt->path, torch::Device(device));
    archive.read("model", model_ar);
    archive.read("optimizer", optim_ar);
    model.load(model_ar);
    optimizer.load(optim_ar);
    torch::Tensor step;
    archive.read("step", step);
    if (numbers) {
      for (auto& [key, value] : *numbers) {
        torch::Tensor t;
        if (archive.try_read("number." + key, t)) value = t.item<double>();
      }
    }
    saved_step_ = step.item<int64_t>();
    return saved_step_;
  } catch (const c10::Error& e) {
    throw DataError(ckpt->path + ": cannot read training checkpoint '" + name_ +
                    "': " + e.what_without_backtrace());
  }
}

void TrainingCheckpoint::Save(torch::nn::Module& model, torch::optim::Optimizer& optimizer,
                              int64_t step, const std::map<std::string, double>& numbers) {
  if (saved_step_ == step) return;
  torch::serialize::OutputArchive archive, model_ar, optim_ar;
  model.save(model_ar);
  optimizer.save(optim_ar);
  archive.write("model", model_ar);
  archive.write("optimizer", optim_ar);
  archive.write("step", torch::tensor(step));
  for (const auto& [key, value] : numbers)
    archive.write("number." + key, torch::tensor(value, torch::kFloat64));
  const std::string path = ctx_.artifacts_dir + "/" + name_ + ".pt";
  SaveArchiveAtomic(archive, path);
  RecordArtifact(ctx_, "checkpoint", name_, path, step);
  saved_step_ = step;
}

void TrainingLoop::ReadOptions(const ConfigNode& node) {
  batches = node.Int("batches", batches, 1, 100000000);
  log_every = node.Int("log_every", log_every, 1, 100000000);
  eval_every = node.Int("eval_every", eval_every, 1, 100000000);
  checkpoint_every = node.Int("checkpoint_every", checkpoint_every, 1, 100000000);
}

int64_t ResumeFrom(TrainingCheckpoint& checkpoint, torch::nn::Module& model,
                   torch::optim::Optimizer& optimizer, const std::string& device,
                   const std::string& what) {
  const int64_t step = checkpoint.Load(model, optimizer, device);
  if (step < 0) return 0;
  std::cerr << "  resuming " << what << " at batch " << step << "\n";
  return step;
}

int64_t RunTrainingLoop(StageContext& ctx, const TrainingLoop& loop, int64_t step,
                        TrainingCheckpoint& checkpoint, torch::nn::Module& model,
                        torch::optim::Optimizer& optimizer) {
  const std::string& stage = ctx.stage_name;
  Progress progress("  " + stage + " batches", loop.batches, step);
  std::vector<Store::Metric> metrics;
  std::vector<std::pair<std::string, double>> sums;  // figure sums since the last log
  int64_t n = 0;
  auto t_interval = std::chrono::steady_clock::now();
  int64_t interval_start = step;
  while (step < loop.batches) {
    if (ctx.interrupted()) {
      checkpoint.Save(model, optimizer, step);
      ctx.store->InsertMetrics(ctx.experiment_id, stage, metrics);
      progress.Finish();
      throw Interrupted();
    }
    const TrainingLoop::Figures figures = loop.train(step);
    if (sums.empty())
      for (const auto& [name, value] : figures) sums.push_back({name, 0.0});
    for (size_t i = 0; i < figures.size() && i < sums.size(); ++i) sums[i].second += figures[i].second;
    ++n;
    ++step;
    progress.Add();
    const bool last = step == loop.batches;
    if (step % loop.log_every == 0 || last) {
      const auto now = std::chrono::steady_clock::now();
      const double secs = std::chrono::duration<double>(now - t_interval).count();
      for (auto& [name, sum] : sums) {
        metrics.push_back({name, step, sum / n});
        sum = 0;
      }
      if (secs > 0) metrics.push_back({"batches_per_s", step, (step - interval_start) / secs});
      n = 0;
      t_interval = now;
      interval_start = step;
    }
    if (loop.evaluate && (step % loop.eval_every == 0 || last)) {
      const TrainingLoop::Figures held = loop.evaluate(step);
      for (const auto& [name, value] : held) metrics.push_back({name, step, value});
      if (!held.empty()) {
        char note[96];
        std::snprintf(note, sizeof note, "%s %.1f%%", loop.note.c_str(), held[0].second * 100);
        progress.SetNote(note);
      }
      // Evaluation is not training time: the next rate starts after it.
      t_interval = std::chrono::steady_clock::now();
      interval_start = step;
    }
    if (step % loop.log_every == 0 || last) {
      ctx.store->InsertMetrics(ctx.experiment_id, stage, metrics);
      metrics.clear();
    }
    if (step % loop.checkpoint_every == 0 && !last) checkpoint.Save(model, optimizer, step);
  }
  progress.Finish();
  return step;
}

}  // namespace oversight
