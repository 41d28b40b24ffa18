#include "judges/sparse_net.h"

#include "engine/torch_util.h"

#include <cstdio>

namespace oversight {

SparseNetImpl::SparseNetImpl(SparseNetOptions options) {
  namespace nn = torch::nn;
  conv1_ = register_module("conv1", nn::Conv2d(nn::Conv2dOptions(2, 32, 5).padding(2)));
  conv2_ = register_module("conv2", nn::Conv2d(nn::Conv2dOptions(32, 64, 5).padding(2)));
  fc1_ = register_module("fc1", nn::Linear(7 * 7 * 64, 1024));
  dropout_ = register_module("dropout", nn::Dropout(options.dropout));
  fc2_ = register_module("fc2", nn::Linear(1024, kNumClasses));
}

torch::Tensor SparseNetImpl::forward(torch::Tensor x) {
  x = torch::max_pool2d(torch::relu(conv1_(x)), 2);
  x = torch::max_pool2d(torch::relu(conv2_(x)), 2);
  x = torch::relu(fc1_(x.flatten(1)));
  return fc2_(dropout_(x));
}

torch::Tensor SparseInput(const std::vector<SparseQuery>& queries) {
  const int64_t b = static_cast<int64_t>(queries.size());
  torch::Tensor x = torch::zeros({b, 2, kImageSide, kImageSide});
  float* data = x.data_ptr<float>();
  for (int64_t i = 0; i < b; ++i) {
    float* mask = data + i * 2 * kImagePixels;
    float* value = mask + kImagePixels;
    const SparseQuery& q = queries[static_cast<size_t>(i)];
    for (int j = 0; j < q.count; ++j) {
      const int p = q.pixels[j];
      mask[p] = 1.0f;
      value[p] = q.image[p] / 255.0f;
    }
  }
  return x;
}

void SaveSparseJudge(SparseNet& net, const SparseJudgeMeta& meta, const std::string& path) {
  torch::serialize::OutputArchive archive;
  net->save(archive);
  archive.write("meta.pixels", torch::tensor(static_cast<int64_t>(meta.pixels)));
  archive.write("meta.dropout", torch::tensor(meta.dropout));
  archive.write("meta.dataset", c10::IValue(meta.dataset));
  SaveArchiveAtomic(archive, path);
}

SparseNet LoadSparseJudge(const std::string& path, SparseJudgeMeta* meta,
                          const torch::Device& device) {
  torch::serialize::InputArchive archive;
  archive.load_from(path, torch::kCPU);
  torch::Tensor pixels, dropout;
  archive.read("meta.pixels", pixels);
  archive.read("meta.dropout", dropout);
  c10::IValue dataset;
  archive.read("meta.dataset", dataset);
  meta->pixels = static_cast<int>(pixels.item<int64_t>());
  meta->dropout = dropout.item<double>();
  meta->dataset = dataset.toStringRef();
  SparseNet net(SparseNetOptions{meta->dropout});
  net->load(archive);
  net->to(device);
  net->eval();
  return net;
}

}  // namespace oversight
