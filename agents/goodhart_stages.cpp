// Reward-model overoptimization (Gao, Schulman, Hilton 2022), in the
// sparse-pixel world: a policy explains an image by revealing k of its
// nonzero pixels (a consultancy of the true label, protocols/debate.h's
// ConsultancyGame); the gold reward is the trained judge's log-probability of
// the true label given the revealed pixels.
//
// Stage "proxy_rm": the proxy. `comparisons` (N) pairs of explanations of one
// training image drawn from the initial (uniform) policy, the one with the
// higher gold reward preferred, each label flipped with probability
// `label_noise` (p); a Bradley-Terry reward model (judges/debate_reward_model.h)
// trained on them for `epochs`. Comparison j is the same in every proxy_rm
// stage of the experiment (its own random stream), and so is the uniform
// number that decides its flip: a smaller N is a prefix of a larger one's
// data, and a larger p flips a superset of a smaller one's labels. Metrics:
// label_flip_rate (the share actually flipped, step 0); per batch loss,
// accuracy (against the noisy labels), margin; held-out (on pairs of images
// HeldOutImage() keeps out, clean labels): heldout_accuracy, heldout_loss.
// Options: task, judge, pixels (6), comparisons, label_noise (0),
// heldout_comparisons (2000), heldout_fraction (0.1), hidden (16), epochs (4),
// batch_size (64), learning_rate (1e-3), center_coef (0.01), log_every,
// eval_every, checkpoint_every, intra_op_threads (2), artifact (kind
// reward_model, side honest: stage "ppo" and "best_of_n" load it).
//
// Stage "best_of_n": best-of-n under a proxy from the uniform policy (what
// "init": "uniform" gives stage "ppo"). On each of the first `images` images
// of `task`, a pool of `samples` explanations (the same pool in every
// best_of_n stage of the experiment), scored by the proxy and the gold
// judge; for n = 1, 2, 4, ... up to n_max, the expected gold and proxy reward
// of the proxy's best of n (engine/goodhart.h's unbiased estimate from the
// pool), averaged over images. Metrics at step n: gold_reward,
// proxy_reward, oracle_gold_reward (best of n by the gold reward itself: the
// ceiling), each with a 95% half-width *_ci over images; kl = log n - (n-1)/n
// and d = sqrt(kl); then (step n_max) the fit R(d) = d (a - b d) of the gold
// reward gained over n = 1 (fit_*). Options: task, judge, reward_model,
// pixels (6), images (200), samples (2048), n_max (1024), intra_op_threads.
// Written all at once when the stage ends: an interrupted stage leaves no
// partial curve and runs again on --resume.
#include <torch/torch.h>

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <iostream>
#include <limits>

#include "agents/policy.h"
#include "engine/config.h"
#include "engine/progress.h"
#include "engine/stats.h"
#include "engine/torch_util.h"
#include "judges/debate_reward_model.h"
#include "judges/reward_losses.h"
#include "protocols/debate_log.h"
#include "protocols/protocols.h"
#include "protocols/stepwise.h"

