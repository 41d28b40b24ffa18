// SparseJudgeKernel (see sparse_kernel.h): weight layouts, background,
// sessions, and the torch-side factory.
//
// [SECTION] Layouts and state
// [SECTION] Inner loops, once per instruction set (sparse_kernel_loops.inc)
// [SECTION] Kernel: weights and background
// [SECTION] Session
// [SECTION] Torch factory
#include "judges/sparse_kernel.h"

#include <torch/torch.h>

#include <algorithm>
#include <cmath>
#include <cstdlib>
#include <cstring>
#include <stdexcept>

#include "judges/sparse_net.h"

namespace oversight {

// ---------------------------------------------------------------------------
// [SECTION] Layouts and state
// ---------------------------------------------------------------------------
namespace {

constexpr int kSide0 = 28;                   // input side
constexpr int kSide1 = 14;                   // after the first pool
constexpr int kSide2 = 7;                    // after the second pool
constexpr int kCells1 = kSide1 * kSide1;     // 196 a1 cells / y2 positions
constexpr int kCells2 = kSide2 * kSide2;     // 49 a2 cells
constexpr int kK = 5;                        // conv kernel side
constexpr int kC1 = 32;                      // conv1 channels
constexpr int kC2 = 64;                      // conv2 channels
constexpr int kIn1 = kC2 * kCells2;          // 3136 fc1 inputs
constexpr int kF1 = 1024;                    // fc1 units
constexpr int kUnitBlock = 64;               // fc1 units per block of its weight layout
static_assert(kSide0 * kSide0 == kImagePixels, "28x28 images");

// A float buffer aligned to a cache line (the vector loops read whole rows).
class AlignedFloats {
 public:
  AlignedFloats() = default;
  explicit AlignedFloats(size_t n)
      : data_(static_cast<float*>(std::aligned_alloc(64, (n * sizeof(float) + 63) / 64 * 64))),
        size_(n) {
    if (!data_) throw std::bad_alloc();
    std::fill(data_.get(), data_.get() + n, 0.0f);
  }
  float* data() { return data_.get(); }
  const float* data() const { return data_.get(); }
  float& operator[](size_t i) { return data_.get()[i]; }
  float operator[](size_t i) const { return data_.get()[i]; }
  size_t size() const { return size_; }

