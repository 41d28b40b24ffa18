// Debaters on a tiny hand-made game whose optimal move is known.
#include <catch2/catch.hpp>

#include <algorithm>
#include <map>
#include <set>

#include "agents/agents.h"
#include "protocols/debate.h"

using namespace oversight;

namespace {

// Four nonzero pixels A..D, k = 2, honest first, precommit (truth 0, lie 1).
// The judge's honest margin per revealed set is a table: A alone looks best
// (+5) but the liar answers A with D and wins; only B wins against every reply.
constexpr int A = 100, B = 200, C = 300, D = 400;

float TableMargin(std::vector<int> set) {
  std::sort(set.begin(), set.end());
  static const std::map<std::vector<int>, float> table{
      {{}, 0},       {{A}, 5},      {{B}, -1},     {{C}, -2},     {{D}, -3},
      {{A, B}, 1},   {{A, C}, 1},   {{A, D}, -1},  {{B, C}, 1},   {{B, D}, 1},
      {{C, D}, -1}};
  return table.at(set);
}

Logits TableLogits(const std::vector<int>& set) {
  Logits l{};
  l[0] = TableMargin(set);
  return l;
}

class TableSession : public SparseJudgeSession {
 public:
  void Push(int p) override { stack_.push_back(p); }
  void Pop() override { stack_.pop_back(); }
  int Depth() const override { return static_cast<int>(stack_.size()); }
  Logits Current() override { return TableLogits(stack_); }
  void Children(const std::vector<int>& pixels, std::vector<Logits>* out) override {
    out->clear();
    for (int p : pixels) {
      auto s = stack_;
      s.push_back(p);
      out->push_back(TableLogits(s));
    }
  }

 private:
  std::vector<int> stack_;
};

class TableJudge : public SparseImageJudge {
 public:
  std::string name() const override { return "table"; }
  JudgeKind kind() const override { return JudgeKind::kOracle; }
  void Open(StageContext&) override {}
  void Logits(const std::vector<SparseQuery>& q, std::vector<oversight::Logits>* out) const override {
    out->clear();
    for (const auto& x : q) out->push_back(TableLogits(std::vector<int>(x.pixels, x.pixels + x.count)));
  }
  std::unique_ptr<SparseJudgeSession> NewSession(const uint8_t*) const override {
    return std::make_unique<TableSession>();
  }
};

std::unique_ptr<Agent> MakeAgent(const std::string& json_text) {
  Registries reg;
  RegisterAgents(reg);
  ConfigNode node(std::make_shared<nlohmann::json>(nlohmann::json::parse(json_text)), "test.json");
  auto agent = reg.agents.Create(node, "name");
  node.RejectUnknownKeys();
  return agent;
}

int FirstMove(const Agent& agent, uint64_t seed, PixelSetCache* cache = nullptr) {
  static std::vector<uint8_t> image = [] {
    std::vector<uint8_t> im(kImagePixels, 0);
    for (int p : {A, B, C, D}) im[p] = 255;
    return im;
  }();
  static const std::vector<int> nonzero{A, B, C, D};
  DebateGame game;
  game.pixels = 2;
  game.precommit = true;
  game.honest_first = true;
  game.truth = 0;
  game.lie = 1;
  DebatePosition pos;
  pos.game = &game;
  pos.image = image.data();
  pos.nonzero = &nonzero;
  pos.cache = cache;
  TableJudge judge;
  Rng rng(seed);
  return dynamic_cast<const PixelDebater&>(agent).ChooseMove(pos, judge, rng);
}

}  // namespace

TEST_CASE("MCTS finds the only winning first move; greedy takes the bait", "[mcts]") {
  const auto greedy = MakeAgent(R"({"name": "greedy"})");
  const auto mcts = MakeAgent(R"({"name": "mcts", "rollouts": 400})");
  for (uint64_t seed = 0; seed < 10; ++seed) {
    CHECK(FirstMove(*greedy, seed) == A);
    CHECK(FirstMove(*mcts, seed) == B);
  }
  // With the leaf value as the logit margin the answer is the same.
  const auto margin = MakeAgent(R"({"name": "mcts", "rollouts": 400, "leaf_value": "margin"})");
  CHECK(FirstMove(*margin, 1) == B);
  // Leaves judged in batches (virtual visits) find it too.
  const auto batched = MakeAgent(R"({"name": "mcts", "rollouts": 400, "evaluator": "batched", "batch": 16})");
  for (uint64_t seed = 0; seed < 10; ++seed) CHECK(FirstMove(*batched, seed) == B);
  // Same seed, same move: the search is a function of (position, rng).
  const auto again = MakeAgent(R"({"name": "mcts", "rollouts": 37})");
  CHECK(FirstMove(*again, 99) == FirstMove(*again, 99));
}

