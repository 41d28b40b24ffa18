#include "protocols/amplify_tasks.h"

#include <algorithm>
#include <cmath>
#include <functional>
#include <map>
#include <numeric>

namespace oversight {
namespace {

// Element names: index e in [0, 64) <-> the 2 letter tokens.
bool IsLetter(int t) { return t >= kTokLetter0 && t < kTokLetter0 + kLetters; }
int ElementAt(const Tokens& t, size_t i) {
  if (i + 1 >= t.size() || !IsLetter(t[i]) || !IsLetter(t[i + 1])) return -1;
  return (t[i] - kTokLetter0) * kLetters + (t[i + 1] - kTokLetter0);
}
void PushElement(Tokens& t, int e) {
  t.push_back(kTokLetter0 + e / kLetters);
  t.push_back(kTokLetter0 + e % kLetters);
}
std::string ElementName(int e) {
  if (e < 0) return "?";
  return std::string{static_cast<char>('a' + e / kLetters), static_cast<char>('a' + e % kLetters)};
}
// `count` distinct element names in random order.
std::vector<int> SampleElements(int count, Rng& rng) {
  std::vector<int> all(kMaxElements);
  std::iota(all.begin(), all.end(), 0);
  PartialShuffle(all, static_cast<size_t>(count), rng);
  all.resize(static_cast<size_t>(count));
  return all;
}
int OtherElement(int e, Rng& rng) {
  const int o = static_cast<int>(UniformInt(rng, kMaxElements - 1));
  return o >= e ? o + 1 : o;
}

// ---------------------------------------------------------------------------
// Permutation powering (IterTask): facts [x sigma(x)], question [x bits(k)]
// with k in [2, 63] written MSB first in 6 bits, answer sigma^k(x).
class PermutationTask : public AmplifyTask {
 public:
  static constexpr int kBits = 6;

  std::string name() const override { return "permutation"; }
  int vocab_size() const override { return kTokLetter0 + kLetters; }
  int fact_length() const override { return 4; }
  int question_length() const override { return 2 + kBits; }
  int answer_length() const override { return 2; }
  int max_subquestions() const override { return 3; }
  int SizeAt(int difficulty) const override { return std::min(difficulty + 8, kMaxElements); }

  AmplifyInstance MakeInstance(int size, Rng& rng) const override {
    AmplifyInstance inst;
    inst.size = size;
    const std::vector<int> elements = SampleElements(size, rng);
    std::vector<int> image = elements;
    PartialShuffle(image, image.size(), rng);  // sigma(elements[i]) = image[i]
    for (int i = 0; i < size; ++i) {
      Tokens fact;
      PushElement(fact, elements[static_cast<size_t>(i)]);
      PushElement(fact, image[static_cast<size_t>(i)]);
      inst.facts.push_back(fact);
    }
    return inst;
  }

  std::vector<Tokens> MakeQuestions(const AmplifyInstance& inst, Rng& rng, int max_depth) const override {
    std::vector<Tokens> qs;
    // The leading one at bit index 0..4 (MSB first), lower bits random: k in
    // [2, 63]; with max_depth < 6 the leading one starts at 6 - max_depth.
    const int first_lead = std::clamp(kBits - max_depth, 0, kBits - 2);
    for (const Tokens& fact : inst.facts) {
      const int lead = first_lead + static_cast<int>(UniformInt(rng, static_cast<uint64_t>(kBits - 1 - first_lead)));
      int k = 1;
      for (int b = lead + 1; b < kBits; ++b) k = 2 * k + static_cast<int>(UniformInt(rng, 2));
      qs.push_back(Question(ElementAt(fact, 0), k));
    }
    return qs;
  }

  // Questions with k in [2, 3] are answered from lookups alone.
  int FirstCurriculumDepth() const override { return 2; }
  int LastCurriculumDepth() const override { return kBits - 1; }

  bool IsPrimitive(const Tokens& q) const override {
    const int k = Power(q);
    return k == 0 || k == 1;
  }

