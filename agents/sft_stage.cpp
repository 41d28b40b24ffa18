// Stage "sft": behaviour cloning of a debater policy from logged debates (for
// example MCTS debaters' moves), the reference policy of PPO and DPO.
//
// Data: every reveal of the complete debates of one stage (`from_stage`) of
// an experiment (`from_experiment`: this one by default), by the roles asked
// for. Each reveal is an example: the position before it, seen by its mover
// (agents/policy_net.h), the pixel played (cross-entropy over the legal
// pixels) and the game's outcome for the mover (+1 / -1; the value head's
// target, weighted by `value_coef`). Images are split into train and
// held-out by a hash of the image, so held-out positions are of images the
// policy never trained on.
//
// Determinism and resume as train_judge: batch b is drawn from a seed
// derived from (experiment seed, stage, b); a checkpoint (model + Adam + step)
// every `checkpoint_every` batches and on Ctrl-C; --resume continues exactly.
// Metrics: loss, policy_loss, value_loss, batches_per_s; heldout_accuracy
// (the policy's most likely move is the logged one), heldout_nll,
// heldout_value_mse. Artifact: kind "policy", named `artifact`.
#include <torch/torch.h>

#include <iostream>

#include "agents/policy.h"
#include "agents/policy_net.h"
#include "engine/config.h"
#include "engine/torch_util.h"
#include "protocols/debate_log.h"

namespace oversight {
namespace {

struct SftOptions {
  std::string from_experiment;     // "" = this experiment; an id or a name
  std::string from_stage;          // the episodes stage whose debates to clone
  std::string roles = "both";      // "honest", "liar" or "both": whose moves
  int hidden = 32;                 // PolicyNetOptions::hidden
  int batch_size = 64;
  double learning_rate = 1e-3;     // Adam
  double value_coef = 0.5;         // weight of the value loss
  double heldout_fraction = 0.1;   // share of images held out
  TrainingLoop loop{2000, 50, 250, 500};  // batches, log_every, eval_every, checkpoint_every
  int intra_op_threads = 2;
  std::string artifact;            // the policy's name for later stages
};

struct Example {
  const LoggedDebate* debate;
  int t;  // the position before reveal t
};

class SftStage : public Stage {
 public:
  SftStage(SftOptions o, std::string where) : o_(std::move(o)), where_(std::move(where)) {}

  void Run(StageContext& ctx) override {
    SetIntraOpThreads(o_.intra_op_threads);
    const torch::Device device(ctx.device);
    const int64_t source = ResolveExperimentRef(*ctx.store, o_.from_experiment,
                                                ctx.experiment_id, where_ + ".from_experiment");
    debates_ = ReadLoggedDebates(*ctx.store, source, o_.from_stage);
    std::vector<Example> train, heldout;
    for (const LoggedDebate& d : debates_) {
      const std::vector<int>* nonzero = nullptr;
      const uint8_t* image = images_.Image(d, &nonzero);
      (void)image;
      const bool held = HeldOutImage(d.source_index, o_.heldout_fraction);
      for (size_t t = 0; t < d.reveals.size(); ++t) {
        if (!std::binary_search(nonzero->begin(), nonzero->end(), d.reveals[t]))
          throw DataError(ctx.store->path() + ": episode " + std::to_string(d.episode_id) +
                          ": reveal " + std::to_string(t) + " (pixel " +
                          std::to_string(d.reveals[t]) + ") is not a nonzero pixel of its image");
        const bool honest = d.movers[t] == DebateRole::kHonest;
        if ((o_.roles == "honest" && !honest) || (o_.roles == "liar" && honest)) continue;
        (held ? heldout : train).push_back({&d, static_cast<int>(t)});
      }
    }
    if (train.empty())
      throw ConfigError(where_ + ".from_stage: no " + (o_.roles == "both" ? "" : o_.roles + " ") +
                        "moves to learn from in stage '" + o_.from_stage + "' of experiment " +
                        std::to_string(source) + " (" + std::to_string(debates_.size()) +
                        " complete debates)");
    std::cerr << "  " << train.size() << " moves to clone from " << debates_.size()
              << " debates, " << heldout.size() << " held out\n";

    torch::manual_seed(DeriveSeed(ctx.seed, ctx.stage_name + "/init", 0));
    DebatePolicyNet net(PolicyNetOptions{o_.hidden});
    net->to(device);
    torch::optim::Adam adam(net->parameters(), torch::optim::AdamOptions(o_.learning_rate));
    TrainingCheckpoint checkpoint(ctx, o_.artifact + ".checkpoint");
    int64_t step = ResumeFrom(checkpoint, *net, adam, ctx.device, "SFT");

    const std::string stage = ctx.stage_name;
    net->train();
    TrainingLoop loop = o_.loop;
    loop.train = [&](int64_t b) -> TrainingLoop::Figures {
      Rng rng(DeriveSeed(ctx.seed, stage + "/batch", static_cast<uint64_t>(b)));
      std::vector<Example> batch(static_cast<size_t>(o_.batch_size));
      for (Example& e : batch) e = train[UniformInt(rng, train.size())];
      const Losses l = Forward(net, batch, device);
      torch::Tensor loss = l.policy + o_.value_coef * l.value;
      adam.zero_grad();
      loss.backward();
      adam.step();
      return {{"loss", loss.item<double>()},
              {"policy_loss", l.policy.item<double>()},
              {"value_loss", l.value.item<double>()}};
    };
    if (!heldout.empty()) {
      loop.evaluate = [&](int64_t) -> TrainingLoop::Figures {
        const Heldout h = Evaluate(net, heldout, device);
        return {{"heldout_accuracy", h.accuracy},
                {"heldout_nll", h.nll},
                {"heldout_value_mse", h.value_mse}};
      };
      loop.note = "held-out moves predicted";
    }
    step = RunTrainingLoop(ctx, loop, step, checkpoint, *net, adam);
    SavePolicyArtifact(ctx, net, o_.artifact, step);
    std::cerr << "  policy '" << o_.artifact << "'\n";
  }

