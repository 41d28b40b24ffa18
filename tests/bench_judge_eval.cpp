// Benchmark: sparse-pixel judge evaluations per second, torch forward against
// the incremental SparseJudgeKernel, in one process on the same judge and
// positions. Prints figures and ratios to the one-at-a-time torch baseline.
//
//   bench_judge_eval [--checkpoint judge.pt] [--seconds S] [--only LETTERS]
//                    [--isa auto|avx512|avx2|baseline]
//
// Without --checkpoint the judge has random weights (scaled as in
// sparse_kernel_test.cpp so that units are neither all dead nor all active).
// Images are MNIST's test split when the cache is installed
// (scripts/setup.sh), random sparse images otherwise. Positions: k = 6
// random nonzero pixels per image.
//
//   (a) torch, one query per forward, 1 intra-op thread (the baseline)
//   (b) torch, batches of 256 queries, 1 and 2 intra-op threads
//   (c) kernel Children(): 5 pixels revealed, every legal next pixel
//   (d) kernel Push + Current + Pop of one pixel on 5 revealed
//   (e) kernel Evaluate(): 6 pixels from scratch (what Logits() can use)
//   (f) Evaluate against torch batches by number of pixels (Logits()' switch)
// All kernel figures are one thread; a game worker per core scales them.
#include <torch/torch.h>

#include <algorithm>
#include <chrono>
#include <ctime>
#ifdef __GLIBC__
#include <malloc.h>
#endif
#include <cstdio>
#include <cstring>
#include <random>
#include <string>
#include <vector>

#include "engine/dataset.h"
#include "judges/sparse_kernel.h"
#include "judges/sparse_net.h"

