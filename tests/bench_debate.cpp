// Benchmark: sparse-pixel debate search speed, at the same settings for every
// variant, in one run:
//   1. MCTS, one plain (uncached) torch forward per leaf: the baseline;
//   2. MCTS, leaves judged in torch batches of 64 (virtual visits);
//   3. as 2, + the per-image cache by unordered pixel set;
//   4. MCTS, incremental judge session + cache (the product's default);
//   5. greedy debaters, the precommit evaluation of one order (9 lies) per image:
//      a. a new kernel session per move, b. one per image carrying children over;
//   6. MCTS, torch batches of 64 leaves, every game on its own worker (all
//      --mcts-images x --games games in flight): a. each game's batches
//      separately, b. all games' batches merged by one coalescing evaluator
//      (the judge's "coalesce" option: the route for a CUDA judge), c. as b
//      with two batches at a time.
//   7. with --policy FILE (a policy artifact, e.g. from debate_selfplay.json):
//      the neural policy debater on both sides (one forward per move, sampled),
//      the 9 lies of one order on --images images; moves/s against 4's.
// Prints rollouts/s, judge evaluations/s, games per hour and ratios to 1.
//
//   bench_debate --judge CHECKPOINT.pt [--pixels 6] [--rollouts 1000] [--games 4]
//                [--mcts-images 2] [--images 100] [--threads 2] [--only 1234567]
//                [--policy POLICY.pt]
// Games run on --threads workers, one image per worker at a time (as the
// debate protocol plays them), so the figures are for the whole machine.
#include <atomic>
#include <chrono>
#include <cstdio>
#include <cstring>
#include <string>

#include <nlohmann/json.hpp>

#include "agents/agents.h"
#include "agents/policy.h"
#include "engine/dataset.h"
#include "engine/scheduler.h"
#include "judges/judges.h"
#include "protocols/debate.h"

using namespace oversight;

namespace {

// Counts what reaches the real judge.
class CountingJudge : public SparseImageJudge {
 public:
  explicit CountingJudge(const SparseImageJudge& inner) : inner_(inner) {}
  std::string name() const override { return inner_.name(); }
  JudgeKind kind() const override { return inner_.kind(); }
  void Open(StageContext&) override {}
  void Logits(const std::vector<SparseQuery>& q, std::vector<oversight::Logits>* out) const override {
    evaluations += static_cast<int64_t>(q.size());
    inner_.Logits(q, out);
  }
  std::unique_ptr<SparseJudgeSession> NewSession(const uint8_t* image) const override {
    return std::make_unique<CountingSession>(inner_.NewSession(image), &evaluations);
  }
  mutable std::atomic<int64_t> evaluations{0};

 private:
  class CountingSession : public SparseJudgeSession {
   public:
    CountingSession(std::unique_ptr<SparseJudgeSession> s, std::atomic<int64_t>* n)
        : s_(std::move(s)), n_(n) {}
    void Push(int p) override { s_->Push(p); }
    void Pop() override { s_->Pop(); }
    int Depth() const override { return s_->Depth(); }
    oversight::Logits Current() override {
      ++*n_;
      return s_->Current();
    }
    void Children(const std::vector<int>& pixels, std::vector<oversight::Logits>* out) override {
      *n_ += static_cast<int64_t>(pixels.size());
      s_->Children(pixels, out);
    }

   private:
    std::unique_ptr<SparseJudgeSession> s_;
    std::atomic<int64_t>* n_;
  };
  const SparseImageJudge& inner_;
};

struct Result {
  double seconds = 0;
  int64_t moves = 0;
  int64_t evaluations = 0;
  int64_t honest_wins = 0;
  int64_t games = 0;
};

// Plays `games_per_image` games on each of `images` images (lies 0.., honest
// first), both players `agent`, on `threads` workers; like the debate
// protocol, one worker plays all games of an image, sharing one cache, or
// with `worker_per_game` each game is a work item of its own (own cache).
Result Play(const PixelDebater& agent, const SparseImageJudge& base, const ImageDataset& data,
            const std::vector<std::vector<int>>& nonzero, int images, int games_per_image,
            int pixels, int threads, bool shared_session = true, bool worker_per_game = false) {
  CountingJudge judge(base);
  std::atomic<int64_t> moves{0}, wins{0};
  const int per_item = worker_per_game ? 1 : games_per_image;
  std::vector<int64_t> items(static_cast<size_t>(images) * games_per_image / per_item);
  for (size_t i = 0; i < items.size(); ++i) items[i] = static_cast<int64_t>(i);
  const auto t0 = std::chrono::steady_clock::now();
  ParallelFor(
      items, threads,
      [&](int64_t item) {
        const int64_t i = item * per_item / games_per_image;
        PixelSetCache cache;
        SharedJudgeSession session;
        for (int g0 = 0; g0 < per_item; ++g0) {
          const int g = static_cast<int>(item * per_item % games_per_image) + g0;
          DebateGame game;
          game.pixels = pixels;
          game.precommit = true;
          game.honest_first = true;
          game.truth = data.labels[i];
          game.lie = g < game.truth ? g : g + 1;
          DebatePosition pos;
          pos.game = &game;
          pos.image = data.image(i);
          pos.nonzero = &nonzero[i];
          pos.cache = &cache;
          pos.session = shared_session ? &session : nullptr;
          Rng rng(DeriveSeed(1, "bench", static_cast<uint64_t>(i * 16 + g)));
          while (!pos.Terminal()) {
            pos.revealed.push_back(agent.ChooseMove(pos, judge, rng));
            ++moves;
          }
          std::vector<Logits> l;
          base.Logits({pos.Query()}, &l);
          wins += game.HonestWins(l[0]);
        }
      },
      [] { return false; });
  Result r;
  r.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  r.moves = moves;
  r.honest_wins = wins;
  r.games = static_cast<int64_t>(images) * games_per_image;
  r.evaluations = judge.evaluations.load();
  return r;
}

}  // namespace