 private:
  struct Free {
    void operator()(float* p) const { std::free(p); }
  };
  std::unique_ptr<float, Free> data_;
  size_t size_ = 0;
};

// The activations for one set of revealed pixels, channel-innermost.
struct alignas(64) State {
  float a1[kCells1 * kC1];  // pooled conv1, [cell 14x14][32]
  float y2[kCells1 * kC2];  // conv2 pre-activation, [position 14x14][64]
  float a2[kCells2 * kC2];  // pooled conv2, [cell 7x7][64]
  float h[kF1];             // fc1 pre-activation
};

// Work space of one Reveal(); its marks are all clear between calls. Sized for
// the worst case, a reveal that touches every cell (a query from scratch).
struct alignas(64) Scratch {
  Scratch() {
    std::fill(std::begin(posidx), std::end(posidx), static_cast<int16_t>(-1));
  }
  // a1 cells that changed: new values and the nonzero deltas (channel, value).
  int n1 = 0;
  int cell1[kCells1];
  alignas(64) float a1new[kCells1][kC1];
  float d1[kCells1][kC1];
  uint8_t ic1[kCells1][kC1];
  int nnz1[kCells1];
  // y2 positions that changed, their new values, and position -> index (-1).
  int n2 = 0;
  int pos2[kCells1];
  int16_t posidx[kCells1];
  alignas(64) float y2new[kCells1][kC2];
  // a2 cells recomputed, and their new values.
  int n3 = 0;
  int cell3[kCells2];
  alignas(64) float a2new[kCells2][kC2];
  // Weight rows and their coefficients (conv2 per position, then fc1).
  int ncol = 0;
  const float* rows[kIn1];
  float rowd[kIn1];
  alignas(64) float h[kF1];  // the new fc1 pre-activation
  uint8_t mark1[kCells1] = {};
  uint8_t mark3[kCells2] = {};
};

// Children() runs fc1 for this many children together, so the weight slices
// they share are read once from memory. bench_judge_eval (c): 8 beats 1 (no
// sharing; fc1 ~30% slower) and 32 or 64 (their lists and slices push conv2's
// weights and the scratch out of L2).
constexpr int kChildGroup = 8;

// Work space of Children(): the fc1 columns and deltas of a group of
// children (child c's are [begin[c], begin[c + 1])) and their new h.
struct ChildBuffers {
  ChildBuffers() : h(static_cast<size_t>(kChildGroup) * kF1) {}
  std::vector<int> begin;
  std::vector<const float*> cols;
  std::vector<float> d;
  AlignedFloats h;  // [kChildGroup][1024]
};

// The reach of one pixel in each layer, as rectangles (inclusive bounds):
// the a1 cells whose conv1 window holds it, the y2 positions conv2 carries
// those to, and the a2 cells over those positions. Only these can differ
// between a position and the same position plus the pixel.
struct Rect {
  int y0 = 0, y1 = -1, x0 = 0, x1 = -1;
  int width() const { return x1 - x0 + 1; }
  int size() const { return (y1 - y0 + 1) * width(); }
  bool Contains(int y, int x) const { return y >= y0 && y <= y1 && x >= x0 && x <= x1; }
  int Index(int y, int x) const { return (y - y0) * width() + (x - x0); }
};
struct Reach {
  Rect a1, y2, a2;  // a1 and y2 on the 14x14 grid, a2 on the 7x7 grid
};
inline Reach ReachOf(int pixel) {
  const int r = pixel / kSide0, c = pixel % kSide0;
  Reach re;
  re.a1 = {std::max(0, (r - 2) >> 1), std::min(kSide1 - 1, (r + 2) >> 1),
           std::max(0, (c - 2) >> 1), std::min(kSide1 - 1, (c + 2) >> 1)};
  re.y2 = {std::max(0, re.a1.y0 - 2), std::min(kSide1 - 1, re.a1.y1 + 2),
           std::max(0, re.a1.x0 - 2), std::min(kSide1 - 1, re.a1.x1 + 2)};
  re.a2 = {re.y2.y0 >> 1, re.y2.y1 >> 1, re.y2.x0 >> 1, re.y2.x1 >> 1};
  return re;
}
constexpr int kMaxReach1 = 9, kMaxReach2 = 49, kMaxReach3 = 16;

// A child of a base position (the base plus one pixel) where it differs from
// the base: its a1, y2 and a2 over the pixel's reach (row-major in each
// rectangle) and its whole fc1 pre-activation. Children() keeps these for
// the children it evaluates, so that the children of the next position (one
// more pixel) follow from them by the difference that pixel makes.
struct alignas(64) ChildState {
  int pixel = -1;
  Reach reach;
  alignas(64) float a1[kMaxReach1][kC1];
  alignas(64) float y2[kMaxReach2][kC2];
  alignas(64) float a2[kMaxReach3][kC2];
  alignas(64) float h[kF1];
};

// What the last reveal p changed: the base b (before it) against the current
// state b' = b + p, where they differ. Built once per Children() call.
struct PlyDelta {
  int pixel = -1;
  Reach reach;
  // Rows of the old (b) values, by a1 cell / y2 position / a2 cell; -1 where
  // b and b' agree.
  int16_t idx1[kCells1], idx2[kCells1], idx3[kCells2];
  const float* a1old = nullptr;
  const float* y2old = nullptr;
  const float* a2old = nullptr;
  alignas(64) float dh[kF1];  // h(b') - h(b)
};

// Differences of differences below this share of their operands' size are
// float rounding of a real zero (see ChildFromParent).
constexpr float kRoundingShare = 1e-6f;

// Copies the child of `base` that RevealConv left in `s` (for `pixel`) into
// `out` over the pixel's reach; cells and positions RevealConv did not
// change keep the base's values. out->h is filled by the caller.
void CaptureConv(const State& base, const Scratch& s, int pixel, ChildState* out) {
  out->pixel = pixel;
  out->reach = ReachOf(pixel);
  const Reach& re = out->reach;
  for (int y = re.a1.y0; y <= re.a1.y1; ++y)
    for (int x = re.a1.x0; x <= re.a1.x1; ++x) {
      const int cell = y * kSide1 + x;
      const float* src = base.a1 + cell * kC1;
      for (int k = 0; k < s.n1; ++k)
        if (s.cell1[k] == cell) src = s.a1new[k];
      std::memcpy(out->a1[re.a1.Index(y, x)], src, sizeof(float) * kC1);
    }
  for (int y = re.y2.y0; y <= re.y2.y1; ++y)
    for (int x = re.y2.x0; x <= re.y2.x1; ++x)
      std::memcpy(out->y2[re.y2.Index(y, x)], base.y2 + (y * kSide1 + x) * kC2,
                  sizeof(float) * kC2);
  for (int k = 0; k < s.n2; ++k) {
    const int y = s.pos2[k] / kSide1, x = s.pos2[k] % kSide1;
    std::memcpy(out->y2[re.y2.Index(y, x)], s.y2new[k], sizeof(float) * kC2);
  }
  for (int y = re.a2.y0; y <= re.a2.y1; ++y)
    for (int x = re.a2.x0; x <= re.a2.x1; ++x)
      std::memcpy(out->a2[re.a2.Index(y, x)], base.a2 + (y * kSide2 + x) * kC2,
                  sizeof(float) * kC2);
  for (int k = 0; k < s.n3; ++k) {
    const int y = s.cell3[k] / kSide2, x = s.cell3[k] % kSide2;
    std::memcpy(out->a2[re.a2.Index(y, x)], s.a2new[k], sizeof(float) * kC2);
  }
}

}  // namespace

struct SparseJudgeKernel::Net {
  AlignedFloats w1;   // conv1 [plane 2][ky 5][kx 5][out 32]
  float b1[kC1];
  AlignedFloats w2;   // conv2 [ky 5][kx 5][in 32][out 64]
  float b2[kC2];
  // fc1 by block of units, then input: [unit / 64][cell 49][channel 64][unit % 64].
  // An input's 64 weights of a block are one contiguous 256-byte slice, and the
  // slices of one block are packed together: plain column-major ([input][1024])
  // puts all inputs' slices of a block 4 KB apart, in the same few cache sets.
  AlignedFloats wf1;
  float bf1[kF1];
  AlignedFloats wf2;  // fc2 [class 10][unit 1024]
  float bf2[kNumClasses];
  std::unique_ptr<State> background;  // nothing revealed
  oversight::Logits background_logits;

