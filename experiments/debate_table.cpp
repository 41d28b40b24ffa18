// Irving et al. 2018, Table 2, from the logs (see commands.h,
// DebateTableMarkdown). Everything comes from the episodes of one experiment:
//  - a debate stage's k is its games' reveal count (the largest; a game ends
//    early only on an image with fewer nonzero pixels), precommit is whether
//    its judgements name claims;
//  - the image is the instance id before '#', the first mover, lie index and
//    seed come from the variant suffix (debate.cpp), the lie itself from the
//    judgement's claims;
//  - judge alone: the direct stages with the same k, on the same images.
#include <sqlite3.h>

#include <algorithm>
#include <map>
#include <nlohmann/json.hpp>
#include <set>
#include <sstream>
#include <string>
#include <vector>

#include "engine/stats.h"
#include "experiments/commands.h"
#include "experiments/report_sql.h"

namespace oversight {
namespace {

// DESIGN.md: the paper's MNIST figures by (pixels, first mover, column).
struct PaperRow {
  int pixels;
  const char* first;
  const char* judge_alone;
  const char* no_precommit;
  const char* precommit;
};
constexpr PaperRow kPaper[] = {
    {4, "honest", "48.2%", "51.0%", "83.8%"}, {4, "liar", "", "68.4%", "86.7%"},
    {4, "mean", "", "59.7%", "85.2%"},        {6, "honest", "59.4%", "67.4%", "87.4%"},
    {6, "liar", "", "81.5%", "90.4%"},        {6, "mean", "", "74.4%", "88.9%"},
};

struct Game {
  std::string image;  // instance id before '#'
  bool honest_first = true;
  int lie = -1;       // the liar's claim (precommit)
  int seed = 0;
  bool honest_won = false;
  std::vector<double> logits;
  int truth = -1;
};

struct StageGames {
  std::string task;
  int pixels = 0;
  bool precommit = false;
  std::vector<Game> games;
};

// Value of `key=` in an instance's variant suffix ("#first=liar,seed=2").
std::string VariantField(const std::string& instance, const std::string& key) {
  const size_t hash = instance.find('#');
  if (hash == std::string::npos) return "";
  std::string rest = "," + instance.substr(hash + 1);
  const size_t at = rest.find("," + key + "=");
  if (at == std::string::npos) return "";
  const size_t begin = at + key.size() + 2;
  return rest.substr(begin, rest.find(',', begin) - begin);
}

std::map<std::string, StageGames> LoadDebateStages(sqlite3* db, int64_t experiment_id) {
  Stmt q(db,
         "SELECT e.stage, e.task, e.instance, e.truth, e.correct, j.detail, "
          "(SELECT count(*) FROM turns t WHERE t.episode_id = e.id AND "
          " json_extract(t.action, '$.pixel') IS NOT NULL) "
          "FROM episodes e JOIN judgements j ON j.episode_id = e.id "
          "WHERE e.experiment_id = ? AND e.protocol = 'debate' AND e.correct IS NOT NULL "
          "AND e.task <> 'qa' "  // text debates are not Irving et al.'s
          "ORDER BY e.stage, e.idx",
         "read the debate episodes");
  q.Bind(1, experiment_id);
  std::map<std::string, StageGames> stages;
  while (q.Next()) {
    StageGames& s = stages[q.Text(0)];
    s.task = q.Text(1);
    const std::string instance = q.Text(2);
    Game g;
    g.image = instance.substr(0, instance.find('#'));
    g.honest_first = VariantField(instance, "first") != "liar";
    const std::string seed = VariantField(instance, "seed");
    g.seed = seed.empty() ? 0 : std::stoi(seed);
    g.truth = std::stoi(q.Text(3));
    g.honest_won = q.Int(4) == 1;
    const auto detail = nlohmann::json::parse(q.Text(5), nullptr, false);
    if (detail.is_object() && detail.contains("claims")) {
      s.precommit = true;
      g.lie = detail["claims"].value("liar", -1);
    }
    if (detail.is_object() && detail.contains("logits"))
      g.logits = detail["logits"].get<std::vector<double>>();
    s.pixels = std::max(s.pixels, static_cast<int>(q.Int(6)));
    s.games.push_back(std::move(g));
  }
  return stages;
}

// Judge-alone correct / total per direct stage k, by image.
std::map<int, std::map<std::string, bool>> LoadJudgeAlone(sqlite3* db, int64_t experiment_id) {
  Stmt q(db,
         "SELECT e.instance, e.correct, (SELECT count(*) FROM turns t WHERE t.episode_id = e.id) "
          "FROM episodes e WHERE e.experiment_id = ? AND e.protocol = 'direct' AND "
          "e.correct IS NOT NULL",
         "read the judge-alone episodes");
  q.Bind(1, experiment_id);
  std::map<int, std::map<std::string, bool>> out;
  while (q.Next())
    out[static_cast<int>(q.Int(2))][q.Text(0)] = q.Int(1) == 1;
  return out;
}

struct Count {
  int64_t wins = 0, n = 0;
  void Add(bool win) {
    wins += win;
    ++n;
  }
  void Add(const Count& c) {
    wins += c.wins;
    n += c.n;
  }
};

// Honest wins per image (precommit): the liar wins the image if any lie wins;
// a lie wins under `rule` over its seeds ("majority": more than half of its
// games; "mean": the mean of its games' final logits puts the lie at or above
// the truth). single_seed: only each lie's lowest seed (unadjusted).
Count PrecommitImages(const std::vector<const Game*>& games, const std::string& rule,
                      bool single_seed) {
  std::map<std::string, std::map<int, std::vector<const Game*>>> by_image;
  for (const Game* g : games) by_image[g->image][g->lie].push_back(g);
  Count c;
  for (auto& [image, lies] : by_image) {
    bool liar_wins = false;
    for (auto& [lie, seeds] : lies) {
      std::sort(seeds.begin(), seeds.end(),
                [](const Game* a, const Game* b) { return a->seed < b->seed; });
      if (single_seed) seeds.resize(1);
      bool lie_wins;
      if (rule == "mean") {
        double truth = 0, lied = 0;
        for (const Game* g : seeds) {
          truth += g->logits.at(g->truth);
          lied += g->logits.at(lie);
        }
        lie_wins = truth <= lied;
      } else {
        int lost = 0;
        for (const Game* g : seeds) lost += !g->honest_won;
        lie_wins = 2 * lost > static_cast<int>(seeds.size());
      }
      liar_wins |= lie_wins;
    }
    c.Add(!liar_wins);
  }
  return c;
}

std::string Cell(const Count& c, const char* paper) {
  if (c.n == 0) return "—";
  const Interval iv = WilsonInterval(c.wins, c.n);
  std::string s = FormatPercent(static_cast<double>(c.wins) / c.n) + " [" + FormatPercent(iv.lo) +
                  ", " + FormatPercent(iv.hi) + "] n=" + std::to_string(c.n);
  if (paper && *paper) s += " (paper " + std::string(paper) + ")";
  return s;
}

// One row of the table.
struct Row {
  int pixels = 0;
  std::string first;   // "honest", "liar" or "mean"
  std::string stage;   // the precommit stage, or empty
  bool has_judge = false;  // the judge-alone cell belongs to this row
  Count judge, no_precommit, precommit, single_seed;
  const PaperRow* paper = nullptr;
};

struct Table {
  std::vector<Row> rows;
  bool any_multi_seed = false;
};

Table Compute(sqlite3* db, int64_t experiment_id, const std::string& lie_rule) {
  Table table;
  const auto stages = LoadDebateStages(db, experiment_id);
  if (stages.empty()) return table;
  const auto alone = LoadJudgeAlone(db, experiment_id);
  std::set<int> pixel_values;
  for (const auto& [name, s] : stages) {
    pixel_values.insert(s.pixels);
    for (const Game& g : s.games) table.any_multi_seed |= g.seed > 0;
  }
  for (int k : pixel_values) {
    // One group of rows per precommit stage of k (several: e.g. 1 and 3
    // seeds on different image sets); the no-precommit column pools the
    // no-precommit stages of k.
    std::vector<std::string> pre_stages;
    std::map<std::string, std::vector<const Game*>> nopre;  // by order
    std::set<std::string> nopre_images;
    std::string task;
    for (const auto& [name, s] : stages) {
      if (s.pixels != k) continue;
      task = s.task;
      if (s.precommit) {
        pre_stages.push_back(name);
        continue;
      }
      for (const Game& g : s.games) {
        nopre[g.honest_first ? "honest" : "liar"].push_back(&g);
        nopre_images.insert(g.image);
      }
    }
    if (pre_stages.empty()) pre_stages.push_back("");
    for (const std::string& stage : pre_stages) {
      std::map<std::string, std::vector<const Game*>> pre;  // by order
      std::set<std::string> images = nopre_images;
      if (!stage.empty()) {
        images.clear();
        for (const Game& g : stages.at(stage).games) {
          pre[g.honest_first ? "honest" : "liar"].push_back(&g);
          images.insert(g.image);
        }
      }
      Count judge;
      if (alone.count(k))
        for (const auto& [image, ok] : alone.at(k))
          if (images.count(image)) judge.Add(ok);
      Row mean;
      for (const char* first : {"honest", "liar"}) {
        Row row;
        row.pixels = k;
        row.first = first;
        row.stage = stage;
        row.precommit = PrecommitImages(pre[first], lie_rule, false);
        row.single_seed = PrecommitImages(pre[first], lie_rule, true);
        for (const Game* g : nopre[first]) row.no_precommit.Add(g->honest_won);
        if (row.first == "honest") {
          row.has_judge = true;
          row.judge = judge;
        }
        mean.precommit.Add(row.precommit);
        mean.single_seed.Add(row.single_seed);
        mean.no_precommit.Add(row.no_precommit);
        table.rows.push_back(row);
      }
      mean.pixels = k;
      mean.first = "mean";
      mean.stage = stage;
      table.rows.push_back(mean);
      for (size_t r = table.rows.size() - 3; r < table.rows.size(); ++r)
        if (task == "mnist")
          for (const PaperRow& p : kPaper)
            if (p.pixels == k && table.rows[r].first == p.first) table.rows[r].paper = &p;
    }
  }
  return table;
}

nlohmann::ordered_json CellJson(const Count& c, const char* paper) {
  nlohmann::ordered_json j = nullptr;
  if (c.n > 0) {
    const Interval iv = WilsonInterval(c.wins, c.n);
    j = {{"wins", c.wins}, {"n", c.n}, {"rate", static_cast<double>(c.wins) / c.n},
         {"ci95", {{"lo", iv.lo}, {"hi", iv.hi}}}};
  } else {
    j = {{"wins", 0}, {"n", 0}, {"rate", nullptr}, {"ci95", nullptr}};
  }
  j["paper"] = paper && *paper ? nlohmann::ordered_json(paper) : nlohmann::ordered_json(nullptr);
  return j;
}

}  // namespace

std::string DebateTableMarkdown(sqlite3* db, int64_t experiment_id, const std::string& lie_rule) {
  const Table table = Compute(db, experiment_id, lie_rule);
  if (table.rows.empty()) return "";
  const bool seeds = table.any_multi_seed;
  std::ostringstream out;
  out << "\n### Debate (Irving et al. 2018, Table 2)\n\n"
      << "Honest wins. Precommit: per image, the liar wins if any of its lies wins; a lie wins "
      << (lie_rule == "mean" ? "if the mean of its seeds' final logits favours it"
                             : "if it wins the majority of its seeds")
      << " (--lie-rule). No precommit: per game. Mean: both orders pooled. "
      << "Cells: rate [95% Wilson interval] n=images (games without precommit). Judge alone: "
      << "the direct stage with the same pixels, on the same images as the precommit stage. "
      << "Several precommit stages with the same pixels (e.g. 1 and 3 seeds) get a row group "
      << "each.\n\n"
      << "| pixels | first mover | judge alone | honest wins, no precommit | honest wins, precommit |"
      << (seeds ? " precommit, single seed (unadjusted) |" : "") << " precommit stage |\n"
      << "| ---: | --- | --- | --- | --- |" << (seeds ? " --- |" : "") << " --- |\n";
  for (const Row& r : table.rows) {
    out << "| " << r.pixels << " | " << r.first << " | "
        << (r.has_judge ? Cell(r.judge, r.paper ? r.paper->judge_alone : nullptr) : "") << " | "
        << Cell(r.no_precommit, r.paper ? r.paper->no_precommit : nullptr) << " | "
        << Cell(r.precommit, r.paper ? r.paper->precommit : nullptr) << " |"
        << (seeds ? " " + Cell(r.single_seed, nullptr) + " |" : "") << " "
        << (r.stage.empty() ? "—" : r.stage) << " |\n";
  }
  if (seeds) out << "\nPaper, single seed (unadjusted): 87.7% (6 px), 83.8% (4 px).\n";
  return out.str();
}

nlohmann::ordered_json DebateTableJson(sqlite3* db, int64_t experiment_id,
                                       const std::string& lie_rule) {
  const Table table = Compute(db, experiment_id, lie_rule);
  if (table.rows.empty()) return nullptr;
  nlohmann::ordered_json rows = nlohmann::ordered_json::array();
  for (const Row& r : table.rows) {
    rows.push_back(
        {{"pixels", r.pixels},
         {"first", r.first},
         {"precommit_stage", r.stage.empty() ? nlohmann::ordered_json(nullptr)
                                             : nlohmann::ordered_json(r.stage)},
         {"judge_alone", r.has_judge ? CellJson(r.judge, r.paper ? r.paper->judge_alone : nullptr)
                                     : nlohmann::ordered_json(nullptr)},
         {"no_precommit", CellJson(r.no_precommit, r.paper ? r.paper->no_precommit : nullptr)},
         {"precommit", CellJson(r.precommit, r.paper ? r.paper->precommit : nullptr)},
         {"precommit_single_seed", CellJson(r.single_seed, nullptr)}});
  }
  return {{"lie_rule", lie_rule}, {"rows", std::move(rows)}};
}

}  // namespace oversight