namespace oversight {

void LogGoodhartFit(StageContext& ctx, GoodhartForm form, const std::vector<double>& d,
                    const std::vector<double>& gain, int64_t step) {
  GoodhartFit fit;
  try {
    fit = FitGoodhart(form, d, gain);
  } catch (const std::invalid_argument& e) {
    std::cerr << "  no fit: " << e.what() << "\n";
    return;
  }
  std::vector<Store::Metric> m{{"fit_a", step, fit.a},
                               {"fit_b", step, fit.b},
                               {"fit_r2", step, fit.r2},
                               {"fit_rmse", step, fit.rmse},
                               {"fit_points", step, static_cast<double>(fit.points)}};
  if (std::isfinite(fit.peak_d)) m.push_back({"fit_peak_d", step, fit.peak_d});
  ctx.store->InsertMetrics(ctx.experiment_id, ctx.stage_name, m);
  std::fprintf(stderr, "  fit %s: gold gained = d (%.4f - %.4f %s), R^2 %.3f, RMSE %.4f, peak at d = %.3g\n",
               GoodhartFormName(form), fit.a, fit.b,
               form == GoodhartForm::kBestOfN ? "d" : "log d", fit.r2, fit.rmse, fit.peak_d);
}

namespace {

// Explanations of images of one dataset and their gold rewards.
struct Explanation {
  size_t image = 0;      // row in the dataset
  std::vector<int> revealed;
};

// The gold rewards of `xs`: the judge's log-probability of each image's label.
std::vector<double> GoldRewards(const SparseImageJudge& judge, const ImageDataset& data,
                                const std::vector<Explanation>& xs) {
  std::vector<double> out;
  out.reserve(xs.size());
  const size_t chunk = 4096;
  for (size_t s = 0; s < xs.size(); s += chunk) {
    std::vector<SparseQuery> q;
    for (size_t i = s; i < std::min(xs.size(), s + chunk); ++i)
      q.push_back({data.image(xs[i].image), xs[i].revealed.data(),
                   static_cast<int>(xs[i].revealed.size())});
    std::vector<Logits> logits;
    judge.Logits(q, &logits);
    for (size_t i = 0; i < q.size(); ++i)
      out.push_back(LogProbOf(logits[i], data.labels[xs[s + i].image]));
  }
  return out;
}

// The consultancy games the reward model reads the claim from, by label.
std::vector<DebateGame> GamesByLabel(int pixels) {
  std::vector<DebateGame> games;
  for (int c = 0; c < kNumClasses; ++c) games.push_back(ConsultancyGame(pixels, c));
  return games;
}

// The proxy's rewards of `xs` (no grad unless the caller enables it).
torch::Tensor ProxyRewards(DebateRewardNet& net, const ImageDataset& data,
                           const std::vector<DebateGame>& games,
                           const std::vector<const Explanation*>& xs, const torch::Device& device) {
  std::vector<RewardModelInput> in;
  in.reserve(xs.size());
  for (const Explanation* x : xs)
    in.push_back({&games[static_cast<size_t>(data.labels[x->image])], data.image(x->image), &x->revealed});
  return DebateRewards(net, in, device);
}

// Task and gold judge, as stages proxy_rm and best_of_n read them.
struct GoldSetup {
  ImageTask* images = nullptr;
  SparseImageJudge* gold = nullptr;
  std::unique_ptr<Task> task;
  std::unique_ptr<Judge> judge;

  GoldSetup(const ConfigNode& node, const Registries& reg)
      : task(CreateImageTask(node, "task", reg, &images)),
        judge(CreateSparseJudge(node, "judge", reg, &gold)) {}
  // Sets LibTorch's threads and opens the task and the judge; the task's images.
  const ImageDataset& Open(StageContext& ctx, const std::string& where, int intra_op_threads) {
    SetIntraOpThreads(intra_op_threads);
    task->Open(ctx);
    judge->Open(ctx);
    if (images->data().size() == 0) throw DataError(where + ".task: no images");
    return images->data();
  }
};

struct ProxyRmOptions {
  int pixels = 6;
  int64_t comparisons = 0;
  double label_noise = 0.0;
  int64_t heldout_comparisons = 2000;
  double heldout_fraction = 0.1;
  int hidden = 16;
  double epochs = 4;
  int batch_size = 64;
  double learning_rate = 1e-3;
  double center_coef = 0.01;
  TrainingLoop loop{0, 50, 500, 500};
  int intra_op_threads = 2;
  std::string artifact;
};

class ProxyRmStage : public Stage {
 public:
  ProxyRmStage(ProxyRmOptions o, const ConfigNode& node, const Registries& reg)
      : o_(std::move(o)), where_(node.file() + ": " + node.path()), gold_(node, reg) {}

