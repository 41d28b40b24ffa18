// Stage "amplify": trains X on an amplification task (protocols/
// amplify_tasks.h) by iterated distillation and amplification (agents/ida.h),
// or, with "mode": "supervised", on the ground truth with the same model,
// data, curriculum and rounds (the paper's baseline).
//
// Every `eval_every` rounds (and after the last) the teacher answers
// `eval_instances` fixed instances of each size in `eval_sizes`; its accuracy
// against the ground truth is metric accuracy_nSIZE (and accuracy_nSIZE_dD
// per question depth D), over questions_nSIZE questions. Evaluation is the only reader of the ground truth
// in IDA mode. At the same time one `amplify` episode is logged: a question
// of an instance at the current size, H's subquestions (role "H", parent:
// the question), their answers (role "lookup" or "X", parent: the
// subquestion) and H's answer (role "H"), with the ground truth and whether
// the answer is right.
//
// Options: task (permutation, assignments), mode (ida | supervised), rounds,
// h_noise, instances_per_round, train_instances, steps_per_round,
// buffer_instances, min_buffer, curriculum_threshold, curriculum_min_rounds,
// quality_horizon, ema_horizon, learning_rate, max_grad_norm,
// depth_curriculum (grow the deepest question asked before the size; not in
// the paper), start_difficulty, max_difficulty; model: embed, hidden, heads,
// fact_layers, question_layers; log_every, eval_every, eval_sizes,
// eval_instances, checkpoint_every, intra_op_threads, artifact.
// Metrics every log_every rounds: loss, teacher_quality, running_quality,
// difficulty, size, max_depth (-1: every depth), h_calls, teacher_calls,
// buffer, rounds_per_s.
// Resume: the student, the teacher, Adam, the curriculum and the counters
// are checkpointed; the replay buffer is not, and is refilled by the rounds
// after a resume (so a resumed run is not bit-identical to an uninterrupted one).
#include <torch/torch.h>

#include <chrono>
#include <cstdio>
#include <iostream>

#include "agents/amplify_eval.h"
#include "agents/ida.h"
#include "agents/policy.h"
#include "engine/config.h"
#include "engine/progress.h"
#include "engine/torch_util.h"
#include "engine/store.h"
#include "engine/util.h"
#include "protocols/amplify_truth.h"

namespace oversight {
namespace {

struct AmplifyStageOptions {
  std::string task = "permutation";
  bool supervised = false;
  int64_t rounds = 2000;
  IdaOptions ida;
  AnswererOptions model;
  int64_t log_every = 50;
  int64_t eval_every = 500;
  std::vector<int> eval_sizes{8, 16, 32, 64};
  int eval_instances = 20;
  int64_t checkpoint_every = 500;
  int intra_op_threads = 2;
  std::string artifact;
};

// Student and teacher in one module, for the checkpoint.
struct IdaModelsImpl : torch::nn::Module {
  IdaModelsImpl(AnswererNet s, AnswererNet t) {
    student = register_module("student", std::move(s));
    teacher = register_module("teacher", std::move(t));
  }
  AnswererNet student{nullptr}, teacher{nullptr};
};
TORCH_MODULE(IdaModels);

class AmplifyStage : public Stage {
 public:
  AmplifyStage(AmplifyStageOptions o, std::string where)
      : o_(std::move(o)), where_(std::move(where)), task_(MakeAmplifyTask(o_.task)) {}