  // The inner loops of one instruction set (see sparse_kernel_loops.inc).
  void (*reveal)(const Net&, const State&, const uint8_t*, const int*, int, const int*, int,
                 Scratch*) = nullptr;
  void (*fc2)(const Net&, const float*, oversight::Logits*) = nullptr;
  void (*children)(const Net&, const State&, const uint8_t*, int*, int, const int*, int,
                   Scratch*, ChildBuffers*, ChildState* const*, oversight::Logits*) = nullptr;
  void (*children_from_parent)(const Net&, const State&, const PlyDelta&, const uint8_t*, int*,
                               int, const ChildState* const*, ChildState* const*, int, Scratch*,
                               ChildBuffers*, oversight::Logits*) = nullptr;
  const char* isa = "";
};

// ---------------------------------------------------------------------------
// [SECTION] Inner loops, once per instruction set
// ---------------------------------------------------------------------------
namespace {
using Logits = oversight::Logits;
namespace loops_baseline {
constexpr int kVecFloats = 4;  // SSE
typedef float VecF __attribute__((vector_size(kVecFloats * sizeof(float))));
constexpr int kBlock = 8 * kVecFloats;
static_assert(kUnitBlock % kBlock == 0, "whole blocks");
#include "judges/sparse_kernel_loops.inc"
}  // namespace loops_baseline

// GCC only: Clang ignores `#pragma GCC target`, so there the AVX2 copy would
// be baseline code under another name.
#if defined(__GNUC__) && !defined(__clang__) && defined(__x86_64__)
#define OVERSIGHT_KERNEL_AVX2 1
#pragma GCC push_options
#pragma GCC target("avx2,fma")
namespace loops_avx2 {
constexpr int kVecFloats = 8;  // AVX
typedef float VecF __attribute__((vector_size(kVecFloats * sizeof(float))));
constexpr int kBlock = 8 * kVecFloats;
static_assert(kUnitBlock % kBlock == 0, "whole blocks");
#include "judges/sparse_kernel_loops.inc"
}  // namespace loops_avx2
#pragma GCC pop_options

// AVX-512: 16 floats per register; kBlock = one 64-unit fc1 block in 4
// registers (tests/bench_debate: about +12% rollouts/s over AVX2 on Zen 5).
#pragma GCC push_options
#pragma GCC target("avx2,fma,avx512f,avx512vl,avx512dq,avx512bw,prefer-vector-width=512")
namespace loops_avx512 {
constexpr int kVecFloats = 16;
typedef float VecF __attribute__((vector_size(kVecFloats * sizeof(float))));
constexpr int kBlock = 4 * kVecFloats;
static_assert(kUnitBlock % kBlock == 0, "whole blocks");
#include "judges/sparse_kernel_loops.inc"
}  // namespace loops_avx512
#pragma GCC pop_options
#endif

bool CpuHasAvx2() {
#ifdef OVERSIGHT_KERNEL_AVX2
  __builtin_cpu_init();
  return __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma");
#else
  return false;
#endif
}

bool CpuHasAvx512() {
#ifdef OVERSIGHT_KERNEL_AVX2
  __builtin_cpu_init();
  return CpuHasAvx2() && __builtin_cpu_supports("avx512f") &&
         __builtin_cpu_supports("avx512vl") && __builtin_cpu_supports("avx512dq") &&
         __builtin_cpu_supports("avx512bw");
#else
  return false;
#endif
}

}  // namespace

// ---------------------------------------------------------------------------
// [SECTION] Kernel: weights and background
// ---------------------------------------------------------------------------
namespace {

void CheckSize(const std::vector<float>& v, size_t n, const char* what) {
  if (v.size() != n)
    throw std::invalid_argument(std::string("SparseJudgeKernel: ") + what + " has " +
                                std::to_string(v.size()) + " values, expected " +
                                std::to_string(n));
}

// Background activations (nothing revealed), in double for accuracy: conv1
// outputs its bias everywhere, so a1 = relu(b1) in every cell; y2 still
// varies near the borders (zero padding).
void ComputeBackground(SparseJudgeKernel::Net* net) {
  State& s = *net->background;
  for (int cell = 0; cell < kCells1; ++cell)
    for (int o = 0; o < kC1; ++o) s.a1[cell * kC1 + o] = std::max(net->b1[o], 0.0f);
  std::vector<double> acc(kC2);
  for (int y = 0; y < kSide1; ++y)
    for (int x = 0; x < kSide1; ++x) {
      for (int o = 0; o < kC2; ++o) acc[o] = net->b2[o];
      for (int ky = 0; ky < kK; ++ky)
        for (int kx = 0; kx < kK; ++kx) {
          const int i = y + ky - 2, j = x + kx - 2;
          if (i < 0 || i >= kSide1 || j < 0 || j >= kSide1) continue;
          const float* a = s.a1 + (i * kSide1 + j) * kC1;
          const float* w = net->w2.data() + (ky * kK + kx) * kC1 * kC2;
          for (int ic = 0; ic < kC1; ++ic)
            for (int o = 0; o < kC2; ++o)
              acc[o] += static_cast<double>(a[ic]) * w[ic * kC2 + o];
        }
      for (int o = 0; o < kC2; ++o) s.y2[(y * kSide1 + x) * kC2 + o] = static_cast<float>(acc[o]);
    }
  for (int ci = 0; ci < kSide2; ++ci)
    for (int cj = 0; cj < kSide2; ++cj)
      for (int o = 0; o < kC2; ++o) {
        float m = 0.0f;
        for (int p = 0; p < 4; ++p)
          m = std::max(m, s.y2[((2 * ci + p / 2) * kSide1 + 2 * cj + p % 2) * kC2 + o]);
        s.a2[(ci * kSide2 + cj) * kC2 + o] = m;
      }
  std::vector<double> h(net->bf1, net->bf1 + kF1);
  for (int col = 0; col < kIn1; ++col) {
    const double a = s.a2[col];
    if (a == 0.0) continue;
    for (int u = 0; u < kF1; ++u)
      h[u] += a * net->wf1[(static_cast<size_t>(u / kUnitBlock) * kIn1 + col) * kUnitBlock +
                           u % kUnitBlock];
  }
  for (int u = 0; u < kF1; ++u) s.h[u] = static_cast<float>(h[u]);
  for (int c = 0; c < kNumClasses; ++c) {
    double sum = net->bf2[c];
    for (int u = 0; u < kF1; ++u)
      sum += std::max(h[u], 0.0) * net->wf2[static_cast<size_t>(c) * kF1 + u];
    net->background_logits[c] = static_cast<float>(sum);
  }
}

}  // namespace

SparseJudgeKernel::SparseJudgeKernel(const SparseNetWeights& w, SparseKernelOptions options) {
  CheckSize(w.conv1_weight, kC1 * 2 * kK * kK, "conv1_weight");
  CheckSize(w.conv1_bias, kC1, "conv1_bias");
  CheckSize(w.conv2_weight, static_cast<size_t>(kC2) * kC1 * kK * kK, "conv2_weight");
  CheckSize(w.conv2_bias, kC2, "conv2_bias");
  CheckSize(w.fc1_weight, static_cast<size_t>(kF1) * kIn1, "fc1_weight");
  CheckSize(w.fc1_bias, kF1, "fc1_bias");
  CheckSize(w.fc2_weight, static_cast<size_t>(kNumClasses) * kF1, "fc2_weight");
  CheckSize(w.fc2_bias, kNumClasses, "fc2_bias");

  auto net = std::make_shared<Net>();
  if (options.isa != "auto" && options.isa != "avx512" && options.isa != "avx2" &&
      options.isa != "baseline")
    throw std::invalid_argument("SparseJudgeKernel: unknown isa \"" + options.isa +
                                "\"; expected \"auto\", \"avx512\", \"avx2\" or \"baseline\"");
  if ((options.isa == "avx512" && !CpuHasAvx512()) || (options.isa == "avx2" && !CpuHasAvx2()))
    throw std::invalid_argument("SparseJudgeKernel: isa \"" + options.isa +
                                "\" requested, but this CPU (or build) lacks it; use \"auto\" "
                                "or \"baseline\"");
#ifdef OVERSIGHT_KERNEL_AVX2
  if ((options.isa == "auto" && CpuHasAvx512()) || options.isa == "avx512")
    loops_avx512::Install(net.get(), "avx512");
  else if ((options.isa == "auto" && CpuHasAvx2()) || options.isa == "avx2")
    loops_avx2::Install(net.get(), "avx2");
#endif
  if (!net->reveal) loops_baseline::Install(net.get(), "baseline");

  net->w1 = AlignedFloats(2 * kK * kK * kC1);
  for (int o = 0; o < kC1; ++o)
    for (int p = 0; p < 2 * kK * kK; ++p) net->w1[p * kC1 + o] = w.conv1_weight[o * 2 * kK * kK + p];
  std::copy(w.conv1_bias.begin(), w.conv1_bias.end(), net->b1);
  net->w2 = AlignedFloats(static_cast<size_t>(kK) * kK * kC1 * kC2);
  for (int o = 0; o < kC2; ++o)
    for (int ic = 0; ic < kC1; ++ic)
      for (int k = 0; k < kK * kK; ++k)
        net->w2[(k * kC1 + ic) * kC2 + o] = w.conv2_weight[(o * kC1 + ic) * kK * kK + k];
  std::copy(w.conv2_bias.begin(), w.conv2_bias.end(), net->b2);
  net->wf1 = AlignedFloats(static_cast<size_t>(kIn1) * kF1);
  for (int u = 0; u < kF1; ++u) {
    const float* row = w.fc1_weight.data() + static_cast<size_t>(u) * kIn1;
    float* block = net->wf1.data() + static_cast<size_t>(u / kUnitBlock) * kIn1 * kUnitBlock;
    for (int o = 0; o < kC2; ++o)
      for (int cell = 0; cell < kCells2; ++cell)
        block[(cell * kC2 + o) * kUnitBlock + u % kUnitBlock] = row[o * kCells2 + cell];
  }
  std::copy(w.fc1_bias.begin(), w.fc1_bias.end(), net->bf1);
  net->wf2 = AlignedFloats(static_cast<size_t>(kNumClasses) * kF1);
  std::copy(w.fc2_weight.begin(), w.fc2_weight.end(), net->wf2.data());
  std::copy(w.fc2_bias.begin(), w.fc2_bias.end(), net->bf2);

  net->background = std::make_unique<State>();
  ComputeBackground(net.get());
  net_ = std::move(net);
}

const Logits& SparseJudgeKernel::Background() const { return net_->background_logits; }

const char* SparseJudgeKernel::isa() const { return net_->isa; }

Logits SparseJudgeKernel::Evaluate(const SparseQuery& query) const {
  // One scratch per thread: it is large (~150 KB) and every call leaves it clean.
  thread_local std::unique_ptr<Scratch> scratch;
  thread_local std::vector<int> pixels;
  if (!scratch) scratch = std::make_unique<Scratch>();
  uint64_t seen[(kImagePixels + 63) / 64] = {};
  pixels.clear();
  for (int n = 0; n < query.count; ++n) {
    const int p = query.pixels[n];
    if (p < 0 || p >= kImagePixels)
      throw std::invalid_argument("SparseJudgeKernel: pixel " + std::to_string(p) +
                                  " is outside 0.." + std::to_string(kImagePixels - 1));
    if (seen[p / 64] >> (p % 64) & 1) continue;
    seen[p / 64] |= uint64_t{1} << (p % 64);
    pixels.push_back(p);
  }
  if (pixels.empty()) return net_->background_logits;
  const int n = static_cast<int>(pixels.size());
  net_->reveal(*net_, *net_->background, query.image, pixels.data(), n, pixels.data(), n,
               scratch.get());
  Logits out;
  net_->fc2(*net_, scratch->h, &out);
  return out;
}

// ---------------------------------------------------------------------------
// [SECTION] Session
// ---------------------------------------------------------------------------
namespace {

// The children Children() evaluated for one base position (a pixel set).
struct Generation {
  PixelSetCache::Key base;
  int64_t last_use = 0;
  int n = 0;                                          // children in use
  std::vector<std::unique_ptr<ChildState>> children;  // [0, n) in use, the rest spare
  int16_t slot[kImagePixels];                         // index by pixel, or -1

