// Debate rules: turn order, legal moves, both decision rules.
#include <catch2/catch.hpp>

#include <set>

#include "protocols/debate.h"
#include "protocols/debate_log.h"
#include "test_util.h"

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

namespace oversight {
namespace {

// A logged precommit debate: honest claims 3, liar claims 5; honest first.
EpisodeRecord LoggedGame(int64_t experiment, int64_t idx, const std::string& instance,
                         bool honest_won, const std::vector<int>& pixels) {
  EpisodeRecord rec;
  rec.experiment_id = experiment;
  rec.stage = "debate";
  rec.idx = idx;
  rec.protocol = "debate";
  rec.task = "mnist";
  rec.instance = instance;
  rec.truth = "3";
  rec.outcome = honest_won ? "honest" : "liar";
  rec.correct = honest_won ? 1 : 0;
  rec.started_at = rec.finished_at = NowIso();
  auto turn = [&](int i, const char* role, const std::string& action) {
    TurnRecord t;
    t.idx = i;
    t.role = role;
    t.agent = "test";
    t.action = action;
    rec.turns.push_back(t);
  };
  turn(0, "honest", "{\"claim\":3}");
  turn(1, "liar", "{\"claim\":5}");
  for (size_t k = 0; k < pixels.size(); ++k)
    turn(static_cast<int>(k) + 2, k % 2 == 0 ? "honest" : "liar",
         "{\"pixel\":" + std::to_string(pixels[k]) + "}");
  return rec;
}

}  // namespace

TEST_CASE("Logged debates read back with claims and movers, and pair up by image, claims and order", "[debate][log]") {
  testing::TempDir dir("debate-log");
  auto store = Store::Open(dir / "runs.db");
  const int64_t exp = store->CreateExperiment("x", "{}", 1, "test");
  store->InsertEpisodes({
      LoggedGame(exp, 0, "test/7#first=honest,lie_index=4,seed=0", true, {10, 11}),
      LoggedGame(exp, 1, "test/7#first=honest,lie_index=4,seed=1", false, {12, 13}),
      LoggedGame(exp, 2, "test/7#first=honest,lie_index=4,seed=2", false, {14, 15}),
      LoggedGame(exp, 3, "test/8#first=honest,lie_index=4,seed=0", true, {10, 11}),  // no loss: no pair
      LoggedGame(exp, 4, "test/7#first=honest,lie_index=5,seed=0", true, {16, 17}),  // other claims
  });
  const std::vector<LoggedDebate> games = ReadLoggedDebates(*store, exp, "debate");
  REQUIRE(games.size() == 5);
  CHECK(games[1].source_index == 7);
  CHECK(games[1].split == "test");
  CHECK(games[1].game.truth == 3);
  CHECK(games[1].game.lie == 5);
  CHECK(games[1].game.precommit);
  CHECK(games[1].game.honest_first);
  CHECK(games[1].game.pixels == 2);
  CHECK(games[1].reveals == std::vector<int>{12, 13});
  CHECK(games[1].movers == std::vector<DebateRole>{DebateRole::kHonest, DebateRole::kLiar});
  CHECK_FALSE(games[1].honest_won);

  const auto honest = DebatePairs(games, DebateRole::kHonest, 0);
  REQUIRE(honest.size() == 2);  // game 0 over games 1 and 2
  CHECK(honest[0].chosen->idx == 0);
  CHECK(honest[0].rejected->idx == 1);
  CHECK(honest[1].rejected->idx == 2);
  const auto liar = DebatePairs(games, DebateRole::kLiar, 1);  // at most one per group
  REQUIRE(liar.size() == 1);
  CHECK(liar[0].chosen->idx == 1);
  CHECK(liar[0].rejected->idx == 0);

  // A turn that is neither a claim nor a pixel: an error naming the episode.
  EpisodeRecord bad = LoggedGame(exp, 9, "test/9#first=honest", true, {1, 2});
  bad.stage = "bad";
  bad.turns[3].action = "{\"pixle\":2}";
  store->InsertEpisodes({bad});
  CHECK_THROWS_WITH(ReadLoggedDebates(*store, exp, "bad"),
                    Catch::Contains("stage 'bad'") && Catch::Contains("neither a claim nor a pixel"));
  bad.stage = "bad2";
  bad.turns[3].action = "{\"pixel\":900}";
  store->InsertEpisodes({bad});
  CHECK_THROWS_WITH(ReadLoggedDebates(*store, exp, "bad2"), Catch::Contains("pixel 900 out of range"));
  std::string split;
  int index = -1;
  CHECK(ParseImageInstance("train/123#first=liar", &split, &index));
  CHECK(index == 123);
  CHECK_FALSE(ParseImageInstance("n8/x1", &split, &index));
  CHECK(ResolveExperimentRef(*store, "", 42, "w") == 42);
  CHECK_THROWS_WITH(ResolveExperimentRef(*store, "nope", 1, "cfg: stages[1].from_experiment"),
                    Catch::Contains("stages[1].from_experiment") && Catch::Contains("'nope'"));
}

}  // namespace oversight
