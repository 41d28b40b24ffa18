#include "agents/ida.h"

#include <numeric>

namespace oversight {

IdaLevel LevelAt(const AmplifyTask& task, const IdaOptions& options, int difficulty) {
  if (!options.depth_curriculum) return {task.SizeAt(difficulty), kAnyDepth};
  const int levels = task.LastCurriculumDepth() - task.FirstCurriculumDepth() + 1;
  if (difficulty < levels) return {task.SizeAt(0), task.FirstCurriculumDepth() + difficulty};
  return {task.SizeAt(difficulty - levels), kAnyDepth};
}

IdaTrainer::IdaTrainer(const AmplifyTask& task, IdaOptions options, AnswererNet student,
                       AnswererNet teacher, torch::Device device, AmplifyLabelFn label)
    : task_(task), o_(options), student_(std::move(student)), teacher_(std::move(teacher)),
      device_(device), label_(std::move(label)),
      adam_(student_->parameters(),
            torch::optim::AdamOptions(options.learning_rate).betas({0.9, 0.98})),
      difficulty_(options.start_difficulty) {
  student_->to(device_);
  teacher_->to(device_);
  teacher_->eval();
  for (auto& p : teacher_->parameters()) p.set_requires_grad(false);
}

void IdaTrainer::Restore(int difficulty, int64_t steps, int64_t h_calls, int64_t teacher_calls) {
  difficulty_ = difficulty;
  steps_ = steps;
  h_calls_ = h_calls;
  teacher_calls_ = teacher_calls;
}

std::vector<std::vector<Tokens>> IdaTrainer::Answer(
    AnswererNet& net, const std::vector<const AmplifyInstance*>& instances,
    const std::vector<std::vector<Tokens>>& questions) {
  torch::NoGradGuard no_grad;
  const AnswererBatch b = MakeAnswererBatch(task_, instances, questions);
  const torch::Tensor logits =
      net->forward(b.facts.to(device_), b.fact_pad.to(device_), b.questions.to(device_));
  return ArgmaxAnswers(logits, questions);
}

std::vector<std::vector<Tokens>> IdaTrainer::Amplify(
    const std::vector<const AmplifyInstance*>& instances,
    const std::vector<std::vector<Tokens>>& questions, Rng* rng) {
  struct Pending {
    std::vector<Tokens> subanswers;
    bool done = false;
  };
  std::vector<std::vector<Pending>> state(questions.size());
  std::vector<std::vector<Tokens>> targets(questions.size());
  for (size_t i = 0; i < questions.size(); ++i) {
    state[i].resize(questions[i].size());
    targets[i].assign(questions[i].size(), task_.IdkAnswer());
  }
  // Each round every unfinished question takes one H step; the teacher
  // answers all non-primitive subquestions of the round in one forward.
  for (int round = 0; round <= task_.max_subquestions(); ++round) {
    std::vector<std::vector<Tokens>> asks(questions.size());
    std::vector<std::vector<size_t>> asked_by(questions.size());
    for (size_t i = 0; i < questions.size(); ++i) {
      for (size_t j = 0; j < questions[i].size(); ++j) {
        Pending& p = state[i][j];
        if (p.done) continue;
        const HStep step = rng ? NoisyDecompose(task_, questions[i][j], p.subanswers, o_.h_noise, *rng)
                               : task_.Decompose(questions[i][j], p.subanswers);
        ++h_calls_;
        if (step.done) {
          p.done = true;
          targets[i][j] = step.answer;
        } else if (task_.IsPrimitive(step.subquestion)) {
          p.subanswers.push_back(task_.Lookup(*instances[i], step.subquestion));
        } else {
          asks[i].push_back(step.subquestion);
          asked_by[i].push_back(j);
        }
      }
    }
    size_t n_asks = 0;
    for (const auto& a : asks) n_asks += a.size();
    if (n_asks == 0) continue;
    teacher_calls_ += static_cast<int64_t>(n_asks);
    const auto answers = Answer(teacher_, instances, asks);
    for (size_t i = 0; i < asks.size(); ++i)
      for (size_t k = 0; k < asks[i].size(); ++k)
        state[i][asked_by[i][k]].subanswers.push_back(answers[i][k]);
  }
  return targets;
}

IdaStats IdaTrainer::Round(Rng& rng) {
  IdaStats s;
  const IdaLevel level = this->level();
  std::vector<Entry> fresh(static_cast<size_t>(o_.instances_per_round));
  std::vector<const AmplifyInstance*> instances;
  std::vector<std::vector<Tokens>> questions;
  for (Entry& e : fresh) {
    e.instance = task_.MakeInstance(level.size, rng);
    e.questions = task_.MakeQuestions(e.instance, rng, level.max_depth);
    instances.push_back(&e.instance);
    questions.push_back(e.questions);
  }
  std::vector<std::vector<Tokens>> targets;
  if (label_) {
    for (Entry& e : fresh) {
      std::vector<Tokens> t;
      for (const Tokens& q : e.questions) t.push_back(label_(e.instance, q));
      targets.push_back(t);
    }
  } else {
    targets = Amplify(instances, questions, &rng);
  }
  // Curriculum: how often the teacher already gives the target.
  const auto direct = Answer(teacher_, instances, questions);
  double agree = 0, total = 0;
  for (size_t i = 0; i < fresh.size(); ++i) {
    fresh[i].targets = targets[i];
    for (size_t j = 0; j < targets[i].size(); ++j) {
      agree += direct[i][j] == targets[i][j] && targets[i][j] != task_.IdkAnswer();
      ++total;
    }
  }
  s.teacher_quality = total > 0 ? agree / total : 0;
  quality_.push_back(s.teacher_quality);
  while (static_cast<int>(quality_.size()) > o_.quality_horizon) quality_.pop_front();
  s.running_quality = std::accumulate(quality_.begin(), quality_.end(), 0.0) / quality_.size();
  for (Entry& e : fresh) {
    buffer_.push_back(std::move(e));
    if (static_cast<int>(buffer_.size()) > o_.buffer_instances) buffer_.pop_front();
  }
  if (static_cast<int>(buffer_.size()) >= o_.min_buffer) {
    double loss = 0;
    for (int k = 0; k < o_.steps_per_round; ++k) loss += Distil(rng);
    s.loss = loss / o_.steps_per_round;
    s.distilled = true;
  }
  ++rounds_at_difficulty_;
  if (rounds_at_difficulty_ >= o_.curriculum_min_rounds && s.running_quality > o_.curriculum_threshold &&
      difficulty_ < o_.max_difficulty) {
    ++difficulty_;
    rounds_at_difficulty_ = 0;
    quality_.clear();
  }
  s.difficulty = difficulty_;
  const IdaLevel next = this->level();  // after the curriculum step
  s.size = next.size;
  s.max_depth = next.max_depth;
  s.h_calls = h_calls_;
  s.teacher_calls = teacher_calls_;
  s.buffer = static_cast<int64_t>(buffer_.size());
  return s;
}

double IdaTrainer::Distil(Rng& rng) {
  std::vector<const AmplifyInstance*> instances;
  std::vector<std::vector<Tokens>> questions;
  std::vector<const std::vector<Tokens>*> targets;
  for (int k = 0; k < o_.train_instances; ++k) {
    const Entry& e = buffer_[UniformInt(rng, buffer_.size())];
    instances.push_back(&e.instance);
    questions.push_back(e.questions);
    targets.push_back(&e.targets);
  }
  const AnswererBatch b = MakeAnswererBatch(task_, instances, questions);
  const int64_t q = b.questions.size(1), a = task_.answer_length();
  torch::Tensor y = torch::full({static_cast<int64_t>(instances.size()), q, a}, -100, torch::kLong);
  auto ya = y.accessor<int64_t, 3>();
  // An idk target (H could not combine the subanswers) is no label: it is
  // left out, or a teacher that answers idk would teach idk to itself.
  for (size_t i = 0; i < targets.size(); ++i)
    for (size_t j = 0; j < targets[i]->size(); ++j)
      for (int64_t t = 0; t < a && (*targets[i])[j] != task_.IdkAnswer(); ++t)
        ya[static_cast<int64_t>(i)][static_cast<int64_t>(j)][t] = (*targets[i])[j][static_cast<size_t>(t)];
  if (!(y != -100).any().item<bool>()) return 0.0;  // nothing but idk targets: no step
  student_->train();
  const torch::Tensor logits =  // log-probabilities
      student_->forward(b.facts.to(device_), b.fact_pad.to(device_), b.questions.to(device_));
  const torch::Tensor loss = torch::nn::functional::nll_loss(
      logits.reshape({-1, logits.size(-1)}), y.reshape({-1}).to(device_),
      torch::nn::functional::NLLLossFuncOptions().ignore_index(-100));
  adam_.zero_grad();
  loss.backward();
  torch::nn::utils::clip_grad_norm_(student_->parameters(), o_.max_grad_norm);
  adam_.step();
  ++steps_;
  const double horizon = static_cast<double>(std::min<int64_t>(steps_, o_.ema_horizon));
  EmaUpdate(teacher_, student_, 1.0 - 1.0 / horizon);
  return loss.item<double>();
}

}  // namespace oversight
