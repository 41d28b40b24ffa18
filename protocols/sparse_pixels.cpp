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

namespace {

// Zobrist codes: two independent 64-bit codes per pixel from a fixed seed.
struct ZobristCodes {
  uint64_t a[kImagePixels], b[kImagePixels];
  ZobristCodes() {
    for (int p = 0; p < kImagePixels; ++p) {
      a[p] = Mix64(0x5a0b1e57ULL * 2 + static_cast<uint64_t>(p) * 2);
      b[p] = Mix64(0x5a0b1e57ULL * 2 + static_cast<uint64_t>(p) * 2 + 1 + (1ULL << 40));
    }
  }
};
const ZobristCodes& Codes() {
  static const ZobristCodes codes;
  return codes;
}

}  // namespace

PixelSetCache::Key PixelSetCache::Toggle(Key key, int pixel) {
  const ZobristCodes& z = Codes();
  key.a ^= z.a[pixel];
  key.b ^= z.b[pixel];
  return key;
}

PixelSetCache::Key PixelSetCache::Of(const int* pixels, int n) {
  Key key;
  for (int i = 0; i < n; ++i) key = Toggle(key, pixels[i]);
  return key;
}

const Logits* PixelSetCache::Find(const Key& key) {
  auto it = map_.find(key);
  if (it == map_.end()) {
    ++misses_;
    return nullptr;
  }
  ++hits_;
  return &it->second;
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
