// oversight: the command line.
//   oversight run CONFIG [--db PATH] [--resume] [--threads N] [--set a.b=VALUE ...]
//   oversight query --db PATH "SQL" [--format table|csv|json]
//   oversight report --db PATH [--experiment ID] [--format md|json] [--lie-rule majority|mean]
//   oversight serve --db PATH [--port N] [--bind ADDR] --judge NAME=TOKEN ... [--tokens FILE]
// Exit status: 0 success, 2 bad input (usage, config, data), 1 runtime
// failure, 130 interrupted by Ctrl-C (the experiment is marked interrupted and
// `run --resume` completes it).
#include <CLI/CLI.hpp>

#include <chrono>
#include <csignal>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <thread>

#include "agents/policy.h"
#include "engine/dataset.h"
#include "engine/experiment.h"
#include "engine/torch_util.h"
#include "experiments/commands.h"
#include "net/judge_service.h"

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

struct ServeOptions {
  std::string db;
  int port = 8765;
  std::string bind = "127.0.0.1";
  std::vector<std::string> judges;  // NAME=TOKEN
  std::string tokens_file;          // lines NAME=TOKEN; '#' comments
  int threads = 4;
  double stale_after_s = 600;
};

// `oversight serve`: the judging service until Ctrl-C.
int Serve(const ServeOptions& o) {
  std::error_code ec;
  if (!std::filesystem::exists(o.db, ec))
    throw DataError(o.db + ": no such file (serve opens an experiment's log; run one first)");
  JudgeServiceOptions options;
  options.db_path = o.db;
  options.http.address = o.bind;
  options.http.port = static_cast<uint16_t>(o.port);
  options.http.threads = o.threads;
  options.stale_after_s = o.stale_after_s;
  std::vector<std::pair<std::string, std::string>> given;
  // One NAME=TOKEN; errors name `where` it was given.
  auto add = [&given](const std::string& arg, const std::string& where) {
    try {
      given.push_back(ParseJudgeToken(arg));
    } catch (const std::invalid_argument& e) {
      throw ConfigError(where + ": " + e.what());
    }
  };
  for (const auto& j : o.judges) add(j, "--judge");
  if (!o.tokens_file.empty()) {
    std::ifstream in(o.tokens_file);
    if (!in) throw ConfigError(o.tokens_file + ": cannot read the tokens file");
    std::string line;
    for (int n = 1; std::getline(in, line); ++n) {
      line.erase(0, line.find_first_not_of(" \t"));
      line.erase(line.find_last_not_of(" \t\r") + 1);
      if (line.empty() || line[0] == '#') continue;
      add(line, o.tokens_file + ":" + std::to_string(n));
    }
  }
  if (given.empty())
    throw ConfigError("serve: no judges; give --judge NAME=TOKEN (repeatable) or --tokens FILE");
  std::string names;
  for (const auto& [name, token] : given) {
    if (options.tokens.count(token))
      throw ConfigError("serve: judges '" + options.tokens[token] + "' and '" + name +
                        "' have the same token");
    options.tokens[token] = name;
    names += (names.empty() ? "" : ", ") + name;
  }
  std::unique_ptr<JudgeService> service;
  try {
    service = std::make_unique<JudgeService>(options);
  } catch (const StoreError& e) {
    throw DataError(e.what());
  }
  std::signal(SIGINT, OnSignal);
  std::signal(SIGTERM, OnSignal);
  std::cout << "judging service for " << o.db << " at http://" << o.bind << ":" << service->port()
            << " (judges: " << names << "); Ctrl-C stops it" << std::endl;
  while (!InterruptFlag().load()) std::this_thread::sleep_for(std::chrono::milliseconds(100));
  service->Stop();
  const HttpServerStats s = service->stats();
  std::cout << "stopped: " << s.requests << " requests, " << s.rejected << " rejected, "
            << s.connections << " connections" << std::endl;
  return 0;
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

  ServeOptions serve;
  auto* serve_cmd = app.add_subcommand(
      "serve", "Serve the human-judge queue of --db over HTTP, for oversight-gui --connect");
  serve_cmd->add_option("--db", serve.db, "SQLite file")->required();
  serve_cmd->add_option("--port", serve.port, "TCP port (0: any free one)")
      ->check(CLI::Range(0, 65535))
      ->capture_default_str();
  serve_cmd->add_option("--bind", serve.bind, "Address to listen on (0.0.0.0: every interface)")
      ->capture_default_str();
  serve_cmd->add_option("--judge", serve.judges, "A judge and its token: NAME=TOKEN (repeatable)");
  serve_cmd->add_option("--tokens", serve.tokens_file, "File of NAME=TOKEN lines");
  serve_cmd->add_option("--threads", serve.threads, "Server threads")
      ->check(CLI::Range(1, 64))
      ->capture_default_str();
  serve_cmd->add_option("--stale-after", serve.stale_after_s,
                        "Seconds after which an unanswered claim is free again")
      ->check(CLI::Range(1.0, 7 * 86400.0))
      ->capture_default_str();

  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    const int rc = app.exit(e);
    return rc == 0 ? 0 : 2;
  }

  try {
    if (*run_cmd) return Run(config_path, run, sets);
    if (*query_cmd) return RunQueryCommand(db, sql, format, std::cout, std::cerr);
    if (*serve_cmd) return Serve(serve);
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