  void Reset(const PixelSetCache::Key& key) {
    base = key;
    n = 0;
    std::fill(std::begin(slot), std::end(slot), static_cast<int16_t>(-1));
  }
  ChildState* Add(int pixel) {
    if (n == static_cast<int>(children.size())) children.push_back(std::unique_ptr<ChildState>(new ChildState));  // uninitialised: written before read
    slot[pixel] = static_cast<int16_t>(n);
    ChildState* c = children[n++].get();
    c->pixel = -1;  // until computed
    return c;
  }
  const ChildState* Find(int pixel) const {
    const int k = slot[pixel];
    return k >= 0 && children[k]->pixel == pixel ? children[k].get() : nullptr;
  }
};

// Generations a session keeps (least recently used goes first): about 3 MB
// each for 150 children. One-ply searchers revisit a few bases: the empty
// one at every game's start, and the last few of the game.
constexpr int kGenerations = 8;

// One image, a stack of reveals. The current State is updated in place by
// Push(); each level keeps the old values of what it changed (a1 cells, y2
// positions, a2 cells, h), so Pop() restores them bit for bit. Children()
// keeps the children's states by base (see ChildState), so the children of
// a base one pixel past a kept one follow from them.
class KernelSession : public SparseJudgeSession {
 public:
  KernelSession(std::shared_ptr<const SparseJudgeKernel::Net> net, const uint8_t* image)
      : net_(std::move(net)),
        image_(image),
        state_(std::make_unique<State>(*net_->background)),
        scratch_(std::make_unique<Scratch>()),
        revealed_mask_(kImagePixels, 0),
        keys_(1, PixelSetCache::Empty()) {
    logits_ = net_->background_logits;
    logits_valid_ = true;
  }

