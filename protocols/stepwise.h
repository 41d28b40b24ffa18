// Step-by-step modular arithmetic, the domain of process supervision (issue
// 7; Uesato et al. 2022 in a world the simulator can check exactly).
//
// A problem is a start value and `steps` operations, each "+ c" or "* c"
// modulo `modulus`. A solution writes one value per operation: the value
// after it. The last step is the final answer.
//
// A step is valid when it follows from the solution's own previous step (the
// start value for the first): an error is charged once, where it is made,
// not again at every later step it propagates to (Lightman et al.'s "first
// mistake" labelling). A solution's trace is wrong if any step is invalid.
//
// Why a right final answer through wrong steps is genuinely reachable here:
// multiplication by a non-unit modulo M (2, 4, 5, 6 or 8 modulo 10) is not
// one-to-one, so a wrong value before it can land on the right value after it
// (3 * 5 = 5 = 7 * 5 mod 10), and two errors can cancel (+1 then -1). An
// outcome-only reward cannot tell these solutions from right ones; a process
// reward can. Nothing else in the domain rewards the steps.
//
// Optionally (`aside_share` > 0), some operations are asides, "? + c": the
// step writes the running value plus c, but the running value does not
// change (a side computation the answer does not depend on, as many steps of
// a worked solution are). An aside step is valid when it is the last main
// value written (or the start) plus c. A wrong aside never reaches the final
// answer: an outcome reward leaves it entirely unconstrained. The last
// operation is never an aside.
#pragma once

#include <string>
#include <vector>

#include "engine/rng.h"

namespace oversight {

struct StepwiseOptions {
  int steps = 6;               // operations per problem
  int modulus = 10;            // values 0 .. modulus - 1
  double multiply_share = 0.5; // share of "* c" operations (c in 2 .. modulus - 1) among the main ones
  double aside_share = 0.0;    // share of "? + c" asides among operations 1 .. steps - 1
};

struct StepOp {
  bool multiply = false;
  int operand = 1;     // + c and ? + c: c in 1 .. modulus - 1; * c: c in 2 .. modulus - 1
  bool aside = false;  // "? + c": written, not carried (multiply is false)
};

struct StepwiseProblem {
  int modulus = 10;
  int start = 0;
  std::vector<StepOp> ops;
};

// Draws no more random numbers when aside_share is 0 than without asides.
StepwiseProblem MakeStepwiseProblem(const StepwiseOptions& options, Rng& rng);

// The value `op` writes after `value` (an aside's too: value + c).
int ApplyStep(const StepOp& op, int value, int modulus);

// The right value after every operation; the last is the answer.
std::vector<int> SolveSteps(const StepwiseProblem& problem);

struct StepCheck {
  std::vector<bool> valid;    // per operation: the written step follows from the one before
  bool final_correct = false; // the last step is the right answer
  bool trace_error = false;   // final_correct, and some step is invalid
  int first_error = -1;       // index of the first invalid step (or extra step), or -1
};

// Checks a written solution. A missing step (fewer values than operations)
// or a value outside 0 .. modulus - 1 is invalid; a solution with fewer or
// more steps than operations has no final answer (and more steps are an
// error at index ops.size()).
StepCheck CheckSteps(const StepwiseProblem& problem, const std::vector<int>& steps);

// Uesato et al.'s two metrics over a set of solutions.
struct TraceErrorStats {
  int solutions = 0;
  int final_correct = 0;
  int trace_errors = 0;  // final-answer-correct solutions with a wrong step
  void Add(const StepCheck& check);
  double FinalAnswerError() const;  // 1 - final_correct / solutions
  double TraceError() const;        // trace_errors / final_correct
};

// A noisy labeller's label: `label`, flipped with probability `flip`.
bool FlipLabel(bool label, double flip, Rng& rng);

// "3, +4, *5, ?+2, +2" and "7, 5, 7, 7".
std::string DescribeProblem(const StepwiseProblem& problem);
std::string OpSymbol(const StepOp& op);  // "+", "*" or "?+"
std::string DescribeSteps(const std::vector<int>& steps);

}  // namespace oversight
