// Exact incremental evaluation of the sparse-pixel judge network (SparseNet,
// judges/sparse_net.h) for search: MCTS and greedy debaters reveal a few
// pixels at a time, and almost all of the network's work is the same for
// every query. Private to judges/. No LibTorch here (sparse_kernel.cpp reads
// the torch parameters).
//
// How it works. With nothing revealed, conv1's output is its bias everywhere,
// so every layer's "background" activations are constants of the network,
// computed once. Revealing pixel (r, c) changes conv1 only in its 5x5 window,
// so the pooled conv1 activations a1 [32,14,14] in at most 3x3 cells; they
// are recomputed exactly from all revealed pixels in range (ReLU and max-pool
// are not linear). conv2's pre-activations y2 [64,14,14] change by conv2
// applied to the sparse delta of a1 (at most 7x7 positions), the pooled a2
// [64,7,7] in at most 4x4 cells, and fc1's pre-activation h [1024] by the
// columns of W_fc1 at the changed a2 entries times their deltas. fc2 then
// runs in full on relu(h). Results equal SparseNet::forward in eval mode to
// float rounding (tests/sparse_kernel_test.cpp checks 1e-5).
//
// Children() reuses the current state for every candidate and runs fc1 for
// small groups of candidates together, since neighbouring reveals change
// mostly the same fc1 columns. It also keeps each child's activations over
// the child pixel's reach (for the last few positions asked about), so the
// children of the next position, one pixel p on, follow from the kept ones:
// h(b + p + q) = h(b + q) + (h(b + p) - h(b)) + what p and q change
// together, which is nonzero only where their reaches meet and mostly zero
// even there (the same pooled position and ReLU side with and without q).
// A one-ply searcher (the greedy debater) pays about a third of a fresh
// child for each. Weights are stored transposed for the access
// pattern (channel- or unit-innermost). The inner loops are compiled three
// times, for baseline x86-64 (SSE2), AVX2+FMA and AVX-512, and the variant is
// picked at run time from the CPU, never assumed at compile time. Figures:
// tests/bench_judge_eval.cpp.
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "protocols/sparse_pixels.h"

namespace oversight {

class SparseNetImpl;

// A SparseNet's parameters in PyTorch's own (row-major, contiguous) layouts.
struct SparseNetWeights {
  std::vector<float> conv1_weight;  // [32, 2, 5, 5]
  std::vector<float> conv1_bias;    // [32]
  std::vector<float> conv2_weight;  // [64, 32, 5, 5]
  std::vector<float> conv2_bias;    // [64]
  std::vector<float> fc1_weight;    // [1024, 3136], input index = channel * 49 + cell
  std::vector<float> fc1_bias;      // [1024]
  std::vector<float> fc2_weight;    // [10, 1024]
  std::vector<float> fc2_bias;      // [10]
};

// Copies `net`'s parameters (on any device) to the CPU. Defined with torch in
// sparse_kernel.cpp. Throws std::invalid_argument on a shape mismatch.
SparseNetWeights ReadSparseNetWeights(SparseNetImpl& net);

struct SparseKernelOptions {
  // Inner-loop variant: "auto" (the best one this CPU supports), "avx512"
  // (AVX-512 F/VL/DQ/BW), "avx2" (AVX2 + FMA; each an error if the CPU lacks
  // it) or "baseline" (plain x86-64 SSE2, or the compiler's default
  // elsewhere). Change it only to test or measure.
  std::string isa = "auto";
};

// The network's weights in layouts suited to sparse updates, plus its
// background activations. Immutable after construction, so one kernel may be
// shared by any number of threads; copies share the same weights.
class SparseJudgeKernel {
 public:
  // Throws std::invalid_argument if a weight vector has the wrong size or
  // options.isa is unknown or unsupported by this CPU.
  explicit SparseJudgeKernel(const SparseNetWeights& weights, SparseKernelOptions options = {});

  // A session on `image` (28x28 bytes, which must outlive the session) with
  // nothing revealed. The session keeps the kernel's weights alive. Push() and
  // Children() throw std::invalid_argument for a pixel outside 0..783 or one
  // already revealed (these are REQUIRES: of the interface, checked cheaply).
  // A session holds about 300 KB of state and work space and starts by
  // copying the background: make one per game (or worker), not per tree node.
  std::unique_ptr<SparseJudgeSession> NewSession(const uint8_t* image) const;

  // The logits for one query, computed from the background in one pass.
  // Thread-safe. Repeated pixels count once, as in SparseInput().
  oversight::Logits Evaluate(const SparseQuery& query) const;

  // Logits with nothing revealed.
  const oversight::Logits& Background() const;

  // The inner-loop variant in use: "avx512", "avx2" or "baseline".
  const char* isa() const;

  struct Net;  // defined in sparse_kernel.cpp

 private:
  std::shared_ptr<const Net> net_;
};

// How a kernel session's Children() calls were served, child by child: kept
// for the same base already, carried from the base one pixel back, or
// computed from the current state.
struct SparseKernelSessionStats {
  int64_t kept = 0, from_parent = 0, fresh = 0;
};
// Zero for a session that is not a kernel session.
SparseKernelSessionStats KernelSessionStats(const SparseJudgeSession& session);

// The kernel of `net` (which may live on any device; the kernel runs on the
// CPU on copies of its weights).
SparseJudgeKernel MakeSparseJudgeKernel(SparseNetImpl& net, SparseKernelOptions options = {});

}  // namespace oversight
