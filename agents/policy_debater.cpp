// Debater "policy": a trained DebatePolicyNet (agents/policy_net.h), loaded
// by artifact name ({"name": "policy", "checkpoint": "sft_debater"}); it
// samples its move from the policy over the legal pixels (or plays the most
// likely one with "greedy": true). One forward per move, no search.
#include <torch/torch.h>

#include <filesystem>

#include "agents/agents.h"
#include "agents/policy.h"
#include "agents/policy_net.h"
#include "engine/torch_util.h"
#include "engine/config.h"
#include "engine/util.h"
#include "judges/judges.h"
#include "protocols/protocols.h"

namespace oversight {
namespace {

struct PolicyDebaterOptions {
  std::string checkpoint;    // artifact name (kind "policy")
  bool greedy = false;       // argmax instead of sampling
  double temperature = 1.0;  // sampling temperature
};

class PolicyDebater : public PixelDebater {
 public:
  PolicyDebater(PolicyDebaterOptions o, std::string where)
      : o_(std::move(o)), where_(std::move(where)) {}
  std::string name() const override { return "policy:" + o_.checkpoint; }

  void Open(StageContext& ctx) override {
    const std::string path = FindPolicyArtifact(ctx, o_.checkpoint, where_ + ".checkpoint");
    LoadFile(path, ctx.device);
  }

  // Loads the policy file at `path` (Open() after its checks; tools call it
  // directly through LoadPolicyDebaterFile()).
  void LoadFile(const std::string& path, const std::string& device) {
    net_ = LoadPolicy(path, torch::Device(device));
  }

  int ChooseMove(const DebatePosition& pos, const SparseImageJudge&, Rng& rng) const override {
    torch::NoGradGuard no_grad;
    const PolicyBatch batch = MakePolicyBatch({&pos});
    const torch::Device device = net_->parameters().front().device();
    torch::Tensor logits =
        net_->forward(batch.planes.to(device), batch.vector.to(device)).logits.to(torch::kCPU)[0];
    return SampleMove(logits, batch.legal[0], o_.greedy, o_.temperature, rng);
  }

 private:
  PolicyDebaterOptions o_;
  std::string where_;
  mutable DebatePolicyNet net_{nullptr};  // eval mode; forward is read-only
};

}  // namespace

std::string FindPolicyArtifact(StageContext& ctx, const std::string& name,
                               const std::string& where) {
  return FindArtifactFile(ctx, "policy", name, where,
                          "train one first with an sft stage whose \"artifact\" is '" + name + "'");
}

std::unique_ptr<PixelDebater> LoadPolicyDebaterFile(const std::string& path,
                                                    const std::string& device, bool greedy) {
  PolicyDebaterOptions o;
  o.checkpoint = std::filesystem::path(path).stem().string();
  o.greedy = greedy;
  auto debater = std::make_unique<PolicyDebater>(o, path);
  debater->LoadFile(path, device);
  return debater;
}

int SampleMove(const torch::Tensor& logits, const torch::Tensor& legal, bool greedy,
               double temperature, Rng& rng) {
  const torch::Tensor masked =
      logits.to(torch::kFloat64).masked_fill(legal.logical_not(), -INFINITY);
  if (greedy) return static_cast<int>(masked.argmax().item<int64_t>());
  const torch::Tensor p = torch::softmax(masked / temperature, 0).contiguous();
  const double* pp = p.data_ptr<double>();
  // Inverse CDF with the episode's RNG (reproducible, unlike torch's).
  const double u = UniformDouble(rng);
  double acc = 0;
  int last = -1;
  for (int i = 0; i < kImagePixels; ++i) {
    if (pp[i] <= 0) continue;
    acc += pp[i];
    last = i;
    if (u < acc) return i;
  }
  return last;
}

void RegisterSftStage(Registries& registries);
void RegisterPpoStage(Registries& registries);
void RegisterDpoStage(Registries& registries);
void RegisterAmplifyStage(Registries& registries);
void RegisterProcessStages(Registries& registries);
void RegisterGoodhartStages(Registries& registries);

void RegisterPolicyAgents(Registries& registries) {
  RegisterGoodhartStages(registries);
  RegisterAmplifyStage(registries);
  RegisterProcessStages(registries);
  RegisterSftStage(registries);
  RegisterPpoStage(registries);
  RegisterDpoStage(registries);
  registries.agents.Add("policy", [](const ConfigNode& node) {
    PolicyDebaterOptions o;
    o.checkpoint = node.RequireString("checkpoint");
    o.greedy = node.Bool("greedy", o.greedy);
    o.temperature = node.Number("temperature", o.temperature, 1e-3, 1e3);
    return std::make_unique<PolicyDebater>(o, node.file() + ": " + node.path());
  });
}

Registries AllRegistries() {
  Registries r;
  RegisterEngineStages(r);
  RegisterProtocols(r);
  RegisterJudges(r);
  RegisterAgents(r);
  RegisterPolicyAgents(r);
  return r;
}

}  // namespace oversight
