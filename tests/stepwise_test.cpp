// The step-by-step arithmetic of process supervision (protocols/stepwise.h):
// the step checker, Uesato et al.'s trace error on hand-made solutions, and
// the property the domain exists for: a right final answer through a wrong
// step is reachable.
#include <catch2/catch.hpp>

#include "protocols/stepwise.h"

using namespace oversight;

namespace {

StepwiseProblem Hand() {  // 3, +1, *5, +2 (mod 10): 4, 0, 2
  StepwiseProblem p;
  p.modulus = 10;
  p.start = 3;
  p.ops = {{false, 1}, {true, 5}, {false, 2}};
  return p;
}

}  // namespace

TEST_CASE("Stepwise problems: operations, the right steps and their description", "[stepwise]") {
  const StepwiseProblem p = Hand();
  CHECK(SolveSteps(p) == std::vector<int>{4, 0, 2});
  CHECK(DescribeProblem(p) == "3, +1, *5, +2");
  CHECK(DescribeSteps({4, 0, 2}) == "4, 0, 2");
  CHECK(ApplyStep({true, 6}, 7, 10) == 2);
  CHECK(ApplyStep({false, 9}, 7, 10) == 6);

  StepwiseOptions o;
  o.steps = 8;
  o.modulus = 7;
  o.multiply_share = 0.25;
  Rng rng(5);
  int multiplies = 0, ops = 0;
  for (int i = 0; i < 500; ++i) {
    const StepwiseProblem r = MakeStepwiseProblem(o, rng);
    REQUIRE(r.ops.size() == 8);
    CHECK(r.start >= 0);
    CHECK(r.start < 7);
    for (const StepOp& op : r.ops) {
      ++ops;
      multiplies += op.multiply;
      CHECK(op.operand >= (op.multiply ? 2 : 1));
      CHECK(op.operand <= 6);
    }
    CHECK(CheckSteps(r, SolveSteps(r)).first_error == -1);
  }
  CHECK(static_cast<double>(multiplies) / ops == Approx(0.25).margin(0.03));
  o.modulus = 2;
  CHECK_THROWS_WITH(MakeStepwiseProblem(o, rng), Catch::Contains("modulus"));
}

TEST_CASE("The step checker charges an error where it is made, and trace error counts right answers through wrong steps", "[stepwise]") {
  const StepwiseProblem p = Hand();
  const StepCheck right = CheckSteps(p, {4, 0, 2});
  CHECK(right.valid == std::vector<bool>{true, true, true});
  CHECK(right.final_correct);
  CHECK_FALSE(right.trace_error);

  // 3 + 1 is not 6, but 6 * 5 = 0 (mod 10): the right answer through a wrong step.
  const StepCheck recovered = CheckSteps(p, {6, 0, 2});
  CHECK(recovered.valid == std::vector<bool>{false, true, true});
  CHECK(recovered.final_correct);
  CHECK(recovered.trace_error);
  CHECK(recovered.first_error == 0);

  // An error that propagates is charged once: 5 follows from 4? no; 7 = 5 + 2 follows from 5.
  const StepCheck wrong = CheckSteps(p, {4, 5, 7});
  CHECK(wrong.valid == std::vector<bool>{true, false, true});
  CHECK_FALSE(wrong.final_correct);
  CHECK_FALSE(wrong.trace_error);  // trace error is about right answers only

  // Malformed: missing, extra and out-of-range steps.
  CHECK(CheckSteps(p, {4, 0}).valid == std::vector<bool>{true, true, false});
  CHECK_FALSE(CheckSteps(p, {4, 0}).final_correct);
  const StepCheck extra = CheckSteps(p, {4, 0, 2, 2});
  CHECK_FALSE(extra.final_correct);
  CHECK(extra.first_error == 3);
  CHECK(CheckSteps(p, {4, 10, 2}).valid[1] == false);
  CHECK(CheckSteps(p, {-1, 0, 2}).first_error == 0);

  TraceErrorStats s;
  for (const auto& steps : std::vector<std::vector<int>>{{4, 0, 2}, {6, 0, 2}, {4, 5, 7}, {4, 0, 2}})
    s.Add(CheckSteps(p, steps));
  CHECK(s.solutions == 4);
  CHECK(s.final_correct == 3);
  CHECK(s.FinalAnswerError() == Approx(0.25));
  CHECK(s.TraceError() == Approx(1.0 / 3));
  CHECK(TraceErrorStats{}.TraceError() == 0);
}

