// Stage "ppo": trains one side of the sparse-pixel debate (`train_role`)
// with PPO against a fixed `opponent` agent, the stage's `judge`'s verdict
// as the reward and a per-step KL penalty to the reference policy (`init`,
// a policy artifact, e.g. from an sft stage; or a fresh network). Every
// `eval_every` updates (and before the first and after the last) the current
// policy plays logged evaluation debates against the opponent (all 9 lies,
// both orders, on the first `eval_images` images of `eval_task`), as stage
// "<name>@<update>" (e.g. "liar_ppo@0020"), so `oversight report` and
// queries see them like any debate.
//
// Options (PpoOptions in agents/ppo.h has the PPO ones and their defaults
// beside TRL's and Stable-Baselines3's): task, judge, gold_judge (optional:
// logs gold_reward), opponent, train_role, init, hidden, pixels, precommit,
// first, updates, eval_every, eval_images, eval_task, checkpoint_every,
// intra_op_threads, artifact, reward_model (optional: a train_rm artifact for
// the trained side; its score of each finished game is the reward instead of
// the judge's, and the judge's reward is logged as gold_reward: RLHF's
// reward model + PPO, with the judge as the gold standard).
//
// Consultancy ("game": "consultancy"; Gao et al.'s overoptimization setup,
// experiments/configs/overoptimization.json): the trained side alone reveals
// all `pixels` of an image to support its claim, with no opponent;
// "reward": "log_prob" makes the judge's log-probability of the claim the
// reward (or, with a reward_model, the gold reward). "init": "uniform" starts
// the policy and the reference from the uniform policy over legal reveals.
// Instead of evaluation debates, every evaluation plays `eval_samples`
// games on each of the first `eval_images` images of eval_task and logs
// eval_proxy_reward, eval_gold_reward (with 95% half-widths *_ci), eval_kl
// (exact KL to the reference) and eval_d = sqrt(eval_kl); after the last,
// the fit R(d) = d (a - b log d) of the gold reward gained (fit_* metrics).
//
// Determinism and resume: update u's games and minibatch order come from a
// seed derived from (experiment seed, stage, u); a checkpoint (policy, Adam,
// KL coefficient, reward moments) every `checkpoint_every` updates and on
// Ctrl-C; --resume continues exactly.
// Metrics per update (step = updates done): win_rate, proxy_reward,
// gold_reward, kl_ref, beta, policy_loss, value_loss, entropy, approx_kl,
// clip_fraction, explained_variance, minibatches, early_stopped,
// moves_per_s; after each evaluation: eval_win_rate (the trained side's,
// per game) and eval_honest_win_rate.
#include <torch/torch.h>

#include <cmath>
#include <cstdio>
#include <iostream>

#include "agents/policy.h"
#include "agents/policy_net.h"
#include "agents/ppo.h"
#include "engine/config.h"
#include "engine/progress.h"
#include "engine/sql_stmt.h"
#include "engine/stats.h"
#include "engine/torch_util.h"
#include "judges/debate_reward_model.h"
#include "protocols/protocols.h"

