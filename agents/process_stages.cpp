// The stages of process supervision (issue 7; Uesato et al. 2022) on
// step-by-step modular arithmetic (protocols/stepwise.h), with the policy and
// reward models of agents/stepwise_policy.h:
//
//   process_sft       a policy from demonstrations (teacher forcing)
//   process_episodes  the policy's solutions logged as `process` episodes,
//                     judged by the outcome and process oracles (with label
//                     flips): the reward models' training data
//   process_rm        an outcome or process reward model trained on the
//                     logged labels of a process_episodes stage (the policy
//                     network read as a classifier, StepScoreLogits; from a
//                     fresh network or, with "init", from a policy)
//   process_ppo       PPO from a policy with an outcome or process reward,
//                     from an oracle or a learned reward model
//   process_eval      a policy's greedy solutions (or one sample each at a
//                     "temperature"), or the best of N samples by a reward
//                     model or an oracle judge (reranking)
//
// Every stage that ends with a policy (sft, ppo, eval) measures it on the
// same fixed test problems of the experiment (derived from its seed), so the
// methods are compared problem for problem: metrics final_error,
// trace_error (Uesato: the share of final-answer-correct solutions with a
// wrong step), and the counts behind them (test_problems, final_correct,
// trace_errors) for intervals. The last evaluation logs `log_episodes`
// test solutions as `process` episodes.
//
// A process episode: turn 0 (role "problem", agent "task") holds the
// problem as JSON {"modulus", "start", "ops": [["+", c] | ["*", c], ...]};
// turns 1..n (role "step") one value each, {"step": k, "value": v}.
// Judgements: "outcome_oracle" (verdict correct | wrong; detail {"label",
// "true_label", "flip"}), "process_oracle" (verdict valid | invalid; detail
// {"labels", "true_labels", "flip"}, one per step), and at reranking the
// reranker's: "rm:NAME" (kind reward_model) or "rerank:outcome_oracle" /
// "rerank:process_oracle" (kind oracle, "flip" in its detail); verdict
// "best of N", confidence its score, detail "step_scores".
// episodes.correct: the final answer is right; truth / outcome: the right
// and the written steps.
#include <torch/torch.h>

#include <chrono>
#include <cstdio>
#include <functional>
#include <iostream>
#include <numeric>
#include <nlohmann/json.hpp>

#include "agents/policy.h"
#include "agents/stepwise_policy.h"
#include "engine/config.h"
#include "engine/dataset.h"
#include "engine/progress.h"
#include "engine/sql_stmt.h"
#include "engine/stats.h"
#include "engine/store.h"
#include "engine/torch_util.h"
#include "engine/util.h"
#include "judges/reward_losses.h"
#include "protocols/debate_log.h"

