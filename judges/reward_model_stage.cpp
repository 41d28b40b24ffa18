// Stage "train_rm": a Bradley-Terry reward model (Christiano et al. 2017;
// Ouyang et al. 2022) on preference pairs from logged judgements: two logged
// games of the same image, claims and order that `side` won in one and lost
// in the other (protocols/debate_log.h, DebatePairs); the winner's
// transcript is preferred. The model sees what the judge saw (the revealed
// pixels and their values, who revealed each, both claims) and outputs one
// reward for `side` (judges/debate_reward_model.h). Loss: -log sigmoid(r_w - r_l - margin) + center_coef *
// (r_w + r_l)^2 (judges/reward_losses.h). Pairs are split into train and
// held-out by a hash of the image.
//
// With "objective": "outcome" it is instead a pointwise outcome model: the
// reward is the logit that `side` won, trained with binary cross-entropy on
// every logged game of from_stage (images held out by hash); metrics loss,
// accuracy, heldout_accuracy, heldout_loss.
//
// Options: from_experiment, from_stage, side (honest), objective
// (preference), max_pairs_per_group
// (4), margin (0), center_coef (0; Eisenstein et al. use 0.01), hidden (32),
// batches (1000), batch_size (32 pairs), learning_rate (1e-3),
// heldout_fraction (0.1), eval_every, log_every, checkpoint_every,
// intra_op_threads, artifact. Deterministic and resumable as train_judge.
// Metrics: loss, accuracy, margin (mean r_w - r_l), batches_per_s,
// heldout_accuracy, heldout_margin, heldout_loss. Artifact: kind
// "reward_model" (parameters + meta.hidden + meta.side).
#include <torch/torch.h>

#include <iostream>

#include "engine/config.h"
#include "engine/torch_util.h"
#include "judges/debate_reward_model.h"
#include "judges/judges.h"
#include "judges/reward_losses.h"
#include "protocols/debate_log.h"

namespace oversight {
namespace {

struct RewardModelOptions {
  std::string from_experiment;  // "" = this experiment; an id or a name
  std::string from_stage;       // a debate stage, ideally with "seeds" > 1
  std::string side = "honest";  // whose preference: the side that won is preferred
  // "preference": Bradley-Terry on pairs; "outcome": pointwise, the logit that
  // `side` won each logged game (binary cross-entropy).
  std::string objective = "preference";
  int max_pairs_per_group = 4;
  double margin = 0.0;          // required reward gap m
  double center_coef = 0.0;
  int hidden = 32;
  int batch_size = 32;          // pairs per batch
  double learning_rate = 1e-3;  // Adam
  double heldout_fraction = 0.1;
  TrainingLoop loop{1000, 50, 100, 250};  // batches, log_every, eval_every, checkpoint_every
  int intra_op_threads = 2;
  std::string artifact;
};

class RewardModelStage : public Stage {
 public:
  RewardModelStage(RewardModelOptions o, std::string where)
      : o_(std::move(o)), where_(std::move(where)) {}

  void Run(StageContext& ctx) override {
    SetIntraOpThreads(o_.intra_op_threads);
    const torch::Device device(ctx.device);
    const DebateRole side = o_.side == "honest" ? DebateRole::kHonest : DebateRole::kLiar;
    const int64_t source = ResolveExperimentRef(*ctx.store, o_.from_experiment,
                                                ctx.experiment_id, where_ + ".from_experiment");
    PreferencePairs pairs;
    std::vector<const LoggedDebate*> games, heldout_games;  // objective "outcome"
    if (o_.objective == "preference") {
      pairs = ReadPreferencePairs(*ctx.store, source, o_.from_stage, side, o_.max_pairs_per_group,
                                  o_.heldout_fraction, where_, &debates_);
    } else {
      debates_ = ReadLoggedDebates(*ctx.store, source, o_.from_stage);
      for (const LoggedDebate& d : debates_)
        (HeldOutImage(d.source_index, o_.heldout_fraction) ? heldout_games : games).push_back(&d);
      if (games.empty())
        throw ConfigError(where_ + ".from_stage: no logged debates in stage '" + o_.from_stage +
                          "' of experiment " + std::to_string(source) + " to train on");
      std::cerr << "  " << games.size() << " games, " << heldout_games.size() << " held out\n";
    }
    const std::vector<DebatePair>& train = pairs.train;
    const std::vector<DebatePair>& heldout = pairs.heldout;

    torch::manual_seed(DeriveSeed(ctx.seed, ctx.stage_name + "/init", 0));
    DebateRewardNet net(o_.hidden);
    net->to(device);
    torch::optim::Adam adam(net->parameters(), torch::optim::AdamOptions(o_.learning_rate));
    TrainingCheckpoint checkpoint(ctx, o_.artifact + ".checkpoint");
    int64_t step = ResumeFrom(checkpoint, *net, adam, ctx.device, "reward model training");

    const std::string stage = ctx.stage_name;
    TrainingLoop loop = o_.loop;
    if (o_.objective == "outcome") {
      loop.train = [&](int64_t b) -> TrainingLoop::Figures {
        Rng rng(DeriveSeed(ctx.seed, stage + "/batch", static_cast<uint64_t>(b)));
        std::vector<const LoggedDebate*> batch(static_cast<size_t>(o_.batch_size));
        for (const LoggedDebate*& g : batch) g = games[UniformInt(rng, games.size())];
        const OutcomeFigures r = Outcome(net, batch, side, device);
        adam.zero_grad();
        r.loss.backward();
        adam.step();
        return {{"loss", r.loss.item<double>()}, {"accuracy", r.accuracy}};
      };
      if (!heldout_games.empty()) {
        loop.evaluate = [&](int64_t) -> TrainingLoop::Figures {
          torch::NoGradGuard no_grad;
          const OutcomeFigures h = Outcome(net, heldout_games, side, device);
          return {{"heldout_accuracy", h.accuracy}, {"heldout_loss", h.loss.item<double>()}};
        };
        loop.note = "held-out outcomes predicted";
      }
    } else {
      loop.train = [&](int64_t b) -> TrainingLoop::Figures {
        Rng rng(DeriveSeed(ctx.seed, stage + "/batch", static_cast<uint64_t>(b)));
        std::vector<DebatePair> batch(static_cast<size_t>(o_.batch_size));
        for (DebatePair& p : batch) p = train[UniformInt(rng, train.size())];
        const BradleyTerryResult r = Loss(net, batch, device);
        adam.zero_grad();
        r.loss.backward();
        adam.step();
        return {{"loss", r.loss.item<double>()}, {"accuracy", r.accuracy}, {"margin", r.mean_margin}};
      };
      if (!heldout.empty()) {
        loop.evaluate = [&](int64_t) -> TrainingLoop::Figures {
          torch::NoGradGuard no_grad;
          const BradleyTerryResult h = Loss(net, heldout, device);
          return {{"heldout_accuracy", h.accuracy},
                  {"heldout_loss", h.loss.item<double>()},
                  {"heldout_margin", h.mean_margin}};
        };
        loop.note = "held-out pairs ordered";
      }
    }
    step = RunTrainingLoop(ctx, loop, step, checkpoint, *net, adam);
    const std::string path = ctx.artifacts_dir + "/" + o_.artifact + ".pt";
    SaveRewardModel(net, o_.side, path);
    RecordArtifact(ctx, kRewardModelArtifact, o_.artifact, path, step);
    std::cerr << "  reward model '" << o_.artifact << "'\n";
  }

