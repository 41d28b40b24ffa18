// The sparse-pixel judge network of Irving et al. 2018 (private to judges/).
// Input: [B, 2, 28, 28] = (0/1 mask of revealed pixels, revealed values in
// [0, 1]). conv 5x5x32 same + ReLU + maxpool 2 -> conv 5x5x64 same + ReLU +
// maxpool 2 -> dense 1024 ReLU -> dropout -> dense 10.
#pragma once

#include <torch/torch.h>

#include <vector>

#include "protocols/sparse_pixels.h"

namespace oversight {

struct SparseNetOptions {
  double dropout = 0.4;  // the paper's rate
};

class SparseNetImpl : public torch::nn::Module {
 public:
  explicit SparseNetImpl(SparseNetOptions options = {});
  torch::Tensor forward(torch::Tensor x);

 private:
  torch::nn::Conv2d conv1_{nullptr}, conv2_{nullptr};
  torch::nn::Linear fc1_{nullptr}, fc2_{nullptr};
  torch::nn::Dropout dropout_{nullptr};
};
TORCH_MODULE(SparseNet);

// Builds the two input planes for a batch of queries, on the CPU.
torch::Tensor SparseInput(const std::vector<SparseQuery>& queries);

// Checkpoint file: the model's parameters plus "pixels" (k it was trained
// with) and "dataset". Written atomically.
struct SparseJudgeMeta {
  int pixels = 0;
  std::string dataset;
  double dropout = 0.4;
};
void SaveSparseJudge(SparseNet& net, const SparseJudgeMeta& meta, const std::string& path);
SparseNet LoadSparseJudge(const std::string& path, SparseJudgeMeta* meta,
                          const torch::Device& device);

}  // namespace oversight