namespace oversight {
namespace {

struct PpoStageOptions {
  PpoOptions ppo;
  std::string train_role = "liar";  // the side trained: "honest" or "liar"
  std::string init;                 // policy artifact to start from; "" = a fresh network
  int hidden = 32;                  // a fresh network's channels
  int pixels = 6;                   // k
  bool precommit = true;
  std::string first = "both";       // who moves first in training games: honest, liar, both (random)
  int64_t updates = 100;
  int64_t eval_every = 10;          // updates between evaluations
  int64_t eval_images = 50;         // images of eval_task per evaluation (x 18 games)
  int64_t checkpoint_every = 10;
  int intra_op_threads = 2;
  std::string artifact;             // the trained policy's name
  std::string reward_model;         // a train_rm artifact to optimize instead of the judge
  bool consultancy = false;         // "game": "consultancy"
  int64_t eval_samples = 1;         // consultancy: games per evaluation image
};

class PpoStage : public Stage {
 public:
  PpoStage(PpoStageOptions o, const ConfigNode& node, const Registries& reg)
      : o_(std::move(o)), where_(node.file() + ": " + node.path()) {
    task_ = CreateImageTask(node, "task", reg, &image_task_);
    judge_ = CreateSparseJudge(node, "judge", reg, &sparse_judge_);
    if (node.Has("gold_judge")) gold_judge_ = CreateSparseJudge(node, "gold_judge", reg, &sparse_gold_);
    const ConfigNode task = node.Child("task");
    const ConfigNode judge = node.Child("judge");
    if (o_.consultancy) {
      if (node.Has("opponent"))
        throw ConfigError(where_ + ".opponent: a consultancy has no opponent (the trained side reveals every pixel)");
      if (node.Has("eval_task")) {
        eval_task_ = CreateImageTask(node, "eval_task", reg, &eval_image_task_);
      } else {
        const ConfigNode test(std::make_shared<nlohmann::json>(nlohmann::json{
                                  {"eval_task", {{"name", task.raw()["name"]}, {"split", "test"}}}}),
                              where_ + " (evaluation task)");
        eval_task_ = CreateImageTask(test, "eval_task", reg, &eval_image_task_);
      }
      return;
    }
    const ConfigNode opponent = node.Child("opponent");
    opponent_ = CreatePixelDebater(opponent, reg);

    // The evaluation debates: an episodes stage over the latest snapshot
    // "<artifact>.eval", built now so that its errors surface before anything runs.
    nlohmann::json eval_task = node.Has("eval_task") ? node.Child("eval_task").raw()
                                                     : nlohmann::json{{"name", task.raw()["name"]},
                                                                      {"split", "test"}};
    if (node.Has("eval_task")) node.Child("eval_task").Touch("name");
    const std::string other = o_.train_role == "liar" ? "honest" : "liar";
    nlohmann::json eval{
        {"kind", "episodes"},
        {"task", eval_task},
        {"protocol",
         {{"name", "debate"},
          {"pixels", o_.pixels},
          {"precommit", o_.precommit},
          {"first", "both"},
          {"lies", o_.precommit ? "all" : "random"},
          {o_.train_role, {{"name", "policy"}, {"checkpoint", o_.artifact + ".eval"}}},
          {other, opponent.raw()}}},
        {"judge", judge.raw()},
        {"instances", o_.eval_images}};
    eval_ = reg.stages.Create(
        ConfigNode(std::make_shared<nlohmann::json>(eval), where_ + " (evaluation debates)"),
        "kind", reg);
  }

