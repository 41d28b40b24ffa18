// The text protocols on two-option questions (see protocols/text.h).
//
//   "protocol": {"name": "direct", "passage": false}
//   "protocol": {"name": "consultancy", "rounds": 3,
//                "consultant": {"name": "remote", ...}}
//   "protocol": {"name": "debate", "rounds": 3, "turns": "simultaneous",
//                "debaters": [{"name": "remote", ...}]}
//
// direct       the judge answers alone, shown the passage when "passage" is
//              true. Two variants per question: the answers in the dataset's
//              order, then swapped (judges favour positions).
// consultancy  one consultant argues for an assigned answer for `rounds`
//              arguments, each seeing its earlier ones; the judge then
//              answers. Two variants: the consultant argues answer 0, then
//              answer 1 (so half the time for the wrong one), answers in the
//              dataset's order.
// debate       two debaters, each assigned one answer, argue for `rounds`
//              rounds; "simultaneous" turns see only earlier rounds,
//              "sequential" ones also the other's argument of this round.
//              "debaters": one agent (self-play, both sides) or two (the
//              first argues the dataset's answer 0). Two variants: answer 0
//              shown (and spoken) first as A, then answer 1.
// The judge never sees the passage in consultancy and debate.
//
// Logged: each argument a turn (role "consultant" or "debater_a"/"debater_b",
// content the argument with quotes marked, action {"answer", "side",
// "round", "quotes", "verified", "unverified", "usage"}); the judgement's
// verdict is the dataset index of the chosen answer ("0"/"1"), detail has
// the raw answers and usage. outcome = that index; correct = it equals the
// correct one. A judge whose answer cannot be parsed after its tries gives
// verdict "unparseable", episode status "unparseable" and correct NULL. A
// model server that fails after its retries makes the episode "failed", with
// the reason in episodes.error and no turns or judgements (`--resume` plays
// failed episodes again).
#include <future>

#include <nlohmann/json.hpp>

#include "protocols/protocols.h"
#include "protocols/text.h"

namespace oversight {
namespace {

using Fields = std::map<std::string, std::string>;

const char* SideName(int side) { return side == 0 ? "A" : "B"; }

// One game's facts: the question and which dataset answer is shown as A.
struct TextGame {
  const QaQuestion* q = nullptr;
  int first = 0;  // dataset index of answer A

  int Dataset(int side) const { return side == 0 ? first : 1 - first; }
  int Side(int dataset_index) const { return dataset_index == first ? 0 : 1; }
  Fields Base(const std::string& protocol, int rounds) const {
    return {{"question", q->question},
            {"answer_a", q->answers[Dataset(0)]},
            {"answer_b", q->answers[Dataset(1)]},
            {"protocol", protocol},
            {"rounds", std::to_string(rounds)},
            {"passage", ""},
            {"transcript", ""}};
  }
  // What the speaker for answer `side` (0 = A) is told in `round`.
  Fields Speaker(const std::string& protocol, int rounds, int side, int round,
                 const std::string& transcript) const {
    Fields f = Base(protocol, rounds);
    f["passage"] = q->passage;
    f["side"] = SideName(side);
    f["your_answer"] = q->answers[Dataset(side)];
    f["other_answer"] = q->answers[1 - Dataset(side)];
    f["round"] = std::to_string(round);
    f["transcript"] = transcript;
    return f;
  }
};

// The agent at `node` (registry `reg`), which must argue in text.
std::unique_ptr<TextAgent> CreateTextAgent(const ConfigNode& node, const Registries& reg) {
  auto agent = reg.agents.Create(node, "name");
  if (!dynamic_cast<TextAgent*>(agent.get()))
    node.FailAt("name",
                "agent '" + node.RequireString("name") + "' cannot argue in text; use \"remote\"");
  node.RejectUnknownKeys();
  return std::unique_ptr<TextAgent>(static_cast<TextAgent*>(agent.release()));
}

class TextProtocol : public Protocol {
 public:
  TextProtocol(std::string name, QaTask& task, TextJudge& judge, int rounds)
      : name_(std::move(name)), task_(task), judge_(judge), rounds_(rounds) {}

  std::string name() const override { return name_; }
  void Open(StageContext& ctx) override {
    for (auto& a : agents_) a->Open(ctx);
  }
  int VariantsPerInstance() const override { return 2; }

  void Play(const TaskInstance& inst, int variant, Rng& rng, EpisodeRecord& rec,
            InstanceState*) const override {
    const QaQuestion& q = task_.question(static_cast<size_t>(inst.index));
    try {
      PlayGame(q, variant, rng, rec);
    } catch (const TextModelError& e) {
      // Nothing half-written: the episode is kept, failed, with the reason.
      rec.turns.clear();
      rec.judgements.clear();
      rec.outcome = "failed";
      rec.correct.reset();
      rec.status = "failed";
      rec.error = e.what();
    }
  }

 protected:
  virtual void PlayGame(const QaQuestion& q, int variant, Rng& rng, EpisodeRecord& rec) const = 0;