  void Run(StageContext& ctx) override {
    const ImageDataset& data = gold_.Open(ctx, where_, o_.intra_op_threads);
    const torch::Device device(ctx.device);
    std::vector<size_t> train_rows, heldout_rows;
    for (size_t i = 0; i < data.size(); ++i)
      (HeldOutImage(data.source_index[i], o_.heldout_fraction) ? heldout_rows : train_rows).push_back(i);
    if (train_rows.empty())
      throw DataError(where_ + ".task: every image is held out (heldout_fraction " +
                      std::to_string(o_.heldout_fraction) + ")");

    // Comparison j: its own stream, so that every proxy_rm stage of the
    // experiment sees the same pairs and the same flip draws.
    auto draw = [&](const std::vector<size_t>& rows, const char* stream, int64_t count,
                    std::vector<Explanation>* xs) {
      xs->reserve(static_cast<size_t>(2 * count));
      for (int64_t j = 0; j < count; ++j) {
        Rng rng(DeriveSeed(ctx.seed, stream, static_cast<uint64_t>(j)));
        const size_t row = rows[UniformInt(rng, rows.size())];
        for (int k = 0; k < 2; ++k)
          xs->push_back({row, SampleRevealed(gold_.images->Nonzero(row), o_.pixels, rng)});
      }
    };
    std::vector<Explanation> train, heldout;
    draw(train_rows, "proxy_rm/pair", o_.comparisons, &train);
    if (!heldout_rows.empty()) draw(heldout_rows, "proxy_rm/heldout_pair", o_.heldout_comparisons, &heldout);
    const std::vector<double> gold_train = GoldRewards(*gold_.gold, data, train);
    const std::vector<double> gold_heldout = GoldRewards(*gold_.gold, data, heldout);

    // Pairs as (chosen, rejected) explanation indexes: by the gold reward,
    // then flipped (train only).
    int64_t flipped = 0;
    auto pairs_of = [&](const std::vector<double>& gold, const char* flip_stream, double noise) {
      std::vector<std::pair<size_t, size_t>> pairs;
      for (size_t j = 0; 2 * j < gold.size(); ++j) {
        const bool first_better = gold[2 * j] >= gold[2 * j + 1];
        Rng rng(DeriveSeed(ctx.seed, flip_stream, j));
        const bool label = FlipLabel(first_better, noise, rng);
        flipped += label != first_better;
        pairs.push_back(label ? std::make_pair(2 * j, 2 * j + 1) : std::make_pair(2 * j + 1, 2 * j));
      }
      return pairs;
    };
    const auto train_pairs = pairs_of(gold_train, "proxy_rm/flip", o_.label_noise);
    const double flip_rate = static_cast<double>(flipped) / static_cast<double>(train_pairs.size());
    const auto heldout_pairs = pairs_of(gold_heldout, "proxy_rm/heldout_flip", 0.0);
    std::fprintf(stderr, "  %zu comparisons (%.1f%% of labels flipped), %zu held out\n",
                 train_pairs.size(), 100 * flip_rate, heldout_pairs.size());

    torch::manual_seed(DeriveSeed(ctx.seed, ctx.stage_name + "/init", 0));
    DebateRewardNet net(o_.hidden);
    net->to(device);
    torch::optim::Adam adam(net->parameters(), torch::optim::AdamOptions(o_.learning_rate));
    TrainingCheckpoint checkpoint(ctx, o_.artifact + ".checkpoint");
    int64_t step = ResumeFrom(checkpoint, *net, adam, ctx.device, "proxy reward model training");
    if (step <= 0)
      ctx.store->InsertMetrics(ctx.experiment_id, ctx.stage_name, {{"label_flip_rate", 0, flip_rate}});

    const std::vector<DebateGame> games = GamesByLabel(o_.pixels);
    auto loss = [&](const std::vector<std::pair<size_t, size_t>>& pairs,
                    const std::vector<Explanation>& xs) {
      std::vector<const Explanation*> w, l;
      for (const auto& p : pairs) {
        w.push_back(&xs[p.first]);
        l.push_back(&xs[p.second]);
      }
      return BradleyTerryLoss(ProxyRewards(net, data, games, w, device),
                              ProxyRewards(net, data, games, l, device), {}, o_.center_coef);
    };
    TrainingLoop loop = o_.loop;
    loop.batches = std::max<int64_t>(
        1, static_cast<int64_t>(std::ceil(o_.epochs * static_cast<double>(train_pairs.size()) / o_.batch_size)));
    const std::string stage = ctx.stage_name;
    loop.train = [&](int64_t b) -> TrainingLoop::Figures {
      Rng rng(DeriveSeed(ctx.seed, stage + "/batch", static_cast<uint64_t>(b)));
      std::vector<std::pair<size_t, size_t>> batch(static_cast<size_t>(o_.batch_size));
      for (auto& p : batch) p = train_pairs[UniformInt(rng, train_pairs.size())];
      const BradleyTerryResult r = loss(batch, train);
      adam.zero_grad();
      r.loss.backward();
      adam.step();
      return {{"loss", r.loss.item<double>()}, {"accuracy", r.accuracy}, {"margin", r.mean_margin}};
    };
    if (!heldout_pairs.empty()) {
      loop.evaluate = [&](int64_t) -> TrainingLoop::Figures {
        torch::NoGradGuard no_grad;
        double correct = 0, total_loss = 0;
        const size_t chunk = 1024;
        for (size_t s = 0; s < heldout_pairs.size(); s += chunk) {
          const std::vector<std::pair<size_t, size_t>> part(
              heldout_pairs.begin() + static_cast<std::ptrdiff_t>(s),
              heldout_pairs.begin() + static_cast<std::ptrdiff_t>(std::min(heldout_pairs.size(), s + chunk)));
          const BradleyTerryResult r = loss(part, heldout);
          correct += r.accuracy * static_cast<double>(part.size());
          total_loss += r.loss.item<double>() * static_cast<double>(part.size());
        }
        const double n = static_cast<double>(heldout_pairs.size());
        return {{"heldout_accuracy", correct / n}, {"heldout_loss", total_loss / n}};
      };
      loop.note = "held-out pairs ordered as the gold judge does";
    }
    step = RunTrainingLoop(ctx, loop, step, checkpoint, *net, adam);
    const std::string path = ctx.artifacts_dir + "/" + o_.artifact + ".pt";
    SaveRewardModel(net, "honest", path);
    RecordArtifact(ctx, kRewardModelArtifact, o_.artifact, path, step);
    std::cerr << "  proxy reward model '" << o_.artifact << "'\n";
  }