  void Push(int pixel) override {
    Check(pixel, "Push");
    revealed_.push_back(pixel);
    revealed_mask_[pixel] = 1;
    keys_.push_back(PixelSetCache::Toggle(keys_.back(), pixel));
    const int n = static_cast<int>(revealed_.size());
    net_->reveal(*net_, *state_, image_, revealed_.data(), n, &pixel, 1, scratch_.get());
    if (undo_.size() < revealed_.size()) undo_.emplace_back();
    Undo& u = undo_[revealed_.size() - 1];
    u.logits = logits_;
    u.logits_valid = logits_valid_;
    Commit(*scratch_, state_.get(), &u);
    logits_valid_ = false;
  }

  void Pop() override {
    if (revealed_.empty()) throw std::logic_error("SparseJudgeSession::Pop: nothing revealed");
    Undo& u = undo_[revealed_.size() - 1];
    Restore(u, state_.get());
    logits_ = u.logits;
    logits_valid_ = u.logits_valid;
    revealed_mask_[revealed_.back()] = 0;
    revealed_.pop_back();
    keys_.pop_back();
  }

  int Depth() const override { return static_cast<int>(revealed_.size()); }

  Logits Current() override {
    if (!logits_valid_) {
      net_->fc2(*net_, state_->h, &logits_);
      logits_valid_ = true;
    }
    return logits_;
  }