  Tokens Lookup(const AmplifyInstance& inst, const Tokens& q) const override {
    const int k = Power(q), x = ElementAt(q, 0);
    if (x < 0 || k < 0 || k > 1) return IdkAnswer();
    if (k == 0) return Answer(x);
    for (const Tokens& fact : inst.facts)
      if (ElementAt(fact, 0) == x) return Answer(ElementAt(fact, 2));
    return IdkAnswer();  // x is not an element of this instance
  }

  HStep Decompose(const Tokens& q, const std::vector<Tokens>& subs) const override {
    const int k = Power(q), x = ElementAt(q, 0);
    if (x < 0 || k < 0) return Done(IdkAnswer());
    if (k <= 1) {  // primitive: ask it as it is
      if (subs.empty()) return Ask(q);
      return Done(subs[0]);
    }
    const int half = k / 2;
    switch (subs.size()) {
      case 0: return Ask(Question(x, half));
      case 1: {
        const int y = ElementAt(subs[0], 0);
        return y < 0 ? Done(IdkAnswer()) : Ask(Question(y, half));
      }
      case 2: {
        const int z = ElementAt(subs[1], 0);
        if (z < 0) return Done(IdkAnswer());
        return k % 2 == 1 ? Ask(Question(z, 1)) : Done(Answer(z));
      }
      default: {
        const int w = ElementAt(subs[2], 0);
        return Done(w < 0 ? IdkAnswer() : Answer(w));
      }
    }
  }

  int Depth(const AmplifyInstance&, const Tokens& q) const override {
    int k = Power(q), bits = 0;
    for (; k > 0; k /= 2) ++bits;
    return bits;
  }

  Tokens Corrupt(const Tokens& t, bool is_answer, Rng& rng) const override {
    const int e = ElementAt(t, 0);
    if (is_answer) return Answer(OtherElement(std::max(e, 0), rng));
    const int k = Power(t);
    return Question(OtherElement(std::max(e, 0), rng), std::max(k, 0));
  }

  std::string Describe(const Tokens& t) const override {
    if (static_cast<int>(t.size()) == answer_length())
      return t[0] == kTokIdk ? "idk" : ElementName(ElementAt(t, 0));
    return "sigma^" + std::to_string(Power(t)) + "(" + ElementName(ElementAt(t, 0)) + ")";
  }

  static Tokens Question(int x, int k) {
    Tokens q;
    PushElement(q, x);
    for (int b = kBits - 1; b >= 0; --b) q.push_back((k >> b) & 1 ? kTokOne : kTokZero);
    return q;
  }
  static Tokens Answer(int e) {
    Tokens a;
    PushElement(a, e);
    return a;
  }
  // k of a question, or -1 when it is not one.
  static int Power(const Tokens& q) {
    if (q.size() != 2 + kBits || ElementAt(q, 0) < 0) return -1;
    int k = 0;
    for (int b = 0; b < kBits; ++b) {
      const int t = q[static_cast<size_t>(2 + b)];
      if (t != kTokZero && t != kTokOne) return -1;
      k = 2 * k + (t == kTokOne);
    }
    return k;
  }

 private:
  static HStep Ask(Tokens q) { return {false, std::move(q), {}}; }
  static HStep Done(Tokens a) { return {true, {}, std::move(a)}; }
};

// ---------------------------------------------------------------------------
// Sequential assignments (EvalTask): variables x := v (a value) for the first
// floor(sqrt(n)), then x := f(y, z) of earlier variables, with f a random
// function on the 8 values given as facts. Question [C x] -> x's value.
class AssignmentsTask : public AmplifyTask {
 public:
  static constexpr int kValue0 = kTokLetter0 + kLetters;  // 8 value tokens
  static constexpr int kValues = 8;
  static constexpr int kA = kValue0 + kValues, kB = kA + 1, kC = kA + 2, kF = kA + 3, kPad = kA + 4;

  std::string name() const override { return "assignments"; }
  int vocab_size() const override { return kPad + 1; }
  int fact_length() const override { return 6; }
  int question_length() const override { return 3; }
  int answer_length() const override { return 2; }
  int max_subquestions() const override { return 5; }
  int SizeAt(int difficulty) const override { return std::min(difficulty + 8, kMaxElements); }

