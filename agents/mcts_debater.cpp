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
// reuse_tree (default false, as in the paper): keep the subtree below the
// moves played since this player's previous search, with its statistics, and
// add `rollouts` new rollouts to it.
//
// Speed. Judge evaluations go through one incremental SparseJudgeSession per
// search (exact, judges/sparse_kernel.h), moved lazily: a rollout only
// records its path, and on a cache miss the session pops back to the common
// prefix with the previous evaluation and pushes the rest. Logits are cached
// by unordered pixel set, in the per-image cache the debate protocol shares
// between all games of an image (DebatePosition::cache) or, without one, in
// a cache of this search; a node also keeps its own value, so revisiting a
// terminal node costs nothing. evaluator "forward" replaces the session by
// one plain judge call per leaf (the benchmark's baseline); "batched" gathers
// `batch` leaves with virtual visits and judges them in one call (a CUDA
// judge's route; on this CPU the exact session is faster:
// experiments/results/debate_speed.md). Virtual visits change the search a
// little, so "batched" does not make the same moves as the others.
#include <algorithm>
#include <cmath>

#include "agents/agents.h"
#include "agents/pick.h"
#include "protocols/debate.h"

namespace oversight {
namespace {

struct MctsOptions {
  int rollouts = 1000;          // per move; the paper's 10,000
  double c_puct = 1.0;          // the paper's c
  bool q_in_selection = true;   // see the file comment
  std::string leaf_value = "binary";  // "binary" or "margin"
  // How leaves reach the judge: "session" (incremental, exact), "forward"
  // (one plain Logits() call per leaf: the benchmark's baseline) or
  // "batched" (`batch` leaves per Logits() call, gathered with virtual
  // visits: the route for a CUDA judge, where a batch costs about as much as
  // one query).
  std::string evaluator = "session";
  int batch = 64;  // leaves per judge call with evaluator "batched"
  // Keep the subtree below the moves played since this player's previous
  // search of the game, statistics included, and add `rollouts` new
  // rollouts to it (default false: a fresh tree per move, as in the paper).
  bool reuse_tree = false;
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

// A player's tree between its moves (reuse_tree): nodes_[0] is the position
// after `revealed`.
struct TreeMemory : DebaterMemory {
  std::vector<Node> nodes;
  std::vector<int> revealed;
};

// The subtree of `nodes` rooted at `root`, re-indexed with its root at 0 and
// every node's children still contiguous.
std::vector<Node> Subtree(const std::vector<Node>& nodes, int root) {
  std::vector<Node> out{nodes[root]};
  std::vector<int> from{root};  // out[i] is nodes[from[i]]
  for (size_t i = 0; i < out.size(); ++i) {
    const Node& old = nodes[from[i]];
    if (old.first_child < 0) continue;
    out[i].first_child = static_cast<int>(out.size());
    for (int c = old.first_child; c < old.first_child + old.num_children; ++c) {
      out.push_back(nodes[c]);
      from.push_back(c);
    }
  }
  return out;
}

class MctsDebater : public PixelDebater {
 public:
  explicit MctsDebater(MctsOptions o) : o_(std::move(o)) {}
  std::string name() const override { return "mcts"; }
  void Open(StageContext&) override {}

  std::unique_ptr<DebaterMemory> NewGameMemory() const override {
    if (!o_.reuse_tree) return nullptr;
    return std::make_unique<TreeMemory>();
  }

  int ChooseMove(const DebatePosition& pos, const SparseImageJudge& judge,
                 Rng& rng) const override {
    TreeMemory* memory = o_.reuse_tree ? dynamic_cast<TreeMemory*>(pos.memory) : nullptr;
    Search search(o_, pos, judge, rng, memory ? Reusable(*memory, pos) : std::vector<Node>{});
    const int move = search.Run();
    if (memory) {
      memory->nodes = search.TakeNodes();
      memory->revealed = pos.revealed;
    }
    return move;
  }

 private:
  class Search {
   public:
    // `tree`: a reused tree rooted at `pos`, or empty.
    Search(const MctsOptions& o, const DebatePosition& pos, const SparseImageJudge& judge,
           Rng& rng, std::vector<Node> tree)
        : o_(o), pos_(pos), cur_(pos), judge_(judge), rng_(rng), nodes_(std::move(tree)) {
      cache_ = o.cache ? (pos.cache ? pos.cache : &own_cache_) : nullptr;
      root_key_ = PixelSetCache::Of(pos.revealed.data(), static_cast<int>(pos.revealed.size()));
      nodes_.reserve(nodes_.size() + static_cast<size_t>(o.rollouts) * 2 + 256);
      if (nodes_.empty()) nodes_.push_back(Node{});
    }

    std::vector<Node> TakeNodes() { return std::move(nodes_); }

    int Run() {
      if (o_.evaluator == "batched") {
        for (int r = 0; r < o_.rollouts; r += o_.batch) Wave(std::min(o_.batch, o_.rollouts - r));
      } else {
        for (int r = 0; r < o_.rollouts; ++r) Rollout();
      }
      const Node& root = nodes_[0];
      const int c = ArgMaxRandomTie(
          root.num_children, [&](int i) { return nodes_[root.first_child + i].visits; }, &ties_,
          rng_);
      return nodes_[root.first_child + c].move;
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
      auto score = [&](int i) {
        const Node& child = nodes_[node.first_child + i];
        double s = o_.c_puct * prior * sqrt_n / (1.0 + child.visits);
        if (o_.q_in_selection && child.visits > 0) s += sign * child.value_sum / child.visits;
        return s;
      };
      return node.first_child + ArgMaxRandomTie(node.num_children, score, &ties_, rng_);
    }