  // Logs one argument as a turn; returns its quote-marked text.
  std::string Argue(const TextAgent& agent, const Fields& fields, const std::string& role,
                    const TextGame& game, int side, int round, Rng& rng, EpisodeRecord& rec) const {
    return LogArgument(agent.Speak(fields, rng()), agent, role, game, side, round, rec);
  }

  // Logs an argument `call` made as a turn; returns its quote-marked text.
  std::string LogArgument(const TextCall& call, const TextAgent& agent, const std::string& role,
                          const TextGame& game, int side, int round, EpisodeRecord& rec) const {
    const CheckedArgument checked = CheckQuotes(call.text, game.q->passage);
    nlohmann::json quotes = nlohmann::json::array();
    int verified = 0;
    for (const Quote& quote : checked.quotes) {
      quotes.push_back({{"text", quote.text}, {"verified", quote.verified}});
      verified += quote.verified ? 1 : 0;
    }
    TurnRecord t;
    t.idx = static_cast<int>(rec.turns.size());
    t.role = role;
    t.agent = agent.name();
    t.action = nlohmann::json{{"answer", game.Dataset(side)},
                              {"side", SideName(side)},
                              {"round", round},
                              {"quotes", quotes},
                              {"verified", verified},
                              {"unverified", static_cast<int>(checked.quotes.size()) - verified},
                              {"usage", nlohmann::json::parse(call.usage_json)}}
                   .dump();
    t.content = checked.marked;
    t.latency_ms = call.latency_ms;
    rec.turns.push_back(std::move(t));
    return checked.marked;
  }

  // Asks the judge and logs the judgement and the outcome.
  void Decide(const Fields& fields, const TextGame& game, Rng& rng, EpisodeRecord& rec) const {
    const TextVerdict v = judge_.Decide(fields, rng(), rec);
    if (v.timed_out) {
      // As the image human judge: kept, without a judgement, not counted.
      rec.outcome = "timed_out";
      rec.status = "timed_out";
      rec.correct.reset();
      return;
    }
    JudgementRecord j;
    j.judge = judge_.name();
    j.judge_kind = judge_.kind();
    j.latency_ms = v.latency_ms;
    nlohmann::json detail{{"answers", v.answers},
                          {"usage", nlohmann::json::parse(v.usage_json)},
                          {"shown_first", game.first}};
    if (!v.reason.empty()) detail["reason"] = v.reason;
    if (v.choice) {
      const int chosen = game.Dataset(*v.choice);
      j.verdict = std::to_string(chosen);
      j.confidence = v.confidence;
      detail["side"] = SideName(*v.choice);
      rec.outcome = j.verdict;
      rec.correct = chosen == game.q->correct ? 1 : 0;
    } else {
      j.verdict = "unparseable";
      rec.outcome = "unparseable";
      rec.status = "unparseable";
      rec.correct.reset();
    }
    j.detail = detail.dump();
    rec.judgements.push_back(std::move(j));
  }

  std::string name_;
  QaTask& task_;
  TextJudge& judge_;
  int rounds_;
  std::vector<std::unique_ptr<TextAgent>> agents_;  // the speakers, if any
};

class TextDirect : public TextProtocol {
 public:
  TextDirect(QaTask& task, TextJudge& judge, bool passage)
      : TextProtocol("direct", task, judge, 0), passage_(passage) {}

  std::string VariantName(int variant) const override {
    return variant == 0 ? "#first=0" : "#first=1";
  }

 protected:
  void PlayGame(const QaQuestion& q, int variant, Rng& rng, EpisodeRecord& rec) const override {
    const TextGame game{&q, variant};
    Fields fields = game.Base(name_, 0);
    if (passage_) fields["passage"] = q.passage;
    Decide(fields, game, rng, rec);
  }

 private:
  bool passage_;
};

class TextConsultancy : public TextProtocol {
 public:
  TextConsultancy(QaTask& task, TextJudge& judge, int rounds, std::unique_ptr<TextAgent> consultant)
      : TextProtocol("consultancy", task, judge, rounds) {
    agents_.push_back(std::move(consultant));
  }

  std::string VariantName(int variant) const override {
    return variant == 0 ? "#argues=0" : "#argues=1";
  }

 protected:
  void PlayGame(const QaQuestion& q, int variant, Rng& rng, EpisodeRecord& rec) const override {
    const TextGame game{&q, 0};
    const int side = game.Side(variant);
    std::string transcript;
    for (int r = 1; r <= rounds_; ++r) {
      const Fields fields = game.Speaker(name_, rounds_, side, r, transcript);
      const std::string said = Argue(*agents_[0], fields, "consultant", game, side, r, rng, rec);
      transcript += "Consultant (arguing for " + std::string(SideName(side)) + "), round " +
                    std::to_string(r) + ":\n" + said + "\n\n";
    }
    Fields fields = game.Base(name_, rounds_);
    fields["transcript"] = transcript;
    fields["side"] = SideName(side);  // the answer the consultant argued
    Decide(fields, game, rng, rec);
  }
};

class TextDebate : public TextProtocol {
 public:
  // `debaters`: one for both sides, or answer 0's and answer 1's.
  TextDebate(QaTask& task, TextJudge& judge, int rounds, bool sequential,
             std::vector<std::unique_ptr<TextAgent>> debaters)
      : TextProtocol("debate", task, judge, rounds), sequential_(sequential) {
    agents_ = std::move(debaters);
  }

