// Debater "mcts": PUCT search as in Irving et al. 2018. Each of `rollouts`
// rollouts descends the tree from the current position, choosing at every
// node the child with the highest
//     score = Q + U,   U = c_puct * P * sqrt(N_parent) / (1 + N_child),
// with P = 1 / #legal moves, Q the child's mean value from the mover's point
// of view (0 when unvisited), and random tie-breaks; it then evaluates the
// first new node (or the terminal node it reached) with the judge and backs
// the value up. The move played is the most-visited child (random
// tie-breaks).
//
// The paper leaves two choices open; both are options:
//  - q_in_selection (default true): whether Q is added to U. The paper's
//    formula shows only U, but without Q the visit counts ignore the judge
//    entirely (pure exploration), so we default to the usual PUCT.
//  - leaf_value (default "binary"): a leaf's value is +1 / -1 for an honest /
//    liar win under the game's decision rule applied to the judge's logits at
//    that node, or "margin": the honest margin in logits itself.
// Speed. Judge evaluations go through one incremental SparseJudgeSession per
// search (exact, judges/sparse_kernel.h), moved lazily: a rollout only
// records its path, and on a cache miss the session pops back to the common
// prefix with the previous evaluation and pushes the rest. Logits are cached
// by unordered pixel set, in the per-image cache the debate protocol shares
// between all games of an image (DebatePosition::cache) or, without one, in
// a cache of this search; a node also keeps its own value, so revisiting a
// terminal node costs nothing. evaluator "forward" replaces the session by
// one plain judge call per leaf (the benchmark's baseline).
#include <algorithm>
#include <cmath>
#include <limits>

#include "agents/agents.h"
#include "protocols/debate.h"

namespace oversight {
namespace {

struct MctsOptions {
  int rollouts = 1000;          // per move; the paper's 10,000
  double c_puct = 1.0;          // the paper's c
  bool q_in_selection = true;   // see the file comment
  std::string leaf_value = "binary";  // "binary" or "margin"
  // How leaves reach the judge: "session" (incremental, exact) or "forward"
  // (one plain Logits() call per leaf: the baseline the benchmark compares).
  std::string evaluator = "session";
  bool cache = true;  // reuse logits of a pixel set already evaluated
};

struct Node {
  int move = -1;          // pixel revealed to reach this node
  int first_child = -1;   // children are contiguous; -1: not expanded
  int num_children = 0;
  int visits = 0;
  double value_sum = 0;   // from the honest player's point of view
  bool evaluated = false; // `value` holds the judge's verdict here
  double value = 0;
};

class MctsDebater : public PixelDebater {
 public:
  explicit MctsDebater(MctsOptions o) : o_(std::move(o)) {}
  std::string name() const override { return "mcts"; }
  void Open(StageContext&) override {}

  int ChooseMove(const DebatePosition& pos, const SparseImageJudge& judge,
                 Rng& rng) const override {
    Search search(o_, pos, judge, rng);
    return search.Run();
  }

 private:
  class Search {
   public:
    Search(const MctsOptions& o, const DebatePosition& pos, const SparseImageJudge& judge,
           Rng& rng)
        : o_(o), pos_(pos), cur_(pos), judge_(judge), rng_(rng) {
      cache_ = o.cache ? (pos.cache ? pos.cache : &own_cache_) : nullptr;
      root_key_ = PixelSetCache::Of(pos.revealed.data(), static_cast<int>(pos.revealed.size()));
      nodes_.reserve(static_cast<size_t>(o.rollouts) * 2 + 256);
      nodes_.push_back(Node{});
    }

    int Run() {
      for (int r = 0; r < o_.rollouts; ++r) Rollout();
      const Node& root = nodes_[0];
      int best_visits = -1;
      std::vector<int> best;
      for (int c = root.first_child; c < root.first_child + root.num_children; ++c) {
        if (nodes_[c].visits > best_visits) {
          best_visits = nodes_[c].visits;
          best.assign(1, nodes_[c].move);
        } else if (nodes_[c].visits == best_visits) {
          best.push_back(nodes_[c].move);
        }
      }
      return best[UniformInt(rng_, best.size())];
    }

   private:
    void Expand(int n) {
      const std::vector<int> moves = cur_.LegalMoves();
      nodes_[n].first_child = static_cast<int>(nodes_.size());
      nodes_[n].num_children = static_cast<int>(moves.size());
      for (int m : moves) {
        Node child;
        child.move = m;
        nodes_.push_back(child);
      }
    }

