#include "protocols/stepwise.h"

#include <stdexcept>

namespace oversight {

StepwiseProblem MakeStepwiseProblem(const StepwiseOptions& o, Rng& rng) {
  if (o.steps < 1 || o.modulus < 3)
    throw std::invalid_argument("stepwise problem: steps must be >= 1 and modulus >= 3");
  StepwiseProblem p;
  p.modulus = o.modulus;
  p.start = static_cast<int>(UniformInt(rng, static_cast<uint64_t>(o.modulus)));
  for (int i = 0; i < o.steps; ++i) {
    StepOp op;
    op.aside = o.aside_share > 0 && i + 1 < o.steps && UniformDouble(rng) < o.aside_share;
    op.multiply = !op.aside && UniformDouble(rng) < o.multiply_share;
    op.operand = op.multiply ? 2 + static_cast<int>(UniformInt(rng, static_cast<uint64_t>(o.modulus - 2)))
                             : 1 + static_cast<int>(UniformInt(rng, static_cast<uint64_t>(o.modulus - 1)));
    p.ops.push_back(op);
  }
  return p;
}

int ApplyStep(const StepOp& op, int value, int modulus) {
  return op.multiply ? (value * op.operand) % modulus : (value + op.operand) % modulus;
}

std::vector<int> SolveSteps(const StepwiseProblem& p) {
  std::vector<int> out;
  int v = p.start;
  for (const StepOp& op : p.ops) {
    out.push_back(ApplyStep(op, v, p.modulus));
    if (!op.aside) v = out.back();
  }
  return out;
}

StepCheck CheckSteps(const StepwiseProblem& p, const std::vector<int>& steps) {
  StepCheck c;
  int prev = p.start;
  for (size_t i = 0; i < p.ops.size(); ++i) {
    bool ok = false;
    if (i < steps.size()) {
      const int v = steps[i];
      ok = v >= 0 && v < p.modulus && v == ApplyStep(p.ops[i], prev, p.modulus);
      if (!p.ops[i].aside) prev = v;
    }
    c.valid.push_back(ok);
    if (!ok && c.first_error < 0) c.first_error = static_cast<int>(i);
  }
  // Steps beyond the last operation are not part of a valid solution.
  if (steps.size() > p.ops.size() && c.first_error < 0) c.first_error = static_cast<int>(p.ops.size());
  c.final_correct = steps.size() == p.ops.size() && !p.ops.empty() && steps.back() == SolveSteps(p).back();
  c.trace_error = c.final_correct && c.first_error >= 0;
  return c;
}

void TraceErrorStats::Add(const StepCheck& c) {
  ++solutions;
  final_correct += c.final_correct;
  trace_errors += c.trace_error;
}

double TraceErrorStats::FinalAnswerError() const {
  return solutions > 0 ? 1.0 - static_cast<double>(final_correct) / solutions : 0.0;
}

double TraceErrorStats::TraceError() const {
  return final_correct > 0 ? static_cast<double>(trace_errors) / final_correct : 0.0;
}

std::string OpSymbol(const StepOp& op) { return op.aside ? "?+" : op.multiply ? "*" : "+"; }

std::string DescribeProblem(const StepwiseProblem& p) {
  std::string s = std::to_string(p.start);
  for (const StepOp& op : p.ops) s += ", " + OpSymbol(op) + std::to_string(op.operand);
  return s;
}

std::string DescribeSteps(const std::vector<int>& steps) {
  std::string s;
  for (size_t i = 0; i < steps.size(); ++i) s += (i ? ", " : "") + std::to_string(steps[i]);
  return s;
}

bool FlipLabel(bool label, double flip, Rng& rng) {
  return flip > 0 && UniformDouble(rng) < flip ? !label : label;
}

}  // namespace oversight
