#include "protocols/debate_log.h"

#include <iostream>

#include <nlohmann/json.hpp>

#include "engine/config.h"
#include "engine/sql_stmt.h"

namespace oversight {

bool ParseImageInstance(const std::string& instance, std::string* split, int* source_index) {
  const size_t slash = instance.find('/');
  if (slash == std::string::npos || slash == 0) return false;
  const size_t end = instance.find('#', slash);
  const std::string number = instance.substr(slash + 1, end == std::string::npos ? end : end - slash - 1);
  if (number.empty() || number.size() > 9 ||
      number.find_first_not_of("0123456789") != std::string::npos)
    return false;
  *split = instance.substr(0, slash);
  *source_index = std::stoi(number);
  return true;
}

std::map<int, size_t> RowsBySourceIndex(const ImageDataset& data) {
  std::map<int, size_t> rows;
  for (size_t i = 0; i < data.size(); ++i) rows[data.source_index[i]] = i;
  return rows;
}

std::vector<DebatePair> DebatePairs(const std::vector<LoggedDebate>& debates, DebateRole side,
                                    int max_per_group) {
  std::map<std::string, size_t> group_of;
  std::vector<std::vector<const LoggedDebate*>> groups;
  for (const LoggedDebate& d : debates) {
    std::string key = d.instance;
    const size_t seed = key.find(",seed=");
    if (seed != std::string::npos) key.erase(seed, key.find(',', seed + 1) - seed);
    const auto [it, added] = group_of.emplace(key, groups.size());
    if (added) groups.emplace_back();
    groups[it->second].push_back(&d);
  }
  std::vector<DebatePair> pairs;
  for (const auto& games : groups) {
    int n = 0;
    for (const LoggedDebate* w : games) {
      if (w->honest_won != (side == DebateRole::kHonest)) continue;
      for (const LoggedDebate* l : games) {
        if (l->honest_won == w->honest_won) continue;
        if (max_per_group > 0 && n >= max_per_group) break;
        pairs.push_back({w, l});
        ++n;
      }
    }
  }
  return pairs;
}

bool HeldOutImage(int source_index, double fraction) {
  return Mix64(static_cast<uint64_t>(source_index) ^ 0x5f7a3c1d) % 1000 <
         static_cast<uint64_t>(fraction * 1000);
}

PreferencePairs ReadPreferencePairs(Store& store, int64_t source, const std::string& stage,
                                    DebateRole side, int max_per_group, double heldout_fraction,
                                    const std::string& where, std::vector<LoggedDebate>* debates) {
  *debates = ReadLoggedDebates(store, source, stage);
  PreferencePairs pairs;
  for (const DebatePair& p : DebatePairs(*debates, side, max_per_group))
    (HeldOutImage(p.chosen->source_index, heldout_fraction) ? pairs.heldout : pairs.train)
        .push_back(p);
  if (pairs.train.empty())
    throw ConfigError(where + ".from_stage: no preference pairs for the " + DebateRoleName(side) +
                      " side in stage '" + stage + "' of experiment " + std::to_string(source) +
                      " (" + std::to_string(debates->size()) +
                      " debates; pairs need games of the same image, claims and order with "
                      "different winners: play the stage with \"seeds\" > 1)");
  std::cerr << "  " << pairs.train.size() << " preference pairs, " << pairs.heldout.size()
            << " held out, from " << debates->size() << " debates\n";
  return pairs;
}

const uint8_t* LoggedDebateImages::Image(const LoggedDebate& d, const std::vector<int>** nonzero) {
  const std::string key = d.task + "/" + d.split;
  auto it = loaded_.find(key);
  if (it == loaded_.end()) {
    Loaded l;
    l.data = LoadImageDataset(d.task, d.split);
    l.rows = RowsBySourceIndex(l.data);
    it = loaded_.emplace(key, std::move(l)).first;
  }
  Loaded& l = it->second;
  const auto row = l.rows.find(d.source_index);
  if (row == l.rows.end())
    throw DataError("episode " + std::to_string(d.episode_id) + ": no image " + d.instance +
                    " in " + d.task);
  auto nz = l.nonzero.find(row->second);
  if (nz == l.nonzero.end())
    nz = l.nonzero.emplace(row->second, NonzeroPixels(l.data.image(row->second))).first;
  if (nonzero) *nonzero = &nz->second;
  return l.data.image(row->second);
}

DebatePosition LoggedDebateImages::Position(const LoggedDebate& d, int t) {
  DebatePosition pos;
  pos.game = &d.game;
  pos.image = Image(d, &pos.nonzero);
  pos.revealed.assign(d.reveals.begin(), d.reveals.begin() + t);
  return pos;
}

int64_t ResolveExperimentRef(Store& store, const std::string& ref, int64_t current,
                             const std::string& where) {
  if (ref.empty()) return current;
  if (ref.find_first_not_of("0123456789") == std::string::npos && ref.size() < 18) {
    const int64_t id = std::stoll(ref);
    if (!store.GetExperiment(id))
      throw ConfigError(where + ": no experiment with id " + ref + " in " + store.path());
    return id;
  }
  Stmt s(store.handle(),
         "SELECT id FROM experiments WHERE name = ?1 AND status = 'finished' ORDER BY id DESC "
         "LIMIT 1",
         "find experiment by name");
  s.Bind(1, ref);
  if (!s.Next())
    throw ConfigError(where + ": no finished experiment named '" + ref + "' in " + store.path());
  return s.Int(0);
}

std::vector<LoggedDebate> ReadLoggedDebates(Store& store, int64_t experiment_id,
                                            const std::string& stage) {
  std::vector<LoggedDebate> out;
  Stmt episodes(store.handle(),
                "SELECT id, idx, protocol, task, instance, truth, outcome FROM episodes WHERE "
                "experiment_id = ?1 AND stage = ?2 AND status = 'complete' ORDER BY idx",
                "read logged debates");
  Stmt turns(store.handle(),
             "SELECT role, agent, action FROM turns WHERE episode_id = ?1 ORDER BY idx",
             "read a logged debate's turns");
  episodes.Bind(1, experiment_id).Bind(2, stage);
  while (episodes.Next()) {
    LoggedDebate d;
    d.episode_id = episodes.Int(0);
    d.idx = episodes.Int(1);
    const std::string where = store.path() + ": episode " + std::to_string(d.episode_id) +
                              " (stage '" + stage + "')";
    if (episodes.Text(2) != "debate")
      throw DataError(where + ": protocol '" + episodes.Text(2) + "' is not a debate");
    d.task = episodes.Text(3);
    d.instance = episodes.Text(4);
    if (!ParseImageInstance(d.instance, &d.split, &d.source_index))
      throw DataError(where + ": instance '" + d.instance + "' is not an image instance");
    try {
      d.game.truth = std::stoi(episodes.Text(5));
    } catch (const std::exception&) {
      throw DataError(where + ": truth '" + episodes.Text(5) + "' is not a label");
    }
    d.honest_won = episodes.Text(6) == "honest";
    d.game.precommit = false;
    int claims = 0;
    turns.Reset();
    turns.Bind(1, d.episode_id);
    while (turns.Next()) {
      const std::string role = turns.Text(0);
      if (role != "honest" && role != "liar")
        throw DataError(where + ": turn role '" + role + "' is not honest or liar");
      const DebateRole r = role == "honest" ? DebateRole::kHonest : DebateRole::kLiar;
      const nlohmann::json action = nlohmann::json::parse(turns.Text(2), nullptr, false);
      if (action.is_object() && action.contains("claim") && action["claim"].is_number_integer()) {
        const int label = action["claim"].get<int>();
        if (r == DebateRole::kLiar) d.game.lie = label;
        if (claims++ == 0) d.game.honest_first = r == DebateRole::kHonest;
        d.game.precommit = true;
      } else if (action.is_object() && action.contains("pixel") &&
                 action["pixel"].is_number_integer()) {
        const int p = action["pixel"].get<int>();
        if (p < 0 || p >= kImagePixels)
          throw DataError(where + ": pixel " + std::to_string(p) + " out of range");
        if (d.reveals.empty() && claims == 0) d.game.honest_first = r == DebateRole::kHonest;
        d.reveals.push_back(p);
        d.movers.push_back(r);
        d.agents.push_back(turns.Text(1));
      } else {
        throw DataError(where + ": turn action " + turns.Text(2) +
                        " is neither a claim nor a pixel");
      }
    }
    if (d.reveals.empty()) throw DataError(where + ": no reveals");
    if (d.game.precommit && (claims != 2 || d.game.lie < 0))
      throw DataError(where + ": a precommit debate needs both claims");
    d.game.pixels = static_cast<int>(d.reveals.size());
    for (size_t t = 0; t < d.movers.size(); ++t)
      if (d.movers[t] != d.game.Mover(static_cast<int>(t)))
        throw DataError(where + ": reveal " + std::to_string(t) + " by the wrong player");
    out.push_back(std::move(d));
  }
  return out;
}

}  // namespace oversight
