// Sparse-pixel image worlds (Irving et al. 2018): tasks over MNIST /
// Fashion-MNIST images, the judge interface that sees only revealed pixels,
// and the helpers every sparse-pixel protocol and trainer shares.
// No LibTorch here.
#pragma once

#include <array>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <unordered_map>
#include <vector>

#include "engine/dataset.h"
#include "engine/interfaces.h"
#include "engine/store.h"

namespace oversight {

inline constexpr int kNumClasses = 10;
using Logits = std::array<float, kNumClasses>;

// One judge input: an image and the pixels revealed so far (indexes
// 0..783, distinct). The judge sees only those pixels' values.
struct SparseQuery {
  const uint8_t* image = nullptr;
  const int* pixels = nullptr;
  int count = 0;
};

// An incremental view of one image for search: pixels are revealed and
// un-revealed in stack order, and Current() gives the judge's logits for the
// pixels revealed now, equal (to 1e-5) to Logits() on the same set. Owned by
// one thread.
class SparseJudgeSession {
 public:
  virtual ~SparseJudgeSession() = default;
  // REQUIRES: `pixel` is not revealed yet.
  virtual void Push(int pixel) = 0;
  // Un-reveals the most recently pushed pixel. REQUIRES: Depth() > 0.
  virtual void Pop() = 0;
  virtual int Depth() const = 0;
  virtual oversight::Logits Current() = 0;
  // Logits after additionally revealing each of `pixels` (one at a time, not
  // together); the session's state is unchanged afterwards.
  virtual void Children(const std::vector<int>& pixels, std::vector<oversight::Logits>* out) = 0;
};

// A judge of sparse-pixel images (the trained classifier of judges/).
// Thread-safe: Logits() and NewSession() may be called from several episode
// workers at once.
class SparseImageJudge : public Judge {
 public:
  // out[i] = the judge's class logits for queries[i].
  virtual void Logits(const std::vector<SparseQuery>& queries,
                      std::vector<Logits>* out) const = 0;
  // A session on `image` (which must outlive it) with nothing revealed.
  virtual std::unique_ptr<SparseJudgeSession> NewSession(const uint8_t* image) const = 0;
};

// A person as the judge of sparse-pixel games (judge_kind human). Debaters
// search against its model (Logits() and NewSession() are the model's); the
// verdict comes from the human-judge queue in the experiment's log, where
// oversight-gui picks it up.
class HumanImageJudge : public SparseImageJudge {
 public:
  // Puts `item` in the queue (or finds it, when a resumed episode asks again)
  // and waits for the verdict. nullopt: nobody answered within the judge's
  // timeout (the item is marked timed_out). Throws Interrupted on Ctrl-C
  // (the item stays in the queue for the resumed run).
  virtual std::optional<HumanVerdict> Ask(const PendingJudgement& item) const = 0;
};

// Judge logits for one image, by unordered set of revealed pixels: the same
// set reached in a different order is the same entry. The games of one image
// share one (27 in the paper's precommit evaluation), through
// DebatePosition::cache. Keys are 128-bit Zobrist hashes (the XOR of a fixed
// random code per pixel), updated in O(1) as pixels are revealed; two
// different sets collide with probability about n^2 / 2^128. Not
// thread-safe: one worker plays all games of an image.
class PixelSetCache {
 public:
  struct Key {
    uint64_t a = 0, b = 0;
    bool operator==(const Key& o) const { return a == o.a && b == o.b; }
  };
  // The key of the empty set.
  static Key Empty() { return {}; }
  // `key` with `pixel` added (or removed: the code is its own inverse).
  static Key Toggle(Key key, int pixel);
  static Key Of(const int* pixels, int n);

  // The stored logits of `key`, or nullptr. Counts a hit or a miss.
  const Logits* Find(const Key& key);
  void Insert(const Key& key, const Logits& logits) { map_.emplace(key, logits); }
  size_t size() const { return map_.size(); }
  int64_t hits() const { return hits_; }
  int64_t misses() const { return misses_; }

 private:
  struct Hash {
    size_t operator()(const Key& k) const { return static_cast<size_t>(k.a); }
  };
  std::unordered_map<Key, Logits, Hash> map_;
  int64_t hits_ = 0, misses_ = 0;
};

// Options of the sparse-pixel tasks ("mnist", "fashion_mnist").
struct ImageTaskOptions {
  std::string dataset;            // "mnist" or "fashion_mnist"
  std::string split = "test";     // "train" or "test"
  std::string data_dir;           // empty: the default location
};

// A task whose instances are the images of one dataset split.
class ImageTask : public Task {
 public:
  explicit ImageTask(ImageTaskOptions options) : options_(std::move(options)) {}
  std::string name() const override { return options_.dataset; }
  void Open(StageContext& ctx) override;
  size_t size() const override { return data_.size(); }
  TaskInstance Instance(size_t i) const override;

  const ImageDataset& data() const { return data_; }
  // Nonzero pixel indexes of image i (the legal reveals), in ascending order.
  const std::vector<int>& Nonzero(size_t i) const { return nonzero_[i]; }

 private:
  ImageTaskOptions options_;
  ImageDataset data_;
  std::vector<std::vector<int>> nonzero_;
};

// Nonzero pixel indexes of a 28x28 image, ascending.
std::vector<int> NonzeroPixels(const uint8_t* image);

// NonzeroPixels of every image of `data`, by image index.
std::vector<std::vector<int>> NonzeroPixelsOf(const ImageDataset& data);

// k distinct pixels drawn uniformly from `nonzero` (all of them when it has
// fewer than k), in draw order.
std::vector<int> SampleRevealed(const std::vector<int>& nonzero, int k, Rng& rng);

// Argmax with the lowest index winning ties.
int ArgMax(const Logits& logits);

void RegisterSparsePixelTasks(Registries& registries);

}  // namespace oversight
