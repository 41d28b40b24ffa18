// Stage "dpo": Direct Preference Optimization (Rafailov et al. 2023) of one
// side's debater policy on preference pairs from logged judgements, an
// alternative to a reward model + PPO. A pair is two logged games of the same
// image, claims and order (a debate stage with "seeds" > 1 plays several)
// that the side won in one and lost in the other (protocols/debate_log.h,
// DebatePairs); the answer y is the side's own moves in that game, so
// log pi(y) = sum over its moves of log pi(move | position), each position
// as logged (the opponent's moves included). The reference policy is `init`
// (frozen); the loss is
//   -log sigmoid(beta * ((log pi(y_w) - log ref(y_w)) - (log pi(y_l) - log ref(y_l)))).
// Pairs are split into train and held-out by a hash of the image.
//
// Options: from_experiment, from_stage, train_role, init (required),
// max_pairs_per_group (4), beta (0.1, TRL's default), batches, batch_size
// (pairs), learning_rate (1e-4), eval_every, log_every, checkpoint_every,
// heldout_fraction, intra_op_threads, artifact. Deterministic and resumable
// as sft. Metrics: loss, accuracy (share of pairs the implicit reward
// orders right), margin, batches_per_s; heldout_loss, heldout_accuracy,
// heldout_margin. Artifact: kind "policy".
#include <torch/torch.h>

#include <iostream>

#include "agents/policy.h"
#include "agents/policy_net.h"
#include "agents/rl_losses.h"
#include "engine/config.h"
#include "engine/torch_util.h"
#include "protocols/debate_log.h"

namespace oversight {
namespace {

struct DpoOptions {
  std::string from_experiment;    // "" = this experiment; an id or a name
  std::string from_stage;         // a debate stage, ideally with "seeds" > 1
  std::string train_role = "honest";
  std::string init;               // the reference and starting policy (artifact)
  int max_pairs_per_group = 4;
  double beta = 0.1;              // (TRL DPOConfig beta 0.1)
  int batch_size = 32;            // pairs per batch
  double learning_rate = 1e-4;    // Adam
  double heldout_fraction = 0.1;
  TrainingLoop loop{1000, 50, 100, 250};  // batches, log_every, eval_every, checkpoint_every
  int intra_op_threads = 2;
  std::string artifact;
};

class DpoStage : public Stage {
 public:
  DpoStage(DpoOptions o, std::string where) : o_(std::move(o)), where_(std::move(where)) {}

  void Run(StageContext& ctx) override {
    SetIntraOpThreads(o_.intra_op_threads);
    const torch::Device device(ctx.device);
    side_ = o_.train_role == "honest" ? DebateRole::kHonest : DebateRole::kLiar;
    const int64_t source = ResolveExperimentRef(*ctx.store, o_.from_experiment,
                                                ctx.experiment_id, where_ + ".from_experiment");
    const PreferencePairs pairs =
        ReadPreferencePairs(*ctx.store, source, o_.from_stage, side_, o_.max_pairs_per_group,
                            o_.heldout_fraction, where_, &debates_);
    const std::vector<DebatePair>& train = pairs.train;
    const std::vector<DebatePair>& heldout = pairs.heldout;

    const std::string init = FindPolicyArtifact(ctx, o_.init, where_ + ".init");
    DebatePolicyNet net = LoadPolicy(init, device);
    DebatePolicyNet reference = LoadPolicy(init, device);
    for (auto& p : reference->parameters()) p.set_requires_grad(false);
    torch::optim::Adam adam(net->parameters(), torch::optim::AdamOptions(o_.learning_rate));
    TrainingCheckpoint checkpoint(ctx, o_.artifact + ".checkpoint");
    int64_t step = ResumeFrom(checkpoint, *net, adam, ctx.device, "DPO");
    // Dropout-free network: train() and eval() compute the same thing.
    net->train();

    const std::string stage = ctx.stage_name;
    TrainingLoop loop = o_.loop;
    loop.train = [&](int64_t b) -> TrainingLoop::Figures {
      Rng rng(DeriveSeed(ctx.seed, stage + "/batch", static_cast<uint64_t>(b)));
      std::vector<DebatePair> batch(static_cast<size_t>(o_.batch_size));
      for (DebatePair& p : batch) p = train[UniformInt(rng, train.size())];
      const DpoLossResult r = Loss(net, reference, batch, device);
      adam.zero_grad();
      r.loss.backward();
      adam.step();
      return {{"loss", r.loss.item<double>()}, {"accuracy", r.accuracy}, {"margin", r.margin}};
    };
    if (!heldout.empty()) {
      loop.evaluate = [&](int64_t) -> TrainingLoop::Figures {
        torch::NoGradGuard no_grad;
        double loss = 0, accuracy = 0, margin = 0;
        for (size_t start = 0; start < heldout.size(); start += 128) {
          const std::vector<DebatePair> part(
              heldout.begin() + static_cast<std::ptrdiff_t>(start),
              heldout.begin() + static_cast<std::ptrdiff_t>(std::min(heldout.size(), start + 128)));
          const DpoLossResult h = Loss(net, reference, part, device);
          const double k = static_cast<double>(part.size());
          loss += h.loss.item<double>() * k;
          accuracy += h.accuracy * k;
          margin += h.margin * k;
        }
        const double total = static_cast<double>(heldout.size());
        return {{"heldout_accuracy", accuracy / total},
                {"heldout_loss", loss / total},
                {"heldout_margin", margin / total}};
      };
      loop.note = "held-out pairs ordered";
    }
    step = RunTrainingLoop(ctx, loop, step, checkpoint, *net, adam);
    SavePolicyArtifact(ctx, net, o_.artifact, step);
    std::cerr << "  policy '" << o_.artifact << "'\n";
  }