namespace oversight {
namespace {

constexpr const char* kPolicyKind = "stepwise_policy";
constexpr const char* kRewardModelKind = "stepwise_rm";

// A policy or reward model with what it was made for.
struct StepwiseModel {
  StepwisePolicy net{nullptr};
  StepwiseOptions problems;  // the family it was trained on
  std::string objective;     // reward models: "outcome" | "process"
};

void SaveStepwiseModel(StageContext& ctx, const StepwiseModel& m, const std::string& kind,
                       const std::string& name, int64_t step) {
  torch::serialize::OutputArchive archive;
  m.net->save(archive);
  const StepwisePolicyOptions& o = m.net->options();
  for (const auto& [key, v] : std::vector<std::pair<const char*, int64_t>>{
           {"modulus", o.modulus}, {"max_steps", o.max_steps}, {"embed", o.embed}, {"heads", o.heads},
           {"layers", o.layers}, {"steps", m.problems.steps}, {"process", m.objective == "process"},
           {"asides", o.asides}})
    archive.write(std::string("meta.") + key, torch::tensor(v));
  archive.write("meta.multiply_share", torch::tensor(m.problems.multiply_share, torch::kFloat64));
  archive.write("meta.aside_share", torch::tensor(m.problems.aside_share, torch::kFloat64));
  const std::string path = ctx.artifacts_dir + "/" + name + ".pt";
  SaveArchiveAtomic(archive, path);
  RecordArtifact(ctx, kind, name, path, step);
}

StepwiseModel LoadStepwiseModel(StageContext& ctx, const std::string& kind, const std::string& name,
                                const std::string& where, const std::string& how_to_make) {
  const std::string path = FindArtifactFile(ctx, kind, name, where, how_to_make);
  try {
    torch::serialize::InputArchive archive;
    archive.load_from(path, torch::kCPU);
    auto meta = [&](const char* key) {
      torch::Tensor t;
      archive.read(std::string("meta.") + key, t);
      return t;
    };
    StepwisePolicyOptions o;
    o.modulus = static_cast<int>(meta("modulus").item<int64_t>());
    o.max_steps = static_cast<int>(meta("max_steps").item<int64_t>());
    o.embed = static_cast<int>(meta("embed").item<int64_t>());
    o.heads = static_cast<int>(meta("heads").item<int64_t>());
    o.layers = static_cast<int>(meta("layers").item<int64_t>());
    torch::Tensor t;  // models saved before asides existed have none
    o.asides = archive.try_read("meta.asides", t) && t.item<int64_t>() != 0;
    StepwiseModel m;
    m.problems.modulus = o.modulus;
    m.problems.steps = static_cast<int>(meta("steps").item<int64_t>());
    m.problems.multiply_share = meta("multiply_share").item<double>();
    m.problems.aside_share = archive.try_read("meta.aside_share", t) ? t.item<double>() : 0.0;
    m.objective = meta("process").item<int64_t>() ? "process" : "outcome";
    m.net = StepwisePolicy(o);
    m.net->load(archive);
    m.net->to(torch::Device(ctx.device));
    m.net->eval();
    return m;
  } catch (const c10::Error& e) {
    throw DataError(path + ": cannot load " + kind + " '" + name + "': " + e.what_without_backtrace());
  }
}

StepwiseModel LoadPolicyArtifact(StageContext& ctx, const std::string& name, const std::string& where) {
  return LoadStepwiseModel(ctx, kPolicyKind, name, where,
                           "train one first with a process_sft or process_ppo stage whose \"artifact\" is '" +
                               name + "'");
}

StepwiseModel LoadRewardModelArtifact(StageContext& ctx, const std::string& name, const std::string& where) {
  return LoadStepwiseModel(ctx, kRewardModelKind, name, where,
                           "train one first with a process_rm stage whose \"artifact\" is '" + name + "'");
}

// ConfigError unless reward model `rm` was trained on the problems of `policy`.
void RequireSameProblems(const StepwiseModel& rm, const StepwiseModel& policy, const std::string& what) {
  if (rm.problems.steps == policy.problems.steps && rm.problems.modulus == policy.problems.modulus &&
      rm.net->options().asides == policy.net->options().asides)
    return;
  auto family = [](const StepwiseModel& m) {
    return std::to_string(m.problems.steps) + "-step problems modulo " + std::to_string(m.problems.modulus) +
           (m.net->options().asides ? " with asides" : "");
  };
  throw ConfigError(what + " was trained on " + family(rm) + ", the policy on " + family(policy));
}

// The experiment's test problems: the same for every stage.
std::vector<StepwiseProblem> TestProblems(uint64_t seed, const StepwiseOptions& o, int count) {
  Rng rng(DeriveSeed(seed, "process/test", 0));
  std::vector<StepwiseProblem> problems;
  for (int i = 0; i < count; ++i) problems.push_back(MakeStepwiseProblem(o, rng));
  return problems;
}

std::vector<StepwiseProblem> Problems(const StepwiseOptions& o, int count, Rng& rng) {
  std::vector<StepwiseProblem> problems;
  for (int i = 0; i < count; ++i) problems.push_back(MakeStepwiseProblem(o, rng));
  return problems;
}

// ---- process episodes ----

nlohmann::json ProblemJson(const StepwiseProblem& p) {
  nlohmann::json ops = nlohmann::json::array();
  for (const StepOp& op : p.ops) ops.push_back({OpSymbol(op), op.operand});
  return {{"modulus", p.modulus}, {"start", p.start}, {"ops", ops}};
}

// The problem of a logged episode's turn 0; DataError naming the episode.
StepwiseProblem ParseProblem(const std::string& action, int64_t episode_id) {
  const std::string where = "episode " + std::to_string(episode_id) + ": problem turn: ";
  try {
    const nlohmann::json j = nlohmann::json::parse(action);
    StepwiseProblem p;
    p.modulus = j.at("modulus").get<int>();
    p.start = j.at("start").get<int>();
    if (p.modulus < 2 || p.start < 0 || p.start >= p.modulus)
      throw DataError(where + "start " + std::to_string(p.start) + " not below modulus " + std::to_string(p.modulus));
    for (const nlohmann::json& op : j.at("ops")) {
      const std::string kind = op.at(0).get<std::string>();
      StepOp s;
      s.multiply = kind == "*";
      s.aside = kind == "?+";
      s.operand = op.at(1).get<int>();
      if ((kind != "*" && kind != "+" && kind != "?+") || s.operand < 0 || s.operand >= p.modulus)
        throw DataError(where + "bad operation " + op.dump());
      p.ops.push_back(s);
    }
    if (p.ops.empty()) throw DataError(where + "no operations");
    return p;
  } catch (const nlohmann::json::exception& e) {
    throw DataError(where + "not a problem (" + e.what() + "): " + action);
  }
}

// The two oracle judgements of a solution, each label flipped with
// probability `flip`.
std::vector<JudgementRecord> OracleJudgements(const StepCheck& check, double flip, Rng& rng) {
  JudgementRecord outcome;
  outcome.judge = "outcome_oracle";
  outcome.judge_kind = JudgeKind::kOracle;
  const bool label = FlipLabel(check.final_correct, flip, rng);
  outcome.verdict = label ? "correct" : "wrong";
  outcome.detail = nlohmann::json{{"label", label ? 1 : 0}, {"true_label", check.final_correct ? 1 : 0}, {"flip", flip}}.dump();
  JudgementRecord process;
  process.judge = "process_oracle";
  process.judge_kind = JudgeKind::kOracle;
  std::vector<int> labels, truth;
  bool all = true;
  for (const bool v : check.valid) {
    labels.push_back(FlipLabel(v, flip, rng) ? 1 : 0);
    truth.push_back(v ? 1 : 0);
    all = all && labels.back();
  }
  process.verdict = all ? "valid" : "invalid";
  process.detail = nlohmann::json{{"labels", labels}, {"true_labels", truth}, {"flip", flip}}.dump();
  return {outcome, process};
}

EpisodeRecord ProcessEpisode(StageContext& ctx, int64_t idx, uint64_t seed, const StepwiseProblem& problem,
                             const std::vector<int>& steps, const std::string& agent, double flip, Rng& rng) {
  EpisodeRecord rec;
  rec.experiment_id = ctx.experiment_id;
  rec.stage = ctx.stage_name;
  rec.idx = idx;
  rec.protocol = "process";
  rec.task = "stepwise_mod" + std::to_string(problem.modulus);
  rec.instance = DescribeProblem(problem);
  rec.seed = seed;
  rec.started_at = NowIso();
  TurnRecord t;
  t.role = "problem";
  t.agent = "task";
  t.action = ProblemJson(problem).dump();
  t.content = DescribeProblem(problem);
  rec.turns.push_back(t);
  for (size_t k = 0; k < steps.size(); ++k) {
    TurnRecord s;
    s.idx = static_cast<int>(k + 1);
    s.role = "step";
    s.agent = agent;
    s.action = nlohmann::json{{"step", k}, {"value", steps[k]}}.dump();
    const StepOp& op = problem.ops[k];
    s.content = OpSymbol(op) + std::to_string(op.operand) + " -> " + std::to_string(steps[k]);
    s.parent_idx = 0;
    rec.turns.push_back(s);
  }
  const StepCheck check = CheckSteps(problem, steps);
  rec.truth = DescribeSteps(SolveSteps(problem));
  rec.outcome = DescribeSteps(steps);
  rec.correct = check.final_correct ? 1 : 0;
  rec.judgements = OracleJudgements(check, flip, rng);
  rec.finished_at = NowIso();
  return rec;
}

// ---- evaluation on the test problems ----

struct ScoredSolutions {
  std::vector<std::vector<int>> steps;
  std::vector<double> scores;                    // reranking: the reward model's score
  std::vector<std::vector<double>> step_scores;  // its per-step probabilities
};

// What chooses the best of reranking's samples: a learned reward model, or
// an oracle judge whose labels are flipped with probability `flip`.
struct Reranker {
  std::string judge;  // the logged judgement's judge: "rm:NAME", "rerank:outcome_oracle", "rerank:process_oracle"
  JudgeKind kind = JudgeKind::kOracle;
  std::string objective;  // outcome | process
  StepwiseModel* model = nullptr;
  double flip = 0;

