// Batches model calls across threads: every game in flight (one per episode
// worker) submits its queries, and one batched call serves them all
// (DESIGN.md, "requests from all live episodes coalesced into one forward
// pass"). The route for a model whose cost per call hardly depends on the
// batch size (a CUDA model); on this CPU the sparse judge's incremental
// kernel is faster (experiments/results/debate_speed.md). No LibTorch here.
#pragma once

#include <algorithm>
#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <exception>
#include <functional>
#include <mutex>
#include <stdexcept>
#include <string>
#include <vector>

namespace oversight {

struct CoalescerOptions {
  // A batch runs as soon as this many queries are waiting (one caller's
  // queries are never split, so a batch may exceed it by one call's worth).
  int max_batch = 1024;
  // ... or when the oldest waiting call has waited this long: the cost of
  // coalescing for a caller alone (~1% of a 64-query CPU forward).
  int max_wait_us = 200;
  // Batches that may run at once: 1 for one device (a GPU); on a CPU, one
  // per core keeps every core busy.
  int parallel = 1;
};

// Thread-safe. Evaluate() blocks until its queries' results are in `out`.
// Whichever waiting caller finds a batch due runs `evaluate` for everyone
// (no thread of its own), while other callers keep queueing for the next
// batch. An exception from `evaluate` reaches every caller of that batch,
// and only them. `evaluate` must be callable from `parallel` threads at once.
template <typename Query, typename Result>
class Coalescer {
 public:
  using BatchFn = std::function<void(const std::vector<Query>&, std::vector<Result>*)>;

  Coalescer(CoalescerOptions options, BatchFn evaluate)
      : options_(options), evaluate_(std::move(evaluate)) {
    if (options_.max_batch < 1 || options_.max_wait_us < 0 || options_.parallel < 1)
      throw std::invalid_argument(
          "Coalescer: max_batch >= 1, max_wait_us >= 0 and parallel >= 1 required");
  }

  void Evaluate(const std::vector<Query>& queries, std::vector<Result>* out) {
    out->clear();
    if (queries.empty()) return;
    const auto wait = std::chrono::microseconds(options_.max_wait_us);
    std::unique_lock<std::mutex> lock(mutex_);
    Request request{&queries, out, std::chrono::steady_clock::now(), false, nullptr};
    waiting_.push_back(&request);
    waiting_queries_ += queries.size();
    changed_.notify_all();  // a full batch may now be due
    while (!request.done) {
      if (running_ < options_.parallel && !waiting_.empty()) {
        const auto due = waiting_.front()->since + wait;
        if (waiting_queries_ >= static_cast<size_t>(options_.max_batch) ||
            std::chrono::steady_clock::now() >= due) {
          RunBatch(lock);
          continue;
        }
        changed_.wait_until(lock, due);
      } else {
        changed_.wait(lock);
      }
    }
    if (request.error) std::rethrow_exception(request.error);
  }

  struct Stats {
    int64_t calls = 0;    // Evaluate() calls served
    int64_t batches = 0;  // calls of `evaluate`
    int64_t queries = 0;
  };
  Stats stats() const {
    std::lock_guard<std::mutex> lock(mutex_);
    return stats_;
  }

 private:
  struct Request {
    const std::vector<Query>* queries;
    std::vector<Result>* out;
    std::chrono::steady_clock::time_point since;
    bool done;
    std::exception_ptr error;
  };

  // Runs the waiting requests (up to max_batch queries, whole calls, at
  // least one) as one batch. REQUIRES: lock held, running_ < parallel.
  void RunBatch(std::unique_lock<std::mutex>& lock) {
    std::vector<Request*> batch;
    size_t n = 0, taken = 0;
    while (taken < waiting_.size() &&
           (taken == 0 || n + waiting_[taken]->queries->size() <=
                              static_cast<size_t>(options_.max_batch))) {
      n += waiting_[taken]->queries->size();
      ++taken;
    }
    batch.assign(waiting_.begin(), waiting_.begin() + static_cast<std::ptrdiff_t>(taken));
    waiting_.erase(waiting_.begin(), waiting_.begin() + static_cast<std::ptrdiff_t>(taken));
    waiting_queries_ -= n;
    ++running_;
    lock.unlock();
    std::vector<Query> all;
    all.reserve(n);
    for (const Request* r : batch) all.insert(all.end(), r->queries->begin(), r->queries->end());
    std::vector<Result> results;
    std::exception_ptr error;
    try {
      evaluate_(all, &results);
      if (results.size() != all.size())
        throw std::logic_error("Coalescer: the batch function returned " +
                               std::to_string(results.size()) + " results for " +
                               std::to_string(all.size()) + " queries");
    } catch (...) {
      error = std::current_exception();
    }
    lock.lock();
    size_t at = 0;
    for (Request* r : batch) {
      const size_t k = r->queries->size();
      if (error)
        r->error = error;
      else
        r->out->assign(results.begin() + static_cast<std::ptrdiff_t>(at),
                       results.begin() + static_cast<std::ptrdiff_t>(at + k));
      at += k;
      r->done = true;
    }
    stats_.calls += static_cast<int64_t>(batch.size());
    stats_.batches += 1;
    stats_.queries += static_cast<int64_t>(all.size());
    --running_;
    changed_.notify_all();
  }

  // Constant after construction.
  const CoalescerOptions options_;
  const BatchFn evaluate_;

  // Protected by mutex_.
  mutable std::mutex mutex_;
  std::condition_variable changed_;
  std::vector<Request*> waiting_;  // oldest first
  size_t waiting_queries_ = 0;
  int running_ = 0;  // batches being evaluated
  Stats stats_;
};

}  // namespace oversight