 private:
  // Summed log-probs of the side's moves in each game of `games`, under `net`.
  torch::Tensor SequenceLogp(DebatePolicyNet& net, const std::vector<const LoggedDebate*>& games,
                             const torch::Device& device) {
    std::vector<DebatePosition> positions;
    std::vector<int64_t> owner, moves;
    for (size_t g = 0; g < games.size(); ++g)
      for (size_t t = 0; t < games[g]->reveals.size(); ++t)
        if (games[g]->movers[t] == side_) {
          positions.push_back(images_.Position(*games[g], static_cast<int>(t)));
          owner.push_back(static_cast<int64_t>(g));
          moves.push_back(games[g]->reveals[t]);
        }
    std::vector<const DebatePosition*> ptrs;
    for (const DebatePosition& p : positions) ptrs.push_back(&p);
    const PolicyBatch in = MakePolicyBatch(ptrs);
    const auto out = net->forward(in.planes.to(device), in.vector.to(device));
    const torch::Tensor logp = MaskedLogSoftmax(out.logits, in.legal.to(device))
                                   .gather(1, torch::tensor(moves).to(device).unsqueeze(1))
                                   .squeeze(1);
    return torch::zeros({static_cast<int64_t>(games.size())}, logp.options())
        .index_add(0, torch::tensor(owner).to(device), logp);
  }

  DpoLossResult Loss(DebatePolicyNet& net, DebatePolicyNet& reference,
                     const std::vector<DebatePair>& pairs, const torch::Device& device) {
    std::vector<const LoggedDebate*> chosen, rejected;
    for (const DebatePair& p : pairs) {
      chosen.push_back(p.chosen);
      rejected.push_back(p.rejected);
    }
    torch::Tensor ref_w, ref_l;
    {
      torch::NoGradGuard no_grad;
      ref_w = SequenceLogp(reference, chosen, device);
      ref_l = SequenceLogp(reference, rejected, device);
    }
    return DpoLoss(SequenceLogp(net, chosen, device), SequenceLogp(net, rejected, device), ref_w,
                   ref_l, o_.beta);
  }

  DpoOptions o_;
  std::string where_;
  DebateRole side_ = DebateRole::kHonest;
  std::vector<LoggedDebate> debates_;
  LoggedDebateImages images_;
};

}  // namespace

void RegisterDpoStage(Registries& registries) {
  registries.stages.Add("dpo", [](const ConfigNode& node, const Registries&) {
    DpoOptions o;
    ReadLogTrainerOptions(node, o);
    o.train_role = node.Enum("train_role", o.train_role, {"honest", "liar"});
    o.init = node.RequireString("init");
    o.max_pairs_per_group =
        static_cast<int>(node.Int("max_pairs_per_group", o.max_pairs_per_group, 0, 1000000));
    o.beta = node.Number("beta", o.beta, 1e-6, 1e6);
    o.learning_rate = node.Number("learning_rate", o.learning_rate, 1e-9, 1.0);
    return std::make_unique<DpoStage>(o, node.file() + ": " + node.path());
  });
}

}  // namespace oversight