  // Each solution's score and its per-step scores. A reward model: outcome,
  // P(final answer right); process, the product of P(step k valid)
  // (Lightman et al.'s PRM score). An oracle: outcome, its label (1 or 0);
  // process, the share of steps it labels valid (1 exactly when it finds
  // no wrong step).
  std::pair<std::vector<double>, std::vector<std::vector<double>>> Score(
      const std::vector<StepwiseProblem>& problems, const std::vector<std::vector<int>>& solutions, Rng& rng) const {
    std::vector<std::vector<double>> steps;
    if (model) {
      steps = StepScoreProbabilities(model->net, problems, solutions);
    } else {
      for (size_t i = 0; i < problems.size(); ++i) {
        const StepCheck check = CheckSteps(problems[i], solutions[i]);
        std::vector<double> labels;
        if (objective == "process") {
          for (const bool v : check.valid) labels.push_back(FlipLabel(v, flip, rng) ? 1.0 : 0.0);
        } else {
          labels.push_back(FlipLabel(check.final_correct, flip, rng) ? 1.0 : 0.0);
        }
        steps.push_back(labels);
      }
    }
    std::vector<double> scores;
    for (const std::vector<double>& s : steps) {
      if (objective == "outcome")
        scores.push_back(s.back());
      else if (model)
        scores.push_back(std::accumulate(s.begin(), s.end(), 1.0, std::multiplies<double>()));
      else
        scores.push_back(std::accumulate(s.begin(), s.end(), 0.0) / static_cast<double>(s.size()));
    }
    return {scores, steps};
  }
};

struct EvalOptions {
  int test_problems = 1000;
  int log_episodes = 20;
  int batch = 256;  // problems per forward pass
  // 0: greedy; > 0: one sample at this temperature (reranking: the
  // candidates' temperature, 1 by default).
  double temperature = 0.0;
};

void ReadEvalOptions(const ConfigNode& node, EvalOptions& o) {
  o.test_problems = static_cast<int>(node.Int("test_problems", o.test_problems, 1, 1000000));
  o.log_episodes = static_cast<int>(node.Int("log_episodes", o.log_episodes, 0, 1000000));
}

// The policy's solutions to `problems`: one each at `temperature` (0:
// greedy), or (with a reranker) the best by its score of `samples`
// solutions sampled at `temperature` (ties: the first sampled).
ScoredSolutions Solve(StepwisePolicy& policy, const Reranker* rm, int samples, double temperature,
                      const std::vector<StepwiseProblem>& problems, int batch, Rng& rng) {
  ScoredSolutions out;
  policy->eval();
  for (size_t first = 0; first < problems.size(); first += static_cast<size_t>(batch)) {
    const std::vector<StepwiseProblem> part(problems.begin() + static_cast<std::ptrdiff_t>(first),
                                            problems.begin() + static_cast<std::ptrdiff_t>(
                                                                   std::min(problems.size(), first + batch)));
    if (!rm) {
      for (auto& s : SampleStepwise(policy, part, temperature, rng).steps) out.steps.push_back(std::move(s));
      continue;
    }
    std::vector<StepwiseProblem> repeated;
    for (const StepwiseProblem& p : part)
      for (int j = 0; j < samples; ++j) repeated.push_back(p);
    const StepwiseSamples s = SampleStepwise(policy, repeated, temperature, rng);
    const auto [scores, step_scores] = rm->Score(repeated, s.steps, rng);
    for (size_t i = 0; i < part.size(); ++i) {
      size_t best = i * samples;
      for (size_t j = best; j < (i + 1) * samples; ++j)
        if (scores[j] > scores[best]) best = j;
      out.steps.push_back(s.steps[best]);
      out.scores.push_back(scores[best]);
      out.step_scores.push_back(step_scores[best]);
    }
  }
  return out;
}

// Evaluates on the test problems; logs the first `log_episodes` solutions
// when `log` (episode idx = problem index). Returns the figures.
TrainingLoop::Figures EvaluateOnTest(StageContext& ctx, StepwisePolicy& policy, const Reranker* rm, int samples,
                                     const StepwiseOptions& family,
                                     const EvalOptions& o, bool log, const std::string& agent) {
  const std::vector<StepwiseProblem> problems = TestProblems(ctx.seed, family, o.test_problems);
  Rng rng(DeriveSeed(ctx.seed, ctx.stage_name + "/test", 0));
  const ScoredSolutions solved = Solve(policy, rm, samples, o.temperature, problems, o.batch, rng);
  TraceErrorStats stats;
  for (size_t i = 0; i < problems.size(); ++i) stats.Add(CheckSteps(problems[i], solved.steps[i]));
  if (log && o.log_episodes > 0) {
    const std::vector<int64_t> have = ctx.store->EpisodeIndexes(ctx.experiment_id, ctx.stage_name);
    std::vector<EpisodeRecord> episodes;
    for (int i = 0; i < std::min<int>(o.log_episodes, o.test_problems); ++i) {
      if (std::find(have.begin(), have.end(), i) != have.end()) continue;
      const uint64_t seed = DeriveSeed(ctx.seed, ctx.stage_name + "/episode", static_cast<uint64_t>(i));
      Rng judge_rng(seed);
      EpisodeRecord rec = ProcessEpisode(ctx, i, seed, problems[static_cast<size_t>(i)],
                                         solved.steps[static_cast<size_t>(i)], agent, 0.0, judge_rng);
      if (rm) {
        JudgementRecord j;
        j.judge = rm->judge;
        j.judge_kind = rm->kind;
        j.verdict = "best of " + std::to_string(samples);
        j.confidence = solved.scores[static_cast<size_t>(i)];
        nlohmann::json detail{{"objective", rm->objective},
                              {"step_scores", solved.step_scores[static_cast<size_t>(i)]},
                              {"samples", samples}};
        if (!rm->model) detail["flip"] = rm->flip;
        j.detail = detail.dump();
        rec.judgements.push_back(j);
      }
      episodes.push_back(std::move(rec));
    }
    ctx.store->InsertEpisodes(episodes);
  }
  return {{"final_error", stats.FinalAnswerError()},
          {"trace_error", stats.TraceError()},
          {"test_problems", static_cast<double>(stats.solutions)},
          {"final_correct", static_cast<double>(stats.final_correct)},
          {"trace_errors", static_cast<double>(stats.trace_errors)}};
}

void PrintEvaluation(const std::string& stage, const TrainingLoop::Figures& f) {
  std::fprintf(stderr, "  %s: final-answer error %.1f%%, trace error %.1f%% (%.0f of %.0f right answers)\n",
               stage.c_str(), 100 * f[0].second, 100 * f[1].second, f[4].second, f[3].second);
}

// ---- stages ----

// Trains `m` by `loop` (resuming from the checkpoint of `artifact`, if any)
// and saves it as artifact (kind, artifact).
void TrainAndSave(StageContext& ctx, const TrainingLoop& loop, StepwiseModel& m, torch::optim::Adam& adam,
                  const char* kind, const std::string& artifact, const std::string& what) {
  TrainingCheckpoint checkpoint(ctx, artifact + ".checkpoint");
  const int64_t start = ResumeFrom(checkpoint, *m.net, adam, ctx.device, what);
  const int64_t step = RunTrainingLoop(ctx, loop, start, checkpoint, *m.net, adam);
  SaveStepwiseModel(ctx, m, kind, artifact, step);
  std::cerr << "  " << what << ": " << kind << " '" << artifact << "'\n";
}

struct SftOptions {
  StepwiseOptions problems;
  StepwisePolicyOptions model;
  int demonstrations = 500;
  int batch_size = 32;
  double learning_rate = 1e-3;
  TrainingLoop loop{1500, 50, 500, 500};
  EvalOptions eval;
  int intra_op_threads = 1;
  std::string artifact;
};

class ProcessSftStage : public Stage {
 public:
  explicit ProcessSftStage(SftOptions o) : o_(std::move(o)) {}
  void Run(StageContext& ctx) override {
    SetIntraOpThreads(o_.intra_op_threads);
    torch::manual_seed(DeriveSeed(ctx.seed, ctx.stage_name + "/init", 0));
    StepwiseModel m;
    m.problems = o_.problems;
    m.net = StepwisePolicy(o_.model);
    m.net->to(torch::Device(ctx.device));
    Rng demo_rng(DeriveSeed(ctx.seed, "process/demonstrations", 0));
    const std::vector<StepwiseProblem> demos = Problems(o_.problems, o_.demonstrations, demo_rng);
    std::vector<std::vector<int>> answers;
    for (const StepwiseProblem& p : demos) answers.push_back(SolveSteps(p));
    torch::optim::Adam adam(m.net->parameters(), torch::optim::AdamOptions(o_.learning_rate));
    TrainingLoop loop = o_.loop;
    loop.note = "final-answer error";
    loop.train = [&](int64_t step) -> TrainingLoop::Figures {
      Rng rng(DeriveSeed(ctx.seed, ctx.stage_name + "/batch", static_cast<uint64_t>(step)));
      std::vector<StepwiseProblem> bp;
      std::vector<std::vector<int>> bs;
      for (int j = 0; j < o_.batch_size; ++j) {
        const size_t i = UniformInt(rng, demos.size());
        bp.push_back(demos[i]);
        bs.push_back(answers[i]);
      }
      return {{"loss", StepwiseSftStep(m.net, adam, bp, bs)}};
    };
    loop.evaluate = [&](int64_t step) {
      const TrainingLoop::Figures f =
          EvaluateOnTest(ctx, m.net, nullptr, 0, o_.problems, o_.eval, step == loop.batches, o_.artifact);
      return f;
    };
    TrainAndSave(ctx, loop, m, adam, kPolicyKind, o_.artifact, "process SFT");
  }

