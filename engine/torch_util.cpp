#include "engine/torch_util.h"

#include <torch/torch.h>

#include <cstdio>

#include "engine/config.h"
#include "engine/dataset.h"
#include "engine/interfaces.h"
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

}  // namespace oversight