  std::string VariantName(int variant) const override {
    return variant == 0 ? "#first=0" : "#first=1";
  }

 protected:
  void PlayGame(const QaQuestion& q, int variant, Rng& rng, EpisodeRecord& rec) const override {
    const TextGame game{&q, variant};
    std::string transcript;
    auto agent = [&](int side) -> const TextAgent& {
      return *agents_[agents_.size() == 1 ? 0 : game.Dataset(side)];
    };
    auto role = [](int side) { return side == 0 ? "debater_a" : "debater_b"; };
    auto append = [&](int side, int r, const std::string& said) {
      transcript += "Debater " + std::string(SideName(side)) + ", round " + std::to_string(r) +
                    ":\n" + said + "\n\n";
    };
    for (int r = 1; r <= rounds_; ++r) {
      if (sequential_) {
        for (int side = 0; side < 2; ++side)
          append(side, r,
                 Argue(agent(side), game.Speaker(name_, rounds_, side, r, transcript), role(side),
                       game, side, r, rng, rec));
        continue;
      }
      // Simultaneous: both see only earlier rounds, so both calls go out at
      // once (the seeds are drawn in the same order as one after the other).
      const Fields fa = game.Speaker(name_, rounds_, 0, r, transcript);
      const Fields fb = game.Speaker(name_, rounds_, 1, r, transcript);
      const uint64_t seed_a = rng(), seed_b = rng();
      auto b = std::async(std::launch::async, [&] { return agent(1).Speak(fb, seed_b); });
      TextCall a;
      try {
        a = agent(0).Speak(fa, seed_a);
      } catch (...) {
        b.wait();  // B's call uses this frame's fields
        throw;
      }
      const TextCall b_call = b.get();  // rethrows B's failure
      append(0, r, LogArgument(a, agent(0), role(0), game, 0, r, rec));
      append(1, r, LogArgument(b_call, agent(1), role(1), game, 1, r, rec));
    }
    Fields fields = game.Base(name_, rounds_);
    fields["transcript"] = transcript;
    Decide(fields, game, rng, rec);
  }

 private:
  bool sequential_;
};

TextJudge& RequireTextJudge(const ConfigNode& node, Judge* judge) {
  auto* text = dynamic_cast<TextJudge*>(judge);
  if (!text)
    node.Fail(judge ? "judge '" + judge->name() +
                          "' cannot judge text; use \"remote\", or \"human\" without \"model\""
                    : "a text protocol needs a judge; add \"judge\": {\"name\": \"remote\", ...}");
  return *text;
}

std::unique_ptr<Protocol> MakeTextProtocol(const ConfigNode& node, const Registries& reg,
                                           QaTask& task, Judge* judge) {
  const std::string name = node.RequireString("name");
  TextJudge& text_judge = RequireTextJudge(node, judge);
  if (name == "direct")
    return std::make_unique<TextDirect>(task, text_judge, node.Bool("passage", false));
  const int rounds = static_cast<int>(node.Int("rounds", 3, 1, 20));
  if (name == "consultancy")
    return std::make_unique<TextConsultancy>(task, text_judge, rounds,
                                             CreateTextAgent(node.Child("consultant"), reg));
  const bool sequential =
      node.Enum("turns", "simultaneous", {"simultaneous", "sequential"}) == "sequential";
  const auto list = node.Elements("debaters");
  if (list.empty() || list.size() > 2)
    node.FailAt("debaters", "expected one agent (both sides) or two (answer 0's, answer 1's)");
  std::vector<std::unique_ptr<TextAgent>> debaters;
  for (const ConfigNode& d : list) debaters.push_back(CreateTextAgent(d, reg));
  return std::make_unique<TextDebate>(task, text_judge, rounds, sequential, std::move(debaters));
}

}  // namespace

void RegisterTextProtocols(Registries& registries) {
  registries.tasks.Add("qa", [](const ConfigNode& node) -> std::unique_ptr<Task> {
    return std::make_unique<QaTask>(node.RequireString("path"));
  });
  // The image protocols of the same names keep their factories for other
  // tasks.
  for (const char* name : {"direct", "consultancy", "debate"}) {
    auto image = registries.protocols.Find(name);
    registries.protocols.Add(
        name,
        [image](const ConfigNode& node, const Registries& reg, Task& task,
                Judge* judge) -> std::unique_ptr<Protocol> {
          if (auto* qa = dynamic_cast<QaTask*>(&task))
            return MakeTextProtocol(node, reg, *qa, judge);
          if (!image)
            node.Fail("protocol '" + node.RequireString("name") + "' needs a \"qa\" task");
          return image(node, reg, task, judge);
        });
  }
}

}  // namespace oversight