 private:
  SftOptions o_;
};

struct EpisodesOptions {
  std::string policy;
  int problems = 2000;
  int samples_per_problem = 4;
  double temperature = 1.0;
  double flip = 0.0;
  int intra_op_threads = 1;
};

// Problems per chunk: a chunk is sampled and written in one transaction, so
// a resumed stage redoes at most one chunk (deterministically).
constexpr int kEpisodeChunk = 64;

class ProcessEpisodesStage : public Stage {
 public:
  ProcessEpisodesStage(EpisodesOptions o, std::string where) : o_(std::move(o)), where_(std::move(where)) {}
  void Run(StageContext& ctx) override {
    SetIntraOpThreads(o_.intra_op_threads);
    StepwiseModel m = LoadPolicyArtifact(ctx, o_.policy, where_ + ".policy");
    const std::vector<int64_t> have = ctx.store->EpisodeIndexes(ctx.experiment_id, ctx.stage_name);
    const int k = o_.samples_per_problem;
    const int chunks = (o_.problems + kEpisodeChunk - 1) / kEpisodeChunk;
    Progress progress("  " + ctx.stage_name + " problems", o_.problems, 0);
    for (int c = 0; c < chunks; ++c) {
      ctx.CheckInterrupt();
      const int first = c * kEpisodeChunk, count = std::min(kEpisodeChunk, o_.problems - first);
      const int64_t last_idx = static_cast<int64_t>(first + count) * k - 1;
      if (std::find(have.begin(), have.end(), last_idx) != have.end()) {
        progress.Add(count);
        continue;
      }
      Rng rng(DeriveSeed(ctx.seed, ctx.stage_name + "/chunk", static_cast<uint64_t>(c)));
      std::vector<StepwiseProblem> repeated;
      for (const StepwiseProblem& p : Problems(m.problems, count, rng))
        for (int j = 0; j < k; ++j) repeated.push_back(p);
      const StepwiseSamples s = SampleStepwise(m.net, repeated, o_.temperature, rng);
      std::vector<EpisodeRecord> episodes;
      for (size_t i = 0; i < repeated.size(); ++i) {
        const int64_t idx = static_cast<int64_t>(first) * k + static_cast<int64_t>(i);
        episodes.push_back(ProcessEpisode(ctx, idx, DeriveSeed(ctx.seed, ctx.stage_name + "/chunk", c), repeated[i],
                                          s.steps[i], o_.policy, o_.flip, rng));
      }
      ctx.store->InsertEpisodes(episodes);
      progress.Add(count);
    }
    progress.Finish();
  }