  void Run(StageContext& ctx) override {
    SetIntraOpThreads(o_.intra_op_threads);
    const torch::Device device(ctx.device);
    const AmplifyTask& task = *task_;
    torch::manual_seed(DeriveSeed(ctx.seed, ctx.stage_name + "/init", 0));
    AnswererNet student(task, o_.model);
    AnswererNet teacher(task, o_.model);
    EmaUpdate(teacher, student, 0.0);  // the teacher starts as a copy of the student
    AmplifyLabelFn label;
    if (o_.supervised)
      label = [&task](const AmplifyInstance& i, const Tokens& q) { return GroundTruth(task, i, q); };
    IdaTrainer ida(task, o_.ida, student, teacher, device, label);
    IdaModels models(ida.student(), ida.teacher());

    TrainingCheckpoint checkpoint(ctx, o_.artifact + ".checkpoint");
    std::map<std::string, double> numbers{{"difficulty", 0}, {"steps", 0}, {"h_calls", 0}, {"teacher_calls", 0}};
    int64_t round = checkpoint.Load(*models, ida.optimizer(), ctx.device, &numbers);
    if (round >= 0) {
      ida.Restore(static_cast<int>(numbers["difficulty"]), static_cast<int64_t>(numbers["steps"]),
                  static_cast<int64_t>(numbers["h_calls"]), static_cast<int64_t>(numbers["teacher_calls"]));
      std::cerr << "  resuming amplification at round " << round << " (the replay buffer is refilled)\n";
    } else {
      round = 0;
    }
    auto save = [&]() {
      checkpoint.Save(*models, ida.optimizer(), round,
                      {{"difficulty", ida.difficulty()}, {"steps", static_cast<double>(ida.steps())},
                       {"h_calls", static_cast<double>(ida.h_calls())},
                       {"teacher_calls", static_cast<double>(ida.teacher_calls())}});
    };

    const std::string stage = ctx.stage_name;
    Progress progress("  " + stage + " rounds", o_.rounds, round);
    auto t0 = std::chrono::steady_clock::now();
    int64_t since = 0;
    while (round < o_.rounds) {
      if (ctx.interrupted()) {
        save();
        progress.Finish();
        throw Interrupted();
      }
      Rng rng(DeriveSeed(ctx.seed, stage + "/round", static_cast<uint64_t>(round)));
      const IdaStats s = ida.Round(rng);
      ++round;
      ++since;
      if (round % o_.log_every == 0 || round == o_.rounds) {
        const double secs = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
        ctx.store->InsertMetrics(ctx.experiment_id, stage,
                                 {{"loss", round, s.loss},
                                  {"teacher_quality", round, s.teacher_quality},
                                  {"running_quality", round, s.running_quality},
                                  {"difficulty", round, static_cast<double>(s.difficulty)},
                                  {"size", round, static_cast<double>(s.size)},
                                  {"max_depth", round, s.max_depth == kAnyDepth ? -1.0 : s.max_depth},
                                  {"h_calls", round, static_cast<double>(s.h_calls)},
                                  {"teacher_calls", round, static_cast<double>(s.teacher_calls)},
                                  {"buffer", round, static_cast<double>(s.buffer)},
                                  {"rounds_per_s", round, secs > 0 ? since / secs : 0.0}});
        t0 = std::chrono::steady_clock::now();
        since = 0;
        char note[96];
        if (s.max_depth == kAnyDepth)
          std::snprintf(note, sizeof note, "size %d, agreement %.0f%%, loss %.3f", s.size,
                        s.running_quality * 100, s.loss);
        else
          std::snprintf(note, sizeof note, "size %d depth <= %d, agreement %.0f%%, loss %.3f", s.size,
                        s.max_depth, s.running_quality * 100, s.loss);
        progress.SetNote(note);
      }
      progress.Add();
      if (round % o_.eval_every == 0 || round == o_.rounds) Evaluate(ctx, ida, round);
      if (round % o_.checkpoint_every == 0 && round < o_.rounds) save();
    }
    progress.Finish();
    torch::serialize::OutputArchive archive;
    ida.teacher()->save(archive);
    const std::string path = ctx.artifacts_dir + "/" + o_.artifact + ".pt";
    SaveArchiveAtomic(archive, path);
    RecordArtifact(ctx, "answerer", o_.artifact, path, round);
    std::cerr << "  answerer '" << o_.artifact << "' (the teacher)\n";
  }

 private:
  // The teacher's accuracy per evaluation size (fixed instances), and one
  // logged amplify episode at the current size.
  void Evaluate(StageContext& ctx, IdaTrainer& ida, int64_t round) {
    const AmplifyTask& task = *task_;
    std::vector<Store::Metric> m;
    std::string summary;
    for (const int size : o_.eval_sizes) {
      Rng rng(DeriveSeed(ctx.seed, ctx.stage_name + "/eval", static_cast<uint64_t>(size)));
      const AmplifyAccuracy acc = TeacherAccuracy(ida, task, size, o_.eval_instances, rng);
      const std::string name = "accuracy_n" + std::to_string(size);
      m.push_back({name, round, acc.overall});
      m.push_back({"questions_n" + std::to_string(size), round, static_cast<double>(acc.questions)});
      for (const auto& [depth, a] : acc.by_depth) m.push_back({name + "_d" + std::to_string(depth), round, a});
      char part[48];
      std::snprintf(part, sizeof part, " n%d %.1f%%", size, 100 * acc.overall);
      summary += part;
    }
    ctx.store->InsertMetrics(ctx.experiment_id, ctx.stage_name, m);
    std::cerr << "  " << ctx.stage_name << " round " << round << ": teacher accuracy" << summary << "\n";
    LogEpisode(ctx, ida, round);
  }

