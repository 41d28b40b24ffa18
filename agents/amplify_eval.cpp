#include "agents/amplify_eval.h"

#include "protocols/amplify_truth.h"

namespace oversight {

AmplifyAccuracy TeacherAccuracy(IdaTrainer& ida, const AmplifyTask& task, int size, int instances,
                                Rng& rng) {
  std::vector<AmplifyInstance> inst(static_cast<size_t>(instances));
  std::vector<const AmplifyInstance*> ptrs;
  std::vector<std::vector<Tokens>> qs;
  for (AmplifyInstance& i : inst) {
    i = task.MakeInstance(size, rng);
    ptrs.push_back(&i);
    qs.push_back(task.MakeQuestions(i, rng));
  }
  const auto answers = ida.Answer(ida.teacher(), ptrs, qs);
  std::map<int, std::pair<double, double>> by_depth;  // depth -> (right, total)
  double right = 0, total = 0;
  for (size_t i = 0; i < inst.size(); ++i)
    for (size_t j = 0; j < qs[i].size(); ++j) {
      const bool ok = answers[i][j] == GroundTruth(task, inst[i], qs[i][j]);
      auto& d = by_depth[task.Depth(inst[i], qs[i][j])];
      d.first += ok;
      d.second += 1;
      right += ok;
      total += 1;
    }
  AmplifyAccuracy a;
  a.overall = total > 0 ? right / total : 0;
  a.questions = static_cast<int>(total);
  for (const auto& [depth, rt] : by_depth) a.by_depth[depth] = rt.first / rt.second;
  return a;
}

}  // namespace oversight
