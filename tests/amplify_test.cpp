// The amplification tasks (protocols/amplify_tasks.h): H's decompositions,
// primitive lookups, a fallible H, and the ground truth they are checked
// against (protocols/amplify_truth.h).
#include <catch2/catch.hpp>

#include <cmath>
#include <functional>
#include <map>
#include <set>

#include "protocols/amplify_tasks.h"
#include "protocols/amplify_truth.h"

using namespace oversight;

namespace {

// H all the way down: every non-primitive subquestion answered by H again.
Tokens FullyAmplified(const AmplifyTask& task, const AmplifyInstance& inst, const Tokens& q,
                      int64_t* h_calls) {
  std::function<Tokens(const Tokens&)> answer = [&](const Tokens& sub) {
    return AmplifiedAnswer(task, inst, sub, answer, h_calls);
  };
  return AmplifiedAnswer(task, inst, q, answer, h_calls);
}

std::unique_ptr<AmplifyTask> Task(const std::string& name) {
  auto task = MakeAmplifyTask(name);
  REQUIRE(task != nullptr);
  return task;
}

}  // namespace

TEST_CASE("H's decompositions give the ground truth when every subanswer is right", "[amplify]") {
  for (const std::string& name : AmplifyTaskNames()) {
    const auto task = Task(name);
    for (const int size : {8, 20, 64}) {
      for (uint64_t seed = 0; seed < 5; ++seed) {
        Rng rng(DeriveSeed(seed, name, static_cast<uint64_t>(size)));
        const AmplifyInstance inst = task->MakeInstance(size, rng);
        REQUIRE(inst.size == size);
        for (const Tokens& fact : inst.facts) REQUIRE(static_cast<int>(fact.size()) == task->fact_length());
        const std::vector<Tokens> questions = task->MakeQuestions(inst, rng);
        REQUIRE(static_cast<int>(questions.size()) == size);  // one per element
        for (const Tokens& q : questions) {
          INFO(name << " size " << size << " seed " << seed << ": " << task->Describe(q));
          REQUIRE(static_cast<int>(q.size()) == task->question_length());
          REQUIRE_FALSE(task->IsPrimitive(q));
          int64_t h_calls = 0;
          const Tokens amplified = FullyAmplified(*task, inst, q, &h_calls);
          const Tokens truth = GroundTruth(*task, inst, q);
          REQUIRE(static_cast<int>(truth.size()) == task->answer_length());
          CHECK(truth != task->IdkAnswer());
          CHECK(amplified == truth);
          CHECK(h_calls > 0);
        }
      }
    }
  }
}

TEST_CASE("Permutation powering: questions, primitive lookups and H's three subquestions", "[amplify]") {
  const auto task = Task("permutation");
  Rng rng(7);
  const AmplifyInstance inst = task->MakeInstance(16, rng);
  std::map<Tokens, Tokens> sigma;
  for (const Tokens& f : inst.facts) sigma[{f[0], f[1]}] = {f[2], f[3]};
  REQUIRE(sigma.size() == 16);  // distinct elements
  std::set<Tokens> images;
  for (const auto& [x, y] : sigma) images.insert(y);
  CHECK(images.size() == 16);   // a permutation: onto the same elements
  for (const auto& [x, y] : sigma) CHECK(sigma.count(y) == 1);

  // k in [2, 63], every depth 2..6 occurs over many questions.
  std::set<int> depths;
  for (int i = 0; i < 20; ++i)
    for (const Tokens& q : task->MakeQuestions(inst, rng)) depths.insert(task->Depth(inst, q));
  CHECK(depths == std::set<int>{2, 3, 4, 5, 6});

  const Tokens x{inst.facts[0][0], inst.facts[0][1]};
  auto question = [&](const Tokens& e, int k) {
    Tokens q = e;
    for (int b = 5; b >= 0; --b) q.push_back((k >> b) & 1 ? kTokOne : kTokZero);
    return q;
  };
  // k = 0 and 1 are primitive: x itself and the fact's sigma(x).
  CHECK(task->IsPrimitive(question(x, 0)));
  CHECK(task->IsPrimitive(question(x, 1)));
  CHECK(task->Lookup(inst, question(x, 0)) == x);
  CHECK(task->Lookup(inst, question(x, 1)) == sigma[x]);
  CHECK(task->Describe(question(x, 13)).find("sigma^13(") == 0);
  // An element that is not in the instance, or a malformed question: idk.
  Tokens stranger;
  for (int a = 0; a < kLetters && stranger.empty(); ++a)
    for (int b = 0; b < kLetters && stranger.empty(); ++b)
      if (!sigma.count({kTokLetter0 + a, kTokLetter0 + b})) stranger = {kTokLetter0 + a, kTokLetter0 + b};
  CHECK(task->Lookup(inst, question(stranger, 1)) == task->IdkAnswer());
  CHECK(task->Lookup(inst, Tokens{kTokOne, kTokOne, kTokZero}) == task->IdkAnswer());

  // k = 13 = 0b1101: sigma^6(x) -> y, sigma^6(y) -> z, sigma(z) (odd).
  const Tokens q13 = question(x, 13);
  HStep s = task->Decompose(q13, {});
  REQUIRE_FALSE(s.done);
  CHECK(s.subquestion == question(x, 6));
  const Tokens y = GroundTruth(*task, inst, question(x, 6));
  s = task->Decompose(q13, {y});
  REQUIRE_FALSE(s.done);
  CHECK(s.subquestion == question(y, 6));
  const Tokens z = GroundTruth(*task, inst, question(y, 6));
  s = task->Decompose(q13, {y, z});
  REQUIRE_FALSE(s.done);
  CHECK(s.subquestion == question(z, 1));
  s = task->Decompose(q13, {y, z, sigma[z]});
  REQUIRE(s.done);
  CHECK(s.answer == GroundTruth(*task, inst, q13));
  // k = 12, even: done after two subquestions with z.
  s = task->Decompose(question(x, 12), {y, z});
  REQUIRE(s.done);
  CHECK(s.answer == z);
  // A subanswer that is not an element: H answers idk.
  s = task->Decompose(q13, {task->IdkAnswer()});
  REQUIRE(s.done);
  CHECK(s.answer == task->IdkAnswer());
}