 private:
  EpisodesOptions o_;
  std::string where_;
};

// A logged, judged solution: the reward models' training example.
struct LoggedSolution {
  StepwiseProblem problem;
  std::vector<int> steps;
  float label = 0;                    // the outcome oracle's (noisy) label
  std::vector<float> labels;          // the process oracle's, per step
  float true_label = 0;
  std::vector<float> true_labels;
};

std::vector<LoggedSolution> ReadLoggedSolutions(Store& store, int64_t experiment_id, const std::string& stage) {
  std::map<int64_t, LoggedSolution> by_episode;
  Stmt turns(store.handle(),
             "SELECT t.episode_id, t.role, t.action FROM turns t JOIN episodes e ON e.id = t.episode_id "
             "WHERE e.experiment_id = ? AND e.stage = ? AND e.protocol = 'process' AND e.status = 'complete' "
             "ORDER BY t.episode_id, t.idx",
             "read logged process turns");
  turns.Bind(1, experiment_id).Bind(2, stage);
  while (turns.Next()) {
    const int64_t id = turns.Int(0);
    const std::string role = turns.Text(1), action = turns.Text(2);
    LoggedSolution& s = by_episode[id];
    if (role == "problem") {
      s.problem = ParseProblem(action, id);
    } else if (role == "step") {
      try {
        const int v = nlohmann::json::parse(action).at("value").get<int>();
        if (v < 0 || v >= s.problem.modulus) throw DataError("value out of range");
        s.steps.push_back(v);
      } catch (const std::exception& e) {
        throw DataError("episode " + std::to_string(id) + ": step turn is not a step value in range: " + action);
      }
    }
  }
  Stmt judged(store.handle(),
              "SELECT j.episode_id, j.judge, j.detail FROM judgements j JOIN episodes e ON e.id = j.episode_id "
              "WHERE e.experiment_id = ? AND e.stage = ? AND e.protocol = 'process' AND e.status = 'complete' "
              "AND j.judge IN ('outcome_oracle', 'process_oracle')",
              "read logged process judgements");
  judged.Bind(1, experiment_id).Bind(2, stage);
  std::map<int64_t, int> seen;
  while (judged.Next()) {
    const int64_t id = judged.Int(0);
    auto it = by_episode.find(id);
    if (it == by_episode.end()) continue;
    LoggedSolution& s = it->second;
    try {
      const nlohmann::json d = nlohmann::json::parse(judged.Text(2));
      if (judged.Text(1) == "outcome_oracle") {
        s.label = d.at("label").get<float>();
        s.true_label = d.at("true_label").get<float>();
        seen[id] |= 1;
      } else {
        s.labels = d.at("labels").get<std::vector<float>>();
        s.true_labels = d.at("true_labels").get<std::vector<float>>();
        seen[id] |= 2;
      }
    } catch (const nlohmann::json::exception& e) {
      throw DataError("episode " + std::to_string(id) + ": judgement " + judged.Text(1) +
                      " has no readable labels: " + e.what());
    }
  }
  std::vector<LoggedSolution> out;
  size_t n = 0;
  int modulus = 0;
  for (auto& [id, s] : by_episode) {
    const std::string what = "episode " + std::to_string(id) + ": ";
    if (s.steps.size() != s.problem.ops.size() || s.problem.ops.empty())
      throw DataError(what + std::to_string(s.steps.size()) + " steps for " + std::to_string(s.problem.ops.size()) +
                      " operations");
    if (seen[id] != 3) throw DataError(what + "not judged by both outcome_oracle and process_oracle");
    if (s.labels.size() != s.steps.size()) throw DataError(what + "process labels do not match its steps");
    if (n == 0) {
      n = s.steps.size();
      modulus = s.problem.modulus;
    }
    if (s.steps.size() != n || s.problem.modulus != modulus)
      throw DataError(what + "a problem of another length or modulus than the stage's first");
    out.push_back(std::move(s));
  }
  return out;
}

struct RewardModelStageOptions {
  std::string from_experiment, from_stage;
  std::string objective = "process";
  // Outcome models: "every_step" trains the logit of every step on the
  // final answer's label (Cobbe et al. 2021's verifiers, Uesato et al.'s
  // ORM); "last_step" (the default, what logged configs without the key
  // ran) trains only the last. Either scores by the last.
  std::string outcome_targets = "last_step";
  std::string init;  // a stepwise_policy to start from ("" = a fresh network of `model`'s shape)
  StepwisePolicyOptions model;
  int batch_size = 64;
  double learning_rate = 1e-3;
  double heldout_fraction = 0.1;
  TrainingLoop loop{2000, 50, 500, 500};
  int intra_op_threads = 1;
  std::string artifact;
};

class ProcessRewardModelStage : public Stage {
 public:
  ProcessRewardModelStage(RewardModelStageOptions o, std::string where) : o_(std::move(o)), where_(std::move(where)) {}
  void Run(StageContext& ctx) override {
    SetIntraOpThreads(o_.intra_op_threads);
    const int64_t source =
        ResolveExperimentRef(*ctx.store, o_.from_experiment, ctx.experiment_id, where_ + ".from_experiment");
    const std::vector<LoggedSolution> all = ReadLoggedSolutions(*ctx.store, source, o_.from_stage);
    // Held out by a hash of the problem, so a problem's samples stay on one side.
    std::vector<const LoggedSolution*> train, heldout;
    for (const LoggedSolution& s : all) {
      const uint64_t h = DeriveSeed(0, DescribeProblem(s.problem), 0);
      (static_cast<double>(h % 10000) < o_.heldout_fraction * 10000 ? heldout : train).push_back(&s);
    }
    if (train.empty())
      throw ConfigError(where_ + ".from_stage: no logged process episodes to train on in stage '" + o_.from_stage +
                        "' of experiment " + std::to_string(source));
    const bool process = o_.objective == "process";
    std::cerr << "  " << (process ? "process" : "outcome") << " reward model on " << train.size()
              << " solutions (" << heldout.size() << " held out)\n";
    torch::manual_seed(DeriveSeed(ctx.seed, ctx.stage_name + "/init", 0));
    const int modulus = all.front().problem.modulus, steps = static_cast<int>(all.front().steps.size());
    int asides = 0;  // aside operations among the logged problems' first n - 1
    for (const LoggedSolution& s : all)
      for (const StepOp& op : s.problem.ops) asides += op.aside;
    StepwiseModel m;
    if (!o_.init.empty()) {
      // As reward models are initialised from the policy's language model
      // (Uesato et al., Ouyang et al.): it already reads the arithmetic.
      m = LoadPolicyArtifact(ctx, o_.init, where_ + ".init");
      if (m.problems.modulus != modulus || m.net->options().max_steps < steps)
        throw ConfigError(where_ + ".init: policy '" + o_.init + "' reads values modulo " +
                          std::to_string(m.problems.modulus) + " and up to " +
                          std::to_string(m.net->options().max_steps) + " steps; the logged solutions are " +
                          std::to_string(steps) + " steps modulo " + std::to_string(modulus));
      if (asides > 0 && !m.net->options().asides)
        throw ConfigError(where_ + ".init: policy '" + o_.init +
                          "' was made without asides; the logged problems have them");
    } else {
      StepwisePolicyOptions mo = o_.model;
      mo.modulus = modulus;
      mo.max_steps = std::max(mo.max_steps, steps);
      mo.asides = asides > 0;
      m.problems.aside_share = static_cast<double>(asides) / (static_cast<double>(all.size()) * std::max(1, steps - 1));
      m.net = StepwisePolicy(mo);
      m.net->to(torch::Device(ctx.device));
    }
    m.problems.modulus = modulus;
    m.problems.steps = steps;
    m.objective = o_.objective;
    const torch::Device device(ctx.device);
    // The loss and accuracy of a batch, against the logged or the true labels.
    auto batch_loss = [&](const std::vector<const LoggedSolution*>& batch, bool true_labels, double* accuracy) {
      std::vector<StepwiseProblem> problems;
      std::vector<std::vector<int>> steps;
      std::vector<float> labels;
      for (const LoggedSolution* s : batch) {
        problems.push_back(s->problem);
        steps.push_back(s->steps);
        if (process) {
          const auto& l = true_labels ? s->true_labels : s->labels;
          labels.insert(labels.end(), l.begin(), l.end());
        } else {
          labels.insert(labels.end(), s->steps.size(), true_labels ? s->true_label : s->label);
        }
      }
      const torch::Tensor logits = StepScoreLogits(m.net, problems, steps);
      const torch::Tensor target = torch::tensor(labels).view(logits.sizes()).to(device);
      // An outcome model is read, and measured, at the last step.
      const int64_t last = logits.size(1) - 1;
      if (accuracy) {
        const torch::Tensor l = process ? logits : logits.select(1, last), t = process ? target : target.select(1, last);
        *accuracy = ((l > 0).to(torch::kFloat) == t).to(torch::kFloat).mean().item<double>();
      }
      if (process || o_.outcome_targets == "every_step")
        return ProcessLoss(logits, target, torch::ones_like(target, torch::kBool));
      return PointwiseOutcomeLoss(logits.select(1, last), target.select(1, last));
    };
    torch::optim::Adam adam(m.net->parameters(), torch::optim::AdamOptions(o_.learning_rate));
    TrainingLoop loop = o_.loop;
    loop.note = "held-out accuracy";
    loop.train = [&](int64_t step) -> TrainingLoop::Figures {
      Rng rng(DeriveSeed(ctx.seed, ctx.stage_name + "/batch", static_cast<uint64_t>(step)));
      std::vector<const LoggedSolution*> batch;
      for (int j = 0; j < o_.batch_size; ++j) batch.push_back(train[UniformInt(rng, train.size())]);
      m.net->train();
      double accuracy = 0;
      const torch::Tensor loss = batch_loss(batch, false, &accuracy);
      adam.zero_grad();
      loss.backward();
      torch::nn::utils::clip_grad_norm_(m.net->parameters(), 1.0);
      adam.step();
      return {{"loss", loss.item<double>()}, {"accuracy", accuracy}};
    };
    loop.evaluate = [&](int64_t) -> TrainingLoop::Figures {
      if (heldout.empty()) return {};
      torch::NoGradGuard no_grad;
      m.net->eval();
      double acc = 0, true_acc = 0;
      const double loss = batch_loss(heldout, false, &acc).item<double>();
      batch_loss(heldout, true, &true_acc);
      return {{"heldout_accuracy", acc}, {"heldout_loss", loss}, {"heldout_true_accuracy", true_acc}};
    };
    TrainAndSave(ctx, loop, m, adam, kRewardModelKind, o_.artifact, o_.objective + " reward model");
  }

