// Benchmark: oversight-gui's frame time while its episode table scrolls
// through a log of 100,000 episodes, against the same on 1,000 episodes (the
// baseline, in the same run). The GUI runs under xvfb-run (Mesa's software
// OpenGL), scrolls by itself (--scroll) and prints its frame times.
//
//   bench_gui [--episodes 100000] [--frames 600] [--scroll 37]
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <string>
#include <vector>

#include "engine/store.h"

using namespace oversight;

namespace {

void MakeLog(const std::string& path, int episodes) {
  std::filesystem::remove(path);
  auto store = Store::Open(path);
  const int64_t x = store->CreateExperiment("bench_gui", "{}", 1, "bench");
  for (int first = 0; first < episodes; first += 5000) {
    std::vector<EpisodeRecord> batch;
    for (int i = first; i < std::min(episodes, first + 5000); ++i) {
      EpisodeRecord e;
      e.experiment_id = x;
      e.stage = i % 2 ? "debate" : "alone";
      e.idx = i;
      e.protocol = i % 2 ? "debate" : "direct";
      e.task = "mnist";
      e.instance = "test/" + std::to_string(i % 2000);
      e.truth = std::to_string(i % 10);
      e.outcome = std::to_string((i * 7) % 10);
      e.correct = e.truth == e.outcome;
      JudgementRecord j;
      j.judge = "sparse";
      j.verdict = e.outcome;
      e.judgements.push_back(j);
      batch.push_back(std::move(e));
    }
    store->InsertEpisodes(batch);
  }
}

// The GUI's "frames ... mean X ms ..." line.
std::string RunGui(const std::string& db, int frames, int scroll) {
  const std::string out = db + ".out";
  const std::string cmd = "xvfb-run -a -s '-screen 0 1280x800x24' '" OVERSIGHT_GUI_BIN "' --db '" +
                          db + "' --screenshot '" + db + ".png' --frames " +
                          std::to_string(frames) + " --scroll " + std::to_string(scroll) +
                          " --frame-times > '" + out + "' 2>&1";
  if (std::system(cmd.c_str()) != 0) return "failed: see " + out;
  FILE* f = std::fopen(out.c_str(), "r");
  char line[256] = {};
  std::string last;
  while (f && std::fgets(line, sizeof line, f)) last = line;
  if (f) std::fclose(f);
  return last;
}

double Field(const std::string& line, const char* name) {
  const size_t at = line.find(name);
  return at == std::string::npos ? 0 : std::atof(line.c_str() + at + std::string(name).size());
}

}  // namespace

int main(int argc, char** argv) {
  int episodes = 100000, frames = 600, scroll = 37;
  for (int i = 1; i + 1 < argc; i += 2) {
    const std::string a = argv[i];
    if (a == "--episodes") episodes = std::atoi(argv[i + 1]);
    else if (a == "--frames") frames = std::atoi(argv[i + 1]);
    else if (a == "--scroll") scroll = std::atoi(argv[i + 1]);
    else {
      std::fprintf(stderr, "usage: bench_gui [--episodes 100000] [--frames 600] [--scroll 37]\n");
      return 2;
    }
  }
  const std::string dir = std::filesystem::temp_directory_path() / "oversight-bench-gui";
  std::filesystem::create_directories(dir);
  std::printf("bench_gui: %d frames, the episode table scrolling %d rows per frame (wrapping), "
              "1280x800 under xvfb-run\n", frames, scroll);
  double base_mean = 0;
  for (const int n : {1000, episodes}) {
    const std::string db = dir + "/log-" + std::to_string(n) + ".db";
    const auto t0 = std::chrono::steady_clock::now();
    MakeLog(db, n);
    const double made = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
    const std::string line = RunGui(db, frames, scroll);
    const double mean = Field(line, "mean ");
    if (n == 1000) base_mean = mean;
    std::printf("%7d episodes (log written in %.1f s): %s", n, made, line.c_str());
    if (n != 1000 && base_mean > 0) std::printf("  mean frame time x%.2f the 1,000-episode log\n", mean / base_mean);
  }
  std::filesystem::remove_all(dir);
  return 0;
}
