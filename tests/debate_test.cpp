// Debate rules: turn order, legal moves, both decision rules.
#include <catch2/catch.hpp>

#include <set>

#include "protocols/debate.h"

using namespace oversight;

namespace {
Logits MakeLogits(std::initializer_list<float> v) {
  Logits l{};
  std::copy(v.begin(), v.end(), l.begin());
  return l;
}
}  // namespace

TEST_CASE("Debaters alternate, starting with the configured first mover", "[debate]") {
  DebateGame g;
  g.honest_first = true;
  CHECK(g.Mover(0) == DebateRole::kHonest);
  CHECK(g.Mover(1) == DebateRole::kLiar);
  CHECK(g.Mover(4) == DebateRole::kHonest);
  g.honest_first = false;
  CHECK(g.Mover(0) == DebateRole::kLiar);
  CHECK(g.Mover(5) == DebateRole::kHonest);
}

TEST_CASE("Legal moves are the unrevealed nonzero pixels; the game ends at k", "[debate]") {
  std::vector<uint8_t> image(kImagePixels, 0);
  for (int p : {10, 20, 30, 40}) image[p] = 200;
  const std::vector<int> nonzero = NonzeroPixels(image.data());
  REQUIRE(nonzero == std::vector<int>{10, 20, 30, 40});
  DebateGame g;
  g.pixels = 3;
  DebatePosition pos;
  pos.game = &g;
  pos.image = image.data();
  pos.nonzero = &nonzero;
  CHECK(pos.LegalMoves() == nonzero);
  pos.revealed = {30, 10};
  CHECK(pos.LegalMoves() == std::vector<int>{20, 40});
  CHECK_FALSE(pos.Terminal());
  pos.revealed.push_back(40);
  CHECK(pos.Terminal());
  // An image with fewer nonzero pixels than k ends when they run out.
  g.pixels = 6;
  pos.revealed = {10, 20, 30, 40};
  CHECK(pos.Terminal());
  CHECK(pos.Query().count == 4);
}

TEST_CASE("Precommit: the claimed label with the higher logit wins", "[debate]") {
  DebateGame g;
  g.precommit = true;
  g.truth = 3;
  g.lie = 5;
  // Label 7 has the highest logit but is nobody's claim: ignored.
  const Logits honest_ahead = MakeLogits({0, 0, 0, 2.0f, 0, 1.5f, 0, 9.0f, 0, 0});
  CHECK(g.HonestMargin(honest_ahead) == Approx(0.5f));
  CHECK(g.HonestWins(honest_ahead));
  CHECK(g.Decision(honest_ahead) == 3);
  const Logits liar_ahead = MakeLogits({0, 0, 0, 1.0f, 0, 1.5f, 0, 0, 0, 0});
  CHECK_FALSE(g.HonestWins(liar_ahead));
  CHECK(g.Decision(liar_ahead) == 5);
  const Logits tie = MakeLogits({0, 0, 0, 1.0f, 0, 1.0f, 0, 0, 0, 0});
  CHECK_FALSE(g.HonestWins(tie));  // a tie goes to the liar
}

TEST_CASE("No precommit: argmax over all labels, any wrong answer is a liar win", "[debate]") {
  DebateGame g;
  g.precommit = false;
  g.truth = 3;
  g.lie = -1;
  const Logits right = MakeLogits({0, 0, 0, 2.0f, 0, 1.5f, 0, 1.0f, 0, 0});
  CHECK(g.HonestWins(right));
  CHECK(g.HonestMargin(right) == Approx(0.5f));
  CHECK(g.Decision(right) == 3);
  const Logits other_label = MakeLogits({0, 0, 0, 2.0f, 0, 1.5f, 0, 2.5f, 0, 0});
  CHECK_FALSE(g.HonestWins(other_label));
  CHECK(g.Decision(other_label) == 7);
}

TEST_CASE("Consultancy: one player moves; the claim is accepted if its logit is the highest", "[debate]") {
  DebateGame g;
  g.consultancy = true;
  g.truth = 2;
  g.lie = 7;
  g.consultant = DebateRole::kLiar;
  CHECK(g.Mover(0) == DebateRole::kLiar);
  CHECK(g.Mover(1) == DebateRole::kLiar);
  CHECK(g.Claim() == 7);
  // The lie is the highest logit: accepted, the truth loses.
  Logits l = MakeLogits({0, 0, 3, 0, 0, 0, 0, 4, 0, 0});
  CHECK(g.Decision(l) == 1);
  CHECK_FALSE(g.HonestWins(l));
  CHECK(g.HonestMargin(l) == Approx(-1));
  // Another label (not the truth) beats the lie: rejected, the truth wins.
  l = MakeLogits({5, 0, 3, 0, 0, 0, 0, 4, 0, 0});
  CHECK(g.Decision(l) == 0);
  CHECK(g.HonestWins(l));
  // An honest consultant must top all nine others.
  g.consultant = DebateRole::kHonest;
  CHECK(g.Mover(3) == DebateRole::kHonest);
  CHECK(g.Claim() == 2);
  CHECK(g.Decision(l) == 0);
  CHECK_FALSE(g.HonestWins(l));
  l = MakeLogits({1, 0, 3, 0, 0, 0, 0, 2.5f, 0, 0});
  CHECK(g.Decision(l) == 1);
  CHECK(g.HonestMargin(l) == Approx(0.5));
}