  // One question at the current size, its subquestion tree as turns.
  void LogEpisode(StageContext& ctx, IdaTrainer& ida, int64_t round) {
    const AmplifyTask& task = *task_;
    Rng rng(DeriveSeed(ctx.seed, ctx.stage_name + "/episode", static_cast<uint64_t>(round)));
    const IdaLevel level = ida.level();
    const int size = level.size;
    const AmplifyInstance inst = task.MakeInstance(size, rng);
    const Tokens question = task.MakeQuestions(inst, rng, level.max_depth).front();
    auto action = [&](const char* key, const Tokens& t) {
      return nlohmann::json{{key, t}, {"text", task.Describe(t)}}.dump();
    };
    EpisodeRecord rec;
    rec.experiment_id = ctx.experiment_id;
    rec.stage = ctx.stage_name;
    rec.idx = round;
    rec.protocol = "amplify";
    rec.task = task.name();
    rec.instance = "size=" + std::to_string(size) + "#round=" + std::to_string(round);
    rec.seed = DeriveSeed(ctx.seed, ctx.stage_name + "/episode", static_cast<uint64_t>(round));
    rec.started_at = NowIso();
    auto turn = [&](const std::string& role, const std::string& agent, std::string act,
                    std::optional<int> parent) {
      TurnRecord t;
      t.idx = static_cast<int>(rec.turns.size());
      t.role = role;
      t.agent = agent;
      t.action = std::move(act);
      t.parent_idx = parent;
      rec.turns.push_back(t);
      return t.idx;
    };
    const int root = turn("question", "task", action("question", question), std::nullopt);
    char h[32] = "H";
    if (o_.ida.h_noise > 0) std::snprintf(h, sizeof h, "H(p=%g)", o_.ida.h_noise);
    std::vector<Tokens> subs;
    Tokens answer = task.IdkAnswer();
    for (int k = 0; k <= task.max_subquestions(); ++k) {
      const HStep step = NoisyDecompose(task, question, subs, o_.ida.h_noise, rng);
      if (step.done) {
        answer = step.answer;
        break;
      }
      const int asked = turn("H", h, action("subquestion", step.subquestion), root);
      Tokens sub;
      if (task.IsPrimitive(step.subquestion)) {
        sub = task.Lookup(inst, step.subquestion);
        turn("lookup", "facts", action("answer", sub), asked);
      } else {
        sub = ida.Answer(ida.teacher(), {&inst}, {{step.subquestion}})[0][0];
        turn("X", "teacher", action("answer", sub), asked);
      }
      subs.push_back(sub);
    }
    turn("H", h, action("answer", answer), root);
    const Tokens truth = GroundTruth(task, inst, question);
    rec.truth = task.Describe(truth);
    rec.outcome = task.Describe(answer);
    rec.correct = answer == truth ? 1 : 0;
    rec.finished_at = NowIso();
    ctx.store->InsertEpisodes({rec});
  }

