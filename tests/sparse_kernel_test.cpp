// SparseJudgeKernel (judges/sparse_kernel.h) against the plain torch forward
// of the same SparseNet: sessions (Current, Children, Push/Pop) and one-shot
// Evaluate(), on random weights and random images, for each inner-loop
// variant this CPU runs.
#include <catch2/catch.hpp>
#include <torch/torch.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <array>
#include <random>
#include <string>
#include <vector>

#include <thread>

#include "engine/coalescer.h"
#include "judges/sparse_kernel.h"
#include "judges/sparse_net.h"

namespace oversight {
namespace {

// A SparseNet with random weights, scaled up from the default init so that
// a handful of revealed pixels moves the logits and a fair share of units are
// active (not all dead, not all linear).
SparseNet RandomNet(uint64_t seed) {
  torch::manual_seed(seed);
  SparseNet net;
  torch::NoGradGuard no_grad;
  for (auto& p : net->named_parameters()) {
    const std::string& name = p.key();
    float scale = 1.0f;
    if (name == "conv1.weight") scale = 6.0f;
    if (name == "conv2.weight") scale = 3.0f;
    if (name == "fc1.weight") scale = 3.0f;
    if (name == "fc2.weight") scale = 2.0f;
    p.value().mul_(scale);
  }
  net->eval();
  return net;
}

// A 28x28 image with about `density` of its pixels nonzero (values 1..255),
// and nonzero on the borders and corners so reveals there are exercised.
std::vector<uint8_t> RandomImage(std::mt19937& rng, double density) {
  std::vector<uint8_t> image(kImagePixels, 0);
  std::bernoulli_distribution on(density);
  std::uniform_int_distribution<int> value(1, 255);
  for (int p = 0; p < kImagePixels; ++p)
    if (on(rng)) image[p] = static_cast<uint8_t>(value(rng));
  for (int p : {0, 27, 27 * 28, 28 * 28 - 1, 1, 28, 29, 26 * 28 + 27, 27 * 28 + 1})
    image[p] = static_cast<uint8_t>(value(rng));
  return image;
}

std::vector<Logits> TorchLogits(SparseNet& net, const uint8_t* image,
                                const std::vector<std::vector<int>>& sets) {
  torch::NoGradGuard no_grad;
  std::vector<SparseQuery> queries;
  for (const auto& s : sets) queries.push_back({image, s.data(), static_cast<int>(s.size())});
  torch::Tensor out = net->forward(SparseInput(queries)).contiguous();
  std::vector<Logits> result(sets.size());
  const float* p = out.data_ptr<float>();
  for (size_t i = 0; i < sets.size(); ++i)
    std::copy(p + i * kNumClasses, p + (i + 1) * kNumClasses, result[i].begin());
  return result;
}

Logits TorchLogits(SparseNet& net, const uint8_t* image, const std::vector<int>& pixels) {
  return TorchLogits(net, image, std::vector<std::vector<int>>{pixels})[0];
}

// |a - b| <= 1e-5, relative for logits above 1 in magnitude.
bool Near(const Logits& a, const Logits& b, float* worst = nullptr) {
  bool ok = true;
  for (int c = 0; c < kNumClasses; ++c) {
    const float err = std::abs(a[c] - b[c]) / std::max(1.0f, std::abs(b[c]));
    if (worst) *worst = std::max(*worst, err);
    if (!(err <= 1e-5f)) ok = false;
  }
  return ok;
}

std::string Show(const Logits& l) {
  std::string s;
  for (float v : l) s += std::to_string(v) + " ";
  return s;
}

// A pixel to reveal next: a random unrevealed pixel, chosen among the
// nonzero ones, the border rows/columns (0, 1, 26, 27) or the neighbours of
// the previous reveal, and now and then a zero-valued one.
int NextPixel(std::mt19937& rng, const std::vector<uint8_t>& image,
              const std::vector<int>& revealed) {
  auto free = [&](int p) {
    return p >= 0 && p < kImagePixels &&
           std::find(revealed.begin(), revealed.end(), p) == revealed.end();
  };
  std::uniform_int_distribution<int> kind(0, 9), any(0, kImagePixels - 1), edge(0, 3),
      side(0, 27), step(-1, 1);
  for (;;) {
    int p = -1;
    const int k = kind(rng);
    if (k <= 3) {
      p = any(rng);
      if (image[p] == 0) continue;
    } else if (k <= 6) {
      const int e = std::array<int, 4>{0, 1, 26, 27}[edge(rng)];
      p = (kind(rng) < 5) ? e * 28 + side(rng) : side(rng) * 28 + e;
    } else if (k <= 8 && !revealed.empty()) {
      const int q = revealed.back();
      const int r = q / 28 + step(rng), c = q % 28 + step(rng);
      if (r < 0 || r > 27 || c < 0 || c > 27) continue;
      p = r * 28 + c;
    } else {
      p = any(rng);
    }
    if (free(p)) return p;
  }
}

// Every variant this CPU runs (a variant it lacks is refused, not faked).
std::vector<std::string> IsasToTest() {
  std::vector<std::string> isas = {"baseline"};
  SparseNet net = RandomNet(1);
  for (const char* isa : {"avx2", "avx512"}) {
    try {
      MakeSparseJudgeKernel(*net, {isa});
      isas.push_back(isa);
    } catch (const std::invalid_argument& e) {
      CHECK_THAT(e.what(), Catch::Contains("lacks it"));
    }
  }
  return isas;
}

// The share of positive pre-activations at each ReLU, over random queries of
// 0..8 pixels, across all positions and channels that a query changes.
TEST_CASE("The random test nets are neither dead nor linear", "[kernel]") {
  SparseNet net = RandomNet(20240601);
  std::mt19937 rng(1);
  std::vector<std::vector<uint8_t>> images;
  std::vector<std::vector<int>> sets;
  std::vector<SparseQuery> queries;
  for (int i = 0; i < 64; ++i) {
    images.push_back(RandomImage(rng, 0.3));
    std::vector<int> pixels;
    for (int k = 0; k < i % 9; ++k) pixels.push_back(NextPixel(rng, images.back(), pixels));
    sets.push_back(pixels);
  }
  for (int i = 0; i < 64; ++i)
    queries.push_back({images[i].data(), sets[i].data(), static_cast<int>(sets[i].size())});
  torch::NoGradGuard no_grad;
  auto params = net->named_parameters();
  torch::Tensor x = SparseInput(queries);
  torch::Tensor y1 = torch::conv2d(x, params["conv1.weight"], params["conv1.bias"], 1, 2);
  torch::Tensor a1 = torch::max_pool2d(torch::relu(y1), 2);
  torch::Tensor y2 = torch::conv2d(a1, params["conv2.weight"], params["conv2.bias"], 1, 2);
  torch::Tensor a2 = torch::max_pool2d(torch::relu(y2), 2);
  torch::Tensor h = torch::linear(a2.flatten(1), params["fc1.weight"], params["fc1.bias"]);
  // conv1 is its bias away from revealed pixels: look only at the 5x5 windows.
  torch::Tensor near = torch::max_pool2d(x.slice(1, 0, 1), 5, 1, 2).expand_as(y1) > 0;
  const double conv1_on = (y1.gt(0) & near).sum().item<double>() / near.sum().item<double>();
  const double conv2_on = y2.gt(0).to(torch::kDouble).mean().item<double>();
  const double fc1_on = h.gt(0).to(torch::kDouble).mean().item<double>();
  INFO("active: conv1 " << conv1_on << " conv2 " << conv2_on << " fc1 " << fc1_on);
  CHECK(conv1_on > 0.1);
  CHECK(conv1_on < 0.9);
  CHECK(conv2_on > 0.1);
  CHECK(conv2_on < 0.9);
  CHECK(fc1_on > 0.1);
  CHECK(fc1_on < 0.9);
  WARN("active share: conv1 " << conv1_on << ", conv2 " << conv2_on << ", fc1 " << fc1_on);
}

TEST_CASE("Kernel sessions match the torch forward through Push/Pop and Children", "[kernel]") {
  SparseNet net = RandomNet(20240601);
  std::mt19937 rng(7);
  float worst = 0.0f;
  int checked = 0, moved = 0;
  for (const std::string& isa : IsasToTest()) {
    SparseJudgeKernel kernel = MakeSparseJudgeKernel(*net, {isa});
    INFO("isa " << kernel.isa());
    REQUIRE(std::string(kernel.isa()) == isa);
    REQUIRE(Near(kernel.Background(), TorchLogits(net, nullptr, std::vector<int>{})));
    for (int image_index = 0; image_index < 12; ++image_index) {
      const std::vector<uint8_t> image = RandomImage(rng, image_index % 2 ? 0.2 : 0.5);
      auto session = kernel.NewSession(image.data());
      std::vector<int> revealed;
      // A random walk of pushes (to depth 8) and pops.
      for (int step = 0; step < 40; ++step) {
        const bool pop = !revealed.empty() && (revealed.size() >= 8 || rng() % 3 == 0);
        if (pop) {
          session->Pop();
          revealed.pop_back();
        } else {
          const int p = NextPixel(rng, image, revealed);
          session->Push(p);
          revealed.push_back(p);
        }
        REQUIRE(session->Depth() == static_cast<int>(revealed.size()));
        const Logits want = TorchLogits(net, image.data(), revealed);
        const Logits got = session->Current();
        INFO("image " << image_index << " step " << step << " depth " << revealed.size());
        INFO("torch  " << Show(want));
        INFO("kernel " << Show(got));
        REQUIRE(Near(got, want, &worst));
        ++checked;
        if (!Near(want, kernel.Background())) ++moved;

        if (step % 5 == 0 && revealed.size() < 8) {
          std::vector<int> candidates;
          for (int k = 0; k < 12; ++k) {
            std::vector<int> with = revealed;
            with.insert(with.end(), candidates.begin(), candidates.end());
            candidates.push_back(NextPixel(rng, image, with));
          }
          std::vector<Logits> children;
          session->Children(candidates, &children);
          REQUIRE(children.size() == candidates.size());
          std::vector<std::vector<int>> sets;
          for (int c : candidates) {
            sets.push_back(revealed);
            sets.back().push_back(c);
          }
          const std::vector<Logits> want_children = TorchLogits(net, image.data(), sets);
          for (size_t k = 0; k < candidates.size(); ++k) {
            INFO("child pixel " << candidates[k]);
            REQUIRE(Near(children[k], want_children[k], &worst));
            ++checked;
          }
          // Children leaves the state as it was.
          REQUIRE(session->Depth() == static_cast<int>(revealed.size()));
          REQUIRE(Near(session->Current(), want));
        }
      }
      // Pop everything: back to the background exactly.
      while (session->Depth() > 0) session->Pop();
      const Logits empty = session->Current();
      REQUIRE(empty == kernel.Background());
    }
  }
  // The weights are not degenerate: most reveals move the logits.
  CHECK(moved > checked / 4);
  WARN("checked " << checked << " logit vectors; worst relative error " << worst);
}

// One-ply search (the greedy debater) asks a session for all children of
// successive positions, one pixel apart; the session carries the children
// of the previous position over (ChildFromParent). They must match torch
// like fresh ones, including children next to the new pixel (their a1 cells
// interact) and after jumping between branches.
TEST_CASE("Children carried from the previous position match the torch forward", "[kernel]") {
  SparseNet net = RandomNet(20240601);
  std::mt19937 rng(11);
  float worst = 0.0f;
  SparseKernelSessionStats total;
  int checked = 0;
  for (const std::string& isa : IsasToTest()) {
    SparseJudgeKernel kernel = MakeSparseJudgeKernel(*net, {isa});
    INFO("isa " << kernel.isa());
    for (int image_index = 0; image_index < 2; ++image_index) {
      const std::vector<uint8_t> image = RandomImage(rng, image_index % 2 ? 0.15 : 0.3);
      std::vector<int> candidates_all;
      for (int p = 0; p < kImagePixels; ++p)
        if (image[p]) candidates_all.push_back(p);
      auto session = kernel.NewSession(image.data());
      std::vector<int> revealed;
      for (int game = 0; game < 3; ++game) {
        // Back to a random prefix (a new game: the empty position), then on.
        const size_t keep = game == 0 ? 0 : rng() % (revealed.size() + 1);
        while (revealed.size() > keep) {
          session->Pop();
          revealed.pop_back();
        }
        while (revealed.size() < 6) {
          std::vector<int> moves;
          for (int p : candidates_all)
            if (std::find(revealed.begin(), revealed.end(), p) == revealed.end())
              moves.push_back(p);
          std::vector<Logits> children;
          session->Children(moves, &children);
          std::vector<std::vector<int>> sets;
          for (int c : moves) {
            sets.push_back(revealed);
            sets.back().push_back(c);
          }
          const std::vector<Logits> want = TorchLogits(net, image.data(), sets);
          for (size_t k = 0; k < moves.size(); ++k) {
            INFO("image " << image_index << " depth " << revealed.size() << " child "
                          << moves[k]);
            INFO("torch  " << Show(want[k]));
            INFO("kernel " << Show(children[k]));
            REQUIRE(Near(children[k], want[k], &worst));
            ++checked;
          }
          // Half the time the next pixel is next to the last one.
          int next = moves[rng() % moves.size()];
          if (!revealed.empty() && rng() % 2) {
            const int q = revealed.back();
            for (int p : moves)
              if (std::abs(p / 28 - q / 28) <= 2 && std::abs(p % 28 - q % 28) <= 2) next = p;
          }
          session->Push(next);
          revealed.push_back(next);
        }
      }
      const SparseKernelSessionStats st = KernelSessionStats(*session);
      total.kept += st.kept;
      total.from_parent += st.from_parent;
      total.fresh += st.fresh;
    }
  }
  // The carried path did the bulk of the work (not a silent fallback).
  CHECK(total.from_parent > 4 * total.fresh);
  CHECK(total.kept > 0);
  WARN("checked " << checked << " children (kept " << total.kept << ", carried "
                  << total.from_parent << ", fresh " << total.fresh
                  << "); worst relative error " << worst);
}

TEST_CASE("Pop restores the state bit for bit", "[kernel]") {
  SparseNet net = RandomNet(11);
  SparseJudgeKernel kernel = MakeSparseJudgeKernel(*net);
  std::mt19937 rng(3);
  const std::vector<uint8_t> image = RandomImage(rng, 0.4);
  auto session = kernel.NewSession(image.data());
  std::vector<int> revealed;
  std::vector<Logits> at_depth = {session->Current()};
  for (int d = 0; d < 8; ++d) {
    const int p = NextPixel(rng, image, revealed);
    revealed.push_back(p);
    session->Push(p);
    at_depth.push_back(session->Current());
  }
  for (int d = 8; d > 0; --d) {
    // A detour of pushes, children and pops must not disturb the level below.
    std::vector<int> with = revealed;
    const int a = NextPixel(rng, image, with);
    with.push_back(a);
    const int b = NextPixel(rng, image, with);
    with.push_back(b);
    session->Push(a);
    session->Push(b);
    std::vector<Logits> children;
    session->Children({NextPixel(rng, image, with)}, &children);
    session->Pop();
    session->Pop();
    REQUIRE(session->Current() == at_depth[d]);
    session->Pop();
    revealed.pop_back();
    REQUIRE(session->Current() == at_depth[d - 1]);
  }
}

TEST_CASE("The order of reveals does not matter", "[kernel]") {
  SparseNet net = RandomNet(99);
  std::mt19937 rng(5);
  for (const std::string& isa : IsasToTest()) {
    SparseJudgeKernel kernel = MakeSparseJudgeKernel(*net, {isa});
    for (int trial = 0; trial < 10; ++trial) {
      const std::vector<uint8_t> image = RandomImage(rng, 0.3);
      std::vector<int> pixels;
      for (int k = 0; k < 8; ++k) pixels.push_back(NextPixel(rng, image, pixels));
      const Logits want = TorchLogits(net, image.data(), pixels);
      for (int perm = 0; perm < 4; ++perm) {
        std::shuffle(pixels.begin(), pixels.end(), rng);
        auto session = kernel.NewSession(image.data());
        for (int p : pixels) session->Push(p);
        const Logits got = session->Current();
        INFO("isa " << isa << " trial " << trial << " perm " << perm);
        REQUIRE(Near(got, want));
        // The last pixel as a child of the other seven, too.
        session->Pop();
        std::vector<Logits> children;
        session->Children({pixels.back()}, &children);
        REQUIRE(Near(children[0], want));
      }
    }
  }
}

TEST_CASE("Evaluate matches the torch forward for any number of pixels", "[kernel]") {
  SparseNet net = RandomNet(4);
  std::mt19937 rng(9);
  for (const std::string& isa : IsasToTest()) {
    SparseJudgeKernel kernel = MakeSparseJudgeKernel(*net, {isa});
    const std::vector<uint8_t> image = RandomImage(rng, 0.5);
    for (int count : {0, 1, 2, 6, 8, 30, 200, kImagePixels}) {
      std::vector<int> pixels;
      if (count == kImagePixels) {
        for (int p = 0; p < kImagePixels; ++p) pixels.push_back(p);
      } else {
        for (int k = 0; k < count; ++k) pixels.push_back(NextPixel(rng, image, pixels));
      }
      const Logits want = TorchLogits(net, image.data(), pixels);
      const Logits got =
          kernel.Evaluate({image.data(), pixels.data(), static_cast<int>(pixels.size())});
      INFO("isa " << isa << " pixels " << count);
      INFO("torch  " << Show(want));
      INFO("kernel " << Show(got));
      REQUIRE(Near(got, want));
    }
    // A repeated pixel counts once, as in SparseInput().
    const std::vector<int> twice = {100, 200, 100};
    REQUIRE(Near(kernel.Evaluate({image.data(), twice.data(), 3}),
                 TorchLogits(net, image.data(), std::vector<int>{100, 200})));
  }
}

TEST_CASE("Sessions reject pixels out of range or already revealed", "[kernel]") {
  oversight::SparseNet net = RandomNet(2);
  SparseJudgeKernel kernel = MakeSparseJudgeKernel(*net);
  std::vector<uint8_t> image(kImagePixels, 128);
  auto session = kernel.NewSession(image.data());
  REQUIRE_THROWS_AS(session->Pop(), std::logic_error);
  session->Push(5);
  REQUIRE_THROWS_AS(session->Push(5), std::invalid_argument);
  REQUIRE_THROWS_AS(session->Push(kImagePixels), std::invalid_argument);
  std::vector<Logits> out;
  REQUIRE_THROWS_AS(session->Children({6, 5}, &out), std::invalid_argument);
  REQUIRE_THROWS_AS(session->Children({-1}, &out), std::invalid_argument);
  REQUIRE(session->Depth() == 1);
  session->Children({6}, &out);
  REQUIRE(Near(out[0], TorchLogits(net, image.data(), std::vector<int>{5, 6})));
  REQUIRE_THROWS_AS(MakeSparseJudgeKernel(*net, {"sse9"}), std::invalid_argument);
}

// Coalescing across threads (engine/coalescer.h): 8 threads submit 12
// rounds of 16 queries each to one coalescer over a real torch forward; every
// caller gets its own queries' logits, and calls were merged.
TEST_CASE("Coalesced judge calls from 8 threads return each caller's logits, in fewer batches", "[kernel][coalescer]") {
  SparseNet net = RandomNet(3);
  torch::NoGradGuard no_grad;
  std::mt19937 gen(9);
  std::vector<std::vector<uint8_t>> images(4, std::vector<uint8_t>(kImagePixels));
  for (auto& im : images)
    for (auto& v : im) v = static_cast<uint8_t>(gen() % 256);
  Coalescer<SparseQuery, Logits> coalescer({/*max_batch=*/64, /*max_wait_us=*/20000, /*parallel=*/1},
                          [&](const std::vector<SparseQuery>& q, std::vector<Logits>* out) {
                            torch::Tensor l = net->forward(SparseInput(q)).contiguous();
                            out->resize(q.size());
                            for (size_t i = 0; i < q.size(); ++i)
                              std::copy(l[i].data_ptr<float>(), l[i].data_ptr<float>() + kNumClasses,
                                        (*out)[i].begin());
                          });
  constexpr int kThreads = 8, kRounds = 12, kPerCall = 16;
  std::vector<std::vector<std::vector<int>>> pixels(kThreads * kRounds);  // per call, per query
  for (auto& call : pixels)
    for (int q = 0; q < kPerCall; ++q) {
      std::vector<int> px;
      const int n = 1 + static_cast<int>(gen() % 8);
      while (static_cast<int>(px.size()) < n) {
        const int p = static_cast<int>(gen() % kImagePixels);
        if (std::find(px.begin(), px.end(), p) == px.end()) px.push_back(p);
      }
      call.push_back(px);
    }
  std::vector<std::vector<Logits>> got(pixels.size());
  std::vector<std::thread> threads;
  for (int t = 0; t < kThreads; ++t)
    threads.emplace_back([&, t] {
      for (int r = 0; r < kRounds; ++r) {
        const size_t c = static_cast<size_t>(t * kRounds + r);
        std::vector<SparseQuery> q;
        for (int i = 0; i < kPerCall; ++i)
          q.push_back({images[(c + i) % images.size()].data(), pixels[c][i].data(),
                       static_cast<int>(pixels[c][i].size())});
        coalescer.Evaluate(q, &got[c]);
      }
    });
  for (auto& t : threads) t.join();
  for (size_t c = 0; c < pixels.size(); ++c) {
    REQUIRE(got[c].size() == static_cast<size_t>(kPerCall));
    for (int i = 0; i < kPerCall; ++i)
      REQUIRE(Near(got[c][i], TorchLogits(net, images[(c + i) % images.size()].data(), pixels[c][i])));
  }
  const auto stats = coalescer.stats();
  CHECK(stats.calls == kThreads * kRounds);
  CHECK(stats.queries == kThreads * kRounds * kPerCall);
  INFO("batches " << stats.batches);
  CHECK(stats.batches < stats.calls / 2);  // full batches of 4 calls (64 queries) at most
}

TEST_CASE("A lone caller is served after the wait, a full batch at once, and a failing batch fails its callers only", "[kernel][coalescer]") {
  std::atomic<int> fail_next{0};
  Coalescer<SparseQuery, Logits> coalescer({/*max_batch=*/4, /*max_wait_us=*/2000000, /*parallel=*/1},
                          [&](const std::vector<SparseQuery>& q, std::vector<Logits>* out) {
                            if (fail_next.exchange(0)) throw std::runtime_error("judge failed");
                            out->assign(q.size(), Logits{});
                            for (size_t i = 0; i < q.size(); ++i) (*out)[i][0] = static_cast<float>(q[i].count);
                          });
  const std::vector<int> px = {1, 2, 3};
  std::vector<Logits> out;
  auto t0 = std::chrono::steady_clock::now();
  coalescer.Evaluate({{nullptr, px.data(), 3}}, &out);  // alone: waits max_wait (2 s)
  const double alone = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  CHECK(out[0][0] == 3.0f);
  CHECK(alone >= 1.9);
  // Four queries fill a batch: no wait.
  t0 = std::chrono::steady_clock::now();
  coalescer.Evaluate(std::vector<SparseQuery>(4, {nullptr, px.data(), 2}), &out);
  CHECK(std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count() < 1.0);
  CHECK(out.size() == 4);
  CHECK(out[3][0] == 2.0f);
  fail_next = 1;
  CHECK_THROWS_WITH(coalescer.Evaluate(std::vector<SparseQuery>(4, {nullptr, px.data(), 1}), &out),
                    "judge failed");
  coalescer.Evaluate(std::vector<SparseQuery>(5, {nullptr, px.data(), 1}), &out);
  CHECK(out[4][0] == 1.0f);
  const std::vector<SparseQuery> none;
  coalescer.Evaluate(none, &out);
  CHECK(out.empty());
  CHECK(coalescer.stats().batches == 4);
}

TEST_CASE("With parallel 2, two coalesced batches run at once, never three", "[kernel][coalescer]") {
  std::atomic<int> running{0}, peak{0};
  Coalescer<int, int> coalescer({/*max_batch=*/2, /*max_wait_us=*/0, /*parallel=*/2},
                                [&](const std::vector<int>& q, std::vector<int>* out) {
                                  const int now = ++running;
                                  int seen = peak.load();
                                  while (now > seen && !peak.compare_exchange_weak(seen, now)) {
                                  }
                                  std::this_thread::sleep_for(std::chrono::milliseconds(100));
                                  --running;
                                  out->clear();
                                  for (int x : q) out->push_back(x * x);
                                });
  std::vector<std::thread> threads;
  std::vector<std::vector<int>> got(6);
  for (int t = 0; t < 6; ++t)
    threads.emplace_back([&, t] { coalescer.Evaluate({t, t + 1}, &got[t]); });
  for (auto& t : threads) t.join();
  CHECK(peak == 2);
  for (int t = 0; t < 6; ++t) CHECK(got[t] == std::vector<int>{t * t, (t + 1) * (t + 1)});
  CHECK(coalescer.stats().batches == 6);
}

}  // namespace

TEST_CASE("Kernel: an unknown instruction set is refused by name", "[kernel]") {
  SparseNet net = RandomNet(2);
  CHECK_THROWS_WITH(MakeSparseJudgeKernel(*net, {"sse9"}),
                    Catch::Contains("unknown isa \"sse9\"") && Catch::Contains("\"avx512\""));
  // This machine's best variant is what "auto" picks.
  const std::vector<std::string> isas = IsasToTest();
  CHECK(std::string(MakeSparseJudgeKernel(*net, {"auto"}).isa()) == isas.back());
}

}  // namespace oversight

