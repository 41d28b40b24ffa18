#include "agents/policy_net.h"

#include "engine/torch_util.h"

namespace oversight {

DebatePolicyNetImpl::DebatePolicyNetImpl(PolicyNetOptions options) : options_(options) {
  namespace nn = torch::nn;
  const int h = options.hidden;
  conv1_ = register_module("conv1", nn::Conv2d(nn::Conv2dOptions(kPolicyPlanes, h, 5).padding(2)));
  conv2_ = register_module("conv2", nn::Conv2d(nn::Conv2dOptions(h, h, 3).padding(1)));
  conv3_ = register_module("conv3", nn::Conv2d(nn::Conv2dOptions(h, h, 3).padding(1)));
  head_ = register_module("head", nn::Conv2d(nn::Conv2dOptions(h, 1, 1)));
  claim_bias_ = register_module("claim_bias", nn::Linear(kPolicyVector, h));
  context_ = register_module("context", nn::Linear(h + kPolicyVector, h));
  value1_ = register_module("value1", nn::Linear(h + kPolicyVector, 64));
  value2_ = register_module("value2", nn::Linear(64, 1));
}

DebatePolicyNetImpl::Output DebatePolicyNetImpl::forward(const torch::Tensor& planes,
                                                         const torch::Tensor& vector) {
  auto per_channel = [](const torch::Tensor& v) { return v.unsqueeze(-1).unsqueeze(-1); };
  torch::Tensor x = torch::relu(conv1_(planes) + per_channel(claim_bias_(vector)));
  x = torch::relu(conv2_(x));
  x = torch::relu(conv3_(x));
  const torch::Tensor pooled = torch::cat({x.mean({2, 3}), vector}, 1);
  x = torch::relu(x + per_channel(context_(pooled)));
  Output out;
  out.logits = head_(x).flatten(1);
  out.value = value2_(torch::relu(value1_(pooled))).squeeze(1);
  return out;
}

void DebatePolicyNetImpl::MakeUniform() {
  torch::NoGradGuard no_grad;
  head_->weight.zero_();
  head_->bias.zero_();
}

PolicyBatch MakePolicyBatch(const std::vector<const DebatePosition*>& positions) {
  const int64_t b = static_cast<int64_t>(positions.size());
  torch::Tensor planes = torch::zeros({b, kPolicyPlanes, kImagePixels});
  torch::Tensor vector = torch::zeros({b, kPolicyVector});
  torch::Tensor legal = torch::zeros({b, kImagePixels}, torch::kBool);
  auto pl = planes.accessor<float, 3>();
  auto ve = vector.accessor<float, 2>();
  auto le = legal.accessor<bool, 2>();
  for (int64_t i = 0; i < b; ++i) {
    const DebatePosition& pos = *positions[static_cast<size_t>(i)];
    const DebateGame& game = *pos.game;
    const int t = static_cast<int>(pos.revealed.size());
    const DebateRole me = game.Mover(t);
    for (int p = 0; p < kImagePixels; ++p) pl[i][0][p] = pos.image[p] / 255.0f;
    for (int k = 0; k < t; ++k)
      pl[i][game.Mover(k) == me ? 1 : 2][pos.revealed[static_cast<size_t>(k)]] = 1.0f;
    for (int p : *pos.nonzero) {
      if (pl[i][1][p] == 0 && pl[i][2][p] == 0) {
        pl[i][3][p] = 1.0f;
        le[i][p] = true;
      }
    }
    if (game.precommit) {
      const int mine = me == DebateRole::kHonest ? game.truth : game.lie;
      const int theirs = me == DebateRole::kHonest ? game.lie : game.truth;
      ve[i][mine] = 1.0f;
      if (theirs >= 0) ve[i][kNumClasses + theirs] = 1.0f;  // a consultancy has no other claim
    }
    ve[i][2 * kNumClasses] = static_cast<float>(game.pixels - t) / game.pixels;
    ve[i][2 * kNumClasses + 1] = game.Mover(0) == me ? 1.0f : 0.0f;
  }
  return {planes.view({b, kPolicyPlanes, kImageSide, kImageSide}), vector, legal};
}

void SavePolicy(DebatePolicyNet& net, const std::string& path) {
  torch::serialize::OutputArchive archive;
  net->save(archive);
  archive.write("meta.hidden", torch::tensor(static_cast<int64_t>(net->options().hidden)));
  SaveArchiveAtomic(archive, path);
}

void SavePolicyArtifact(StageContext& ctx, DebatePolicyNet& net, const std::string& name,
                        int64_t step) {
  const std::string path = ctx.artifacts_dir + "/" + name + ".pt";
  SavePolicy(net, path);
  RecordArtifact(ctx, "policy", name, path, step);
}

DebatePolicyNet LoadPolicy(const std::string& path, const torch::Device& device) {
  try {
    torch::serialize::InputArchive archive;
    archive.load_from(path, torch::kCPU);
    torch::Tensor hidden;
    archive.read("meta.hidden", hidden);
    DebatePolicyNet net(PolicyNetOptions{static_cast<int>(hidden.item<int64_t>())});
    net->load(archive);
    net->to(device);
    net->eval();
    return net;
  } catch (const c10::Error& e) {
    throw DataError(path + ": cannot load policy checkpoint: " + e.what_without_backtrace());
  }
}

}  // namespace oversight
