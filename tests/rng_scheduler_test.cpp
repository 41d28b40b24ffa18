#include <catch2/catch.hpp>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <mutex>
#include <set>
#include <thread>

#include "engine/rng.h"
#include "engine/scheduler.h"
#include "protocols/sparse_pixels.h"

using namespace oversight;

TEST_CASE("Derived seeds depend on seed, stream and index only", "[rng]") {
  CHECK(DeriveSeed(1, "stage", 5) == DeriveSeed(1, "stage", 5));
  std::set<uint64_t> seeds;
  for (uint64_t s : {0, 1})
    for (const char* stream : {"a", "b"})
      for (uint64_t i = 0; i < 100; ++i) seeds.insert(DeriveSeed(s, stream, i));
  CHECK(seeds.size() == 400);
  // The generator sequence itself is fixed by the standard.
  Rng rng(5489u);
  for (int i = 0; i < 9999; ++i) rng();
  CHECK(rng() == 9981545732273789042ULL);
}

TEST_CASE("UniformInt is in range and covers it", "[rng]") {
  Rng rng(3);
  std::vector<int> counts(7, 0);
  for (int i = 0; i < 7000; ++i) counts[UniformInt(rng, 7)]++;
  for (int c : counts) CHECK(c > 800);
}

TEST_CASE("SampleRevealed draws k distinct legal pixels", "[rng]") {
  std::vector<int> nonzero{3, 9, 27, 81, 243, 500};
  Rng rng(1);
  for (int trial = 0; trial < 100; ++trial) {
    auto r = SampleRevealed(nonzero, 4, rng);
    REQUIRE(r.size() == 4);
    std::set<int> s(r.begin(), r.end());
    CHECK(s.size() == 4);
    for (int p : r) CHECK(std::count(nonzero.begin(), nonzero.end(), p) == 1);
  }
  CHECK(SampleRevealed(nonzero, 10, rng).size() == 6);
}

TEST_CASE("ParallelFor runs every item once, on several threads, and stops", "[scheduler]") {
  std::vector<int64_t> items;
  for (int i = 0; i < 1000; ++i) items.push_back(i);
  std::mutex mu;
  std::multiset<int64_t> seen;
  std::set<std::thread::id> threads;
  const int64_t n = ParallelFor(
      items, 2,
      [&](int64_t i) {
        {
          std::lock_guard<std::mutex> lock(mu);
          seen.insert(i);
          threads.insert(std::this_thread::get_id());
        }
        // Hold the first items until the second worker has shown up (at most
        // 10 s), so a loaded machine cannot let one worker take everything.
        const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(10);
        while (std::chrono::steady_clock::now() < deadline) {
          {
            std::lock_guard<std::mutex> lock(mu);
            if (threads.size() >= 2) break;
          }
          std::this_thread::sleep_for(std::chrono::milliseconds(1));
        }
      },
      [] { return false; });
  CHECK(n == 1000);
  CHECK(seen.size() == 1000);
  CHECK(std::set<int64_t>(seen.begin(), seen.end()).size() == 1000);
  CHECK(threads.size() == 2);

  std::atomic<int> done{0};
  ParallelFor(items, 2, [&](int64_t) { done++; }, [&] { return done.load() >= 10; });
  CHECK(done.load() < 20);

  CHECK_THROWS_WITH(ParallelFor(items, 2,
                                [](int64_t i) {
                                  if (i == 500) throw std::runtime_error("boom at 500");
                                },
                                [] { return false; }),
                    "boom at 500");
}
