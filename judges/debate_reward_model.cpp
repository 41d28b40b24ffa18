#include "judges/debate_reward_model.h"

#include "engine/torch_util.h"
#include "engine/util.h"

namespace oversight {

DebateRewardNetImpl::DebateRewardNetImpl(int hidden) : hidden_(hidden) {
  namespace nn = torch::nn;
  conv1_ = register_module("conv1", nn::Conv2d(nn::Conv2dOptions(4, hidden, 5).padding(2)));
  conv2_ = register_module("conv2", nn::Conv2d(nn::Conv2dOptions(hidden, hidden, 3).padding(1)));
  claims_ = register_module("claims", nn::Linear(2 * kNumClasses, hidden));
  fc1_ = register_module("fc1", nn::Linear(2 * hidden + 2 * kNumClasses, 64));
  fc2_ = register_module("fc2", nn::Linear(64, 1));
}

torch::Tensor DebateRewardNetImpl::forward(const torch::Tensor& planes,
                                           const torch::Tensor& claims) {
  torch::Tensor x = torch::relu(conv1_(planes) + claims_(claims).unsqueeze(-1).unsqueeze(-1));
  x = torch::relu(conv2_(x));
  const torch::Tensor pooled = torch::cat({x.mean({2, 3}), x.amax({2, 3}), claims}, 1);
  return fc2_(torch::relu(fc1_(pooled))).squeeze(1);
}

torch::Tensor DebateRewards(DebateRewardNet& net, const std::vector<RewardModelInput>& games,
                            const torch::Device& device) {
  const int64_t b = static_cast<int64_t>(games.size());
  torch::Tensor planes = torch::zeros({b, 4, kImagePixels});
  torch::Tensor claims = torch::zeros({b, 2 * kNumClasses});
  auto pl = planes.accessor<float, 3>();
  auto cl = claims.accessor<float, 2>();
  for (int64_t i = 0; i < b; ++i) {
    const RewardModelInput& in = games[static_cast<size_t>(i)];
    const std::vector<int>& reveals = *in.reveals;
    for (size_t t = 0; t < reveals.size(); ++t) {
      const int p = reveals[t];
      pl[i][0][p] = 1.0f;
      pl[i][1][p] = in.image[p] / 255.0f;
      pl[i][in.game->Mover(static_cast<int>(t)) == DebateRole::kHonest ? 2 : 3][p] = 1.0f;
    }
    if (in.game->precommit) {
      cl[i][in.game->truth] = 1.0f;
      if (in.game->lie >= 0) cl[i][kNumClasses + in.game->lie] = 1.0f;  // none in a consultancy
    }
  }
  return net->forward(planes.view({b, 4, kImageSide, kImageSide}).to(device), claims.to(device));
}

void SaveRewardModel(DebateRewardNet& net, const std::string& side, const std::string& path) {
  torch::serialize::OutputArchive archive;
  net->save(archive);
  archive.write("meta.hidden", torch::tensor(static_cast<int64_t>(net->hidden())));
  archive.write("meta.side", c10::IValue(side));
  SaveArchiveAtomic(archive, path);
}

DebateRewardNet LoadRewardModel(const std::string& path, const torch::Device& device,
                                std::string* side) {
  try {
    torch::serialize::InputArchive archive;
    archive.load_from(path, torch::kCPU);
    torch::Tensor hidden;
    archive.read("meta.hidden", hidden);
    c10::IValue side_value;
    archive.read("meta.side", side_value);
    DebateRewardNet net(static_cast<int>(hidden.item<int64_t>()));
    net->load(archive);
    net->to(device);
    net->eval();
    if (side) *side = side_value.toStringRef();
    return net;
  } catch (const c10::Error& e) {
    throw DataError(path + ": cannot load reward model: " + e.what_without_backtrace());
  }
}

DebateRewardNet LoadRewardModelArtifact(StageContext& ctx, const std::string& name,
                                        const std::string& side, const std::string& purpose,
                                        const std::string& where, const std::string& how_to_make,
                                        const torch::Device& device) {
  std::string scored;
  DebateRewardNet rm = LoadRewardModel(
      FindArtifactFile(ctx, kRewardModelArtifact, name, where, how_to_make), device, &scored);
  if (scored != side)
    throw ConfigError(where + ": '" + name + "' scores the " + scored + " side; " + purpose);
  for (auto& p : rm->parameters()) p.set_requires_grad(false);
  rm->eval();
  return rm;
}

}  // namespace oversight
