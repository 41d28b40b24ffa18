// Judge "sparse": a trained sparse-pixel classifier, loaded by artifact name
// ({"name": "sparse", "checkpoint": "judge_k6"}). The checkpoint's SHA-256 is
// checked against the artifacts table before loading.
#include <torch/torch.h>

#include <cstdio>
#include <filesystem>

#include "engine/coalescer.h"
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
  // Torch forwards of concurrent Logits() calls (the games in flight on all
  // episode workers) are merged into batches (engine/coalescer.h): the
  // route for a CUDA judge; set the stage's threads well above the cores so
  // enough games are in flight. Calls the kernel serves are not merged.
  bool coalesce = false;
  CoalescerOptions coalescer;  // with coalesce
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
    LoadFile(FindArtifactFile(ctx, "judge", options_.checkpoint, where_ + ".checkpoint",
                              "train one first with a train_judge stage whose \"artifact\" is '" +
                                  options_.checkpoint + "'"),
             ctx.device);
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
    if (options_.coalesce)
      coalescer_ = std::make_unique<Coalescer<SparseQuery, oversight::Logits>>(
          options_.coalescer, [this](const std::vector<SparseQuery>& q,
                                     std::vector<oversight::Logits>* out) { Forward(q, out); });
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
    std::vector<oversight::Logits> logits;
    if (coalescer_)
      coalescer_->Evaluate(batch, &logits);
    else
      Forward(batch, &logits);
    for (size_t k = 0; k < rest.size(); ++k) (*out)[rest[k]] = logits[k];
  }

  void Close(StageContext&) override {
    if (!coalescer_) return;
    const auto s = coalescer_->stats();
    const double batches = std::max<double>(1, static_cast<double>(s.batches));
    std::fprintf(stderr, "  judge %s: %lld calls coalesced into %lld batches: %.2f calls per batch, "
                 "%.1f queries per batch\n", name().c_str(), static_cast<long long>(s.calls),
                 static_cast<long long>(s.batches), s.calls / batches, s.queries / batches);
  }

  std::unique_ptr<SparseJudgeSession> NewSession(const uint8_t* image) const override {
    if (!kernel_) throw std::logic_error(name() + ": NewSession() before Open()");
    return kernel_->NewSession(image);
  }

 private:
  // One torch forward of `queries` on the judge's device.
  void Forward(const std::vector<SparseQuery>& queries,
               std::vector<oversight::Logits>* out) const {
    out->resize(queries.size());
    torch::NoGradGuard no_grad;
    torch::Tensor logits =
        net_->forward(SparseInput(queries).to(device_)).to(torch::kCPU).contiguous();
    const float* p = logits.data_ptr<float>();
    for (size_t k = 0; k < queries.size(); ++k)
      std::copy(p + k * kNumClasses, p + (k + 1) * kNumClasses, (*out)[k].begin());
  }

  SparseJudgeOptions options_;
  std::string where_;
  torch::Device device_{torch::kCPU};
  mutable SparseNet net_{nullptr};  // eval mode; forward is read-only
  std::unique_ptr<const SparseJudgeKernel> kernel_;  // set by Open(); immutable, thread-safe
  std::unique_ptr<Coalescer<SparseQuery, oversight::Logits>> coalescer_;  // set by Open() with options_.coalesce
};

}  // namespace

std::unique_ptr<SparseImageJudge> LoadSparseJudgeFile(const std::string& path,
                                                      const std::string& device,
                                                      bool kernel_logits,
                                                      const CoalescerOptions* coalesce) {
  SparseJudgeOptions o;
  o.checkpoint = path;
  o.kernel_logits = kernel_logits;
  o.coalesce = coalesce != nullptr;
  if (coalesce) o.coalescer = *coalesce;
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
  o.coalesce = node.Bool("coalesce", o.coalesce);
  o.coalescer.max_batch =
      static_cast<int>(node.Int("coalesce_max_batch", o.coalescer.max_batch, 1, 1 << 20));
  o.coalescer.max_wait_us =
      static_cast<int>(node.Int("coalesce_wait_us", o.coalescer.max_wait_us, 0, 10000000));
  o.coalescer.parallel =
      static_cast<int>(node.Int("coalesce_parallel", o.coalescer.parallel, 1, 1024));
  return std::make_unique<SparseJudgeImpl>(o, node.file() + ": " + node.path());
}

void RegisterHumanJudge(Registries& registries);
void RegisterRewardModelStage(Registries& registries);

void RegisterJudges(Registries& registries) {
  registries.judges.Add("sparse", [](const ConfigNode& node) { return MakeSparseJudge(node); });
  RegisterHumanJudge(registries);
  RegisterTrainJudgeStage(registries);
  RegisterRewardModelStage(registries);
}

}  // namespace oversight