 private:
  struct Losses {
    torch::Tensor policy, value;  // means over the batch
    torch::Tensor logp;           // [B, 784] masked log-probs
    torch::Tensor target;         // [B]
  };

  Losses Forward(DebatePolicyNet& net, const std::vector<Example>& batch,
                 const torch::Device& device) {
    std::vector<DebatePosition> positions;
    positions.reserve(batch.size());
    std::vector<const DebatePosition*> ptrs;
    std::vector<int64_t> targets;
    std::vector<float> outcomes;
    for (const Example& e : batch) {
      positions.push_back(images_.Position(*e.debate, e.t));
      ptrs.push_back(&positions.back());
      targets.push_back(e.debate->reveals[static_cast<size_t>(e.t)]);
      const bool honest = e.debate->movers[static_cast<size_t>(e.t)] == DebateRole::kHonest;
      outcomes.push_back(honest == e.debate->honest_won ? 1.0f : -1.0f);
    }
    const PolicyBatch in = MakePolicyBatch(ptrs);
    const auto out = net->forward(in.planes.to(device), in.vector.to(device));
    Losses l;
    l.logp = torch::log_softmax(out.logits.masked_fill(in.legal.to(device).logical_not(), -1e9), 1);
    l.target = torch::tensor(targets).to(device);
    l.policy = torch::nll_loss(l.logp, l.target);
    l.value = torch::mse_loss(out.value, torch::tensor(outcomes).to(device));
    return l;
  }

  struct Heldout {
    double accuracy = 0, nll = 0, value_mse = 0;
  };
  Heldout Evaluate(DebatePolicyNet& net, const std::vector<Example>& heldout,
                   const torch::Device& device) {
    net->eval();
    torch::NoGradGuard no_grad;
    Heldout h;
    for (size_t start = 0; start < heldout.size(); start += 256) {
      const std::vector<Example> part(heldout.begin() + static_cast<std::ptrdiff_t>(start),
                                      heldout.begin() + static_cast<std::ptrdiff_t>(
                                                            std::min(heldout.size(), start + 256)));
      const Losses l = Forward(net, part, device);
      const double k = static_cast<double>(part.size());
      h.accuracy += l.logp.argmax(1).eq(l.target).sum().item<double>();
      h.nll += l.policy.item<double>() * k;
      h.value_mse += l.value.item<double>() * k;
    }
    const double total = static_cast<double>(heldout.size());
    h.accuracy /= total;
    h.nll /= total;
    h.value_mse /= total;
    net->train();
    return h;
  }

  SftOptions o_;
  std::string where_;
  std::vector<LoggedDebate> debates_;
  LoggedDebateImages images_;
};

}  // namespace

void RegisterSftStage(Registries& registries) {
  registries.stages.Add("sft", [](const ConfigNode& node, const Registries&) {
    SftOptions o;
    ReadLogTrainerOptions(node, o);
    o.roles = node.Enum("roles", o.roles, {"honest", "liar", "both"});
    o.hidden = static_cast<int>(node.Int("hidden", o.hidden, 1, 1024));
    o.learning_rate = node.Number("learning_rate", o.learning_rate, 1e-8, 1.0);
    o.value_coef = node.Number("value_coef", o.value_coef, 0.0, 1e3);
    return std::make_unique<SftStage>(o, node.file() + ": " + node.path());
  });
}

}  // namespace oversight