  void Run(StageContext& ctx) override {
    SetIntraOpThreads(o_.intra_op_threads);
    const torch::Device device(ctx.device);
    task_->Open(ctx);
    judge_->Open(ctx);
    if (gold_judge_) gold_judge_->Open(ctx);
    if (opponent_) opponent_->Open(ctx);
    if (eval_task_) eval_task_->Open(ctx);
    const ImageDataset& data = image_task_->data();
    if (data.size() == 0) throw DataError(where_ + ".task: no images");

    auto network = [&]() {
      if (!o_.init.empty() && o_.init != "uniform")
        return LoadPolicy(FindPolicyArtifact(ctx, o_.init, where_ + ".init"), device);
      torch::manual_seed(DeriveSeed(ctx.seed, ctx.stage_name + "/init", 0));
      DebatePolicyNet net(PolicyNetOptions{o_.hidden});
      if (o_.init == "uniform") net->MakeUniform();
      return net;
    };
    const DebateRole trained =
        o_.train_role == "liar" ? DebateRole::kLiar : DebateRole::kHonest;
    PpoTrainer ppo(o_.ppo, network(), network(), trained, opponent_.get(), *sparse_judge_,
                   sparse_gold_, device);
    if (!o_.reward_model.empty()) SetRewardModel(ctx, ppo);
    TrainingCheckpoint checkpoint(ctx, o_.artifact + ".checkpoint");
    std::map<std::string, double> numbers{{"beta", 0}, {"moments_n", 0}, {"moments_mean", 0},
                                          {"moments_m2", 0}};
    int64_t update = checkpoint.Load(*ppo.policy(), ppo.optimizer(), ctx.device, &numbers);
    if (update >= 0) {
      ppo.kl() = AdaptiveKlController(numbers["beta"], o_.ppo.kl_target, o_.ppo.kl_horizon);
      ppo.reward_moments().Restore(static_cast<int64_t>(numbers["moments_n"]),
                                   numbers["moments_mean"], numbers["moments_m2"]);
      std::cerr << "  resuming PPO at update " << update << "\n";
    } else {
      update = 0;
    }
    auto save = [&]() {
      checkpoint.Save(*ppo.policy(), ppo.optimizer(), update,
                      {{"beta", ppo.kl().beta()},
                       {"moments_n", static_cast<double>(ppo.reward_moments().count())},
                       {"moments_mean", ppo.reward_moments().mean()},
                       {"moments_m2", ppo.reward_moments().m2()}});
    };

    const int64_t images = static_cast<int64_t>(data.size());
    auto next_game = [&](Rng& rng) {
      const size_t i = static_cast<size_t>(UniformInt(rng, static_cast<uint64_t>(images)));
      if (o_.consultancy) return Consultancy(*image_task_, i, trained, rng);
      PpoGame g;
      g.image = data.image(i);
      g.nonzero = &image_task_->Nonzero(i);
      g.game.pixels = o_.pixels;
      g.game.precommit = o_.precommit;
      g.game.honest_first =
          o_.first == "both" ? UniformInt(rng, 2) == 0 : o_.first == "honest";
      g.game.truth = data.labels[i];
      if (o_.precommit) g.game.lie = RandomLie(g.game.truth, rng);
      return g;
    };

    const std::string stage = ctx.stage_name;
    // Evaluations are due before the first update, every eval_every and
    // after the last; one cut short by Ctrl-C is completed on --resume.
    auto evaluate_if_due = [&]() {
      if (update != 0 && update % o_.eval_every != 0 && update != o_.updates) return;
      try {
        Evaluate(ctx, ppo, update);
      } catch (const Interrupted&) {
        save();
        throw;
      }
    };
    evaluate_if_due();
    Progress progress("  " + stage + " updates", o_.updates, update);
    while (update < o_.updates) {
      if (ctx.interrupted()) {
        save();
        progress.Finish();
        throw Interrupted();
      }
      Rng rng(DeriveSeed(ctx.seed, stage + "/update", static_cast<uint64_t>(update)));
      const PpoStats s = ppo.Update(rng, next_game);
      ++update;
      std::vector<Store::Metric> m{{"win_rate", update, s.win_rate},
                                   {"proxy_reward", update, s.proxy_reward},
                                   {"kl_ref", update, s.kl_ref},
                                   {"beta", update, s.beta},
                                   {"policy_loss", update, s.policy_loss},
                                   {"value_loss", update, s.value_loss},
                                   {"entropy", update, s.entropy},
                                   {"approx_kl", update, s.approx_kl},
                                   {"clip_fraction", update, s.clip_fraction},
                                   {"explained_variance", update, s.explained_variance},
                                   {"minibatches", update, static_cast<double>(s.minibatches)},
                                   {"early_stopped", update, s.early_stopped ? 1.0 : 0.0},
                                   {"moves_per_s", update, s.moves_per_s}};
      if (s.gold_reward) m.push_back({"gold_reward", update, *s.gold_reward});
      m.push_back({"kl_exact", update, s.kl_exact});
      ctx.store->InsertMetrics(ctx.experiment_id, stage, m);
      char note[96];
      std::snprintf(note, sizeof note, "%s wins %.0f%%, KL %.3f", o_.train_role.c_str(),
                    s.win_rate * 100, s.kl_ref);
      progress.SetNote(note);
      progress.Add();
      evaluate_if_due();
      if (update % o_.checkpoint_every == 0 && update < o_.updates) save();
    }
    progress.Finish();
    if (o_.consultancy) FitGold(ctx, update);
    SavePolicyArtifact(ctx, ppo.policy(), o_.artifact, update);
    std::cerr << "  policy '" << o_.artifact << "'\n";
  }