    int Select(int n) {
      const Node& node = nodes_[n];
      const double sign = cur_.ToMove() == DebateRole::kHonest ? 1.0 : -1.0;
      const double prior = 1.0 / node.num_children;
      const double sqrt_n = std::sqrt(static_cast<double>(std::max(node.visits, 1)));
      double best = -std::numeric_limits<double>::infinity();
      ties_.clear();
      for (int c = node.first_child; c < node.first_child + node.num_children; ++c) {
        const Node& child = nodes_[c];
        double score = o_.c_puct * prior * sqrt_n / (1.0 + child.visits);
        if (o_.q_in_selection && child.visits > 0) score += sign * child.value_sum / child.visits;
        if (score > best) {
          best = score;
          ties_.assign(1, c);
        } else if (score == best) {
          ties_.push_back(c);
        }
      }
      return ties_[UniformInt(rng_, ties_.size())];
    }

    // The judge's logits for cur_ (whose set has key `key`).
    Logits JudgeLogits(const PixelSetCache::Key& key) {
      if (cache_) {
        if (const Logits* hit = cache_->Find(key)) return *hit;
      }
      Logits logits;
      if (o_.evaluator == "session") {
        SyncSession();
        logits = session_->Current();
      } else {
        std::vector<Logits> out;
        judge_.Logits({cur_.Query()}, &out);
        logits = out[0];
      }
      if (cache_) cache_->Insert(key, logits);
      return logits;
    }

    // Moves the session to cur_: pops back to the longest common prefix of
    // what it holds and cur_'s path, then pushes the rest.
    void SyncSession() {
      if (!session_) {
        session_ = judge_.NewSession(pos_.image);
        for (int p : pos_.revealed) session_->Push(p);
      }
      const size_t base = pos_.revealed.size();
      const size_t depth = cur_.revealed.size() - base;
      size_t common = 0;
      while (common < synced_.size() && common < depth &&
             synced_[common] == cur_.revealed[base + common])
        ++common;
      while (synced_.size() > common) {
        session_->Pop();
        synced_.pop_back();
      }
      for (size_t i = common; i < depth; ++i) {
        session_->Push(cur_.revealed[base + i]);
        synced_.push_back(cur_.revealed[base + i]);
      }
    }

    double LeafValue(const PixelSetCache::Key& key) {
      const float margin = pos_.game->HonestMargin(JudgeLogits(key));
      if (o_.leaf_value == "margin") return margin;
      return margin > 0 ? 1.0 : -1.0;
    }

    void Rollout() {
      int n = 0;
      path_nodes_.assign(1, 0);
      PixelSetCache::Key key = root_key_;
      while (!cur_.Terminal()) {
        if (nodes_[n].first_child < 0) {
          if (n != 0 && nodes_[n].visits == 0) break;  // a new leaf: evaluate it
          Expand(n);
        }
        n = Select(n);
        path_nodes_.push_back(n);
        cur_.revealed.push_back(nodes_[n].move);
        key = PixelSetCache::Toggle(key, nodes_[n].move);
      }
      Node& leaf = nodes_[n];
      if (!leaf.evaluated) {
        leaf.value = LeafValue(key);
        leaf.evaluated = true;
      }
      const double value = leaf.value;
      for (int id : path_nodes_) {
        nodes_[id].visits += 1;
        nodes_[id].value_sum += value;
      }
      cur_.revealed.resize(pos_.revealed.size());
    }

    const MctsOptions& o_;
    const DebatePosition& pos_;
    // The position at the tip of the current rollout: pos_ plus the pixels
    // revealed on the way down.
    DebatePosition cur_;
    const SparseImageJudge& judge_;
    Rng& rng_;
    PixelSetCache own_cache_;            // when the game brings none
    PixelSetCache* cache_ = nullptr;     // null: no caching
    PixelSetCache::Key root_key_;
    std::unique_ptr<SparseJudgeSession> session_;  // created on the first miss
    std::vector<int> synced_;            // pixels the session holds beyond pos_
    std::vector<Node> nodes_;
    std::vector<int> path_nodes_;
    std::vector<int> ties_;
  };

  MctsOptions o_;
};

}  // namespace

void RegisterMctsDebater(Registries& registries) {
  registries.agents.Add("mcts", [](const ConfigNode& node) {
    MctsOptions o;
    o.rollouts = static_cast<int>(node.Int("rollouts", o.rollouts, 1, 10000000));
    o.c_puct = node.Number("c_puct", o.c_puct, 0.0, 1e6);
    o.q_in_selection = node.Bool("q_in_selection", o.q_in_selection);
    o.leaf_value = node.Enum("leaf_value", o.leaf_value, {"binary", "margin"});
    o.evaluator = node.Enum("evaluator", o.evaluator, {"session", "forward"});
    o.cache = node.Bool("cache", o.cache);
    return std::make_unique<MctsDebater>(o);
  });
}

}  // namespace oversight
