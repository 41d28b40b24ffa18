// Every config shipped in experiments/configs parses and validates with the
// registries of the `oversight` binary (every stage's options included), so
// a long run never fails at its tenth stage on a typo.
#include <catch2/catch.hpp>

#include <filesystem>

#include "agents/policy.h"
#include "engine/config.h"
#include "engine/experiment.h"

using namespace oversight;

TEST_CASE("Every shipped experiment config parses and validates", "[configs]") {
  const Registries r = AllRegistries();
  int checked = 0;
  for (const auto& entry : std::filesystem::directory_iterator(std::string(OVERSIGHT_REPO) + "/experiments/configs")) {
    if (entry.path().extension() != ".json") continue;
    const std::string path = entry.path().string();
    INFO(path);
    CHECK_NOTHROW(ParseExperiment(LoadJsonFile(path), path, r));
    ++checked;
  }
  CHECK(checked >= 10);
}