  // Each child is, in order of preference: kept for this base already (fc2
  // only); kept for the base one pixel back (ChildFromParent); or computed
  // from the current state (the loops' Children), and kept.
  void Children(const std::vector<int>& pixels, std::vector<Logits>* out) override {
    for (int p : pixels) Check(p, "Children");
    out->resize(pixels.size());
    if (pixels.empty()) return;
    if (!children_) children_ = std::make_unique<ChildBuffers>();
    const int n = static_cast<int>(revealed_.size());
    Generation* parent = n > 0 ? FindGeneration(keys_[n - 1]) : nullptr;
    Generation* cur = FindGeneration(keys_[n]);
    if (!cur) cur = NewGeneration(keys_[n], parent);
    fresh_.clear();
    fresh_at_.clear();
    capture_.clear();
    carried_from_.clear();
    carried_to_.clear();
    carried_at_.clear();
    revealed_.push_back(-1);  // each child's slot
    for (size_t i = 0; i < pixels.size(); ++i) {
      const int p = pixels[i];
      if (const ChildState* kept = cur->Find(p)) {
        net_->fc2(*net_, kept->h, &(*out)[i]);
        ++stats_.kept;
        continue;
      }
      const bool repeated = cur->slot[p] >= 0;  // twice in `pixels`
      const ChildState* from = parent && !repeated ? parent->Find(p) : nullptr;
      if (!from) {
        fresh_.push_back(p);
        fresh_at_.push_back(i);
        capture_.push_back(repeated ? nullptr : cur->Add(p));
        continue;
      }
      carried_from_.push_back(from);
      carried_to_.push_back(cur->Add(p));
      carried_at_.push_back(i);
    }
    if (!carried_from_.empty()) {
      BuildPly(n);
      carried_out_.resize(carried_from_.size());
      net_->children_from_parent(*net_, *state_, *ply_, image_, revealed_.data(), n,
                                 carried_from_.data(), carried_to_.data(),
                                 static_cast<int>(carried_from_.size()), scratch_.get(),
                                 children_.get(), carried_out_.data());
      for (size_t k = 0; k < carried_at_.size(); ++k) (*out)[carried_at_[k]] = carried_out_[k];
      stats_.from_parent += static_cast<int64_t>(carried_from_.size());
    }
    if (!fresh_.empty()) {
      fresh_out_.resize(fresh_.size());
      net_->children(*net_, *state_, image_, revealed_.data(), n, fresh_.data(),
                     static_cast<int>(fresh_.size()), scratch_.get(), children_.get(),
                     capture_.data(), fresh_out_.data());
      for (size_t k = 0; k < fresh_.size(); ++k) (*out)[fresh_at_[k]] = fresh_out_[k];
      stats_.fresh += static_cast<int64_t>(fresh_.size());
    }
    revealed_.pop_back();
  }

