#include "gui/log_view.h"

#include <map>
#include <mutex>

#include "engine/dataset.h"
#include "engine/sql_stmt.h"
#include "engine/stats.h"
#include "engine/store.h"
#include "protocols/debate_log.h"

namespace oversight {

LogView::LogView(const std::string& path)
    : path_(path),
      store_(Store::Open(path, Store::Mode::kReadOnly)),
      has_error_column_(store_->SchemaVersion() >= 3) {}

LogView::~LogView() = default;

std::vector<ExperimentItem> LogView::Experiments() {
  Stmt q(store_->handle(),
         "SELECT x.id, x.name, x.status, coalesce(x.started_at, ''), "
         "(SELECT count(*) FROM episodes e WHERE e.experiment_id = x.id) "
         "FROM experiments x ORDER BY x.id",
         "list experiments");
  std::vector<ExperimentItem> out;
  while (q.Next()) out.push_back({q.Int(0), q.Text(1), q.Text(2), q.Text(3), q.Int(4)});
  return out;
}

namespace {

std::vector<std::string> Distinct(sqlite3* db, const char* sql, int64_t experiment_id,
                                  const char* purpose) {
  Stmt q(db, sql, purpose);
  q.Bind(1, experiment_id);
  std::vector<std::string> out;
  while (q.Next()) out.push_back(q.Text(0));
  return out;
}

// " WHERE ..." for `f`, with its parameters in order (all text but the
// experiment id, bound first).
std::string Where(const EpisodeFilter& f, std::vector<std::string>* params) {
  std::string w = " WHERE e.experiment_id = ?1";
  auto add = [&](const std::string& value, const char* clause) {
    if (value.empty()) return;
    params->push_back(value);
    w += std::string(" AND ") + clause + "?" + std::to_string(params->size() + 1);
  };
  add(f.stage, "e.stage = ");
  add(f.protocol, "e.protocol = ");
  add(f.outcome, "e.outcome = ");
  if (!f.judge_kind.empty()) {
    params->push_back(f.judge_kind);
    w += " AND EXISTS (SELECT 1 FROM judgements j WHERE j.episode_id = e.id AND j.judge_kind = ?" +
         std::to_string(params->size() + 1) + ")";
  }
  if (f.correct == 0 || f.correct == 1) w += " AND e.correct = " + std::to_string(f.correct);
  if (f.correct == 2) w += " AND e.correct IS NULL";
  return w;
}

void BindFilter(Stmt& q, const EpisodeFilter& f, const std::vector<std::string>& params) {
  q.Bind(1, f.experiment_id);
  for (size_t i = 0; i < params.size(); ++i) q.Bind(static_cast<int>(i + 2), params[i]);
}

const char* ColumnSql(EpisodeColumn c) {
  switch (c) {
    case EpisodeColumn::kId: return "e.id";
    case EpisodeColumn::kStage: return "e.stage";
    case EpisodeColumn::kProtocol: return "e.protocol";
    case EpisodeColumn::kInstance: return "e.instance";
    case EpisodeColumn::kTruth: return "e.truth";
    case EpisodeColumn::kOutcome: return "e.outcome";
    case EpisodeColumn::kCorrect: return "e.correct";
  }
  return "e.id";
}

constexpr const char* kEpisodeColumns =
    "e.id, e.idx, e.stage, e.protocol, e.task, e.instance, coalesce(e.truth, ''), "
    "coalesce(e.outcome, ''), e.status, e.correct";

EpisodeItem ReadEpisode(const Stmt& q) {
  EpisodeItem e;
  e.id = q.Int(0);
  e.idx = q.Int(1);
  e.stage = q.Text(2);
  e.protocol = q.Text(3);
  e.task = q.Text(4);
  e.instance = q.Text(5);
  e.truth = q.Text(6);
  e.outcome = q.Text(7);
  e.status = q.Text(8);
  e.correct = q.OptInt(9);
  return e;
}

}  // namespace

std::vector<std::string> LogView::Stages(int64_t experiment_id) {
  return Distinct(store_->handle(),
                  "SELECT stage FROM episodes WHERE experiment_id = ?1 GROUP BY stage "
                  "ORDER BY min(id)",
                  experiment_id, "list stages");
}

std::vector<std::string> LogView::Protocols(int64_t experiment_id) {
  return Distinct(store_->handle(),
                  "SELECT DISTINCT protocol FROM episodes WHERE experiment_id = ?1 "
                  "ORDER BY protocol",
                  experiment_id, "list protocols");
}

int64_t LogView::CountEpisodes(const EpisodeFilter& f) {
  std::vector<std::string> params;
  const std::string sql = "SELECT count(*) FROM episodes e" + Where(f, &params);
  Stmt q(store_->handle(), sql.c_str(), "count episodes");
  BindFilter(q, f, params);
  return q.Next() ? q.Int(0) : 0;
}

std::vector<int64_t> LogView::EpisodeIds(const EpisodeFilter& f, EpisodeColumn sort,
                                         bool descending) {
  std::vector<std::string> params;
  const std::string dir = descending ? " DESC" : " ASC";
  const std::string sql = "SELECT e.id FROM episodes e" + Where(f, &params) + " ORDER BY " +
                          ColumnSql(sort) + dir + ", e.id" + dir;
  Stmt q(store_->handle(), sql.c_str(), "order episodes");
  BindFilter(q, f, params);
  std::vector<int64_t> out;
  while (q.Next()) out.push_back(q.Int(0));
  return out;
}

std::vector<EpisodeItem> LogView::EpisodesByIds(const int64_t* ids, size_t n) {
  if (n == 0) return {};
  std::string list = "[";
  for (size_t i = 0; i < n; ++i) list += (i ? "," : "") + std::to_string(ids[i]);
  list += "]";
  // json_each keeps the list's order in its `key` column.
  const std::string sql = std::string("SELECT ") + kEpisodeColumns +
                          " FROM json_each(?1) AS k JOIN episodes e ON e.id = k.value "
                          "ORDER BY k.key";
  Stmt q(store_->handle(), sql.c_str(), "read episodes");
  q.Bind(1, list);
  std::vector<EpisodeItem> out;
  while (q.Next()) out.push_back(ReadEpisode(q));
  return out;
}

std::optional<EpisodeDetail> LogView::Episode(int64_t id) {
  sqlite3* db = store_->handle();
  const std::string sql = std::string("SELECT ") + kEpisodeColumns + " FROM episodes e WHERE e.id = ?1";
  Stmt q(db, sql.c_str(), "read episode");
  q.Bind(1, id);
  if (!q.Next()) return std::nullopt;
  EpisodeDetail d;
  d.episode = ReadEpisode(q);
  if (has_error_column_) {
    Stmt err(db, "SELECT coalesce(error, '') FROM episodes WHERE id = ?1", "read episode error");
    err.Bind(1, id);
    if (err.Next()) d.error = err.Text(0);
  }
  Stmt t(db,
         "SELECT id, idx, role, coalesce(agent, ''), coalesce(action, ''), "
         "coalesce(content, ''), parent_turn_id FROM turns WHERE episode_id = ?1 ORDER BY idx",
         "read turns");
  t.Bind(1, id);
  while (t.Next())
    d.turns.push_back({t.Int(0), t.Int(1), t.Text(2), t.Text(3), t.Text(4), t.Text(5), t.OptInt(6)});
  Stmt j(db,
         "SELECT judge, judge_kind, coalesce(verdict, ''), coalesce(detail, ''), confidence "
         "FROM judgements WHERE episode_id = ?1 ORDER BY id",
         "read judgements");
  j.Bind(1, id);
  while (j.Next()) d.judgements.push_back({j.Text(0), j.Text(1), j.Text(2), j.Text(3), j.OptDouble(4)});
  return d;
}

std::vector<MetricSeries> LogView::Metrics(int64_t experiment_id) {
  Stmt q(store_->handle(),
         "SELECT stage, name, step, value FROM metrics WHERE experiment_id = ?1 "
         "ORDER BY stage, name, step",
         "read metrics");
  q.Bind(1, experiment_id);
  std::vector<MetricSeries> out;
  while (q.Next()) {
    if (out.empty() || out.back().stage != q.Text(0) || out.back().name != q.Text(1))
      out.push_back({q.Text(0), q.Text(1), {}, {}});
    out.back().steps.push_back(q.Int(2));
    out.back().values.push_back(q.Double(3));
  }
  return out;
}

std::vector<AccuracyRow> LogView::Accuracy(int64_t experiment_id) {
  Stmt q(store_->handle(),
         "SELECT stage, protocol, count(correct), coalesce(sum(correct), 0) FROM episodes "
         "WHERE experiment_id = ?1 GROUP BY stage, protocol ORDER BY min(id)",
         "read accuracy");
  q.Bind(1, experiment_id);
  std::vector<AccuracyRow> out;
  while (q.Next()) {
    AccuracyRow r{q.Text(0), q.Text(1), q.Int(2), q.Int(3), 0, 0};
    if (r.n > 0) {
      const Interval ci = WilsonInterval(r.correct, r.n);
      r.lo = ci.lo;
      r.hi = ci.hi;
    }
    out.push_back(r);
  }
  return out;
}

const ImageDataset& CachedImageDataset(const std::string& name, const std::string& split) {
  static std::mutex mu;
  static std::map<std::string, ImageDataset> loaded;  // by name/split; nodes never move
  std::lock_guard<std::mutex> lock(mu);
  const std::string key = name + "/" + split;
  auto it = loaded.find(key);
  if (it == loaded.end()) it = loaded.emplace(key, LoadImageDataset(name, split)).first;
  return it->second;
}

std::vector<uint8_t> EpisodeImage(const std::string& task, const std::string& instance) {
  if (task != "mnist" && task != "fashion_mnist") return {};
  std::string split;
  int source = -1;
  if (!ParseImageInstance(instance, &split, &source)) return {};
  const ImageDataset* dataset = nullptr;
  try {
    dataset = &CachedImageDataset(task, split);
  } catch (const std::exception&) {
    return {};
  }
  const ImageDataset& ds = *dataset;
  for (size_t i = 0; i < ds.size(); ++i)
    if (ds.source_index[i] == source) return std::vector<uint8_t>(ds.image(i), ds.image(i) + 784);
  return {};
}

}  // namespace oversight