 private:
  // A uniformly random label other than `truth`.
  static int RandomLie(int truth, Rng& rng) {
    const int j = static_cast<int>(UniformInt(rng, kNumClasses - 1));
    return j < truth ? j : j + 1;
  }

  // The consultancy of image `i` of `task` for the `trained` side (a liar
  // claims a random lie, drawn from `rng`).
  PpoGame Consultancy(const ImageTask& task, size_t i, DebateRole trained, Rng& rng) const {
    const ImageDataset& data = task.data();
    PpoGame g;
    g.image = data.image(i);
    g.nonzero = &task.Nonzero(i);
    g.game = ConsultancyGame(o_.pixels, data.labels[i], trained,
                             trained == DebateRole::kHonest ? -1 : RandomLie(data.labels[i], rng));
    return g;
  }

  // Logs the evaluation debates of the policy after `update` updates.
  void Evaluate(StageContext& ctx, PpoTrainer& ppo, int64_t update) {
    if (o_.consultancy) return EvaluateConsultancy(ctx, ppo, update);
    SavePolicyArtifact(ctx, ppo.policy(), o_.artifact + ".eval", update);
    char suffix[32];
    std::snprintf(suffix, sizeof suffix, "@%04lld", static_cast<long long>(update));
    StageContext eval_ctx = ctx;
    eval_ctx.stage_name = ctx.stage_name + suffix;
    std::cerr << "  evaluation debates: stage '" << eval_ctx.stage_name << "'\n";
    eval_->Run(eval_ctx);
    Stmt q(ctx.store->handle(),
           "SELECT avg(correct), count(*), (SELECT count(*) FROM metrics WHERE experiment_id = ?1 "
           "AND stage = ?3 AND name = 'eval_win_rate' AND step = ?4) FROM episodes WHERE "
           "experiment_id = ?1 AND stage = ?2",
           "read evaluation debates");
    q.Bind(1, ctx.experiment_id).Bind(2, eval_ctx.stage_name).Bind(3, ctx.stage_name).Bind(4, update);
    if (q.Next() && q.Int(1) > 0 && q.Int(2) == 0) {  // not yet recorded (a resumed evaluation)
      const double honest = q.Double(0);
      ctx.store->InsertMetrics(
          ctx.experiment_id, ctx.stage_name,
          {{"eval_honest_win_rate", update, honest},
           {"eval_win_rate", update, o_.train_role == "honest" ? honest : 1 - honest}});
    }
  }

