#include "engine/progress.h"

#include <unistd.h>

#include <cstdio>

namespace oversight {

std::string FormatDuration(double s) {
  if (!(s >= 0) || s > 1e7) return "?";
  char buf[32];
  const long t = static_cast<long>(s + 0.5);
  if (t >= 3600)
    std::snprintf(buf, sizeof buf, "%ldh%02ldm", t / 3600, (t % 3600) / 60);
  else if (t >= 60)
    std::snprintf(buf, sizeof buf, "%ldm%02lds", t / 60, t % 60);
  else
    std::snprintf(buf, sizeof buf, "%lds", t);
  return buf;
}

Progress::Progress(std::string label, int64_t total, int64_t start, double interval_s)
    : label_(std::move(label)),
      total_(total),
      start_(start),
      interval_s_(interval_s),
      tty_(isatty(STDERR_FILENO) == 1),
      t0_(std::chrono::steady_clock::now()),
      done_(start),
      last_print_(t0_) {}

Progress::~Progress() { Finish(); }

void Progress::Add(int64_t n) {
  done_.fetch_add(n);
  MaybePrint(false);
}

void Progress::Set(int64_t done) {
  done_.store(done);
  MaybePrint(false);
}

void Progress::SetNote(const std::string& note) {
  std::lock_guard<std::mutex> lock(mu_);
  note_ = note;
}

void Progress::Finish() {
  MaybePrint(true);
}

void Progress::MaybePrint(bool force) {
  std::unique_lock<std::mutex> lock(mu_, std::try_to_lock);
  if (!lock.owns_lock()) {
    if (!force) return;
    lock.lock();
  }
  if (finished_) return;
  const auto now = std::chrono::steady_clock::now();
  const double since_last = std::chrono::duration<double>(now - last_print_).count();
  const double wait = tty_ ? 0.2 : interval_s_;
  if (!force && since_last < wait) return;
  last_print_ = now;
  const int64_t done = done_.load();
  const double elapsed = std::chrono::duration<double>(now - t0_).count();
  const double rate = elapsed > 0 ? (done - start_) / elapsed : 0;
  const double eta = rate > 0 ? (total_ - done) / rate : -1;
  const double frac = total_ > 0 ? static_cast<double>(done) / total_ : 1;
  char line[512];
  if (tty_) {
    const int width = 30;
    const int fill = static_cast<int>(frac * width);
    std::string bar(fill, '#');
    bar.resize(width, '.');
    std::snprintf(line, sizeof line, "\r%s [%s] %3.0f%% %lld/%lld %.1f/s ETA %s %s\x1b[K",
                  label_.c_str(), bar.c_str(), frac * 100, static_cast<long long>(done),
                  static_cast<long long>(total_), rate,
                  force ? FormatDuration(0).c_str() : FormatDuration(eta).c_str(),
                  note_.c_str());
  } else {
    std::snprintf(line, sizeof line, "%s: %lld/%lld (%.0f%%) %.1f/s elapsed %s ETA %s %s\n",
                  label_.c_str(), static_cast<long long>(done),
                  static_cast<long long>(total_), frac * 100, rate,
                  FormatDuration(elapsed).c_str(), FormatDuration(eta).c_str(),
                  note_.c_str());
  }
  std::fputs(line, stderr);
  if (force) {
    if (tty_) std::fputs("\n", stderr);
    finished_ = true;
  }
  std::fflush(stderr);
}

}  // namespace oversight
