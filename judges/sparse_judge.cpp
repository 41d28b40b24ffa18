// Judge "sparse": a trained sparse-pixel classifier, loaded by artifact name
// ({"name": "sparse", "checkpoint": "judge_k6"}). The checkpoint's SHA-256 is
// checked against the artifacts table before loading.
#include <torch/torch.h>

#include <filesystem>

#include "engine/torch_util.h"
#include "engine/util.h"
#include "judges/judges.h"
#include "judges/sparse_kernel.h"
#include "judges/sparse_net.h"

namespace oversight {
namespace {

struct SparseJudgeOptions {
  std::string checkpoint;  // artifact name of a train_judge stage's judge
  // Intra-op threads for judge calls; 1 is fastest for the small calls of
  // episodes (780/s vs 250/s with 2 threads on 2 cores, DESIGN.md).
  int intra_op_threads = 1;
  // Logits() evaluates small queries with the incremental kernel
  // (judges/sparse_kernel.h: the same logits to 1e-5) when the device is the
  // CPU, where it is faster (UseKernel()). false: always a torch forward
  // (e.g. to measure against it).
  bool kernel_logits = true;
};

// Whether the kernel beats a torch forward (1 thread) for a query of `pixels`
// pixels in a call of `batch` queries. tests/bench_judge_eval (f), 2 cores:
// the kernel (one query at a time) does ~3,400/s at 8 pixels, ~1,700/s at 64;
// torch ~670/s one query per call, ~2,800/s in batches of 16 or more.
bool UseKernel(int pixels, size_t batch) { return pixels <= 8 || (batch == 1 && pixels <= 64); }

class SparseJudgeImpl : public SparseImageJudge {
 public:
  SparseJudgeImpl(SparseJudgeOptions o, std::string where)
      : options_(std::move(o)), where_(std::move(where)) {}

  std::string name() const override { return "sparse:" + options_.checkpoint; }
  JudgeKind kind() const override { return JudgeKind::kModel; }

  void Open(StageContext& ctx) override {
    auto artifact = ctx.store->FindArtifact("judge", options_.checkpoint, ctx.experiment_id);
    if (!artifact)
      throw ConfigError(where_ + ".checkpoint: no judge named '" + options_.checkpoint +
                        "' in " + ctx.store->path() +
                        "; train one first with a train_judge stage whose \"artifact\" is '" +
                        options_.checkpoint + "'");
    if (!std::filesystem::exists(artifact->path))
      throw DataError(artifact->path + ": checkpoint file of judge '" + options_.checkpoint +
                      "' is missing");
    if (Sha256File(artifact->path) != artifact->sha256)
      throw DataError(artifact->path + ": checkpoint of judge '" + options_.checkpoint +
                      "' does not match its recorded SHA-256 (file changed or corrupt)");
    LoadFile(artifact->path, ctx.device);
  }

  // Loads the checkpoint file at `path` onto `device` (Open() after its checks;
  // LoadSparseJudgeFile() for tools).
  void LoadFile(const std::string& path, const std::string& device) {
    device_ = torch::Device(device);
    SparseJudgeMeta meta;
    try {
      net_ = LoadSparseJudge(path, &meta, device_);
    } catch (const c10::Error& e) {
      throw DataError(path + ": cannot load judge checkpoint: " + e.what_without_backtrace());
    }
    SetIntraOpThreads(options_.intra_op_threads);
    // Sessions run on the CPU whatever the device: on copies of the weights.
    kernel_ = std::make_unique<SparseJudgeKernel>(MakeSparseJudgeKernel(*net_));
  }

  void Logits(const std::vector<SparseQuery>& queries,
              std::vector<oversight::Logits>* out) const override {
    out->resize(queries.size());
    // On a CUDA device big batches may favour torch (not measured: no GPU
    // here), so the kernel serves Logits() on the CPU only.
    const bool kernel = kernel_ && options_.kernel_logits && device_.is_cpu();
    std::vector<size_t> rest;  // queries for torch
    for (size_t i = 0; i < queries.size(); ++i) {
      if (kernel && UseKernel(queries[i].count, queries.size()))
        (*out)[i] = kernel_->Evaluate(queries[i]);
      else
        rest.push_back(i);
    }
    if (rest.empty()) return;
    std::vector<SparseQuery> batch;
    batch.reserve(rest.size());
    for (size_t i : rest) batch.push_back(queries[i]);
    torch::NoGradGuard no_grad;
    torch::Tensor logits =
        net_->forward(SparseInput(batch).to(device_)).to(torch::kCPU).contiguous();
    const float* p = logits.data_ptr<float>();
    for (size_t k = 0; k < rest.size(); ++k)
      std::copy(p + k * kNumClasses, p + (k + 1) * kNumClasses, (*out)[rest[k]].begin());
  }

  std::unique_ptr<SparseJudgeSession> NewSession(const uint8_t* image) const override {
    if (!kernel_) throw std::logic_error(name() + ": NewSession() before Open()");
    return kernel_->NewSession(image);
  }

 private:
  SparseJudgeOptions options_;
  std::string where_;
  torch::Device device_{torch::kCPU};
  mutable SparseNet net_{nullptr};  // eval mode; forward is read-only
  std::unique_ptr<const SparseJudgeKernel> kernel_;  // set by Open(); immutable, thread-safe
};

}  // namespace

std::unique_ptr<SparseImageJudge> LoadSparseJudgeFile(const std::string& path,
                                                      const std::string& device,
                                                      bool kernel_logits) {
  SparseJudgeOptions o;
  o.checkpoint = path;
  o.kernel_logits = kernel_logits;
  auto judge = std::make_unique<SparseJudgeImpl>(o, path);
  judge->LoadFile(path, device);
  return judge;
}

void RegisterTrainJudgeStage(Registries& registries);

std::unique_ptr<SparseImageJudge> MakeSparseJudge(const ConfigNode& node) {
  SparseJudgeOptions o;
  o.checkpoint = node.RequireString("checkpoint");
  o.intra_op_threads =
      static_cast<int>(node.Int("intra_op_threads", o.intra_op_threads, 1, 64));
  o.kernel_logits = node.Bool("kernel_logits", o.kernel_logits);
  return std::make_unique<SparseJudgeImpl>(o, node.file() + ": " + node.path());
}

void RegisterHumanJudge(Registries& registries);

void RegisterJudges(Registries& registries) {
  registries.judges.Add("sparse", [](const ConfigNode& node) { return MakeSparseJudge(node); });
  RegisterHumanJudge(registries);
  RegisterTrainJudgeStage(registries);
}

}  // namespace oversight
