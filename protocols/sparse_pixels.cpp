#include "protocols/sparse_pixels.h"

namespace oversight {

void ImageTask::Open(StageContext&) {
  data_ = LoadImageDataset(options_.dataset, options_.split, options_.data_dir);
  nonzero_ = NonzeroPixelsOf(data_);
}

TaskInstance ImageTask::Instance(size_t i) const {
  TaskInstance inst;
  inst.index = static_cast<int64_t>(i);
  inst.id = options_.split + "/" + std::to_string(data_.source_index[i]);
  inst.truth = std::to_string(data_.labels[i]);
  return inst;
}

std::vector<int> NonzeroPixels(const uint8_t* image) {
  std::vector<int> out;
  for (int p = 0; p < kImagePixels; ++p)
    if (image[p] != 0) out.push_back(p);
  return out;
}

std::vector<std::vector<int>> NonzeroPixelsOf(const ImageDataset& data) {
  std::vector<std::vector<int>> out(data.size());
  for (size_t i = 0; i < data.size(); ++i) out[i] = NonzeroPixels(data.image(i));
  return out;
}

std::vector<int> SampleRevealed(const std::vector<int>& nonzero, int k, Rng& rng) {
  std::vector<int> pool = nonzero;
  const size_t take = std::min(pool.size(), static_cast<size_t>(k));
  PartialShuffle(pool, take, rng);
  pool.resize(take);
  return pool;
}

int ArgMax(const Logits& logits) {
  int best = 0;
  for (int c = 1; c < kNumClasses; ++c)
    if (logits[c] > logits[best]) best = c;
  return best;
}

void RegisterSparsePixelTasks(Registries& registries) {
  for (const char* dataset : {"mnist", "fashion_mnist"}) {
    registries.tasks.Add(dataset, [dataset](const ConfigNode& node) {
      ImageTaskOptions o;
      o.dataset = dataset;
      o.split = node.Enum("split", o.split, {"train", "test"});
      o.data_dir = node.String("data_dir", o.data_dir);
      return std::make_unique<ImageTask>(o);
    });
  }
}

}  // namespace oversight