  // Consultancy: proxy and gold rewards and the KL to the reference of the
  // policy after `update` updates, on held-out images (metrics eval_*).
  void EvaluateConsultancy(StageContext& ctx, PpoTrainer& ppo, int64_t update) {
    Stmt done(ctx.store->handle(),
              "SELECT count(*) FROM metrics WHERE experiment_id = ?1 AND stage = ?2 AND "
              "name = 'eval_kl' AND step = ?3",
              "read evaluations");
    done.Bind(1, ctx.experiment_id).Bind(2, ctx.stage_name).Bind(3, update);
    if (done.Next() && done.Int(0) > 0) return;  // a resumed stage evaluated this already
    const ImageDataset& data = eval_image_task_->data();
    const DebateRole trained = o_.train_role == "liar" ? DebateRole::kLiar : DebateRole::kHonest;
    Rng rng(DeriveSeed(ctx.seed, ctx.stage_name + "/eval", static_cast<uint64_t>(update)));
    std::vector<PpoGame> games;
    const size_t images = std::min(static_cast<size_t>(o_.eval_images), data.size());
    for (size_t i = 0; i < images; ++i) {
      for (int64_t k = 0; k < o_.eval_samples; ++k)
        games.push_back(Consultancy(*eval_image_task_, i, trained, rng));
    }
    const PpoTrainer::Evaluation e = ppo.Evaluate(rng, std::move(games));
    const MeanCi proxy = MeanWithCi(e.proxy), gold = MeanWithCi(e.gold), kl = MeanWithCi(e.kl);
    ctx.store->InsertMetrics(ctx.experiment_id, ctx.stage_name,
                             {{"eval_proxy_reward", update, proxy.mean},
                              {"eval_proxy_reward_ci", update, proxy.half_width},
                              {"eval_gold_reward", update, gold.mean},
                              {"eval_gold_reward_ci", update, gold.half_width},
                              {"eval_kl", update, kl.mean},
                              {"eval_kl_ci", update, kl.half_width},
                              {"eval_d", update, std::sqrt(std::max(0.0, kl.mean))}});
    std::fprintf(stderr, "  evaluation at update %lld: proxy %.3f, gold %.3f, KL %.3f\n",
                 static_cast<long long>(update), proxy.mean, gold.mean, kl.mean);
  }

  // The fit of the gold reward gained since update 0 against d, from this
  // stage's logged evaluations (all of them, also across a resume).
  void FitGold(StageContext& ctx, int64_t update) {
    Stmt q(ctx.store->handle(),
           "SELECT d.value, g.value FROM metrics d JOIN metrics g ON g.experiment_id = "
           "d.experiment_id AND g.stage = d.stage AND g.step = d.step AND g.name = "
           "'eval_gold_reward' WHERE d.experiment_id = ?1 AND d.stage = ?2 AND d.name = 'eval_d' "
           "ORDER BY d.step",
           "read evaluations");
    q.Bind(1, ctx.experiment_id).Bind(2, ctx.stage_name);
    std::vector<double> d, gain;
    while (q.Next()) {
      d.push_back(q.Double(0));
      gain.push_back(q.Double(1));
    }
    if (gain.empty()) return;
    const double start = gain.front();
    for (double& g : gain) g -= start;
    LogGoodhartFit(ctx, GoodhartForm::kRl, d, gain, update);
  }

  PpoStageOptions o_;
  // The learned reward: the reward model's score of each finished game.
  void SetRewardModel(StageContext& ctx, PpoTrainer& ppo) {
    const torch::Device device(ctx.device);
    DebateRewardNet rm = LoadRewardModelArtifact(
        ctx, o_.reward_model, o_.train_role, "this stage trains the " + o_.train_role + " side",
        where_ + ".reward_model",
        std::string("train one first with a ") + (o_.consultancy ? "proxy_rm" : "train_rm") +
            " stage whose \"artifact\" is '" + o_.reward_model + "'",
        device);
    ppo.SetRewardModel([rm, device](const std::vector<DebatePosition>& finals) mutable {
      torch::NoGradGuard no_grad;
      std::vector<RewardModelInput> in;
      in.reserve(finals.size());
      for (const DebatePosition& p : finals) in.push_back({p.game, p.image, &p.revealed});
      const torch::Tensor r = DebateRewards(rm, in, device).to(torch::kCPU, torch::kFloat64).contiguous();
      return std::vector<double>(r.data_ptr<double>(), r.data_ptr<double>() + r.numel());
    });
  }