 private:
  RewardModelStageOptions o_;
  std::string where_;
};

struct PpoStageOptions {
  std::string policy;
  std::string reward = "outcome";  // outcome | process (oracles), outcome_rm | process_rm
  std::string reward_model;
  double flip = 0.0;
  StepwisePpoOptions ppo;
  int batch_size = 256;
  TrainingLoop loop{300, 10, 100, 50};
  EvalOptions eval;
  int intra_op_threads = 1;
  std::string artifact;
};

class ProcessPpoStage : public Stage {
 public:
  ProcessPpoStage(PpoStageOptions o, std::string where) : o_(std::move(o)), where_(std::move(where)) {}
  void Run(StageContext& ctx) override {
    SetIntraOpThreads(o_.intra_op_threads);
    StepwiseModel m = LoadPolicyArtifact(ctx, o_.policy, where_ + ".policy");
    StepwiseModel reference = LoadPolicyArtifact(ctx, o_.policy, where_ + ".policy");
    const StepwiseReward kind =
        o_.reward.rfind("process", 0) == 0 ? StepwiseReward::kProcess : StepwiseReward::kOutcome;
    StepRewardFn reward;
    if (o_.reward.size() > 3 && o_.reward.substr(o_.reward.size() - 3) == "_rm") {
      StepwiseModel rm = LoadRewardModelArtifact(ctx, o_.reward_model, where_ + ".reward_model");
      RequireSameProblems(rm, m, where_ + ".reward_model: '" + o_.reward_model + "'");
      if ((rm.objective == "process") != (kind == StepwiseReward::kProcess))
        throw ConfigError(where_ + ".reward_model: '" + o_.reward_model + "' is an " + rm.objective +
                          " reward model, but reward is " + o_.reward);
      reward = RewardModelFn(rm.net, kind);
    } else {
      reward = OracleRewardFn(kind, o_.flip);
    }
    torch::optim::Adam adam(m.net->parameters(), torch::optim::AdamOptions(o_.ppo.learning_rate));
    TrainingLoop loop = o_.loop;
    loop.note = "final-answer error";
    loop.train = [&](int64_t step) -> TrainingLoop::Figures {
      Rng rng(DeriveSeed(ctx.seed, ctx.stage_name + "/update", static_cast<uint64_t>(step)));
      const std::vector<StepwiseProblem> problems = Problems(m.problems, o_.batch_size, rng);
      const StepwisePpoStats s = StepwisePpoUpdate(m.net, reference.net, adam, problems, reward, o_.ppo, rng);
      return {{"reward", s.reward},           {"kl", s.kl},
              {"sample_final_error", s.final_error}, {"sample_trace_error", s.trace_error},
              {"approx_kl", s.approx_kl},     {"clip_fraction", s.clip_fraction}};
    };
    loop.evaluate = [&](int64_t step) {
      return EvaluateOnTest(ctx, m.net, nullptr, 0, m.problems, o_.eval, step == loop.batches, o_.artifact);
    };
    TrainAndSave(ctx, loop, m, adam, kPolicyKind, o_.artifact, "PPO with the " + o_.reward + " reward");
  }

