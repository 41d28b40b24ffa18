// Bad configs through the real command line: each must exit with status 2,
// print one line naming the file, the JSON path and what was expected, and
// leave no database behind.
#include <catch2/catch.hpp>

#include <filesystem>
#include <fstream>

#include <nlohmann/json.hpp>

#include "engine/config.h"
#include "engine/util.h"
#include "tests/test_util.h"

using namespace oversight;
using namespace oversight::testing;
using nlohmann::json;

namespace {

json Base() { return json::parse(ReadFile(ConfigPath("tiny_judge.json"))); }

struct BadCase {
  std::string label;
  std::function<void(json&)> edit;
  std::string expected;  // substring of the error line
};

void ExpectRejected(const std::string& config_text, const std::vector<std::string>& extra,
                    const std::string& expected) {
  TempDir dir("badcfg");
  const std::string cfg = dir / "bad.json";
  std::ofstream(cfg) << config_text;
  std::vector<std::string> args{"run", cfg, "--db", dir / "runs.db"};
  args.insert(args.end(), extra.begin(), extra.end());
  const CommandResult r = RunOversight(args);
  INFO("stderr: " << r.err);
  CHECK(r.status == 2);
  CHECK_THAT(r.err, Catch::StartsWith("error: " + cfg + ": ") || Catch::StartsWith("error: --"));
  CHECK_THAT(r.err, Catch::Contains(expected));
  // One line, no stack trace.
  CHECK(std::count(r.err.begin(), r.err.end(), '\n') == 1);
  // Nothing was written.
  CHECK_FALSE(std::filesystem::exists(dir / "runs.db"));
}

}  // namespace

