// Judge "human": a person judges through oversight-gui's queue (on the file,
// or through `oversight serve` from other machines).
//
//   image protocols:
//   "judge": {"name": "human",
//             "model": {"name": "sparse", "checkpoint": "judge_mnist_k6"},
//             "timeout_s": 600, "poll_ms": 200}
//   text protocols (task "qa"):
//   "judge": {"name": "human", "timeout_s": 600, "poll_ms": 200}
//
//   model      the judge the debaters search against (a person cannot answer
//              a search's millions of questions); must be "sparse". Without
//              it the judge is for text protocols: the person sees the
//              question, both answers, the arguments with their quotes
//              marked (TextQuestionJson(), protocols/text.h) and answers A or
//              B.
//   timeout_s  how long an episode waits for a verdict; after it the episode
//              is logged as timed out (status timed_out, no judgement, correct
//              NULL): kept, not lost, not counted as a verdict. 1 .. 7 days.
//   poll_ms    how often the waiting episode reads the queue. 10 .. 10,000.
// Each waiting episode holds its worker; run with as many threads as you
// want items open at once.
#include <chrono>
#include <thread>

#include "engine/store.h"
#include "judges/judges.h"
#include "protocols/text.h"

namespace oversight {
namespace {

// Queues `item` (or finds it, for a resumed episode) and polls for the
// verdict; nullopt after `timeout_s` (the item is then timed out). Throws
// Interrupted on Ctrl-C, leaving the item for the resumed run.
std::optional<HumanVerdict> WaitForVerdict(const std::string& db_path, const PendingJudgement& item,
                                           double timeout_s, int poll_ms) {
  // A connection of this worker's own (the stage's is the main thread's).
  auto store = Store::Open(db_path);
  const PendingJudgement queued = store->AddPending(item);
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::duration<double>(timeout_s);
  for (;;) {
    const auto now = store->GetPending(queued.id);
    if (now && now->status == "answered") return now->verdict;
    if (now && now->status == "timed_out") return std::nullopt;
    if (InterruptFlag().load()) throw Interrupted();
    if (std::chrono::steady_clock::now() >= deadline) {
      if (store->TimeOutPending(queued.id)) return std::nullopt;
      continue;  // answered just now: read it
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(poll_ms));
  }
}

class HumanJudge : public HumanImageJudge {
 public:
  HumanJudge(std::unique_ptr<SparseImageJudge> model, double timeout_s, int poll_ms)
      : model_(std::move(model)), timeout_s_(timeout_s), poll_ms_(poll_ms) {}

  std::string name() const override { return "human"; }
  JudgeKind kind() const override { return JudgeKind::kHuman; }
  void Open(StageContext& ctx) override {
    model_->Open(ctx);
    db_path_ = ctx.store->path();
  }
  void Logits(const std::vector<SparseQuery>& q,
              std::vector<oversight::Logits>* out) const override {
    model_->Logits(q, out);
  }
  std::unique_ptr<SparseJudgeSession> NewSession(const uint8_t* image) const override {
    return model_->NewSession(image);
  }

  std::optional<HumanVerdict> Ask(const PendingJudgement& item) const override {
    return WaitForVerdict(db_path_, item, timeout_s_, poll_ms_);
  }

 private:
  std::unique_ptr<SparseImageJudge> model_;
  double timeout_s_;
  int poll_ms_;
  std::string db_path_;
};

// A person judging a text protocol's episode: A or B.
class HumanTextJudge : public TextJudge {
 public:
  HumanTextJudge(double timeout_s, int poll_ms) : timeout_s_(timeout_s), poll_ms_(poll_ms) {}
  std::string name() const override { return "human"; }
  JudgeKind kind() const override { return JudgeKind::kHuman; }
  void Open(StageContext& ctx) override { db_path_ = ctx.store->path(); }

  TextVerdict Decide(const std::map<std::string, std::string>& fields, uint64_t,
                     const EpisodeRecord& episode) const override {
    PendingJudgement item;
    item.experiment_id = episode.experiment_id;
    item.stage = episode.stage;
    item.episode_idx = episode.idx;
    item.protocol = episode.protocol;
    item.task = episode.task;
    item.instance = episode.instance;
    item.question = TextQuestionJson(fields);
    TextVerdict out;
    const auto v = WaitForVerdict(db_path_, item, timeout_s_, poll_ms_);
    if (!v) {
      out.timed_out = true;
      return out;
    }
    // The service and the GUI only accept "A" or "B" (the item's choices).
    if (v->verdict == "A" || v->verdict == "B") out.choice = v->verdict == "A" ? 0 : 1;
    out.confidence = v->confidence;
    out.reason = v->reason;
    out.latency_ms = v->latency_ms;
    out.answers.push_back(v->verdict);
    return out;
  }

 private:
  double timeout_s_;
  int poll_ms_;
  std::string db_path_;
};

}  // namespace

void RegisterHumanJudge(Registries& registries) {
  registries.judges.Add("human", [](const ConfigNode& node) -> std::unique_ptr<Judge> {
    const double timeout_s = node.Number("timeout_s", 600, 1, 7 * 24 * 3600);
    const int poll_ms = static_cast<int>(node.Int("poll_ms", 200, 10, 10000));
    if (!node.Has("model")) return std::make_unique<HumanTextJudge>(timeout_s, poll_ms);
    const ConfigNode model = node.Child("model");
    if (model.RequireString("name") != "sparse")
      model.FailAt("name",
                   "the human judge's model must be \"sparse\" (the judge the "
                   "debaters search against)");
    auto judge = MakeSparseJudge(model);
    model.RejectUnknownKeys();
    return std::make_unique<HumanJudge>(std::move(judge), timeout_s, poll_ms);
  });
}

}  // namespace oversight