 private:
  PpoStageOptions o_;
  std::string where_;
};

struct EvalStageOptions {
  std::string policy;
  std::string reward_model;  // reranking by a reward model, or
  std::string oracle;        // by an oracle judge: outcome | process, its labels flipped with probability `flip`
  double flip = 0;
  int samples = 16;
  EvalOptions eval;
  int intra_op_threads = 1;
};

class ProcessEvalStage : public Stage {
 public:
  ProcessEvalStage(EvalStageOptions o, std::string where) : o_(std::move(o)), where_(std::move(where)) {}
  void Run(StageContext& ctx) override {
    SetIntraOpThreads(o_.intra_op_threads);
    StepwiseModel m = LoadPolicyArtifact(ctx, o_.policy, where_ + ".policy");
    std::optional<StepwiseModel> rm;
    std::optional<Reranker> reranker;
    std::string agent = o_.policy;
    if (!o_.reward_model.empty()) {
      rm = LoadRewardModelArtifact(ctx, o_.reward_model, where_ + ".reward_model");
      RequireSameProblems(*rm, m, where_ + ".reward_model: '" + o_.reward_model + "'");
      reranker = Reranker{"rm:" + o_.reward_model, JudgeKind::kRewardModel, rm->objective, &*rm, 0.0};
      agent += "+rm:" + o_.reward_model;
    } else if (!o_.oracle.empty()) {
      reranker = Reranker{"rerank:" + o_.oracle + "_oracle", JudgeKind::kOracle, o_.oracle, nullptr, o_.flip};
      agent += "+" + o_.oracle + "_oracle";
    }
    const TrainingLoop::Figures f =
        EvaluateOnTest(ctx, m.net, reranker ? &*reranker : nullptr, o_.samples, m.problems, o_.eval, true, agent);
    std::vector<Store::Metric> metrics;
    for (const auto& [name, value] : f) metrics.push_back({name, 0, value});
    if (reranker) metrics.push_back({"samples", 0, static_cast<double>(o_.samples)});
    if (!o_.oracle.empty()) metrics.push_back({"flip", 0, o_.flip});
    metrics.push_back({"temperature", 0, o_.eval.temperature});
    ctx.store->InsertMetrics(ctx.experiment_id, ctx.stage_name, metrics);
    PrintEvaluation(ctx.stage_name, f);
  }