  SparseKernelSessionStats stats() const { return stats_; }

 private:
  // Old values of what one Push() changed. Its vectors keep their capacity,
  // so a session allocates nothing once its stack has been this deep.
  struct Undo {
    std::vector<int> cells1, pos2, cells3;
    std::vector<float> a1, y2, a2;
    std::vector<float> h;
    Logits logits;
    bool logits_valid = false;
  };

  void Check(int pixel, const char* what) const {
    if (pixel < 0 || pixel >= kImagePixels)
      throw std::invalid_argument(std::string("SparseJudgeSession::") + what + ": pixel " +
                                  std::to_string(pixel) + " is outside 0.." +
                                  std::to_string(kImagePixels - 1));
    if (revealed_mask_[pixel])
      throw std::invalid_argument(std::string("SparseJudgeSession::") + what + ": pixel " +
                                  std::to_string(pixel) + " is already revealed");
  }

  // Overwrites rows cells[0..n) (each `width` floats) of `base` with `rows`,
  // keeping the cell list and the old rows in `undo_cells` / `undo_rows`.
  template <class Rows>
  static void SwapRowsIn(const int* cells, int n, int width, const Rows& rows, float* base,
                         std::vector<int>* undo_cells, std::vector<float>* undo_rows) {
    undo_cells->assign(cells, cells + n);
    undo_rows->resize(static_cast<size_t>(n) * width);
    for (int k = 0; k < n; ++k) {
      float* dst = base + cells[k] * width;
      std::memcpy(undo_rows->data() + k * width, dst, sizeof(float) * width);
      std::memcpy(dst, rows[k], sizeof(float) * width);
    }
  }

  // Writes the new values in `s` into `st`, keeping the old ones in `u`.
  static void Commit(const Scratch& s, State* st, Undo* u) {
    SwapRowsIn(s.cell1, s.n1, kC1, s.a1new, st->a1, &u->cells1, &u->a1);
    SwapRowsIn(s.pos2, s.n2, kC2, s.y2new, st->y2, &u->pos2, &u->y2);
    SwapRowsIn(s.cell3, s.n3, kC2, s.a2new, st->a2, &u->cells3, &u->a2);
    u->h.assign(st->h, st->h + kF1);
    std::memcpy(st->h, s.h, sizeof(float) * kF1);
  }

  static void Restore(const Undo& u, State* st) {
    for (size_t k = 0; k < u.cells1.size(); ++k)
      std::memcpy(st->a1 + u.cells1[k] * kC1, u.a1.data() + k * kC1, sizeof(float) * kC1);
    for (size_t k = 0; k < u.pos2.size(); ++k)
      std::memcpy(st->y2 + u.pos2[k] * kC2, u.y2.data() + k * kC2, sizeof(float) * kC2);
    for (size_t k = 0; k < u.cells3.size(); ++k)
      std::memcpy(st->a2 + u.cells3[k] * kC2, u.a2.data() + k * kC2, sizeof(float) * kC2);
    std::memcpy(st->h, u.h.data(), sizeof(float) * kF1);
  }

  Generation* FindGeneration(const PixelSetCache::Key& key) {
    for (auto& g : generations_)
      if (g->base == key) {
        g->last_use = ++clock_;
        return g.get();
      }
    return nullptr;
  }

  // A cleared generation for `key`: a new one, or the least recently used
  // other than `keep`.
  Generation* NewGeneration(const PixelSetCache::Key& key, const Generation* keep) {
    Generation* g = nullptr;
    if (generations_.size() < kGenerations) {
      generations_.push_back(std::make_unique<Generation>());
      g = generations_.back().get();
    } else {
      for (auto& c : generations_)
        if (c.get() != keep && (!g || c->last_use < g->last_use)) g = c.get();
    }
    g->Reset(key);
    g->last_use = ++clock_;
    return g;
  }