TEST_CASE("Bad configs are rejected with file, JSON path and expectation", "[config]") {
  const std::vector<BadCase> cases = {
      {"unknown top-level key", [](json& j) { j["seeed"] = 3; },
       "seeed: unknown key; known keys here:"},
      {"seed of the wrong type", [](json& j) { j["seed"] = "abc"; },
       "seed: expected a non-negative integer, got a string \"abc\""},
      {"pixels as a string", [](json& j) { j["stages"][0]["pixels"] = "six"; },
       "stages[0].pixels: expected an integer in [1, 784], got a string \"six\""},
      {"pixels out of range", [](json& j) { j["stages"][0]["pixels"] = 0; },
       "stages[0].pixels: expected an integer in [1, 784], got 0"},
      {"fractional batches", [](json& j) { j["stages"][0]["batches"] = 2.5; },
       "stages[0].batches: expected an integer in [1, 100000000], got the number 2.5"},
      {"negative learning rate", [](json& j) { j["stages"][0]["learning_rate"] = -0.1; },
       "stages[0].learning_rate: expected a number in [1e-08, 1], got -0.1"},
      {"unknown stage kind", [](json& j) { j["stages"][0]["kind"] = "trian_judge"; },
       "stages[0].kind: unknown stage kind 'trian_judge'; known: amplify, best_of_n, dpo, episodes, ppo, process_episodes, process_eval, process_ppo, process_rm, process_sft, proxy_rm, sft, train_judge, train_rm"},
      {"unknown judge", [](json& j) { j["stages"][1]["judge"]["name"] = "sparse_mnst"; },
       "stages[1].judge.name: unknown judge 'sparse_mnst'; known: human, remote, sparse"},
      {"unknown protocol", [](json& j) { j["stages"][1]["protocol"]["name"] = "debat"; },
       "stages[1].protocol.name: unknown protocol 'debat'; known: consultancy, debate, direct"},
      {"unknown nested key", [](json& j) { j["stages"][1]["protocol"]["pixel"] = 4; },
       "stages[1].protocol.pixel: unknown key"},
      {"unknown task key", [](json& j) { j["stages"][1]["task"]["spilt"] = "test"; },
       "stages[1].task.spilt: unknown key"},
      {"bad enum", [](json& j) { j["stages"][1]["task"]["split"] = "validation"; },
       "stages[1].task.split: expected one of \"train\", \"test\", got \"validation\""},
      {"unknown dataset", [](json& j) { j["stages"][0]["dataset"] = "cifar10"; },
       "stages[0].dataset: expected one of \"mnist\", \"fashion_mnist\""},
      {"bad device", [](json& j) { j["device"] = "gpu"; },
       "device: expected one of \"cpu\", \"cuda\", \"auto\", got \"gpu\""},
      {"cuda without a CUDA build", [](json& j) { j["device"] = "cuda"; },
       "device \"cuda\" requested, but this LibTorch build has no CUDA support"},
      {"duplicate stage names", [](json& j) { j["stages"][1]["name"] = "train"; },
       "stages[1].name: duplicate stage name 'train'"},
      {"no stages", [](json& j) { j["stages"] = json::array(); },
       "stages: expected at least one stage"},
      {"stages not an array", [](json& j) { j["stages"] = 3; },
       "stages: expected an array of objects, got the integer 3"},
      {"stage not an object", [](json& j) { j["stages"][1] = "episodes"; },
       "stages[1]: expected an object, got a string \"episodes\""},
      {"missing name", [](json& j) { j.erase("name"); }, "name: missing; expected a string"},
      {"missing artifact", [](json& j) { j["stages"][0].erase("artifact"); },
       "stages[0].artifact: missing; expected a string"},
      {"debate without a liar",
       [](json& j) {
         j["stages"][1]["protocol"] = {{"name", "debate"}, {"honest", {{"name", "greedy"}}}};
       },
       "stages[1].protocol.liar: missing; expected an object"},
      {"debate with an unknown agent option",
       [](json& j) {
         j["stages"][1]["protocol"] = {{"name", "debate"},
                                       {"honest", {{"name", "mcts"}, {"rolouts", 10}}},
                                       {"liar", {{"name", "greedy"}}}};
       },
       "stages[1].protocol.honest.rolouts: unknown key"},
      {"consultancy without a consultant",
       [](json& j) { j["stages"][1]["protocol"] = {{"name", "consultancy"}}; },
       "stages[1].protocol.consultant: missing; expected an object"},
      {"consultancy given debate's players",
       [](json& j) {
         j["stages"][1]["protocol"] = {{"name", "consultancy"},
                                       {"consultant", {{"name", "greedy"}}},
                                       {"liar", {{"name", "greedy"}}}};
       },
       "stages[1].protocol.liar: unknown key"},
      {"debate with a non-boolean shared_cache",
       [](json& j) {
         j["stages"][1]["protocol"] = {{"name", "debate"},
                                       {"shared_cache", "yes"},
                                       {"honest", {{"name", "greedy"}}},
                                       {"liar", {{"name", "greedy"}}}};
       },
       "stages[1].protocol.shared_cache: expected true or false, got a string \"yes\""},
      {"mcts with an unknown evaluator",
       [](json& j) {
         j["stages"][1]["protocol"] = {{"name", "debate"},
                                       {"honest", {{"name", "mcts"}, {"evaluator", "gpu"}}},
                                       {"liar", {{"name", "greedy"}}}};
       },
       "stages[1].protocol.honest.evaluator: expected one of \"session\", \"forward\", \"batched\", got \"gpu\""},
      {"human judge whose model is not a sparse judge",
       [](json& j) {
         j["stages"][1]["judge"] = {{"name", "human"}, {"model", {{"name", "oracle"}}}};
       },
       "stages[1].judge.model.name: the human judge's model must be \"sparse\""},
      {"human judge with a zero timeout",
       [](json& j) {
         j["stages"][1]["judge"] = {{"name", "human"},
                                    {"model", {{"name", "sparse"}, {"checkpoint", "k6"}}},
                                    {"timeout_s", 0}};
       },
       "stages[1].judge.timeout_s"},
      {"consultancy with a human judge",
       [](json& j) {
         j["stages"][1]["judge"] = {{"name", "human"},
                                    {"model", {{"name", "sparse"}, {"checkpoint", "k6"}}}};
         j["stages"][1]["protocol"] = {{"name", "consultancy"}, {"consultant", {{"name", "greedy"}}}};
       },
       "consultancy cannot have a human judge yet"},
      {"judge missing", [](json& j) { j["stages"][1].erase("judge"); },
       "stages[1].protocol: protocol 'direct' needs a judge of sparse-pixel images"},
  };
  for (const auto& c : cases) {
    SECTION(c.label) {
      json j = Base();
      c.edit(j);
      ExpectRejected(j.dump(2), {}, c.expected);
    }
  }
}

