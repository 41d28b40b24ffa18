// `oversight report`: per experiment and stage, episodes, accuracy with a 95%
// Wilson interval, and the last value of each metric; as markdown or JSON.
//
// [SECTION] Reading the log
// [SECTION] Markdown
// [SECTION] JSON
// [SECTION] RunReportCommand
//
// JSON shape (keys in this order; absent values are null):
//   {"db": PATH, "experiments": [{
//      "id", "name", "status", "seed", "code_version", "started_at",
//      "finished_at",
//      "stages": [{"name", "idx" (null when not in table `stages`), "kind",
//                  "status", "protocols": [..], "episodes", "judged"
//                  (episodes with non-NULL correct), "correct", "accuracy"
//                  (correct / judged, null when judged == 0),
//                  "ci95": {"lo", "hi"} (null when judged == 0),
//                  "unjudged": {STATUS: N} (episodes not "complete":
//                  failed, timed_out, unparseable),
//                  "metrics": [{"name", "step", "value"}]}],
//      "debate_table": DebateTableJson() (commands.h; null without debate
//                      episodes)}]}

#include <sqlite3.h>

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <map>
#include <nlohmann/json.hpp>
#include <optional>
#include <ostream>
#include <set>
#include <sstream>
#include <string>
#include <vector>

#include "engine/stats.h"
#include "experiments/commands.h"
#include "experiments/report_sql.h"