  std::string where_;
  std::unique_ptr<Task> task_;
  ImageTask* image_task_ = nullptr;
  std::unique_ptr<Judge> judge_, gold_judge_;
  SparseImageJudge* sparse_judge_ = nullptr;
  SparseImageJudge* sparse_gold_ = nullptr;
  std::unique_ptr<PixelDebater> opponent_;  // null in a consultancy
  std::unique_ptr<Stage> eval_;             // evaluation debates (not in a consultancy)
  std::unique_ptr<Task> eval_task_;         // consultancy evaluations
  ImageTask* eval_image_task_ = nullptr;
};

}  // namespace

void RegisterPpoStage(Registries& registries) {
  registries.stages.Add("ppo", [](const ConfigNode& node, const Registries& reg) {
    PpoStageOptions o;
    PpoOptions& p = o.ppo;
    p.games_per_update = static_cast<int>(node.Int("games_per_update", p.games_per_update, 1, 1000000));
    p.epochs = static_cast<int>(node.Int("epochs", p.epochs, 1, 1000));
    p.minibatch = static_cast<int>(node.Int("minibatch", p.minibatch, 1, 1000000));
    p.learning_rate = node.Number("learning_rate", p.learning_rate, 1e-9, 1.0);
    p.clip = node.Number("clip", p.clip, 1e-6, 10.0);
    p.value_clip = node.Number("value_clip", p.value_clip, 0.0, 1e6);
    p.value_coef = node.Number("value_coef", p.value_coef, 0.0, 1e3);
    p.entropy_coef = node.Number("entropy_coef", p.entropy_coef, 0.0, 1e3);
    p.gamma = node.Number("gamma", p.gamma, 0.0, 1.0);
    p.lambda = node.Number("lambda", p.lambda, 0.0, 1.0);
    p.max_grad_norm = node.Number("max_grad_norm", p.max_grad_norm, 0.0, 1e6);
    p.whiten_advantages = node.Bool("whiten_advantages", p.whiten_advantages);
    p.normalize_rewards = node.Bool("normalize_rewards", p.normalize_rewards);
    p.center_rewards = node.Bool("center_rewards", p.center_rewards);
    p.kl_coef = node.Number("kl_coef", p.kl_coef, 0.0, 1e3);
    p.kl_target = node.Number("kl_target", p.kl_target, 0.0, 1e6);
    p.kl_horizon = node.Number("kl_horizon", p.kl_horizon, 1.0, 1e12);
    p.kl_estimator =
        node.Enum("kl_estimator", "k1", {"k1", "k3"}) == "k1" ? KlEstimator::kK1 : KlEstimator::kK3;
    p.target_kl = node.Number("target_kl", p.target_kl, 0.0, 1e6);
    const std::string reward = node.Enum("reward", "binary", {"binary", "margin", "log_prob"});
    p.reward = reward == "binary" ? PpoReward::kBinary
               : reward == "margin" ? PpoReward::kMargin
                                    : PpoReward::kLogProb;
    o.consultancy = node.Enum("game", "debate", {"debate", "consultancy"}) == "consultancy";
    o.eval_samples = node.Int("eval_samples", o.eval_samples, 1, 1000000);
    o.train_role = node.Enum("train_role", o.train_role, {"honest", "liar"});
    o.init = node.String("init", o.init);
    o.hidden = static_cast<int>(node.Int("hidden", o.hidden, 1, 1024));
    o.pixels = static_cast<int>(node.Int("pixels", o.pixels, 1, kImagePixels));
    o.precommit = node.Bool("precommit", o.precommit);
    o.first = node.Enum("first", o.first, {"honest", "liar", "both"});
    o.updates = node.Int("updates", o.updates, 1, 100000000);
    o.eval_every = node.Int("eval_every", o.eval_every, 1, 100000000);
    o.eval_images = node.Int("eval_images", o.eval_images, 1, 100000000);
    o.checkpoint_every = node.Int("checkpoint_every", o.checkpoint_every, 1, 100000000);
    o.intra_op_threads = static_cast<int>(node.Int("intra_op_threads", o.intra_op_threads, 1, 64));
    o.artifact = node.RequireString("artifact");
    o.reward_model = node.String("reward_model", o.reward_model);
    if (p.reward == PpoReward::kLogProb && o.train_role == "liar" && !o.precommit && !o.consultancy)
      throw ConfigError(node.file() + ": " + node.path() +
                        ".reward: \"log_prob\" needs the liar's claim (precommit or a consultancy)");
    return std::make_unique<PpoStage>(o, node, reg);
  });
}

}  // namespace oversight
