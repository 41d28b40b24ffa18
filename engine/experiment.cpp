#include "engine/experiment.h"

#include <filesystem>
#include <iostream>
#include <set>

#include "engine/util.h"

namespace oversight {

std::atomic<bool>& InterruptFlag() {
  static std::atomic<bool> flag{false};
  return flag;
}

ExperimentOptions ParseExperiment(const nlohmann::json& config,
                                  const std::string& file,
                                  const Registries& registries) {
  ConfigNode root(std::make_shared<nlohmann::json>(config), file);
  ExperimentOptions o;
  o.name = root.RequireString("name");
  o.seed = root.Uint64("seed", o.seed);
  o.device = root.Enum("device", o.device, {"cpu", "cuda", "auto"});
  o.threads = static_cast<int>(root.Int("threads", o.threads, 1, 256));
  root.String("description", "");  // free text for people
  std::set<std::string> names;
  for (const ConfigNode& node : root.Elements("stages")) {
    ExperimentOptions::StageSpec spec;
    spec.kind = node.RequireString("kind");
    spec.name = node.String("name", spec.kind);
    if (!names.insert(spec.name).second)
      node.FailAt("name", "duplicate stage name '" + spec.name +
                              "'; give each stage a unique \"name\"");
    spec.stage = registries.stages.Create(node, "kind", registries);
    node.RejectUnknownKeys();
    o.stages.push_back(std::move(spec));
  }
  if (o.stages.empty())
    root.FailAt("stages", "expected at least one stage");
  root.RejectUnknownKeys();
  return o;
}

RunStatus RunExperiment(ExperimentOptions& options, const nlohmann::json& config,
                        const RunOptions& run, int64_t* experiment_id_out) {
  auto store = Store::Open(run.db_path);
  const std::string config_json = config.dump();
  int64_t id = 0;
  if (run.resume) {
    auto row = store->FindResumable(options.name);
    if (!row)
      throw ConfigError(run.db_path + ": --resume: no unfinished experiment named '" +
                        options.name + "' in this database");
    if (row->config_json != config_json)
      throw ConfigError(run.db_path + ": --resume: experiment " + std::to_string(row->id) +
                        " ('" + options.name +
                        "') was started with a different config; resume with the same "
                        "config file and --set values");
    id = row->id;
    store->SetExperimentStatus(id, "running");
    std::cerr << "resuming experiment " << id << " (" << options.name << ")\n";
  } else {
    id = store->CreateExperiment(options.name, config_json, options.seed, CodeVersion());
    std::cerr << "experiment " << id << " (" << options.name << ") -> " << run.db_path << "\n";
  }
  if (experiment_id_out) *experiment_id_out = id;

  StageContext ctx;
  ctx.store = store.get();
  ctx.experiment_id = id;
  ctx.seed = options.seed;
  ctx.device = run.device.empty() ? "cpu" : run.device;
  ctx.threads = run.threads > 0 ? run.threads : options.threads;
  ctx.resume = run.resume;
  ctx.artifacts_dir = run.db_path + ".artifacts/exp-" + std::to_string(id);
  std::filesystem::create_directories(ctx.artifacts_dir);

  for (size_t i = 0; i < options.stages.size(); ++i) {
    auto& spec = options.stages[i];
    ctx.stage_index = static_cast<int>(i);
    ctx.stage_name = spec.name;
    auto status = store->GetStageStatus(id, ctx.stage_index);
    if (status && *status == "finished") {
      std::cerr << "stage " << i << " '" << spec.name << "' already finished\n";
      continue;
    }
    store->SetStageStatus(id, ctx.stage_index, spec.name, spec.kind, "running");
    std::cerr << "stage " << i << " '" << spec.name << "' (" << spec.kind << ")\n";
    try {
      ctx.CheckInterrupt();
      spec.stage->Run(ctx);
    } catch (const Interrupted&) {
      store->SetStageStatus(id, ctx.stage_index, spec.name, spec.kind, "interrupted");
      store->SetExperimentStatus(id, "interrupted");
      std::cerr << "interrupted: experiment " << id
                << " marked interrupted; continue it with --resume\n";
      return RunStatus::kInterrupted;
    } catch (...) {
      store->SetStageStatus(id, ctx.stage_index, spec.name, spec.kind, "failed");
      store->SetExperimentStatus(id, "failed");
      throw;
    }
    store->SetStageStatus(id, ctx.stage_index, spec.name, spec.kind, "finished");
  }
  store->SetExperimentStatus(id, "finished");
  return RunStatus::kFinished;
}

}  // namespace oversight