TEST_CASE("Without Q, visit counts ignore the judge", "[mcts]") {
  // Pure exploration spreads visits evenly; over seeds every move gets played.
  const auto no_q = MakeAgent(R"({"name": "mcts", "rollouts": 400, "q_in_selection": false})");
  std::set<int> moves;
  for (uint64_t seed = 0; seed < 40; ++seed) moves.insert(FirstMove(*no_q, seed));
  CHECK(moves.size() > 1);
}

TEST_CASE("Agent options are checked", "[mcts]") {
  CHECK_THROWS_WITH(MakeAgent(R"({"name": "mcts", "rollouts": 0})"),
                    Catch::Contains("rollouts: expected an integer in [1, 10000000], got 0"));
  CHECK_THROWS_WITH(MakeAgent(R"({"name": "mcts", "leaf_value": "win"})"),
                    Catch::Contains("leaf_value: expected one of \"binary\", \"margin\""));
  CHECK_THROWS_WITH(MakeAgent(R"({"name": "mcts", "evaluator": "batched", "batch": 0})"),
                    Catch::Contains("batch: expected an integer in [1, 65536], got 0"));
  CHECK_THROWS_WITH(MakeAgent(R"({"name": "mcts", "rolouts": 5})"),
                    Catch::Contains("rolouts: unknown key"));
  CHECK_THROWS_WITH(MakeAgent(R"({"name": "alphazero"})"),
                    Catch::Contains("unknown agent 'alphazero'; known: greedy, mcts, random"));
}

TEST_CASE("Pixel-set cache keys ignore order and tell sets apart", "[cache]") {
  const std::vector<int> abc{A, B, C}, cba{C, B, A};
  CHECK(PixelSetCache::Of(abc.data(), 3) == PixelSetCache::Of(cba.data(), 3));
  CHECK(PixelSetCache::Toggle(PixelSetCache::Toggle(PixelSetCache::Of(abc.data(), 3), D), D) ==
        PixelSetCache::Of(abc.data(), 3));
  // Every subset of 8 pixels has its own key.
  const int pixels[8] = {0, 1, 27, 28, 400, 401, 782, 783};
  std::set<std::pair<uint64_t, uint64_t>> keys;
  for (int mask = 0; mask < 256; ++mask) {
    PixelSetCache::Key k = PixelSetCache::Empty();
    for (int i = 0; i < 8; ++i)
      if (mask >> i & 1) k = PixelSetCache::Toggle(k, pixels[i]);
    keys.insert({k.a, k.b});
  }
  CHECK(keys.size() == 256);
  PixelSetCache cache;
  const Logits l = TableLogits({A, B});
  cache.Insert(PixelSetCache::Of(abc.data(), 2), l);
  const std::vector<int> ba{B, A};
  REQUIRE(cache.Find(PixelSetCache::Of(ba.data(), 2)) != nullptr);
  CHECK(*cache.Find(PixelSetCache::Of(ba.data(), 2)) == l);
  CHECK(cache.Find(PixelSetCache::Of(abc.data(), 3)) == nullptr);
  CHECK(cache.hits() == 2);
  CHECK(cache.misses() == 1);
}

TEST_CASE("Cached and uncached searches make the same moves", "[mcts][cache]") {
  const auto cached = MakeAgent(R"({"name": "mcts", "rollouts": 300})");
  const auto uncached = MakeAgent(R"({"name": "mcts", "rollouts": 300, "cache": false})");
  const auto forward = MakeAgent(R"({"name": "mcts", "rollouts": 300, "evaluator": "forward"})");
  PixelSetCache shared;  // as the debate protocol shares one per image
  for (uint64_t seed = 0; seed < 10; ++seed) {
    const int move = FirstMove(*uncached, seed);
    CHECK(FirstMove(*cached, seed) == move);
    CHECK(FirstMove(*forward, seed) == move);
    CHECK(FirstMove(*cached, seed, &shared) == move);  // warm after the first seed
  }
  // The shared cache was used: the table game has only 11 pixel sets.
  CHECK(shared.size() <= 11);
  CHECK(shared.hits() > 100);
}
