// Judge "sparse": a trained sparse-pixel classifier, loaded by artifact name
// ({"name": "sparse", "checkpoint": "judge_k6"}). The checkpoint's SHA-256 is
// checked against the artifacts table before loading.
#include <torch/torch.h>

#include <filesystem>

#include "engine/torch_util.h"
#include "engine/util.h"
#include "judges/judges.h"
#include "judges/sparse_net.h"

namespace oversight {
namespace {

struct SparseJudgeOptions {
  std::string checkpoint;  // artifact name of a train_judge stage's judge
  // Intra-op threads for judge calls; 1 is fastest for the small calls of
  // episodes (780/s vs 250/s with 2 threads on 2 cores, DESIGN.md).
  int intra_op_threads = 1;
};

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
    device_ = torch::Device(ctx.device);
    SparseJudgeMeta meta;
    try {
      net_ = LoadSparseJudge(artifact->path, &meta, device_);
    } catch (const c10::Error& e) {
      throw DataError(artifact->path + ": cannot load judge checkpoint: " +
                      e.what_without_backtrace());
    }
    SetIntraOpThreads(options_.intra_op_threads);
  }

  void Logits(const std::vector<SparseQuery>& queries,
              std::vector<oversight::Logits>* out) const override {
    torch::NoGradGuard no_grad;
    torch::Tensor logits =
        net_->forward(SparseInput(queries).to(device_)).to(torch::kCPU).contiguous();
    const float* p = logits.data_ptr<float>();
    out->resize(queries.size());
    for (size_t i = 0; i < queries.size(); ++i)
      std::copy(p + i * kNumClasses, p + (i + 1) * kNumClasses, (*out)[i].begin());
  }

 private:
  SparseJudgeOptions options_;
  std::string where_;
  torch::Device device_{torch::kCPU};
  mutable SparseNet net_{nullptr};  // eval mode; forward is read-only
};

}  // namespace

void RegisterTrainJudgeStage(Registries& registries);

void RegisterJudges(Registries& registries) {
  registries.judges.Add("sparse", [](const ConfigNode& node) {
    SparseJudgeOptions o;
    o.checkpoint = node.RequireString("checkpoint");
    o.intra_op_threads =
        static_cast<int>(node.Int("intra_op_threads", o.intra_op_threads, 1, 64));
    return std::make_unique<SparseJudgeImpl>(o, node.file() + ": " + node.path());
  });
  RegisterTrainJudgeStage(registries);
}

}  // namespace oversight