TEST_CASE("Sequential assignments: lookups of operands and of f, and H's five subquestions", "[amplify]") {
  const auto task = Task("assignments");
  Rng rng(11);
  const AmplifyInstance inst = task->MakeInstance(25, rng);
  REQUIRE(inst.facts.size() == 25 + 64);  // variables + the table of f
  int bases = 0;
  for (const Tokens& f : inst.facts) bases += f[3] == task->vocab_size() - 1 && f[0] != task->vocab_size() - 2;
  CHECK(bases == 5);  // floor(sqrt(25)) variables hold values

  const std::vector<Tokens> questions = task->MakeQuestions(inst, rng);
  int compound_seen = 0;
  for (const Tokens& q : questions) {
    INFO(task->Describe(q));
    // Walk H's steps with true subanswers and check each subquestion's kind.
    std::vector<Tokens> subs;
    HStep s = task->Decompose(q, subs);
    REQUIRE_FALSE(s.done);
    REQUIRE(task->IsPrimitive(s.subquestion));  // "first operand of x"
    subs.push_back(task->Lookup(inst, s.subquestion));
    s = task->Decompose(q, subs);
    if (s.done) {  // x holds a value
      CHECK(task->Depth(inst, q) == 0);
      CHECK(s.answer == GroundTruth(*task, inst, q));
      continue;
    }
    ++compound_seen;
    CHECK(task->Depth(inst, q) >= 1);
    int asked = 1;
    while (!s.done) {
      subs.push_back(GroundTruth(*task, inst, s.subquestion));
      s = task->Decompose(q, subs);
      ++asked;
    }
    CHECK(asked == task->max_subquestions());
    CHECK(s.answer == GroundTruth(*task, inst, q));
  }
  CHECK(compound_seen == 20);
  // A value where H expects a variable (the second operand): idk.
  const Tokens& q = questions.back();
  std::vector<Tokens> subs{task->Lookup(inst, task->Decompose(q, {}).subquestion)};
  if (!task->Decompose(q, subs).done) {
    subs.push_back(GroundTruth(*task, inst, task->Decompose(q, subs).subquestion));
    subs.push_back(subs.back());  // a value, not a variable
    const HStep s = task->Decompose(q, subs);
    REQUIRE(s.done);
    CHECK(s.answer == task->IdkAnswer());
  }
}

TEST_CASE("A noisy H corrupts its steps at the requested rate, and only then", "[amplify]") {
  for (const std::string& name : AmplifyTaskNames()) {
    const auto task = Task(name);
    Rng rng(3);
    const AmplifyInstance inst = task->MakeInstance(32, rng);
    const std::vector<Tokens> questions = task->MakeQuestions(inst, rng);
    for (const double p : {0.0, 0.05, 0.2}) {
      int changed = 0, steps = 0;
      Rng noise(DeriveSeed(1, name, static_cast<uint64_t>(p * 100)));
      for (int round = 0; round < 40; ++round) {
        for (const Tokens& q : questions) {
          const HStep right = task->Decompose(q, {});
          const HStep noisy = NoisyDecompose(*task, q, {}, p, noise);
          ++steps;
          REQUIRE(noisy.done == right.done);
          REQUIRE(noisy.subquestion.size() == right.subquestion.size());
          changed += noisy.subquestion != right.subquestion;
        }
      }
      INFO(name << " p=" << p << ": " << changed << " of " << steps << " steps changed");
      const double sd = std::sqrt(steps * p * (1 - p));
      CHECK(std::abs(changed - steps * p) <= 4 * sd + 1e-9);
    }
  }
}

TEST_CASE("Ground truth counts its calls, and an unknown task name is no task", "[amplify]") {
  const auto task = Task("permutation");
  Rng rng(5);
  const AmplifyInstance inst = task->MakeInstance(8, rng);
  const int64_t before = GroundTruthCalls();
  for (const Tokens& q : task->MakeQuestions(inst, rng)) GroundTruth(*task, inst, q);
  CHECK(GroundTruthCalls() == before + 8);
  CHECK(MakeAmplifyTask("tower_of_hanoi") == nullptr);
}
