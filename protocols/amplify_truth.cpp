#include "protocols/amplify_truth.h"

#include <atomic>
#include <functional>
#include <map>
#include <stdexcept>

namespace oversight {
namespace {

std::atomic<int64_t> g_calls{0};

// Permutation powering: apply sigma k times, reading sigma from the facts
// ([x sigma(x)]), independently of H's halving.
Tokens PermutationTruth(const AmplifyTask& task, const AmplifyInstance& inst, const Tokens& q) {
  std::map<std::pair<int, int>, std::pair<int, int>> sigma;
  for (const Tokens& f : inst.facts) sigma[{f[0], f[1]}] = {f[2], f[3]};
  int k = 0;
  for (size_t b = 2; b < q.size(); ++b) k = 2 * k + (q[b] == kTokOne);
  std::pair<int, int> x{q[0], q[1]};
  if (k > 0 && !sigma.count(x)) return task.IdkAnswer();
  for (int i = 0; i < k; ++i) x = sigma.at(x);
  return {x.first, x.second};
}

// Sequential assignments: evaluate the variable's definition.
Tokens AssignmentsTruth(const AmplifyTask& task, const AmplifyInstance& inst, const Tokens& q) {
  if (task.IsPrimitive(q)) return task.Lookup(inst, q);
  std::map<std::pair<int, int>, const Tokens*> def;
  std::map<std::pair<int, int>, int> f;
  const int kF = task.vocab_size() - 2;  // AssignmentsTask: ... F, PAD
  const int pad = task.vocab_size() - 1;
  for (const Tokens& fact : inst.facts) {
    if (fact[0] == kF)
      f[{fact[1], fact[2]}] = fact[3];
    else
      def[{fact[0], fact[1]}] = &fact;
  }
  std::map<std::pair<int, int>, int> memo;
  std::function<int(std::pair<int, int>)> value = [&](std::pair<int, int> v) -> int {
    if (auto m = memo.find(v); m != memo.end()) return m->second;
    const Tokens& d = *def.at(v);
    const int r = d[3] == pad ? d[2] : f.at({value({d[2], d[3]}), value({d[4], d[5]})});
    return memo[v] = r;
  };
  const std::pair<int, int> x{q[1], q[2]};
  if (!def.count(x)) return task.IdkAnswer();
  return {value(x), pad};
}

}  // namespace

Tokens GroundTruth(const AmplifyTask& task, const AmplifyInstance& instance, const Tokens& question) {
  ++g_calls;
  if (task.name() == "permutation") return PermutationTruth(task, instance, question);
  if (task.name() == "assignments") return AssignmentsTruth(task, instance, question);
  throw std::invalid_argument("GroundTruth: no ground truth for task '" + task.name() + "'");
}

int64_t GroundTruthCalls() { return g_calls.load(); }

}  // namespace oversight