namespace oversight {
namespace {

// ---------------------------------------------------------------------------
// [SECTION] Reading the log
// ---------------------------------------------------------------------------

struct MetricLast {
  std::string name;
  int64_t step = 0;
  std::optional<double> value;  // NULL in the log (e.g. a NaN loss)
};

struct StageSummary {
  std::string name;
  std::optional<int64_t> idx;  // from table `stages`, if listed there
  std::optional<std::string> kind;
  std::optional<std::string> status;
  std::vector<std::string> protocols;  // distinct, sorted
  int64_t episodes = 0;
  int64_t judged = 0;               // episodes with non-NULL correct
  int64_t correct = 0;              // episodes with correct = 1
  // Episodes whose status is not "complete" (failed, timed_out,
  // unparseable), by status: they have no verdict and are not in accuracy.
  std::map<std::string, int64_t> unjudged;
  std::vector<MetricLast> metrics;  // sorted by name
};

struct ExperimentSummary {
  int64_t id = 0;
  std::string name;
  std::optional<std::string> status;
  std::optional<uint64_t> seed;
  std::optional<std::string> code_version;
  std::optional<std::string> started_at;
  std::optional<std::string> finished_at;
  std::vector<StageSummary> stages;
};

std::set<std::string> TableNames(sqlite3* db) {
  std::set<std::string> names;
  Stmt s(db, "SELECT name FROM sqlite_master WHERE type IN ('table','view')",
         "list tables");
  while (s.Next()) names.insert(s.Text(0));
  return names;
}

std::vector<StageSummary> LoadStages(sqlite3* db, int64_t experiment_id,
                                     bool has_stages_table) {
  std::map<std::string, StageSummary> by_name;
  auto stage = [&](const std::string& name) -> StageSummary& {
    StageSummary& s = by_name[name];
    s.name = name;
    return s;
  };

  if (has_stages_table) {
    Stmt s(db,
           "SELECT idx, name, kind, status FROM stages WHERE experiment_id = ? "
           "ORDER BY idx",
           "read stages");
    s.Bind(1, experiment_id);
    while (s.Next()) {
      StageSummary& st = stage(s.Text(1));
      if (st.idx) continue;  // a repeated name keeps its first position
      st.idx = s.OptInt(0);
      st.kind = s.OptText(2);
      st.status = s.OptText(3);
    }
  }
  {
    Stmt s(db,
           "SELECT stage, protocol, COUNT(*), COUNT(correct), "
           "       COALESCE(SUM(correct = 1), 0) "
           "FROM episodes WHERE experiment_id = ? "
           "GROUP BY stage, protocol ORDER BY stage, protocol",
           "count episodes");
    s.Bind(1, experiment_id);
    while (s.Next()) {
      StageSummary& st = stage(s.Text(0));
      if (!s.IsNull(1)) st.protocols.push_back(s.Text(1));
      st.episodes += s.Int(2);
      st.judged += s.Int(3);
      st.correct += s.Int(4);
    }
  }
  {
    Stmt s(db,
           "SELECT stage, status, COUNT(*) FROM episodes "
           "WHERE experiment_id = ? AND status <> 'complete' "
           "GROUP BY stage, status ORDER BY stage, status",
           "count episodes by status");
    s.Bind(1, experiment_id);
    while (s.Next()) stage(s.Text(0)).unjudged[s.Text(1)] = s.Int(2);
  }
  {
    // The last value of each metric: highest step, then latest written.
    Stmt s(db,
           "SELECT stage, name, step, value FROM ("
           "  SELECT stage, name, step, value, ROW_NUMBER() OVER ("
           "    PARTITION BY stage, name"
           "    ORDER BY step DESC, created_at DESC, rowid DESC) AS rank"
           "  FROM metrics WHERE experiment_id = ?) "
           "WHERE rank = 1 ORDER BY stage, name",
           "read metrics");
    s.Bind(1, experiment_id);
    while (s.Next()) {
      stage(s.Text(0)).metrics.push_back(
          MetricLast{s.Text(1), s.Int(2), s.OptDouble(3)});
    }
  }

  std::vector<StageSummary> stages;
  for (auto& entry : by_name) stages.push_back(std::move(entry.second));
  // Listed stages in their configured order, then the others by name (the
  // map already sorted them by name; stable_sort keeps that).
  std::stable_sort(stages.begin(), stages.end(),
                   [](const StageSummary& a, const StageSummary& b) {
                     if (a.idx.has_value() != b.idx.has_value()) {
                       return a.idx.has_value();
                     }
                     return a.idx.has_value() && *a.idx < *b.idx;
                   });
  return stages;
}

std::vector<ExperimentSummary> LoadReport(sqlite3* db, int64_t experiment_id) {
  const std::set<std::string> tables = TableNames(db);
  for (const char* required : {"experiments", "episodes", "metrics"}) {
    if (!tables.count(required)) {
      throw ReportError{2, std::string("not an Oversight Lab log: no table '") +
                               required + "'"};
    }
  }
  std::vector<ExperimentSummary> experiments;
  {
    Stmt s(db,
           "SELECT id, name, status, seed, code_version, started_at, "
           "finished_at FROM experiments WHERE ?1 <= 0 OR id = ?1 ORDER BY id",
           "read experiments");
    s.Bind(1, experiment_id);
    while (s.Next()) {
      ExperimentSummary e;
      e.id = s.Int(0);
      e.name = s.Text(1);
      e.status = s.OptText(2);
      // The store writes uint64 seeds bit-cast to int64.
      if (auto seed = s.OptInt(3)) e.seed = static_cast<uint64_t>(*seed);
      e.code_version = s.OptText(4);
      e.started_at = s.OptText(5);
      e.finished_at = s.OptText(6);
      experiments.push_back(std::move(e));
    }
  }
  if (experiment_id > 0 && experiments.empty()) {
    std::string known;
    int listed = 0;
    Stmt s(db, "SELECT id FROM experiments ORDER BY id DESC LIMIT 11",
           "list experiment ids");
    while (s.Next()) {
      if (++listed > 10) {
        known += ", ...";
        break;
      }
      known += (listed > 1 ? ", " : "") + std::to_string(s.Int(0));
    }
    throw ReportError{2, "no experiment with id " +
                             std::to_string(experiment_id) +
                             (known.empty() ? "; the log has no experiments"
                                            : "; latest ids: " + known)};
  }
  const bool has_stages = tables.count("stages") > 0;
  for (auto& e : experiments) e.stages = LoadStages(db, e.id, has_stages);
  return experiments;
}

// ---------------------------------------------------------------------------
// [SECTION] Markdown
// ---------------------------------------------------------------------------

const char* const kNone = "—";

// Text safe inside a markdown table cell or list item: one line, pipes
// escaped.
std::string Md(const std::string& s) {
  std::string out;
  for (char c : s) {
    if (c == '|') {
      out += "\\|";
    } else if (c == '\n' || c == '\r') {
      out += ' ';
    } else {
      out += c;
    }
  }
  return out;
}

std::string MdOpt(const std::optional<std::string>& s) {
  return s ? Md(*s) : kNone;
}

// Metric values for reading, not for round trips (the JSON has full
// precision): integers as integers, everything else with 6 significant
// digits.
std::string FormatMetricValue(const std::optional<double>& v) {
  if (!v) return "NULL";
  char buf[64];
  if (std::isfinite(*v) && std::fabs(*v) < 1e15 && *v == std::floor(*v)) {
    std::snprintf(buf, sizeof buf, "%.0f", *v);
  } else {
    std::snprintf(buf, sizeof buf, "%.6g", *v);
  }
  return buf;
}

std::string Join(const std::vector<std::string>& items, const char* sep) {
  std::string out;
  for (size_t i = 0; i < items.size(); ++i) {
    if (i > 0) out += sep;
    out += items[i];
  }
  return out;
}

void WriteMarkdown(const std::string& db_path,
                   const std::vector<ExperimentSummary>& experiments,
                   const std::map<int64_t, std::string>& debate_tables,
                   std::ostream& out) {
  out << "# Oversight Lab report: " << Md(db_path) << "\n";
  if (experiments.empty()) {
    out << "\nNo experiments.\n";
    return;
  }
  for (const ExperimentSummary& e : experiments) {
    out << "\n## Experiment " << e.id << ": " << Md(e.name) << "\n\n"
        << "- status: " << MdOpt(e.status) << "\n"
        << "- seed: " << (e.seed ? std::to_string(*e.seed) : kNone) << "\n"
        << "- code_version: " << MdOpt(e.code_version) << "\n"
        << "- started: " << MdOpt(e.started_at) << "\n"
        << "- finished: " << MdOpt(e.finished_at) << "\n";

    out << "\n### Stages\n\n";
    if (e.stages.empty()) {
      out << "No stages.\n";
    } else {
      out << "| stage | protocol | episodes | accuracy | 95% CI |\n"
          << "| --- | --- | ---: | ---: | --- |\n";
      for (const StageSummary& s : e.stages) {
        std::string accuracy = kNone, ci = kNone;
        if (s.judged > 0) {
          const Interval iv = WilsonInterval(s.correct, s.judged);
          accuracy = FormatPercent(static_cast<double>(s.correct) /
                                   static_cast<double>(s.judged));
          ci = "[" + FormatPercent(iv.lo) + ", " + FormatPercent(iv.hi) + "]";
        }
        out << "| " << Md(s.name) << " | "
            << (s.protocols.empty() ? kNone : Md(Join(s.protocols, ", ")))
            << " | " << s.episodes << " | " << accuracy << " | " << ci
            << " |\n";
      }
      // What accuracy leaves out, so nothing is silently dropped.
      for (const StageSummary& s : e.stages) {
        if (s.unjudged.empty()) continue;
        std::string parts;
        for (const auto& [status, n] : s.unjudged)
          parts += (parts.empty() ? "" : ", ") + std::to_string(n) + " " + status;
        out << "\n" << Md(s.name) << ": " << parts << " (no verdict; not in the accuracy)\n";
      }
    }

    if (debate_tables.count(e.id)) out << debate_tables.at(e.id);

    out << "\n### Metrics\n\n";
    bool any_metric = false;
    for (const StageSummary& s : e.stages) any_metric |= !s.metrics.empty();
    if (!any_metric) {
      out << "No metrics.\n";
      continue;
    }
    out << "| stage | metric | step | last value |\n"
        << "| --- | --- | ---: | ---: |\n";
    for (const StageSummary& s : e.stages) {
      for (const MetricLast& m : s.metrics) {
        out << "| " << Md(s.name) << " | " << Md(m.name) << " | " << m.step
            << " | " << FormatMetricValue(m.value) << " |\n";
      }
    }
  }
}

// ---------------------------------------------------------------------------
// [SECTION] JSON
// ---------------------------------------------------------------------------

using Json = nlohmann::ordered_json;

template <typename T>
Json OrNull(const std::optional<T>& v) {
  return v ? Json(*v) : Json(nullptr);
}

Json MetricValueJson(const std::optional<double>& v) {
  // JSON has no infinity; NaN never reaches here (SQLite stores it as NULL).
  return (v && std::isfinite(*v)) ? Json(*v) : Json(nullptr);
}

void WriteJson(const std::string& db_path,
               const std::map<int64_t, Json>& debate_tables,
               const std::vector<ExperimentSummary>& experiments,
               std::ostream& out) {
  Json list = Json::array();
  for (const ExperimentSummary& e : experiments) {
    Json stages = Json::array();
    for (const StageSummary& s : e.stages) {
      Json metrics = Json::array();
      for (const MetricLast& m : s.metrics) {
        metrics.push_back({{"name", m.name},
                           {"step", m.step},
                           {"value", MetricValueJson(m.value)}});
      }
      Json accuracy = nullptr, ci = nullptr;
      if (s.judged > 0) {
        const Interval iv = WilsonInterval(s.correct, s.judged);
        accuracy =
            static_cast<double>(s.correct) / static_cast<double>(s.judged);
        ci = {{"lo", iv.lo}, {"hi", iv.hi}};
      }
      stages.push_back({{"name", s.name},
                        {"idx", OrNull(s.idx)},
                        {"kind", OrNull(s.kind)},
                        {"status", OrNull(s.status)},
                        {"protocols", s.protocols},
                        {"episodes", s.episodes},
                        {"judged", s.judged},
                        {"correct", s.correct},
                        {"unjudged", s.unjudged},
                        {"accuracy", accuracy},
                        {"ci95", ci},
                        {"metrics", std::move(metrics)}});
    }
    list.push_back({{"id", e.id},
                    {"name", e.name},
                    {"status", OrNull(e.status)},
                    {"seed", OrNull(e.seed)},
                    {"code_version", OrNull(e.code_version)},
                    {"started_at", OrNull(e.started_at)},
                    {"finished_at", OrNull(e.finished_at)},
                    {"stages", std::move(stages)},
                    {"debate_table", debate_tables.count(e.id) ? debate_tables.at(e.id) : Json()}});
  }
  Json report = {{"db", db_path}, {"experiments", std::move(list)}};
  out << report.dump(2, ' ', /*ensure_ascii=*/false,
                     Json::error_handler_t::replace)
      << "\n";
}

}  // namespace

// ---------------------------------------------------------------------------
// [SECTION] RunReportCommand
// ---------------------------------------------------------------------------

int RunReportCommand(const std::string& db_path, int64_t experiment_id,
                     const std::string& format, std::ostream& out,
                     std::ostream& err, const std::string& lie_rule) {
  auto fail = [&](int code, const std::string& what) {
    err << "oversight report: " << db_path << ": " << what << '\n';
    return code;
  };
  if (format != "md" && format != "json") {
    return fail(2, "unknown --format '" + format + "'; expected md or json");
  }
  if (lie_rule != "majority" && lie_rule != "mean") {
    return fail(2, "unknown --lie-rule '" + lie_rule + "'; expected majority or mean");
  }

  std::string open_error;
  int open_code = 0;
  SqliteHandle db = OpenDatabaseReadOnly(db_path, &open_error, &open_code);
  if (!db) {
    err << "oversight report: " << open_error << '\n';
    return open_code;
  }

  std::vector<ExperimentSummary> experiments;
  std::map<int64_t, std::string> debate_tables;
  std::map<int64_t, Json> debate_json;
  try {
    // One read transaction: every figure comes from the same snapshot even
    // while an experiment is writing. Nothing to commit; closing ends it.
    if (sqlite3_exec(db.get(), "BEGIN", nullptr, nullptr, nullptr) !=
        SQLITE_OK) {
      throw ReportError{1, std::string("begin read transaction: ") +
                               sqlite3_errmsg(db.get())};
    }
    experiments = LoadReport(db.get(), experiment_id);
    for (const ExperimentSummary& e : experiments) {
      if (format == "md")
        debate_tables[e.id] = DebateTableMarkdown(db.get(), e.id, lie_rule);
      else
        debate_json[e.id] = DebateTableJson(db.get(), e.id, lie_rule);
    }
  } catch (const ReportError& e) {
    return fail(e.code, e.what);
  } catch (const SqlError& e) {
    return fail(ExitCodeForSqliteError(e.rc()), e.what());
  } catch (const std::exception& e) {  // e.g. std::bad_alloc
    return fail(1, e.what());
  }

  std::ostringstream buffer;
  if (format == "md") {
    WriteMarkdown(db_path, experiments, debate_tables, buffer);
  } else {
    WriteJson(db_path, debate_json, experiments, buffer);
  }
  out << buffer.str();
  return 0;
}

}  // namespace oversight