 private:
  ProxyRmOptions o_;
  std::string where_;
  GoldSetup gold_;
};

struct BestOfNOptions {
  std::string reward_model;
  int pixels = 6;
  int64_t images = 200;
  int64_t samples = 2048;
  int64_t n_max = 1024;
  int intra_op_threads = 2;
};

class BestOfNStage : public Stage {
 public:
  BestOfNStage(BestOfNOptions o, const ConfigNode& node, const Registries& reg)
      : o_(std::move(o)), where_(node.file() + ": " + node.path()), gold_(node, reg) {}

  void Run(StageContext& ctx) override {
    const ImageDataset& data = gold_.Open(ctx, where_, o_.intra_op_threads);
    const torch::Device device(ctx.device);
    DebateRewardNet proxy = LoadRewardModelArtifact(
        ctx, o_.reward_model, "honest",
        "best-of-n explanations need a reward model of the honest side", where_ + ".reward_model",
        "train one first with a proxy_rm stage whose \"artifact\" is '" + o_.reward_model + "'",
        device);
    const std::vector<DebateGame> games = GamesByLabel(o_.pixels);

    std::vector<int64_t> ns;
    for (int64_t n = 1; n < o_.n_max; n *= 2) ns.push_back(n);
    ns.push_back(o_.n_max);
    const size_t images = std::min(static_cast<size_t>(o_.images), data.size());
    // Per n, per image: gold and proxy of the proxy's best of n, gold of the gold's.
    std::vector<std::vector<double>> gold(ns.size()), proxy_r(ns.size()), oracle(ns.size());
    Progress progress("  " + ctx.stage_name + " images", static_cast<int64_t>(images), 0);
    for (size_t i = 0; i < images; ++i) {
      ctx.CheckInterrupt();
      Rng rng(DeriveSeed(ctx.seed, "best_of_n/pool", i));
      std::vector<Explanation> pool;
      pool.reserve(static_cast<size_t>(o_.samples));
      for (int64_t s = 0; s < o_.samples; ++s)
        pool.push_back({i, SampleRevealed(gold_.images->Nonzero(i), o_.pixels, rng)});
      const std::vector<double> g = GoldRewards(*gold_.gold, data, pool);
      std::vector<double> p;
      {
        torch::NoGradGuard no_grad;
        const size_t chunk = 1024;
        for (size_t s = 0; s < pool.size(); s += chunk) {
          std::vector<const Explanation*> part;
          for (size_t k = s; k < std::min(pool.size(), s + chunk); ++k) part.push_back(&pool[k]);
          const torch::Tensor r =
              ProxyRewards(proxy, data, games, part, device).to(torch::kCPU, torch::kFloat64).contiguous();
          p.insert(p.end(), r.data_ptr<double>(), r.data_ptr<double>() + r.numel());
        }
      }
      for (size_t k = 0; k < ns.size(); ++k) {
        gold[k].push_back(BestOfNEstimate(p, g, ns[k]));
        proxy_r[k].push_back(BestOfNEstimate(p, p, ns[k]));
        oracle[k].push_back(BestOfNEstimate(g, g, ns[k]));
      }
      progress.Add();
    }
    progress.Finish();

    std::vector<Store::Metric> m;
    std::vector<double> d, gain;
    const double gold_at_1 = MeanWithCi(gold[0]).mean;  // ns[0] = 1
    for (size_t k = 0; k < ns.size(); ++k) {
      const int64_t n = ns[k];
      const MeanCi gm = MeanWithCi(gold[k]), pm = MeanWithCi(proxy_r[k]), om = MeanWithCi(oracle[k]);
      const double kl = BestOfNKl(n);
      m.insert(m.end(), {{"gold_reward", n, gm.mean},
                         {"gold_reward_ci", n, gm.half_width},
                         {"proxy_reward", n, pm.mean},
                         {"proxy_reward_ci", n, pm.half_width},
                         {"oracle_gold_reward", n, om.mean},
                         {"oracle_gold_reward_ci", n, om.half_width},
                         {"kl", n, kl},
                         {"d", n, std::sqrt(kl)}});
      d.push_back(std::sqrt(kl));
      gain.push_back(gm.mean - gold_at_1);
      std::fprintf(stderr, "  n %5lld  d %.3f  gold %.4f  proxy %.4f  gold-selected %.4f\n",
                   static_cast<long long>(n), std::sqrt(kl), gm.mean, pm.mean, om.mean);
    }
    ctx.store->InsertMetrics(ctx.experiment_id, ctx.stage_name, m);
    LogGoodhartFit(ctx, GoodhartForm::kBestOfN, d, gain, o_.n_max);
  }