namespace oversight {
namespace {

using Clock = std::chrono::steady_clock;

double Seconds(Clock::time_point start) {
  return std::chrono::duration<double>(Clock::now() - start).count();
}

struct Position {
  const uint8_t* image;
  std::vector<int> nonzero;   // legal reveals of the image
  std::vector<int> revealed;  // k = 6 distinct nonzero pixels
};

// CPU time of the whole process (all its threads), in seconds.
double ProcessCpuSeconds() {
  timespec t{};
  clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &t);
  return static_cast<double>(t.tv_sec) + 1e-9 * static_cast<double>(t.tv_nsec);
}

struct Figure {
  double rate = 0.0;   // evaluations per wall-clock second
  double cores = 0.0;  // CPU seconds used per wall second (other load lowers it)
};

// Runs `body` (which returns how many evaluations it did) until `seconds`
// have passed, after one warm-up call.
template <typename F>
Figure Measure(double seconds, F body) {
  body();
  int64_t evals = 0;
  const double cpu0 = ProcessCpuSeconds();
  const auto start = Clock::now();
  do {
    evals += body();
  } while (Seconds(start) < seconds);
  const double wall = Seconds(start);
  return {static_cast<double>(evals) / wall, (ProcessCpuSeconds() - cpu0) / wall};
}

// baseline 0: not measured, no ratio.
void Print(const std::string& what, const Figure& f, double baseline) {
  std::printf("  %-56s %9.0f/s", what.c_str(), f.rate);
  if (baseline > 0)
    std::printf(" %7.2fx", f.rate / baseline);
  else
    std::printf("         ");
  std::printf("   %4.2f %9.0f\n", f.cores, f.rate / f.cores);
}

int Main(int argc, char** argv) {
  std::string checkpoint;
  double seconds = 3.0;
  std::string only = "abcdef";  // which figures to measure (for profiling one)
  SparseKernelOptions kernel_options;
  for (int i = 1; i < argc; ++i) {
    if (!std::strcmp(argv[i], "--checkpoint") && i + 1 < argc) {
      checkpoint = argv[++i];
    } else if (!std::strcmp(argv[i], "--seconds") && i + 1 < argc) {
      seconds = std::stod(argv[++i]);
    } else if (!std::strcmp(argv[i], "--isa") && i + 1 < argc) {
      kernel_options.isa = argv[++i];
    } else if (!std::strcmp(argv[i], "--only") && i + 1 < argc) {
      only = argv[++i];
    } else {
      std::fprintf(stderr, "usage: bench_judge_eval [--checkpoint judge.pt] [--seconds S] "
                           "[--only LETTERS (of abcdef)] [--isa auto|avx512|avx2|baseline]\n");
      return 2;
    }
  }
#ifdef __GLIBC__
  // Keep freed memory in the heap. By default glibc hands the ~26 MB
  // activations of a batch of 256 back to the kernel after each forward and
  // faults them in again on the next, which made torch's batched figure swing
  // 3-4x between runs here (700 to 3,400/s); this gives torch its best case.
  mallopt(M_MMAP_THRESHOLD, 32 << 20);
  mallopt(M_TRIM_THRESHOLD, 1 << 30);
#endif
  torch::NoGradGuard no_grad;
  SparseNet net{nullptr};
  if (!checkpoint.empty()) {
    SparseJudgeMeta meta;
    net = LoadSparseJudge(checkpoint, &meta, torch::kCPU);
    std::printf("judge: %s (k=%d, %s)\n", checkpoint.c_str(), meta.pixels, meta.dataset.c_str());
  } else {
    torch::manual_seed(20180502);
    net = SparseNet();
    for (auto& p : net->named_parameters()) {
      const std::string& name = p.key();
      p.value().mul_(name == "conv1.weight" ? 6.0f
                     : name == "conv2.weight" || name == "fc1.weight" ? 3.0f
                     : name == "fc2.weight" ? 2.0f : 1.0f);
    }
    std::printf("judge: random weights (seed 20180502, scaled)\n");
  }
  net->eval();

  ImageDataset data;
  std::mt19937 rng(12345);
  try {
    data = LoadMnist(DefaultMnistDir(), "test");
    std::printf("images: MNIST test split, %zu images\n", data.size());
  } catch (const DataError& e) {
    std::printf("images: random sparse images (MNIST not installed: %s)\n", e.what());
    data.pixels.assign(static_cast<size_t>(1000) * kImagePixels, 0);
    data.labels.assign(1000, 0);
    std::bernoulli_distribution on(0.19);  // MNIST's share of nonzero pixels
    for (auto& v : data.pixels) v = on(rng) ? static_cast<uint8_t>(1 + rng() % 255) : 0;
  }
  const int kPositions = 512;
  std::vector<Position> positions;
  for (int i = 0; i < kPositions; ++i) {
    Position pos;
    pos.image = data.image(static_cast<size_t>(i) % data.size());
    pos.nonzero = NonzeroPixels(pos.image);
    std::vector<int> pool = pos.nonzero;
    std::shuffle(pool.begin(), pool.end(), rng);
    pos.revealed.assign(pool.begin(), pool.begin() + std::min<size_t>(6, pool.size()));
    positions.push_back(std::move(pos));
  }
  std::vector<SparseQuery> queries;
  for (const Position& p : positions)
    queries.push_back({p.image, p.revealed.data(), static_cast<int>(p.revealed.size())});

  const SparseJudgeKernel kernel = MakeSparseJudgeKernel(*net, kernel_options);
  std::printf("kernel inner loops: %s\n", kernel.isa());

  // Agreement on these queries (sanity; the tests check it properly).
  {
    at::set_num_threads(1);
    torch::Tensor want = net->forward(SparseInput(queries)).contiguous();
    float worst = 0.0f, biggest = 0.0f;
    for (size_t i = 0; i < queries.size(); ++i) {
      const Logits got = kernel.Evaluate(queries[i]);
      for (int c = 0; c < kNumClasses; ++c) {
        const float w = want.data_ptr<float>()[i * kNumClasses + c];
        worst = std::max(worst, std::abs(got[c] - w) / std::max(1.0f, std::abs(w)));
        biggest = std::max(biggest, std::abs(w));
      }
    }
    std::printf("agreement: max relative error %.2e over %zu queries (max |logit| %.2f)\n\n",
                worst, queries.size(), biggest);
  }

  std::printf("One process, %.0f s per figure. Ratios are to (a). \"cores\" is the CPU time used\n"
              "per wall second: below 1 (or 2) when other processes compete for the CPU;\n"
              "\"/CPU-s\" is the rate per second of CPU actually used.\n\n",
              seconds);
  std::printf("  %-56s %11s %8s   %4s %9s\n", "", "evals", "ratio", "cores", "/CPU-s");
  auto want = [&](char figure) { return only.find(figure) != std::string::npos; };
  double baseline = 0.0;
  // (a) torch, one at a time, 1 thread.
  at::set_num_threads(1);
  if (want('a')) {
    size_t next = 0;
    const Figure f = Measure(seconds, [&] {
      std::vector<SparseQuery> one = {queries[next++ % queries.size()]};
      net->forward(SparseInput(one));
      return 1;
    });
    baseline = f.rate;
    Print("(a) torch forward, 1 query, 1 thread", f, baseline);
  }

  // (b) torch, batches of 256, 1 thread (2 threads: at the end).
  std::vector<SparseQuery> batch(queries.begin(), queries.begin() + 256);
  auto batched = [&](int threads) {
    at::set_num_threads(threads);
    const Figure f = Measure(seconds, [&] {
      net->forward(SparseInput(batch));
      return 256;
    });
    Print("(b) torch forward, batch 256, " + std::to_string(threads) + " thread" +
              (threads > 1 ? "s" : ""),
          f, baseline);
    at::set_num_threads(1);
  };
  if (want('b')) batched(1);

  // Sessions with the first 5 of each position's pixels revealed, and their
  // legal moves (every other nonzero pixel).
  std::vector<std::unique_ptr<SparseJudgeSession>> sessions;
  std::vector<std::vector<int>> moves;
  double mean_moves = 0;
  for (const Position& p : positions) {
    sessions.push_back(kernel.NewSession(p.image));
    for (size_t k = 0; k + 1 < p.revealed.size(); ++k) sessions.back()->Push(p.revealed[k]);
    std::vector<int> legal;
    for (int q : p.nonzero)
      if (std::find(p.revealed.begin(), p.revealed.end() - 1, q) == p.revealed.end() - 1)
        legal.push_back(q);
    mean_moves += static_cast<double>(legal.size()) / static_cast<double>(positions.size());
    moves.push_back(std::move(legal));
  }

  // (c) Children over all legal moves.
  if (want('c')) {
    std::vector<Logits> out;
    size_t i = 0;
    const Figure f = Measure(seconds, [&] {
      const size_t s = i++ % sessions.size();
      sessions[s]->Children(moves[s], &out);
      return static_cast<int64_t>(moves[s].size());
    });
    char label[96];
    std::snprintf(label, sizeof label, "(c) kernel Children, 5 revealed, all %.0f legal moves",
                  mean_moves);
    Print(label, f, baseline);
  }

  // (d) Push + Current + Pop of one legal pixel.
  float sink = 0.0f;
  if (want('d')) {
    size_t i = 0;
    const Figure f = Measure(seconds, [&] {
      const size_t s = i % sessions.size();
      const std::vector<int>& m = moves[s];
      sessions[s]->Push(m[(i / sessions.size()) % m.size()]);
      sink += sessions[s]->Current()[0];
      sessions[s]->Pop();
      ++i;
      return 1;
    });
    Print("(d) kernel Push + Current + Pop, 5 revealed", f, baseline);
  }

  // (e) Evaluate from scratch, 6 pixels.
  if (want('e')) {
    size_t i = 0;
    const Figure f = Measure(seconds, [&] {
      sink += kernel.Evaluate(queries[i++ % queries.size()])[0];
      return 1;
    });
    Print("(e) kernel Evaluate, 6 pixels from scratch", f, baseline);
  }
  // (f) Where Logits() switches engines: Evaluate against torch forwards of
  // batches of 1, 16 and 256, all one thread, by number of revealed pixels.
  if (want('f')) {
    std::printf("\n(f) kernel Evaluate from scratch vs torch forward (1 thread), by pixels "
                "revealed:\n");
    std::printf("  %6s %10s %13s %13s %13s\n", "pixels", "kernel/s", "torch b=1 /s",
                "torch b=16 /s", "torch b=256/s");
    for (int count : {1, 4, 6, 8, 10, 16, 32, 64}) {
      std::vector<std::vector<int>> sets;
      std::vector<SparseQuery> qs;
      for (int i = 0; i < 256; ++i) {
        const Position& p = positions[static_cast<size_t>(i)];
        std::vector<int> pool = p.nonzero;
        std::shuffle(pool.begin(), pool.end(), rng);
        pool.resize(std::min<size_t>(pool.size(), static_cast<size_t>(count)));
        sets.push_back(std::move(pool));
      }
      for (size_t i = 0; i < sets.size(); ++i)
        qs.push_back({positions[i].image, sets[i].data(), static_cast<int>(sets[i].size())});
      size_t i = 0;
      const Figure k = Measure(seconds / 4, [&] {
        sink += kernel.Evaluate(qs[i++ % qs.size()])[0];
        return 1;
      });
      std::printf("  %6d %10.0f", count, k.rate);
      for (size_t b : {1, 16, 256}) {
        size_t j = 0;
        const Figure t = Measure(seconds / 4, [&] {
          std::vector<SparseQuery> part;
          for (size_t n = 0; n < b; ++n) part.push_back(qs[j++ % qs.size()]);
          net->forward(SparseInput(part));
          return static_cast<int64_t>(b);
        });
        std::printf(" %13.0f", t.rate);
      }
      std::printf("\n");
    }
  }

  // Last: torch with 2 intra-op threads. (Going back to 1 thread afterwards
  // leaves torch's batched forwards several times slower in this process,
  // measured, so nothing else runs after it.)
  if (want('b')) {
    std::printf("\n");
    batched(2);
  }
  std::printf("\nKernel figures are one thread: with one game worker per core, 2 workers on 2 "
              "cores\ndo twice as many (they share nothing but the read-only weights).%s\n",
              sink == 12345.0f ? " " : "");
  return 0;
}

}  // namespace
}  // namespace oversight

int main(int argc, char** argv) {
  try {
    return oversight::Main(argc, argv);
  } catch (const std::exception& e) {
    std::fprintf(stderr, "bench_judge_eval: %s\n", e.what());
    return 1;
  }
}
