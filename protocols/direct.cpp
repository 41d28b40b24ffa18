// Protocol "direct": the judge alone. k nonzero pixels of the image are drawn
// at random (from the episode's RNG) and revealed; the judge names a class.
// Each reveal is a turn (role "nature"); the judgement's detail holds the
// judge's logits. correct = the judge's class is the true label.
#include <chrono>
#include <algorithm>
#include <cmath>
#include <cstdio>

#include <nlohmann/json.hpp>

#include "protocols/protocols.h"
#include "protocols/sparse_pixels.h"

namespace oversight {
namespace {

struct DirectOptions {
  int pixels = 6;  // k: pixels the judge sees
};

class DirectProtocol : public Protocol {
 public:
  DirectProtocol(DirectOptions o, ImageTask& task, SparseImageJudge& judge)
      : options_(o), task_(task), judge_(judge) {}

  std::string name() const override { return "direct"; }
  void Open(StageContext&) override {}

  void Play(const TaskInstance& inst, int, Rng& rng, EpisodeRecord& rec,
            InstanceState*) const override {
    const size_t i = static_cast<size_t>(inst.index);
    const uint8_t* image = task_.data().image(i);
    const std::vector<int> revealed = SampleRevealed(task_.Nonzero(i), options_.pixels, rng);
    for (size_t t = 0; t < revealed.size(); ++t) {
      const int p = revealed[t];
      TurnRecord turn;
      turn.idx = static_cast<int>(t);
      turn.role = "nature";
      turn.agent = "random";
      turn.action = PixelActionJson(p, image[p]);
      rec.turns.push_back(std::move(turn));
    }
    std::vector<Logits> logits;
    const auto t0 = std::chrono::steady_clock::now();
    judge_.Logits({SparseQuery{image, revealed.data(), static_cast<int>(revealed.size())}},
                  &logits);
    const double ms =
        std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - t0).count();
    const int verdict = ArgMax(logits[0]);
    JudgementRecord j;
    j.judge = judge_.name();
    j.judge_kind = judge_.kind();
    j.verdict = std::to_string(verdict);
    j.confidence = Softmax(logits[0])[verdict];
    j.detail = nlohmann::json{{"logits", logits[0]}}.dump();
    j.latency_ms = ms;
    rec.judgements.push_back(std::move(j));
    rec.outcome = std::to_string(verdict);
    if (inst.truth) rec.correct = (*inst.truth == rec.outcome) ? 1 : 0;
  }

 private:
  DirectOptions options_;
  ImageTask& task_;
  SparseImageJudge& judge_;
};

}  // namespace

std::string PixelActionJson(int pixel, uint8_t value) {
  char buf[96];
  std::snprintf(buf, sizeof buf, "{\"pixel\":%d,\"row\":%d,\"col\":%d,\"value\":%.4f}", pixel,
                pixel / kImageSide, pixel % kImageSide, value / 255.0);
  return buf;
}

std::array<float, kNumClasses> Softmax(const Logits& logits) {
  float m = logits[0];
  for (float x : logits) m = std::max(m, x);
  std::array<float, kNumClasses> p{};
  float sum = 0;
  for (int c = 0; c < kNumClasses; ++c) sum += p[c] = std::exp(logits[c] - m);
  for (float& x : p) x /= sum;
  return p;
}

double LogProbOf(const Logits& logits, int label) {
  double top = logits[0];
  for (float l : logits) top = std::max<double>(top, l);
  double z = 0;
  for (float l : logits) z += std::exp(l - top);
  return logits[static_cast<size_t>(label)] - top - std::log(z);
}

ImageTask& RequireImageTask(const ConfigNode& node, Task& task) {
  auto* image = dynamic_cast<ImageTask*>(&task);
  if (!image)
    node.Fail("protocol '" + node.RequireString("name") +
              "' plays on sparse-pixel image tasks (mnist, fashion_mnist), not '" + task.name() +
              "'");
  return *image;
}

SparseImageJudge& RequireSparseJudge(const ConfigNode& node, Judge* judge) {
  auto* sparse = dynamic_cast<SparseImageJudge*>(judge);
  if (!sparse)
    node.Fail(std::string("protocol '") + node.RequireString("name") +
              "' needs a judge of sparse-pixel images (e.g. {\"name\": \"sparse\", "
              "\"checkpoint\": ...}) in the stage's \"judge\"" +
              (judge ? std::string(", not '") + judge->name() + "'" +
                           (judge->name() == "human"
                                ? " (a person judging images needs \"model\": the judge the "
                                  "debaters search against)"
                                : "")
                     : std::string()));
  return *sparse;
}

std::unique_ptr<Task> CreateImageTask(const ConfigNode& node, const std::string& key,
                                      const Registries& reg, ImageTask** image) {
  const ConfigNode t = node.Child(key);
  std::unique_ptr<Task> task = reg.tasks.Create(t, "name");
  t.RejectUnknownKeys();
  *image = &RequireImageTask(t, *task);
  return task;
}

std::unique_ptr<Judge> CreateSparseJudge(const ConfigNode& node, const std::string& key,
                                         const Registries& reg, SparseImageJudge** sparse) {
  const ConfigNode j = node.Child(key);
  std::unique_ptr<Judge> judge = reg.judges.Create(j, "name");
  j.RejectUnknownKeys();
  *sparse = &RequireSparseJudge(j, judge.get());
  return judge;
}

void RegisterDirectProtocol(Registries& registries) {
  registries.protocols.Add(
      "direct", [](const ConfigNode& node, const Registries&, Task& task, Judge* judge) {
        DirectOptions o;
        o.pixels = static_cast<int>(node.Int("pixels", o.pixels, 1, kImagePixels));
        return std::make_unique<DirectProtocol>(o, RequireImageTask(node, task),
                                                RequireSparseJudge(node, judge));
      });
}

}  // namespace oversight