 private:
  BestOfNOptions o_;
  std::string where_;
  GoldSetup gold_;
};

}  // namespace

void RegisterGoodhartStages(Registries& registries) {
  registries.stages.Add("proxy_rm", [](const ConfigNode& node, const Registries& reg) {
    ProxyRmOptions o;
    o.pixels = static_cast<int>(node.Int("pixels", o.pixels, 1, kImagePixels));
    if (!node.Has("comparisons")) node.FailAt("comparisons", "required: the number of preference pairs (N)");
    o.comparisons = node.Int("comparisons", 0, 1, 100000000);
    o.label_noise = node.Number("label_noise", o.label_noise, 0.0, 1.0);
    o.heldout_comparisons = node.Int("heldout_comparisons", o.heldout_comparisons, 0, 100000000);
    o.heldout_fraction = node.Number("heldout_fraction", o.heldout_fraction, 0.0, 0.9);
    o.hidden = static_cast<int>(node.Int("hidden", o.hidden, 1, 1024));
    o.epochs = node.Number("epochs", o.epochs, 1e-6, 1e6);
    o.batch_size = static_cast<int>(node.Int("batch_size", o.batch_size, 1, 65536));
    o.learning_rate = node.Number("learning_rate", o.learning_rate, 1e-9, 1.0);
    o.center_coef = node.Number("center_coef", o.center_coef, 0.0, 1e6);
    if (node.Has("batches")) node.FailAt("batches", "not an option of proxy_rm: set \"epochs\" (passes over the comparisons)");
    o.loop.batches = 1;  // set from epochs when the stage runs
    o.loop.ReadOptions(node);
    o.intra_op_threads = static_cast<int>(node.Int("intra_op_threads", o.intra_op_threads, 1, 64));
    o.artifact = node.RequireString("artifact");
    return std::make_unique<ProxyRmStage>(o, node, reg);
  });
  registries.stages.Add("best_of_n", [](const ConfigNode& node, const Registries& reg) {
    BestOfNOptions o;
    o.reward_model = node.RequireString("reward_model");
    o.pixels = static_cast<int>(node.Int("pixels", o.pixels, 1, kImagePixels));
    o.images = node.Int("images", o.images, 1, 100000000);
    o.samples = node.Int("samples", o.samples, 1, 1000000);
    o.n_max = node.Int("n_max", std::min(o.n_max, o.samples), 1, 1000000);
    if (o.n_max > o.samples)
      node.FailAt("n_max", std::to_string(o.n_max) + " is more than the pool of " +
                               std::to_string(o.samples) + " samples per image");
    o.intra_op_threads = static_cast<int>(node.Int("intra_op_threads", o.intra_op_threads, 1, 64));
    return std::make_unique<BestOfNStage>(o, node, reg);
  });
}

}  // namespace oversight