  AmplifyInstance MakeInstance(int size, Rng& rng) const override {
    AmplifyInstance inst;
    inst.size = size;
    const std::vector<int> vars = SampleElements(size, rng);
    const int bases = std::max(1, static_cast<int>(std::sqrt(static_cast<double>(size))));
    for (int i = 0; i < size; ++i) {
      Tokens fact;
      PushElement(fact, vars[static_cast<size_t>(i)]);
      if (i < bases) {
        fact.insert(fact.end(), {kValue0 + static_cast<int>(UniformInt(rng, kValues)), kPad, kPad, kPad});
      } else {
        PushElement(fact, vars[UniformInt(rng, static_cast<uint64_t>(i))]);
        PushElement(fact, vars[UniformInt(rng, static_cast<uint64_t>(i))]);
      }
      inst.facts.push_back(fact);
    }
    for (int a = 0; a < kValues; ++a)
      for (int b = 0; b < kValues; ++b)
        inst.facts.push_back({kF, kValue0 + a, kValue0 + b,
                              kValue0 + static_cast<int>(UniformInt(rng, kValues)), kPad, kPad});
    PartialShuffle(inst.facts, inst.facts.size(), rng);
    return inst;
  }

  std::vector<Tokens> MakeQuestions(const AmplifyInstance& inst, Rng&, int max_depth) const override {
    std::vector<Tokens> qs;
    for (const Tokens& fact : inst.facts) {
      if (fact[0] == kF) continue;
      Tokens q = VarQuestion(kC, ElementAt(fact, 0));
      if (max_depth >= kAnyDepth || Depth(inst, q) <= max_depth) qs.push_back(std::move(q));
    }
    return qs;
  }
  // A base variable's value is a lookup.
  int FirstCurriculumDepth() const override { return 0; }
  int LastCurriculumDepth() const override { return 4; }

  bool IsPrimitive(const Tokens& q) const override {
    if (q.size() != 3) return false;
    if (q[0] == kA || q[0] == kB) return ElementAt(q, 1) >= 0;
    return q[0] == kF && IsValue(q[1]) && IsValue(q[2]);
  }

  Tokens Lookup(const AmplifyInstance& inst, const Tokens& q) const override {
    if (!IsPrimitive(q)) return IdkAnswer();
    for (const Tokens& fact : inst.facts) {
      if (q[0] == kF) {
        if (fact[0] == kF && fact[1] == q[1] && fact[2] == q[2]) return {fact[3], kPad};
        continue;
      }
      if (fact[0] == kF || ElementAt(fact, 0) != ElementAt(q, 1)) continue;
      if (IsValue(fact[2])) return q[0] == kA ? Tokens{fact[2], kPad} : IdkAnswer();
      return q[0] == kA ? Tokens{fact[2], fact[3]} : Tokens{fact[4], fact[5]};
    }
    return IdkAnswer();
  }

  HStep Decompose(const Tokens& q, const std::vector<Tokens>& subs) const override {
    const int x = q.size() == 3 && q[0] == kC ? ElementAt(q, 1) : -1;
    if (x < 0) return Done(IdkAnswer());
    auto value = [](const Tokens& a) { return a.size() == 2 && IsValue(a[0]) ? a[0] : -1; };
    switch (subs.size()) {
      case 0: return Ask(VarQuestion(kA, x));
      case 1: {  // x's first operand, or its value
        if (value(subs[0]) >= 0) return Done({value(subs[0]), kPad});
        const int y = ElementAt(subs[0], 0);
        return y < 0 ? Done(IdkAnswer()) : Ask(VarQuestion(kC, y));
      }
      case 2:  // y's value a
        return value(subs[1]) < 0 ? Done(IdkAnswer()) : Ask(VarQuestion(kB, x));
      case 3: {  // the second operand z
        const int z = ElementAt(subs[2], 0);
        return z < 0 ? Done(IdkAnswer()) : Ask(VarQuestion(kC, z));
      }
      case 4:  // z's value b: ask f(a, b)
        return value(subs[3]) < 0 ? Done(IdkAnswer()) : Ask({kF, value(subs[1]), value(subs[3])});
      default:
        return Done(value(subs[4]) < 0 ? IdkAnswer() : Tokens{value(subs[4]), kPad});
    }
  }