int Main(int argc, char** argv) {
  std::string judge_path, policy_path;
  int pixels = 6, rollouts = 1000, games = 4, mcts_images = 2, images = 100, threads = 2;
  std::string only;  // variant numbers to run, e.g. "34" (profiling); all by default
  for (int i = 1; i + 1 < argc; i += 2) {
    const std::string a = argv[i];
    if (a == "--judge") judge_path = argv[i + 1];
    else if (a == "--pixels") pixels = std::atoi(argv[i + 1]);
    else if (a == "--rollouts") rollouts = std::atoi(argv[i + 1]);
    else if (a == "--games") games = std::atoi(argv[i + 1]);
    else if (a == "--images") images = std::atoi(argv[i + 1]);
    else if (a == "--mcts-images") mcts_images = std::atoi(argv[i + 1]);
    else if (a == "--threads") threads = std::atoi(argv[i + 1]);
    else if (a == "--only") only = argv[i + 1];
    else if (a == "--policy") policy_path = argv[i + 1];
    else {
      std::fprintf(stderr, "unknown option %s\n", a.c_str());
      return 2;
    }
  }
  if (judge_path.empty()) {
    std::fprintf(stderr,
                 "usage: bench_debate --judge CHECKPOINT.pt [--pixels 6] [--rollouts 1000] "
                 "[--games 4] [--mcts-images 2] [--images 100] [--threads 2] [--only 1234567] "
                 "[--policy POLICY.pt]\n");
    return 2;
  }
  // The baselines use torch for every judge call, as the Python peers do.
  const auto torch_judge = LoadSparseJudgeFile(judge_path, "cpu", /*kernel_logits=*/false);
  const auto judge = LoadSparseJudgeFile(judge_path, "cpu", /*kernel_logits=*/true);
  const ImageDataset data = LoadMnist(DefaultMnistDir(), "test");
  const std::vector<std::vector<int>> nonzero = NonzeroPixelsOf(data);

  std::printf("bench_debate  pixels=%d rollouts/move=%d, %d worker threads (1 intra-op "
              "thread each), MNIST test images, precommit, honest first; MCTS: %d games on "
              "each of %d images\n", pixels, rollouts, threads, games, mcts_images);
  struct Variant {
    const char* label;
    nlohmann::json options;
    const SparseImageJudge* judge;
  };
  const Variant variants[] = {
      {"1. mcts, torch forward per leaf, no cache (baseline)",
       {{"name", "mcts"}, {"rollouts", rollouts}, {"evaluator", "forward"}, {"cache", false}}, torch_judge.get()},
      {"2. mcts, torch batches of 64 leaves, no cache",
       {{"name", "mcts"}, {"rollouts", rollouts}, {"evaluator", "batched"}, {"batch", 64}, {"cache", false}}, torch_judge.get()},
      {"3. mcts, torch batches of 64 leaves + cache",
       {{"name", "mcts"}, {"rollouts", rollouts}, {"evaluator", "batched"}, {"batch", 64}, {"cache", true}}, torch_judge.get()},
      {"4. mcts, incremental session + cache (default)",
       {{"name", "mcts"}, {"rollouts", rollouts}, {"evaluator", "session"}, {"cache", true}}, judge.get()},
  };
  auto wanted = [&](char n) { return only.empty() || only.find(n) != std::string::npos; };
  double base_rate = 0, mcts_moves_s = 0;
  for (const Variant& v : variants) {
    if (!wanted(v.label[0])) continue;
    const auto agent = MakePixelDebater(v.options, "bench");
    const Result r = Play(*agent, *v.judge, data, nonzero, mcts_images, games, pixels, threads);
    const double rollouts_s = r.moves * static_cast<double>(rollouts) / r.seconds;
    if (base_rate == 0) base_rate = rollouts_s;
    mcts_moves_s = r.moves / r.seconds;  // the last MCTS variant run: 4, the default
    std::printf("%-52s %9.0f rollouts/s %9.0f judge evals/s %7.1f games/h  x%.1f\n", v.label,
                rollouts_s, r.evaluations / r.seconds, r.games / r.seconds * 3600,
                rollouts_s / base_rate);
  }
  if (wanted('5')) {
    // The greedy precommit evaluation: without a shared session (each move
    // a new kernel session, children the per-image cache lacks computed from
    // it) as the baseline, then the default (one session per image carrying
    // each position's children to the next).
    const auto greedy = MakePixelDebater({{"name", "greedy"}}, "bench");
    double greedy_base = 0;
    for (const bool shared : {false, true}) {
      if (!shared && only.find("5b") != std::string::npos) continue;  // "--only 5b": profiling
      const Result g = Play(*greedy, *judge, data, nonzero, images, 9, pixels, threads, shared);
      if (!shared) greedy_base = g.seconds;
      std::printf("5%s greedy precommit evaluation, 9 lies, one order%s: %.4f s per image "
                  "(%d images), %0.f children/s, honest wins %.1f%%  x%.2f\n",
                  shared ? "b." : "a.", shared ? ", carried children (default)" : ", new session per move",
                  g.seconds / images, images, g.evaluations / g.seconds,
                  100.0 * g.honest_wins / g.games, greedy_base > 0 ? greedy_base / g.seconds : 0.0);
    }
  }
  if (wanted('7') && !policy_path.empty()) {
    const auto policy = LoadPolicyDebaterFile(policy_path, "cpu", /*greedy=*/false);
    const Result p = Play(*policy, *judge, data, nonzero, images, 9, pixels, threads);
    const double moves_s = p.moves / p.seconds;
    std::printf("7. policy debaters (%s), 9 lies, one order: %.0f moves/s, %.0f games/h, "
                "honest wins %.1f%%", policy_path.c_str(), moves_s, p.games / p.seconds * 3600,
                100.0 * p.honest_wins / p.games);
    if (mcts_moves_s > 0) std::printf("  x%.0f the moves/s of mcts (%.1f)", moves_s / mcts_moves_s, mcts_moves_s);
    std::printf("\n");
  }
  if (!wanted('6')) return 0;
  const int in_flight = mcts_images * games;
  // Coalesced: one batch at a time of up to 1,024 queries (a GPU's setting),
  // and two at a time of up to 256 (one per core).
  const CoalescerOptions one{1024, 200, 1}, two{256, 200, 2};
  const auto coalesced_one = LoadSparseJudgeFile(judge_path, "cpu", false, &one);
  const auto coalesced_two = LoadSparseJudgeFile(judge_path, "cpu", false, &two);
  const auto batched = MakePixelDebater(
      {{"name", "mcts"}, {"rollouts", rollouts}, {"evaluator", "batched"}, {"batch", 64}, {"cache", false}},
      "bench");
  struct Merge {
    const char* label;
    const SparseImageJudge* judge;
  };
  const Merge merges[] = {{"a. each game's batches", torch_judge.get()},
                          {"b. coalesced, 1 batch at a time <= 1024", coalesced_one.get()},
                          {"c. coalesced, 2 batches at a time <= 256", coalesced_two.get()}};
  double per_game_rate = 0;
  for (const Merge& m : merges) {
    const Result r = Play(*batched, *m.judge, data, nonzero, mcts_images, games, pixels,
                          in_flight, true, /*worker_per_game=*/true);
    const double rollouts_s = r.moves * static_cast<double>(rollouts) / r.seconds;
    if (per_game_rate == 0) per_game_rate = rollouts_s;
    std::printf("6%-49s %9.0f rollouts/s %9.0f judge evals/s %7.1f games/h  x%.2f", m.label,
                rollouts_s, r.evaluations / r.seconds, r.games / r.seconds * 3600,
                rollouts_s / per_game_rate);
    if (base_rate > 0) std::printf(" (vs 1: x%.1f)", rollouts_s / base_rate);
    std::printf("\n");
  }
  std::printf("   (6: mcts, batches of 64 leaves, no cache, %d games in flight, one worker each)\n",
              in_flight);
  return 0;
}

int main(int argc, char** argv) {
  try {
    return Main(argc, argv);
  } catch (const std::exception& e) {  // e.g. an unreadable checkpoint
    std::fprintf(stderr, "bench_debate: %s\n", e.what());
    return 2;
  }
}