 private:
  // The rewards of the final transcripts of `games`.
  torch::Tensor Rewards(DebateRewardNet& net, const std::vector<const LoggedDebate*>& games,
                        const torch::Device& device) {
    std::vector<RewardModelInput> in;
    in.reserve(games.size());
    for (const LoggedDebate* d : games) in.push_back({&d->game, images_.Image(*d, nullptr), &d->reveals});
    return DebateRewards(net, in, device);
  }

  // Pointwise: the reward is the logit that `side` won the game.
  struct OutcomeFigures {
    torch::Tensor loss;
    double accuracy = 0;
  };
  OutcomeFigures Outcome(DebateRewardNet& net, const std::vector<const LoggedDebate*>& games,
                         DebateRole side, const torch::Device& device) {
    std::vector<float> won;
    for (const LoggedDebate* d : games) won.push_back((d->honest_won == (side == DebateRole::kHonest)) ? 1.0f : 0.0f);
    const torch::Tensor labels = torch::tensor(won).to(device);
    const torch::Tensor logits = Rewards(net, games, device);
    OutcomeFigures f;
    f.loss = PointwiseOutcomeLoss(logits, labels);
    f.accuracy = ((logits > 0).to(torch::kFloat) == labels).to(torch::kFloat).mean().item<double>();
    return f;
  }

  BradleyTerryResult Loss(DebateRewardNet& net, const std::vector<DebatePair>& pairs,
                          const torch::Device& device) {
    std::vector<const LoggedDebate*> chosen, rejected;
    for (const DebatePair& p : pairs) {
      chosen.push_back(p.chosen);
      rejected.push_back(p.rejected);
    }
    const torch::Tensor r_w = Rewards(net, chosen, device);
    const torch::Tensor r_l = Rewards(net, rejected, device);
    const torch::Tensor m =
        o_.margin != 0 ? torch::full_like(r_w, o_.margin).detach() : torch::Tensor();
    return BradleyTerryLoss(r_w, r_l, m, o_.center_coef);
  }

  RewardModelOptions o_;
  std::string where_;
  std::vector<LoggedDebate> debates_;
  LoggedDebateImages images_;
};

}  // namespace

void RegisterRewardModelStage(Registries& registries) {
  registries.stages.Add("train_rm", [](const ConfigNode& node, const Registries&) {
    RewardModelOptions o;
    ReadLogTrainerOptions(node, o);
    o.side = node.Enum("side", o.side, {"honest", "liar"});
    o.objective = node.Enum("objective", o.objective, {"preference", "outcome"});
    o.max_pairs_per_group =
        static_cast<int>(node.Int("max_pairs_per_group", o.max_pairs_per_group, 0, 1000000));
    o.margin = node.Number("margin", o.margin, -1e6, 1e6);
    o.center_coef = node.Number("center_coef", o.center_coef, 0.0, 1e6);
    o.hidden = static_cast<int>(node.Int("hidden", o.hidden, 1, 1024));
    o.learning_rate = node.Number("learning_rate", o.learning_rate, 1e-9, 1.0);
    return std::make_unique<RewardModelStage>(o, node.file() + ": " + node.path());
  });
}

}  // namespace oversight
