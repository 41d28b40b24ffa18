// The algorithmic tasks of iterated amplification (Christiano, Shlegeris,
// Amodei 2018; shared/REFERENCE-amplification.md): an instance is a list of
// facts over n elements, a question is answered by a hard-coded overseer H
// that can only decompose it (ask subquestions, combine their answers) or,
// for a primitive question, look the answer up in the facts.
//
// Everything is token sequences, as the paper's models see them: a fact is
// fact_length() tokens, a question question_length(), an answer
// answer_length(). Token 0 is "idk" (H's answer when a subanswer makes no
// sense), 1 and 2 are the bits zero and one, then the task's own tokens.
//
// The ground truth is deliberately not here: it lives in amplify_truth.h,
// which only evaluation code and the supervised baseline include, so the
// amplification trainer cannot read it (a test counts its calls).
#pragma once

#include <memory>
#include <string>
#include <vector>

#include "engine/rng.h"

namespace oversight {

using Tokens = std::vector<int>;

inline constexpr int kTokIdk = 0;
inline constexpr int kTokZero = 1;
inline constexpr int kTokOne = 2;
inline constexpr int kTokLetter0 = 3;  // element names: 2 of 8 letters (3..10)
inline constexpr int kLetters = 8;
inline constexpr int kMaxElements = kLetters * kLetters;  // 64 names
inline constexpr int kAnyDepth = 1 << 20;  // MakeQuestions without a depth limit

// What the trainer and H see of an instance: its facts.
struct AmplifyInstance {
  int size = 0;               // elements (or variables)
  std::vector<Tokens> facts;  // fact_length() tokens each
};

// H's next move on a question, given the answers to its subquestions so far:
// another subquestion, or the final answer.
struct HStep {
  bool done = false;
  Tokens subquestion;  // when !done
  Tokens answer;       // when done
};

class AmplifyTask {
 public:
  virtual ~AmplifyTask() = default;
  virtual std::string name() const = 0;
  virtual int vocab_size() const = 0;
  virtual int fact_length() const = 0;
  virtual int question_length() const = 0;
  virtual int answer_length() const = 0;
  // Most subquestions H asks for one question (the paper's interaction_length).
  virtual int max_subquestions() const = 0;
  // Instance size at curriculum `difficulty` (>= 0), e.g. min(difficulty + 8, 64).
  virtual int SizeAt(int difficulty) const = 0;

  // A random instance of `size` elements, and the questions asked about it
  // (one per element, as in the paper).
  virtual AmplifyInstance MakeInstance(int size, Rng& rng) const = 0;
  // With `max_depth`, only questions of Depth() <= max_depth are asked.
  virtual std::vector<Tokens> MakeQuestions(const AmplifyInstance& instance, Rng& rng,
                                            int max_depth) const = 0;
  std::vector<Tokens> MakeQuestions(const AmplifyInstance& instance, Rng& rng) const {
    return MakeQuestions(instance, rng, kAnyDepth);
  }
  // The depths a question-depth curriculum steps through before it asks
  // every question: first, the shallowest depth whose answer H builds from
  // lookups alone; last, the deepest limited level.
  virtual int FirstCurriculumDepth() const = 0;
  virtual int LastCurriculumDepth() const = 0;

  // Whether H answers `question` by reading the facts (Lookup) instead of
  // decomposing it. Lookup of a malformed question answers idk.
  virtual bool IsPrimitive(const Tokens& question) const = 0;
  virtual Tokens Lookup(const AmplifyInstance& instance, const Tokens& question) const = 0;
  // H: the next subquestion of `question` or its answer, given the answers
  // to the subquestions asked so far (in order). A subanswer that is not
  // what H asked for (e.g. not an element) makes H answer idk.
  virtual HStep Decompose(const Tokens& question, const std::vector<Tokens>& subanswers) const = 0;

  // The question's category for per-depth accuracy (permutation powering:
  // the number of bits of k, 2..6; assignments: the variable's depth in the
  // assignment graph), from what H sees.
  virtual int Depth(const AmplifyInstance& instance, const Tokens& question) const = 0;
  // A wrong but well-formed answer or subquestion in place of `t`, for a
  // fallible H (NoisyDecompose).
  virtual Tokens Corrupt(const Tokens& t, bool is_answer, Rng& rng) const = 0;
  // Readable form for logs and errors, e.g. "sigma^13(bd)".
  virtual std::string Describe(const Tokens& t) const = 0;

  Tokens IdkAnswer() const { return Tokens(static_cast<size_t>(answer_length()), kTokIdk); }
};

// Tasks by name: "permutation" (permutation powering), "assignments"
// (sequential assignments). Returns nullptr for an unknown name.
std::unique_ptr<AmplifyTask> MakeAmplifyTask(const std::string& name);
std::vector<std::string> AmplifyTaskNames();

// A fallible H: with probability `p` its step is corrupted (a wrong
// subquestion or a wrong final answer, AmplifyTask::Corrupt).
HStep NoisyDecompose(const AmplifyTask& task, const Tokens& question,
                     const std::vector<Tokens>& subanswers, double p, Rng& rng);

// H's answer to `question` when every subquestion is answered by `answer`
// (called for each non-primitive subquestion; primitive ones are looked up).
// With `answer` itself recursive this is the amplified overseer at full
// depth. `h_calls` (optional) counts H's steps.
template <class AnswerFn>
Tokens AmplifiedAnswer(const AmplifyTask& task, const AmplifyInstance& instance,
                       const Tokens& question, AnswerFn&& answer, int64_t* h_calls = nullptr) {
  if (task.IsPrimitive(question)) return task.Lookup(instance, question);
  std::vector<Tokens> subanswers;
  for (int i = 0; i <= task.max_subquestions(); ++i) {
    HStep step = task.Decompose(question, subanswers);
    if (h_calls) ++*h_calls;
    if (step.done) return step.answer;
    subanswers.push_back(task.IsPrimitive(step.subquestion)
                             ? task.Lookup(instance, step.subquestion)
                             : answer(step.subquestion));
  }
  return task.IdkAnswer();  // H did not finish within its budget
}

}  // namespace oversight