 private:
  EvalStageOptions o_;
  std::string where_;
};

void ReadModelOptions(const ConfigNode& node, StepwisePolicyOptions& m) {
  m.embed = static_cast<int>(node.Int("embed", m.embed, 4, 4096));
  m.heads = static_cast<int>(node.Int("heads", m.heads, 1, 64));
  if (m.embed % m.heads != 0)
    node.FailAt("embed", std::to_string(m.embed) + " is not a multiple of heads (" + std::to_string(m.heads) + ")");
  m.layers = static_cast<int>(node.Int("layers", m.layers, 1, 64));
}

}  // namespace

void RegisterProcessStages(Registries& registries) {
  registries.stages.Add("process_sft", [](const ConfigNode& node, const Registries&) {
    SftOptions o;
    o.problems.steps = static_cast<int>(node.Int("steps", o.problems.steps, 1, 64));
    o.problems.modulus = static_cast<int>(node.Int("modulus", o.problems.modulus, 2, 1000));
    o.problems.multiply_share = node.Number("multiply_share", o.problems.multiply_share, 0.0, 1.0);
    o.problems.aside_share = node.Number("aside_share", o.problems.aside_share, 0.0, 0.9);
    o.model.asides = o.problems.aside_share > 0;
    o.model.modulus = o.problems.modulus;
    o.model.max_steps = std::max(o.model.max_steps, o.problems.steps);
    ReadModelOptions(node, o.model);
    o.demonstrations = static_cast<int>(node.Int("demonstrations", o.demonstrations, 1, 10000000));
    o.batch_size = static_cast<int>(node.Int("batch_size", o.batch_size, 1, 65536));
    o.learning_rate = node.Number("learning_rate", o.learning_rate, 1e-9, 1.0);
    o.loop.ReadOptions(node);
    ReadEvalOptions(node, o.eval);
    o.intra_op_threads = static_cast<int>(node.Int("intra_op_threads", o.intra_op_threads, 1, 64));
    o.artifact = node.RequireString("artifact");
    return std::make_unique<ProcessSftStage>(o);
  });
  registries.stages.Add("process_episodes", [](const ConfigNode& node, const Registries&) {
    EpisodesOptions o;
    o.policy = node.RequireString("policy");
    o.problems = static_cast<int>(node.Int("problems", o.problems, 1, 10000000));
    o.samples_per_problem = static_cast<int>(node.Int("samples_per_problem", o.samples_per_problem, 1, 1024));
    o.temperature = node.Number("temperature", o.temperature, 0.0, 100.0);
    o.flip = node.Number("flip", o.flip, 0.0, 1.0);
    o.intra_op_threads = static_cast<int>(node.Int("intra_op_threads", o.intra_op_threads, 1, 64));
    return std::make_unique<ProcessEpisodesStage>(o, node.file() + ": " + node.path());
  });
  registries.stages.Add("process_rm", [](const ConfigNode& node, const Registries&) {
    RewardModelStageOptions o;
    o.from_experiment = node.String("from_experiment", o.from_experiment);
    o.from_stage = node.RequireString("from_stage");
    o.objective = node.Enum("objective", o.objective, {"outcome", "process"});
    o.outcome_targets = node.Enum("outcome_targets", o.outcome_targets, {"every_step", "last_step"});
    if (o.objective != "outcome" && node.Has("outcome_targets"))
      node.FailAt("outcome_targets", "only for an outcome reward model (objective is " + o.objective + ")");
    o.init = node.String("init", o.init);
    for (const char* key : {"embed", "heads", "layers"})
      if (!o.init.empty() && node.Has(key))
        node.FailAt(key, "the reward model has the shape of its \"init\" policy '" + o.init + "'");
    ReadModelOptions(node, o.model);
    o.batch_size = static_cast<int>(node.Int("batch_size", o.batch_size, 1, 65536));
    o.learning_rate = node.Number("learning_rate", o.learning_rate, 1e-9, 1.0);
    o.heldout_fraction = node.Number("heldout_fraction", o.heldout_fraction, 0.0, 0.9);
    o.loop.ReadOptions(node);
    o.intra_op_threads = static_cast<int>(node.Int("intra_op_threads", o.intra_op_threads, 1, 64));
    o.artifact = node.RequireString("artifact");
    return std::make_unique<ProcessRewardModelStage>(o, node.file() + ": " + node.path());
  });
  registries.stages.Add("process_ppo", [](const ConfigNode& node, const Registries&) {
    PpoStageOptions o;
    const std::string where = node.file() + ": " + node.path();
    o.policy = node.RequireString("policy");
    o.reward = node.Enum("reward", o.reward, {"outcome", "process", "outcome_rm", "process_rm"});
    if (o.reward == "outcome_rm" || o.reward == "process_rm")
      o.reward_model = node.RequireString("reward_model");
    else if (node.Has("reward_model"))
      node.FailAt("reward_model", "only with reward outcome_rm or process_rm (reward is " + o.reward + ")");
    o.flip = node.Number("flip", o.flip, 0.0, 1.0);
    if (o.flip > 0 && !o.reward_model.empty())
      node.FailAt("flip", "label flips are the oracles' noise; a reward model's noise is in its training labels");
    StepwisePpoOptions& p = o.ppo;
    p.learning_rate = node.Number("learning_rate", p.learning_rate, 1e-9, 1.0);
    p.clip_eps = node.Number("clip_eps", p.clip_eps, 0.0, 10.0);
    p.value_coef = node.Number("value_coef", p.value_coef, 0.0, 100.0);
    p.kl_coef = node.Number("kl_coef", p.kl_coef, 0.0, 100.0);
    p.lambda = node.Number("lambda", p.lambda, 0.0, 1.0);
    p.epochs = static_cast<int>(node.Int("epochs", p.epochs, 1, 100));
    o.batch_size = static_cast<int>(node.Int("batch_size", o.batch_size, 1, 65536));
    o.loop.ReadOptions(node);
    ReadEvalOptions(node, o.eval);
    o.intra_op_threads = static_cast<int>(node.Int("intra_op_threads", o.intra_op_threads, 1, 64));
    o.artifact = node.RequireString("artifact");
    return std::make_unique<ProcessPpoStage>(o, where);
  });
  registries.stages.Add("process_eval", [](const ConfigNode& node, const Registries&) {
    EvalStageOptions o;
    o.policy = node.RequireString("policy");
    o.reward_model = node.String("reward_model", "");
    o.oracle = node.Has("oracle") ? node.Enum("oracle", "", {"outcome", "process"}) : "";
    if (!o.oracle.empty() && !o.reward_model.empty())
      node.FailAt("oracle", "reranking is by a \"reward_model\" or by an \"oracle\", not both");
    o.flip = node.Number("flip", o.flip, 0.0, 1.0);
    if (o.oracle.empty() && node.Has("flip")) node.FailAt("flip", "label flips are for an \"oracle\" reranker");
    const bool rerank = !o.reward_model.empty() || !o.oracle.empty();
    o.samples = static_cast<int>(node.Int("samples", o.samples, 1, 4096));
    if (!rerank && node.Has("samples"))
      node.FailAt("samples", "reranking needs a \"reward_model\" or an \"oracle\" to choose among the samples");
    o.eval.temperature = node.Number("temperature", rerank ? 1.0 : 0.0, 0.0, 100.0);
    if (rerank && o.eval.temperature == 0)
      node.FailAt("temperature", "reranking needs samples that differ: a temperature above 0");
    ReadEvalOptions(node, o.eval);
    o.intra_op_threads = static_cast<int>(node.Int("intra_op_threads", o.intra_op_threads, 1, 64));
    return std::make_unique<ProcessEvalStage>(o, node.file() + ": " + node.path());
  });
}

}  // namespace oversight