    // The judge's logits for cur_ (whose set has key `key`).
    Logits JudgeLogits(const PixelSetCache::Key& key) {
      if (cache_) {
        if (const Logits* hit = cache_->Find(key)) return *hit;
      }
      Logits logits;
      if (o_.evaluator == "session") {
        // Moves to cur_ by popping to the common prefix, then pushing.
        logits = session_.At(judge_, pos_.image, cur_.revealed).Current();
      } else {
        std::vector<Logits> out;
        judge_.Logits({cur_.Query()}, &out);
        logits = out[0];
      }
      if (cache_) cache_->Insert(key, logits);
      return logits;
    }

    double LeafValue(const Logits& logits) const {
      const float margin = pos_.game->HonestMargin(logits);
      if (o_.leaf_value == "margin") return margin;
      return margin > 0 ? 1.0 : -1.0;
    }

    // Descends from the root to a new leaf or a terminal node, leaving cur_
    // at it; returns its key. path_nodes_ lists the nodes from the root.
    PixelSetCache::Key Descend() {
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
      return key;
    }

    void Rollout() {
      const PixelSetCache::Key key = Descend();
      Node& leaf = nodes_[path_nodes_.back()];
      if (!leaf.evaluated) {
        leaf.value = LeafValue(JudgeLogits(key));
        leaf.evaluated = true;
      }
      const double value = leaf.value;
      for (int id : path_nodes_) {
        nodes_[id].visits += 1;
        nodes_[id].value_sum += value;
      }
      cur_.revealed.resize(pos_.revealed.size());
    }

    // `count` rollouts whose leaves are judged in one Logits() call. Each
    // descent adds a virtual visit (value 0) along its path at once, so the
    // next descents of the wave spread out; the values are added after the
    // call. A leaf reached twice in a wave is judged once.
    void Wave(int count) {
      paths_.clear();
      std::vector<SparseQuery> queries;
      std::vector<int> query_node;
      std::vector<PixelSetCache::Key> query_key;
      std::vector<std::vector<int>> query_pixels;
      for (int r = 0; r < count; ++r) {
        const PixelSetCache::Key key = Descend();
        for (int id : path_nodes_) nodes_[id].visits += 1;
        paths_.push_back(path_nodes_);
        const int leaf = path_nodes_.back();
        Node& node = nodes_[leaf];
        if (!node.evaluated &&
            std::find(query_node.begin(), query_node.end(), leaf) == query_node.end()) {
          const Logits* hit = cache_ ? cache_->Find(key) : nullptr;
          if (hit) {
            node.value = LeafValue(*hit);
            node.evaluated = true;
          } else {
            query_node.push_back(leaf);
            query_key.push_back(key);
            query_pixels.push_back(cur_.revealed);
          }
        }
        cur_.revealed.resize(pos_.revealed.size());
      }
      for (const std::vector<int>& px : query_pixels)
        queries.push_back({pos_.image, px.data(), static_cast<int>(px.size())});
      std::vector<Logits> out;
      if (!queries.empty()) judge_.Logits(queries, &out);
      for (size_t q = 0; q < out.size(); ++q) {
        if (cache_) cache_->Insert(query_key[q], out[q]);
        nodes_[query_node[q]].value = LeafValue(out[q]);
        nodes_[query_node[q]].evaluated = true;
      }
      for (const std::vector<int>& path : paths_) {
        const double value = nodes_[path.back()].value;
        for (int id : path) nodes_[id].value_sum += value;
      }
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
    SharedJudgeSession session_;  // the session, created on the first miss
    std::vector<Node> nodes_;
    std::vector<int> path_nodes_;
    std::vector<std::vector<int>> paths_;  // of one wave
    std::vector<int> ties_;
  };

  // The part of memory's tree below `pos` (empty if `pos` is not in it).
  static std::vector<Node> Reusable(const TreeMemory& memory, const DebatePosition& pos) {
    const size_t base = memory.revealed.size();
    if (memory.nodes.empty() || pos.revealed.size() < base ||
        !std::equal(memory.revealed.begin(), memory.revealed.end(), pos.revealed.begin()))
      return {};
    int n = 0;
    for (size_t i = base; i < pos.revealed.size(); ++i) {
      const Node& node = memory.nodes[n];
      int next = -1;
      for (int c = node.first_child; c >= 0 && c < node.first_child + node.num_children; ++c)
        if (memory.nodes[c].move == pos.revealed[i]) next = c;
      if (next < 0) return {};
      n = next;
    }
    std::vector<Node> tree = Subtree(memory.nodes, n);
    tree[0].move = -1;
    return tree;
  }

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
    o.evaluator = node.Enum("evaluator", o.evaluator, {"session", "forward", "batched"});
    o.batch = static_cast<int>(node.Int("batch", o.batch, 1, 65536));
    o.cache = node.Bool("cache", o.cache);
    o.reuse_tree = node.Bool("reuse_tree", o.reuse_tree);
    return std::make_unique<MctsDebater>(o);
  });
}

}  // namespace oversight
