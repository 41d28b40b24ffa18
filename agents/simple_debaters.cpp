// Debaters without search:
//  - "random": a uniformly random legal reveal.
//  - "greedy": one ply; evaluates every legal reveal with the judge (one
//    Children() call of the position's shared session, which carries the
//    children of the previous position over; without one, a new session
//    for those the per-image cache does not hold) and plays the one that
//    most improves its own side's margin under the game's decision rule
//    (honest maximises DebateGame::HonestMargin, the liar minimises it);
//    ties broken at random.
#include "agents/agents.h"
#include "agents/pick.h"
#include "protocols/debate.h"

#include <algorithm>

namespace oversight {
namespace {

class RandomDebater : public PixelDebater {
 public:
  std::string name() const override { return "random"; }
  void Open(StageContext&) override {}
  int ChooseMove(const DebatePosition& pos, const SparseImageJudge&, Rng& rng) const override {
    const std::vector<int> moves = pos.LegalMoves();
    return moves[UniformInt(rng, moves.size())];
  }
};

class GreedyDebater : public PixelDebater {
 public:
  std::string name() const override { return "greedy"; }
  void Open(StageContext&) override {}
  int ChooseMove(const DebatePosition& pos, const SparseImageJudge& judge,
                 Rng& rng) const override {
    const std::vector<int> moves = pos.LegalMoves();
    const size_t n = moves.size();
    std::vector<Logits> logits(n);
    if (pos.session) {
      // All moves, the per-image cache aside: the session keeps the children
      // of this position and carries them to the next one, where a child
      // missing here would be a fresh (about 3x dearer) evaluation.
      pos.session->At(judge, pos.image, pos.revealed).Children(moves, &logits);
    } else {
      // Candidates the per-image cache does not know go to a new session in
      // one Children() call.
      const PixelSetCache::Key key =
          PixelSetCache::Of(pos.revealed.data(), static_cast<int>(pos.revealed.size()));
      std::vector<int> todo;
      std::vector<size_t> todo_at;
      for (size_t m = 0; m < n; ++m) {
        const Logits* hit =
            pos.cache ? pos.cache->Find(PixelSetCache::Toggle(key, moves[m])) : nullptr;
        if (hit) {
          logits[m] = *hit;
        } else {
          todo.push_back(moves[m]);
          todo_at.push_back(m);
        }
      }
      if (!todo.empty()) {
        auto session = judge.NewSession(pos.image);
        for (int p : pos.revealed) session->Push(p);
        std::vector<Logits> fresh;
        session->Children(todo, &fresh);
        for (size_t t = 0; t < todo.size(); ++t) {
          logits[todo_at[t]] = fresh[t];
          if (pos.cache) pos.cache->Insert(PixelSetCache::Toggle(key, todo[t]), fresh[t]);
        }
      }
    }
    const float sign = pos.ToMove() == DebateRole::kHonest ? 1.0f : -1.0f;
    std::vector<int> ties;
    return moves[ArgMaxRandomTie(
        static_cast<int>(n), [&](int m) { return sign * pos.game->HonestMargin(logits[m]); },
        &ties, rng)];
  }
};

}  // namespace

void RegisterMctsDebater(Registries& registries);

std::unique_ptr<PixelDebater> MakePixelDebater(const nlohmann::json& options,
                                               const std::string& where) {
  Registries reg;
  RegisterAgents(reg);
  return CreatePixelDebater(ConfigNode(std::make_shared<nlohmann::json>(options), where), reg);
}

void RegisterAgents(Registries& registries) {
  registries.agents.Add("random", [](const ConfigNode&) {
    return std::make_unique<RandomDebater>();
  });
  registries.agents.Add("greedy", [](const ConfigNode&) {
    return std::make_unique<GreedyDebater>();
  });
  RegisterMctsDebater(registries);
  RegisterRemoteModels(registries);
}

}  // namespace oversight