  // The variable's depth in the assignment graph (a base value: 0).
  int Depth(const AmplifyInstance& inst, const Tokens& q) const override {
    std::map<int, const Tokens*> def;
    for (const Tokens& fact : inst.facts)
      if (fact[0] != kF) def[ElementAt(fact, 0)] = &fact;
    std::map<int, int> memo;
    std::function<int(int, int)> depth = [&](int v, int guard) -> int {
      auto it = def.find(v);
      if (it == def.end() || guard > kMaxElements) return 0;
      if (auto m = memo.find(v); m != memo.end()) return m->second;
      const Tokens& f = *it->second;
      const int d = IsValue(f[2]) ? 0
                                  : 1 + std::max(depth(ElementAt(f, 2), guard + 1),
                                                 depth(ElementAt(f, 4), guard + 1));
      return memo[v] = d;
    };
    return q.size() == 3 ? depth(ElementAt(q, 1), 0) : 0;
  }

  Tokens Corrupt(const Tokens& t, bool is_answer, Rng& rng) const override {
    if (is_answer) {
      if (t.size() == 2 && IsValue(t[0]))
        return {kValue0 + static_cast<int>((t[0] - kValue0 + 1 + UniformInt(rng, kValues - 1)) % kValues), kPad};
      Tokens a;
      PushElement(a, OtherElement(std::max(ElementAt(t, 0), 0), rng));
      return a;
    }
    if (t.size() == 3 && t[0] == kF)
      return {kF, kValue0 + static_cast<int>(UniformInt(rng, kValues)), t[2] == kPad ? kValue0 : t[2]};
    Tokens q{t.empty() ? kC : t[0]};
    PushElement(q, OtherElement(std::max(ElementAt(t, 1), 0), rng));
    return q;
  }

  std::string Describe(const Tokens& t) const override {
    if (t.size() == 2) {
      if (IsValue(t[0])) return std::to_string(t[0] - kValue0);
      return t[0] == kTokIdk ? "idk" : ElementName(ElementAt(t, 0));
    }
    if (t.size() == 3 && t[0] == kF)
      return "f(" + std::to_string(t[1] - kValue0) + "," + std::to_string(t[2] - kValue0) + ")";
    if (t.size() == 3) {
      const char* op = t[0] == kA ? "first operand of " : t[0] == kB ? "second operand of " : "value of ";
      return op + ElementName(ElementAt(t, 1));
    }
    return "?";
  }

  static bool IsValue(int t) { return t >= kValue0 && t < kValue0 + kValues; }
  static Tokens VarQuestion(int op, int v) {
    Tokens q{op};
    PushElement(q, v);
    return q;
  }

 private:
  static HStep Ask(Tokens q) { return {false, std::move(q), {}}; }
  static HStep Done(Tokens a) { return {true, {}, std::move(a)}; }
};

}  // namespace

std::unique_ptr<AmplifyTask> MakeAmplifyTask(const std::string& name) {
  if (name == "permutation") return std::make_unique<PermutationTask>();
  if (name == "assignments") return std::make_unique<AssignmentsTask>();
  return nullptr;
}

std::vector<std::string> AmplifyTaskNames() { return {"assignments", "permutation"}; }

HStep NoisyDecompose(const AmplifyTask& task, const Tokens& question,
                     const std::vector<Tokens>& subanswers, double p, Rng& rng) {
  HStep step = task.Decompose(question, subanswers);
  if (p <= 0 || UniformDouble(rng) >= p) return step;
  if (step.done)
    step.answer = task.Corrupt(step.answer, true, rng);
  else
    step.subquestion = task.Corrupt(step.subquestion, false, rng);
  return step;
}

}  // namespace oversight