  // ply_ = what the last of the n pushes changed.
  void BuildPly(int n) {
    if (!ply_) ply_ = std::make_unique<PlyDelta>();
    const Undo& u = undo_[n - 1];
    PlyDelta& d = *ply_;
    d.pixel = revealed_[n - 1];
    d.reach = ReachOf(d.pixel);
    std::fill(std::begin(d.idx1), std::end(d.idx1), static_cast<int16_t>(-1));
    std::fill(std::begin(d.idx2), std::end(d.idx2), static_cast<int16_t>(-1));
    std::fill(std::begin(d.idx3), std::end(d.idx3), static_cast<int16_t>(-1));
    for (size_t k = 0; k < u.cells1.size(); ++k) d.idx1[u.cells1[k]] = static_cast<int16_t>(k);
    for (size_t k = 0; k < u.pos2.size(); ++k) d.idx2[u.pos2[k]] = static_cast<int16_t>(k);
    for (size_t k = 0; k < u.cells3.size(); ++k) d.idx3[u.cells3[k]] = static_cast<int16_t>(k);
    d.a1old = u.a1.data();
    d.y2old = u.y2.data();
    d.a2old = u.a2.data();
    for (int k = 0; k < kF1; ++k) d.dh[k] = state_->h[k] - u.h[k];
  }

  std::shared_ptr<const SparseJudgeKernel::Net> net_;
  const uint8_t* image_;
  std::unique_ptr<State> state_;
  std::unique_ptr<Scratch> scratch_;
  std::unique_ptr<ChildBuffers> children_;  // on the first Children()
  std::vector<int> revealed_;              // in push order
  std::vector<uint8_t> revealed_mask_;     // by pixel
  std::vector<Undo> undo_;                 // undo_[d]: what push d + 1 changed
  Logits logits_;                          // of the current state, when valid
  bool logits_valid_ = false;
  std::vector<PixelSetCache::Key> keys_;   // keys_[d]: the set of the first d pushes
  std::vector<std::unique_ptr<Generation>> generations_;
  int64_t clock_ = 0;
  std::unique_ptr<PlyDelta> ply_;
  std::vector<int> fresh_, fresh_at_;      // Children(): work lists
  std::vector<ChildState*> capture_;
  std::vector<Logits> fresh_out_;
  std::vector<const ChildState*> carried_from_;
  std::vector<ChildState*> carried_to_;
  std::vector<size_t> carried_at_;
  std::vector<Logits> carried_out_;
  SparseKernelSessionStats stats_;
};

}  // namespace

std::unique_ptr<SparseJudgeSession> SparseJudgeKernel::NewSession(const uint8_t* image) const {
  return std::make_unique<KernelSession>(net_, image);
}

SparseKernelSessionStats KernelSessionStats(const SparseJudgeSession& session) {
  const auto* k = dynamic_cast<const KernelSession*>(&session);
  return k ? k->stats() : SparseKernelSessionStats{};
}

// ---------------------------------------------------------------------------
// [SECTION] Torch factory
// ---------------------------------------------------------------------------
namespace {

std::vector<float> ToVector(const torch::Tensor& t) {
  torch::Tensor c = t.detach().to(torch::kCPU, torch::kFloat).contiguous();
  return std::vector<float>(c.data_ptr<float>(), c.data_ptr<float>() + c.numel());
}

}  // namespace

SparseNetWeights ReadSparseNetWeights(SparseNetImpl& net) {
  torch::NoGradGuard no_grad;
  auto params = net.named_parameters(/*recurse=*/true);
  auto get = [&](const char* name) {
    const torch::Tensor* t = params.find(name);
    if (!t) throw std::invalid_argument(std::string("SparseNet has no parameter ") + name);
    return ToVector(*t);
  };
  SparseNetWeights w;
  w.conv1_weight = get("conv1.weight");
  w.conv1_bias = get("conv1.bias");
  w.conv2_weight = get("conv2.weight");
  w.conv2_bias = get("conv2.bias");
  w.fc1_weight = get("fc1.weight");
  w.fc1_bias = get("fc1.bias");
  w.fc2_weight = get("fc2.weight");
  w.fc2_bias = get("fc2.bias");
  return w;
}

SparseJudgeKernel MakeSparseJudgeKernel(SparseNetImpl& net, SparseKernelOptions options) {
  return SparseJudgeKernel(ReadSparseNetWeights(net), std::move(options));
}

}  // namespace oversight