TEST_CASE("Invalid JSON and missing files are rejected", "[config]") {
  ExpectRejected("{\n  \"name\": \"x\",\n  \"seed\": 1,\n", {}, "invalid JSON: parse error at line 4");
  TempDir dir("nocfg");
  const CommandResult r = RunOversight({"run", dir / "missing.json", "--db", dir / "r.db"});
  CHECK(r.status == 2);
  CHECK_THAT(r.err, Catch::Contains(dir / "missing.json") && Catch::Contains("cannot open config file"));
  CHECK_FALSE(std::filesystem::exists(dir / "r.db"));
}

TEST_CASE("Set overrides (--set) keys with the same checks", "[config]") {
  const std::string base = Base().dump();
  ExpectRejected(base, {"--set", "stages[0].pixels=abc"},
                 "stages[0].pixels: expected an integer in [1, 784], got a string \"abc\"");
  ExpectRejected(base, {"--set", "stages[5].pixels=3"},
                 "--set stages[5].pixels=3: stages[5]: index out of range (the array has 2 elements)");
  ExpectRejected(base, {"--set", "stages[0].pixelz=3"}, "stages[0].pixelz: unknown key");
  ExpectRejected(base, {"--set", "nothing"}, "expected KEY=VALUE");
  ExpectRejected(base, {"--set", "stages[0].optimizer.lr=3"},
                 "stages[0].optimizer: no such key in the config");
}

TEST_CASE("ApplyOverride parses JSON values and falls back to strings", "[config]") {
  json j = json::parse(R"({"a": {"b": [1, {"c": 2}]}, "s": "x"})");
  ApplyOverride(j, "f.json", "a.b[1].c=5");
  ApplyOverride(j, "f.json", "s=hello world");
  ApplyOverride(j, "f.json", "a.flag=true");
  ApplyOverride(j, "f.json", "a.list=[1,2]");
  CHECK(j["a"]["b"][1]["c"] == 5);
  CHECK(j["s"] == "hello world");
  CHECK(j["a"]["flag"] == true);
  CHECK(j["a"]["list"] == json::array({1, 2}));
}

TEST_CASE("Usage errors exit with status 2", "[config]") {
  CHECK(RunOversight({}).status == 2);
  CHECK(RunOversight({"frobnicate"}).status == 2);
  CHECK(RunOversight({"run"}).status == 2);
  CHECK(RunOversight({"query", "--db", "x.db", "select 1", "--format", "xml"}).status == 2);
}

TEST_CASE("Missing data is a clear error with status 2", "[config]") {
  TempDir dir("nodata");
  setenv("OVERSIGHT_DATA_DIR", dir.path().c_str(), 1);
  const CommandResult r = RunOversight({"run", ConfigPath("tiny_judge.json"), "--db", dir / "r.db"});
  unsetenv("OVERSIGHT_DATA_DIR");
  CHECK(r.status == 2);
  CHECK_THAT(r.err, Catch::Contains(dir / "mnist/package/src/digits/0.json") &&
                        Catch::Contains("missing MNIST data") &&
                        Catch::Contains("run scripts/setup.sh"));
  CHECK(QueryOne(dir / "r.db", "SELECT status FROM experiments") == "failed");
}