// Every one-step error of random problems: the share that still ends on the
// right answer. Modulo 10 with multiplications it is far from zero (non-unit
// factors merge values); with additions only, or modulo a prime, a single
// wrong step can never be recovered (every operation is one-to-one).
TEST_CASE("A right final answer through a wrong step is reachable exactly when some operation is not one-to-one", "[stepwise]") {
  auto recovered_share = [](StepwiseOptions o) {
    Rng rng(9);
    int64_t tried = 0, recovered = 0;
    for (int i = 0; i < 300; ++i) {
      const StepwiseProblem p = MakeStepwiseProblem(o, rng);
      const std::vector<int> truth = SolveSteps(p);
      for (size_t k = 0; k + 1 < truth.size(); ++k)
        for (int wrong = 0; wrong < o.modulus; ++wrong) {
          if (wrong == truth[k]) continue;
          // Step k wrong, every later step valid from it.
          std::vector<int> steps(truth.begin(), truth.begin() + static_cast<long>(k));
          steps.push_back(wrong);
          for (size_t j = k + 1; j < truth.size(); ++j) steps.push_back(ApplyStep(p.ops[j], steps.back(), p.modulus));
          const StepCheck c = CheckSteps(p, steps);
          REQUIRE(c.first_error == static_cast<int>(k));
          ++tried;
          recovered += c.trace_error;
        }
    }
    return static_cast<double>(recovered) / tried;
  };
  StepwiseOptions o;
  const double mod10 = recovered_share(o);
  INFO("modulo 10, half multiplications: " << mod10);
  CHECK(mod10 > 0.1);  // 16% measured
  o.modulus = 11;
  CHECK(recovered_share(o) == 0.0);
  o.modulus = 10;
  o.multiply_share = 0.0;
  CHECK(recovered_share(o) == 0.0);
}

TEST_CASE("A noisy labeller flips labels at the requested rate and never without noise", "[stepwise]") {
  Rng rng(4);
  int flipped = 0;
  for (int i = 0; i < 20000; ++i) flipped += FlipLabel(i % 2 == 0, 0.27, rng) != (i % 2 == 0);
  CHECK(flipped / 20000.0 == Approx(0.27).margin(0.01));
  for (int i = 0; i < 1000; ++i) {
    REQUIRE(FlipLabel(true, 0.0, rng));
    REQUIRE_FALSE(FlipLabel(true, 1.0, rng));
    REQUIRE_FALSE(FlipLabel(false, 0.0, rng));
  }
}

// Asides ("? + c"): written from the running value, never carried into it.
TEST_CASE("An aside step is checked but never reaches the answer, so a wrong one is always a free error", "[stepwise]") {
  StepwiseProblem p = Hand();  // 3, +1, ?+5, *5, +2: 4, 9, 0, 2
  p.ops.insert(p.ops.begin() + 1, StepOp{false, 5, true});
  CHECK(DescribeProblem(p) == "3, +1, ?+5, *5, +2");
  CHECK(SolveSteps(p) == std::vector<int>{4, 9, 0, 2});
  CHECK(CheckSteps(p, {4, 9, 0, 2}).first_error == -1);
  // A wrong aside is charged where it is made; the steps after it are
  // checked against the running value 4, so they stay valid.
  const StepCheck aside_wrong = CheckSteps(p, {4, 1, 0, 2});
  CHECK(aside_wrong.valid == std::vector<bool>{true, false, true, true});
  CHECK(aside_wrong.final_correct);
  CHECK(aside_wrong.trace_error);
  // Carrying the aside (9 * 5 = 5) is an error at the multiplication.
  CHECK(CheckSteps(p, {4, 9, 5, 7}).first_error == 2);

  StepwiseOptions o;
  o.aside_share = 0.4;
  Rng rng(8);
  int asides = 0, ops = 0;
  for (int i = 0; i < 1000; ++i) {
    const StepwiseProblem r = MakeStepwiseProblem(o, rng);
    CHECK_FALSE(r.ops.back().aside);
    const std::vector<int> truth = SolveSteps(r);
    for (size_t k = 0; k + 1 < r.ops.size(); ++k) {
      ++ops;
      if (!r.ops[k].aside) continue;
      ++asides;
      CHECK_FALSE(r.ops[k].multiply);
      std::vector<int> wrong = truth;
      wrong[k] = (wrong[k] + 1) % r.modulus;
      const StepCheck c = CheckSteps(r, wrong);
      REQUIRE(c.first_error == static_cast<int>(k));
      REQUIRE(c.trace_error);  // every wrong aside keeps the right answer
    }
  }
  CHECK(static_cast<double>(asides) / ops == Approx(0.4).margin(0.03));
}