  AmplifyStageOptions o_;
  std::string where_;
  std::unique_ptr<AmplifyTask> task_;
};

}  // namespace

void RegisterAmplifyStage(Registries& registries) {
  registries.stages.Add("amplify", [](const ConfigNode& node, const Registries&) {
    AmplifyStageOptions o;
    const std::string where = node.file() + ": " + node.path();
    o.task = node.String("task", o.task);
    if (!MakeAmplifyTask(o.task)) {
      std::string names;
      for (const std::string& n : AmplifyTaskNames()) names += (names.empty() ? "" : ", ") + n;
      throw ConfigError(where + ".task: unknown amplification task '" + o.task + "' (known: " + names + ")");
    }
    o.supervised = node.Enum("mode", "ida", {"ida", "supervised"}) == "supervised";
    o.rounds = node.Int("rounds", o.rounds, 1, 100000000);
    IdaOptions& i = o.ida;
    i.h_noise = node.Number("h_noise", i.h_noise, 0.0, 1.0);
    i.instances_per_round = static_cast<int>(node.Int("instances_per_round", i.instances_per_round, 1, 100000));
    i.train_instances = static_cast<int>(node.Int("train_instances", i.train_instances, 1, 100000));
    i.steps_per_round = static_cast<int>(node.Int("steps_per_round", i.steps_per_round, 1, 1000));
    i.buffer_instances = static_cast<int>(node.Int("buffer_instances", i.buffer_instances, 1, 10000000));
    i.min_buffer = static_cast<int>(node.Int("min_buffer", i.min_buffer, 1, 10000000));
    i.curriculum_threshold = node.Number("curriculum_threshold", i.curriculum_threshold, 0.0, 1.0);
    i.curriculum_min_rounds = static_cast<int>(node.Int("curriculum_min_rounds", i.curriculum_min_rounds, 1, 100000000));
    i.quality_horizon = static_cast<int>(node.Int("quality_horizon", i.quality_horizon, 1, 100000000));
    i.ema_horizon = static_cast<int>(node.Int("ema_horizon", i.ema_horizon, 1, 100000000));
    i.learning_rate = node.Number("learning_rate", i.learning_rate, 1e-9, 1.0);
    i.max_grad_norm = node.Number("max_grad_norm", i.max_grad_norm, 1e-6, 1e6);
    i.depth_curriculum = node.Bool("depth_curriculum", i.depth_curriculum);
    i.start_difficulty = static_cast<int>(node.Int("start_difficulty", i.start_difficulty, 0, 1000));
    i.max_difficulty = static_cast<int>(node.Int("max_difficulty", i.max_difficulty, 0, 1000));
    if (i.max_difficulty < i.start_difficulty)
      throw ConfigError(where + ".max_difficulty: " + std::to_string(i.max_difficulty) +
                        " is below start_difficulty " + std::to_string(i.start_difficulty));
    AnswererOptions& a = o.model;
    a.embed = static_cast<int>(node.Int("embed", a.embed, 1, 4096));
    a.heads = static_cast<int>(node.Int("heads", a.heads, 1, 64));
    a.hidden = static_cast<int>(node.Int("hidden", a.hidden, 1, 8192));
    if (a.hidden % a.heads != 0)
      throw ConfigError(where + ".hidden: " + std::to_string(a.hidden) + " is not a multiple of heads (" +
                        std::to_string(a.heads) + ")");
    a.fact_layers = static_cast<int>(node.Int("fact_layers", a.fact_layers, 0, 64));
    a.question_layers = static_cast<int>(node.Int("question_layers", a.question_layers, 1, 64));
    o.log_every = node.Int("log_every", o.log_every, 1, 100000000);
    o.eval_every = node.Int("eval_every", o.eval_every, 1, 100000000);
    if (node.Has("eval_sizes")) {
      node.Touch("eval_sizes");
      const nlohmann::json& sizes = node.raw()["eval_sizes"];
      if (!sizes.is_array() || sizes.empty()) node.FailAt("eval_sizes", "must be a non-empty list of sizes");
      o.eval_sizes.clear();
      for (const nlohmann::json& v : sizes) {
        if (!v.is_number_integer() || v.get<int>() < 1 || v.get<int>() > kMaxElements)
          node.FailAt("eval_sizes", "every size must be an integer in [1, " + std::to_string(kMaxElements) +
                                        "], got " + v.dump());
        o.eval_sizes.push_back(v.get<int>());
      }
    }
    o.eval_instances = static_cast<int>(node.Int("eval_instances", o.eval_instances, 1, 100000));
    o.checkpoint_every = node.Int("checkpoint_every", o.checkpoint_every, 1, 100000000);
    o.intra_op_threads = static_cast<int>(node.Int("intra_op_threads", o.intra_op_threads, 1, 64));
    o.artifact = node.RequireString("artifact");
    return std::make_unique<AmplifyStage>(o, where);
  });
}

}  // namespace oversight
