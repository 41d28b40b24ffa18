// oversight: the command line.
//   oversight run CONFIG [--db PATH] [--resume] [--threads N] [--set a.b=VALUE ...]
//   oversight query --db PATH "SQL" [--format table|csv|json]
//   oversight report --db PATH [--experiment ID] [--format md|json] [--lie-rule majority|mean]
// Exit status: 0 success, 2 bad input (usage, config, data), 1 runtime
// failure, 130 interrupted by Ctrl-C (the experiment is marked interrupted and
// `run --resume` completes it).
#include <CLI/CLI.hpp>

#include <csignal>
#include <cstring>
#include <iostream>

#include "agents/policy.h"
#include "engine/dataset.h"
#include "engine/experiment.h"
#include "engine/torch_util.h"
#include "experiments/commands.h"

namespace {

using namespace oversight;

extern "C" void OnSignal(int) {
  InterruptFlag().store(true);
  // A second Ctrl-C kills at once; the store is still consistent (every
  // episode is one transaction), and --resume continues.
  std::signal(SIGINT, SIG_DFL);
  std::signal(SIGTERM, SIG_DFL);
}

int Run(const std::string& config_path, const RunOptions& base,
        const std::vector<std::string>& sets) {
  nlohmann::json config = LoadJsonFile(config_path);
  for (const auto& s : sets) ApplyOverride(config, config_path, s);
  const Registries registries = AllRegistries();
  ExperimentOptions options = ParseExperiment(config, config_path, registries);
  RunOptions run = base;
  run.device = ResolveDevice(options.device, config_path + ": device");
  std::signal(SIGINT, OnSignal);
  std::signal(SIGTERM, OnSignal);
  int64_t id = 0;
  const RunStatus status = RunExperiment(options, config, run, &id);
  if (status == RunStatus::kInterrupted) return 130;
  std::cout << "\n";
  return RunReportCommand(run.db_path, id, "md", std::cout, std::cerr) == 0 ? 0 : 1;
}

}  // namespace

int main(int argc, char** argv) {
  CLI::App app{"Oversight Lab: scalable-oversight experiments (debate, amplification, "
               "process supervision, RLHF) logged to SQLite"};
  app.require_subcommand(1);

  RunOptions run;
  std::string config_path;
  std::vector<std::string> sets;
  auto* run_cmd = app.add_subcommand("run", "Run (or --resume) an experiment from a JSON config");
  run_cmd->add_option("config", config_path, "Experiment config (JSON)")->required();
  run_cmd->add_option("--db", run.db_path, "SQLite file to log to")->capture_default_str();
  run_cmd->add_flag("--resume", run.resume,
                    "Continue the latest unfinished experiment of this name in --db");
  run_cmd->add_option("--threads", run.threads,
                      "Episode workers (default: the config's \"threads\")")
      ->check(CLI::Range(1, 256));
  run_cmd->add_option("--set", sets, "Override a config key: a.b[0].c=VALUE (repeatable)");

  std::string db, sql, format;
  int64_t experiment = 0;
  auto* query_cmd = app.add_subcommand("query", "Run one read-only SQL statement");
  query_cmd->add_option("--db", db, "SQLite file")->required();
  query_cmd->add_option("sql", sql, "SQL statement")->required();
  query_cmd->add_option("--format", format, "table, csv or json")
      ->check(CLI::IsMember({"table", "csv", "json"}))
      ->default_val("table");

  std::string report_format;
  auto* report_cmd = app.add_subcommand("report", "Episodes, accuracy and metrics per stage");
  report_cmd->add_option("--db", db, "SQLite file")->required();
  report_cmd->add_option("--experiment", experiment, "Experiment id (default: all)");
  report_cmd->add_option("--format", report_format, "md or json")
      ->check(CLI::IsMember({"md", "json"}))
      ->default_val("md");
  std::string lie_rule;
  report_cmd
      ->add_option("--lie-rule", lie_rule,
                   "Debate table: a lie wins by the majority of its seeds or by their mean logits")
      ->check(CLI::IsMember({"majority", "mean"}))
      ->default_val("majority");

  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    const int rc = app.exit(e);
    return rc == 0 ? 0 : 2;
  }

  try {
    if (*run_cmd) return Run(config_path, run, sets);
    if (*query_cmd) return RunQueryCommand(db, sql, format, std::cout, std::cerr);
    if (*report_cmd) return RunReportCommand(db, experiment, report_format, std::cout, std::cerr,
                                              lie_rule);
  } catch (const ConfigError& e) {
    std::cerr << "error: " << e.what() << "\n";
    return 2;
  } catch (const DataError& e) {
    std::cerr << "error: " << e.what() << "\n";
    return 2;
  } catch (const std::exception& e) {
    std::cerr << "error: " << e.what() << "\n";
    return 1;
  }
  return 2;
}
