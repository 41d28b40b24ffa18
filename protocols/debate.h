// Sparse-pixel debate (Irving, Christiano, Amodei 2018): two debaters, one
// honest and one lying, alternately reveal nonzero pixels of an image the
// judge cannot see, until k pixels are shown; then the judge decides.
//
// Decision rules (DESIGN.md):
//  - precommit: each player states a label first (honest: the truth, liar: a
//    lie); the winner is the claimed label with the higher judge logit (the
//    other 8 are ignored; a tie goes to the liar).
//  - no precommit: the judge takes the argmax over all 10 labels; any wrong
//    answer is a liar win.
#pragma once

#include <vector>

#include "protocols/sparse_pixels.h"

namespace oversight {

enum class DebateRole { kHonest = 0, kLiar = 1 };
const char* DebateRoleName(DebateRole role);  // "honest" / "liar"

// The fixed facts of one game. Consultancy (the baseline) is the same game
// with one player: the consultant, honest (claiming the truth) or lying
// (claiming `lie`), makes every reveal; the judge accepts the claim if its
// logit is the highest of the 10. The honest margin is the claim's margin
// over the best other label when the consultant is honest, and minus that
// when it lies, so > 0 still means the judge sided with the truth (an honest
// claim accepted or a lie rejected; an exact tie goes against the truth, as
// in debate).
struct DebateGame {
  int pixels = 6;          // k: reveals in total
  bool precommit = true;   // labels stated first
  bool honest_first = true;
  int truth = 0;           // the honest claim
  int lie = -1;            // the liar's claim; -1 without precommit
  bool consultancy = false;
  DebateRole consultant = DebateRole::kHonest;  // consultancy only

  // Who reveals the t-th pixel (t = 0, 1, ...).
  DebateRole Mover(int t) const;
  // The honest player's margin under the decision rule: > 0 means honest
  // wins. precommit: logit[truth] - logit[lie]; no precommit:
  // logit[truth] - max over other labels.
  float HonestMargin(const Logits& logits) const;
  bool HonestWins(const Logits& logits) const { return HonestMargin(logits) > 0; }
  // The judge's decision as logged: the winning claim (precommit), the
  // argmax label (no precommit), or 1 / 0 for accepting / rejecting the
  // consultant's claim.
  int Decision(const Logits& logits) const;
  // The consultant's claim (consultancy).
  int Claim() const { return consultant == DebateRole::kHonest ? truth : lie; }
};

// What a debater keeps between its own moves in one game (e.g. its search
// tree). The protocol asks each debater for one at the start of a game and
// hands the mover's back with every position of that game.
class DebaterMemory {
 public:
  virtual ~DebaterMemory() = default;
};

// A consultancy in which the `consultant` reveals all `pixels` to support its
// claim, stated first (Gao et al.'s setup in this simulator: a policy
// explains an image): the truth for the honest consultant, `lie` for a lying
// one. The honest consultant's game has lie = -1 (no other claim).
DebateGame ConsultancyGame(int pixels, int truth, DebateRole consultant = DebateRole::kHonest,
                           int lie = -1);

// A judge session on one image that follows a sequence of revealed pixels,
// moved lazily by At(). MCTS keeps one per search. The debate protocol gives
// one to every position (DebatePosition::session), shared by the debaters of
// a game and, with its per-image state, by all games of the image: the
// judge's kernel session keeps the children of recent positions, so for a
// one-ply searcher the children of the next position (one pixel on) cost a
// fraction of fresh ones. Not thread-safe (one worker plays an image's
// games).
class SharedJudgeSession {
 public:
  // The session on `image` (made from `judge` on first use), moved to
  // `pixels`: pops to the common prefix, then pushes the rest.
  SparseJudgeSession& At(const SparseImageJudge& judge, const uint8_t* image,
                         const std::vector<int>& pixels);

 private:
  std::unique_ptr<SparseJudgeSession> session_;
  std::vector<int> revealed_;  // the session's pixels, in push order
};

// A position: the image (which debaters see), its legal reveals and what has
// been revealed so far, in order.
struct DebatePosition {
  const DebateGame* game = nullptr;
  const uint8_t* image = nullptr;
  const std::vector<int>* nonzero = nullptr;  // ascending
  std::vector<int> revealed;
  // Judge logits by pixel set, shared by the games of this image (the
  // debate protocol's per-image state), or nullptr. Debaters may read and
  // fill it; it holds logits of the judge they are given.
  PixelSetCache* cache = nullptr;
  // The mover's DebaterMemory for this game, or nullptr.
  DebaterMemory* memory = nullptr;
  // A session on `image` for one-ply searchers (see SharedJudgeSession), or
  // nullptr. The debate protocol always provides one.
  SharedJudgeSession* session = nullptr;

  bool Terminal() const;
  DebateRole ToMove() const { return game->Mover(static_cast<int>(revealed.size())); }
  // Nonzero pixels not yet revealed, ascending.
  std::vector<int> LegalMoves() const;
  SparseQuery Query() const {
    return {image, revealed.data(), static_cast<int>(revealed.size())};
  }
};

// A debater: chooses the next reveal for the player to move. Implementations
// (agents/) search against `judge` through SparseImageJudge::Logits only.
// Thread-safe: called concurrently for different games.
class PixelDebater : public Agent {
 public:
  // Memory for a new game; nullptr (the default) when the debater keeps none.
  virtual std::unique_ptr<DebaterMemory> NewGameMemory() const { return nullptr; }
  // REQUIRES: !pos.Terminal(). Returns one of pos.LegalMoves().
  virtual int ChooseMove(const DebatePosition& pos, const SparseImageJudge& judge,
                         Rng& rng) const = 0;
};

// The sparse-pixel debater `node` names ({"name": "mcts", "rollouts": 1000}),
// from `reg`'s agents; an unknown agent, one that cannot play this game or an
// unknown option is a ConfigNode error naming the path.
std::unique_ptr<PixelDebater> CreatePixelDebater(const ConfigNode& node, const Registries& reg);

void RegisterDebateProtocol(Registries& registries);

}  // namespace oversight
