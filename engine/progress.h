// Progress of a long stage on stderr: a bar with rate and ETA redrawn in place
// on a terminal; plain periodic lines (every `interval_s`) when stderr is not a
// terminal (logs, CI). Thread-safe: Add() may be called from any worker.
#pragma once

#include <atomic>
#include <chrono>
#include <cstdint>
#include <mutex>
#include <string>

namespace oversight {

class Progress {
 public:
  // `start` counts work already done (e.g. on --resume); the rate counts only
  // work done by this process.
  Progress(std::string label, int64_t total, int64_t start = 0,
           double interval_s = 10.0);
  ~Progress();
  void Add(int64_t n = 1);
  void Set(int64_t done);
  // Extra text shown after the rate, e.g. "loss 0.81".
  void SetNote(const std::string& note);
  // Prints the final line.
  void Finish();

 private:
  void MaybePrint(bool force);

  const std::string label_;
  const int64_t total_;
  const int64_t start_;
  const double interval_s_;
  const bool tty_;
  const std::chrono::steady_clock::time_point t0_;
  std::atomic<int64_t> done_;
  std::mutex mu_;  // guards the fields below and the output
  std::chrono::steady_clock::time_point last_print_;
  std::string note_;
  bool finished_ = false;
};

// "1h02m", "4m05s", "12s".
std::string FormatDuration(double seconds);

}  // namespace oversight
