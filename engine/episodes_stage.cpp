// Stage "episodes": plays the protocol's episodes (VariantsPerInstance() per
// task instance) on every task instance (or the first `instances`), with a
// judge and the protocol's agents, on the episode workers, and logs each
// episode atomically through the batched writer. Episode idx =
// instance * variants + variant.
//
// Episodes a protocol could not play (status "failed": a model server that
// stayed down) are logged without turns, with the reason in episodes.error;
// the stage then fails, and a resumed run plays them again.
//
// Resume: episode indexes already in the store for (experiment, stage) are
// skipped; each episode's RNG depends only on (seed, stage name, index), so a
// resumed stage ends with exactly the episodes of an uninterrupted one. A
// protocol whose variants share per-instance state (e.g. a judge cache) has
// each instance played whole by one worker, in variant order; a partly
// logged instance is replayed from its first variant without logging again
// what is already logged, so its state evolves as in an uninterrupted run.
#include <algorithm>
#include <iostream>
#include <mutex>
#include <set>

#include "engine/interfaces.h"
#include "engine/progress.h"
#include "engine/scheduler.h"

namespace oversight {
namespace {

class EpisodesStage : public Stage {
 public:
  EpisodesStage(const ConfigNode& node, const Registries& reg) {
    const ConfigNode task = node.Child("task");
    task_ = reg.tasks.Create(task, "name");
    task.RejectUnknownKeys();
    if (node.Has("judge")) {
      const ConfigNode judge = node.Child("judge");
      judge_ = reg.judges.Create(judge, "name");
      judge.RejectUnknownKeys();
    }
    const ConfigNode protocol = node.Child("protocol");
    protocol_ = reg.protocols.Create(protocol, "name", reg, *task_, judge_.get());
    protocol.RejectUnknownKeys();
    // How many task instances to play (the first ones); 0 plays them all.
    limit_ = node.Int("instances", 0, 0, 100000000);
  }

  void Run(StageContext& ctx) override {
    task_->Open(ctx);
    if (judge_) judge_->Open(ctx);
    protocol_->Open(ctx);
    const int64_t instances = limit_ > 0 ? std::min<int64_t>(limit_, task_->size())
                                         : static_cast<int64_t>(task_->size());
    const int64_t variants = protocol_->VariantsPerInstance();
    const int64_t n = instances * variants;
    // Failed episodes (a model server that stayed down) are played again.
    if (const int64_t failed = ctx.store->DeleteFailedEpisodes(ctx.experiment_id, ctx.stage_name))
      std::cerr << "  " << failed << " failed episodes will be played again\n";
    const auto stored = ctx.store->EpisodeIndexes(ctx.experiment_id, ctx.stage_name);
    std::set<int64_t> done(stored.begin(), stored.end());
    std::vector<int64_t> todo;
    for (int64_t i = 0; i < n; ++i)
      if (!done.count(i)) todo.push_back(i);
    if (!done.empty())
      std::cerr << "  " << done.size() << " episodes already logged, " << todo.size()
                << " to play\n";

    EpisodeWriter writer(ctx.store->path());
    Progress progress("  " + ctx.stage_name, n, n - static_cast<int64_t>(todo.size()));
    const std::string stage = ctx.stage_name;
    // Plays episode idx; logs it unless it is already logged (a replay).
    std::mutex failed_mu;  // guards the two below
    int64_t failed = 0;
    std::string first_error;
    auto play = [&](int64_t idx, const TaskInstance& inst, InstanceState* shared) {
      EpisodeRecord rec;
      rec.experiment_id = ctx.experiment_id;
      rec.stage = stage;
      rec.idx = idx;
      rec.protocol = protocol_->name();
      rec.task = task_->name();
      const int variant = static_cast<int>(idx % variants);
      rec.instance = inst.id + protocol_->VariantName(variant);
      rec.truth = inst.truth;
      rec.seed = DeriveSeed(ctx.seed, stage, static_cast<uint64_t>(idx));
      rec.started_at = NowIso();
      Rng rng(rec.seed);
      protocol_->Play(inst, variant, rng, rec, shared);
      if (done.count(idx)) return;
      if (rec.status == "failed") {
        std::lock_guard<std::mutex> lock(failed_mu);
        if (failed++ == 0) first_error = rec.instance + ": " + rec.error;
      }
      rec.finished_at = NowIso();
      writer.Submit(std::move(rec));
      progress.Add();
    };
    if (protocol_->SharesInstanceState()) {
      // Whole instances per worker (Protocol::NewInstanceState()).
      std::vector<int64_t> instances_todo;
      for (int64_t idx : todo)
        if (instances_todo.empty() || instances_todo.back() != idx / variants)
          instances_todo.push_back(idx / variants);
      ParallelFor(
          instances_todo, ctx.threads,
          [&](int64_t i) {
            const TaskInstance inst = task_->Instance(static_cast<size_t>(i));
            const auto shared = protocol_->NewInstanceState(inst);
            for (int64_t v = 0; v < variants && !ctx.interrupted(); ++v)
              play(i * variants + v, inst, shared.get());
          },
          [&] { return ctx.interrupted(); });
    } else {
      ParallelFor(
          todo, ctx.threads,
          [&](int64_t idx) {
            play(idx, task_->Instance(static_cast<size_t>(idx / variants)), nullptr);
          },
          [&] { return ctx.interrupted(); });
    }
    writer.Flush();
    progress.Finish();
    ctx.CheckInterrupt();
    // Later stages must not train on a stage with holes in it.
    if (failed > 0)
      throw std::runtime_error(
          "stage '" + stage + "': " + std::to_string(failed) + " of " +
          std::to_string(todo.size()) + " episodes failed (logged with status 'failed' and "
          "the reason in episodes.error); first: " + first_error +
          ". Mend the cause, then run again with --resume to play them again");
    if (judge_) judge_->Close(ctx);
  }

 private:
  std::unique_ptr<Task> task_;
  std::unique_ptr<Judge> judge_;
  std::unique_ptr<Protocol> protocol_;
  int64_t limit_ = 0;
};

}  // namespace

void RegisterEngineStages(Registries& registries) {
  registries.stages.Add("episodes", [](const ConfigNode& node, const Registries& reg) {
    return std::make_unique<EpisodesStage>(node, reg);
  });
}

}  // namespace oversight
