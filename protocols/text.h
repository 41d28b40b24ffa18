// Text protocols on two-option questions (protocols/qa_dataset.h): "direct",
// "consultancy" and "debate", played by text agents and judged by text
// judges (the "remote" agent and judge talk to OpenAI-compatible model
// servers: agents/remote_text.cpp). The protocol names are those of the
// image protocols; a "qa" task selects these.
//
// Turns log the argument with every <quote>...</quote> checked against the
// passage and rewritten <v_quote> (verified) or <u_quote> (unverified), as in
// Khan et al. 2024, "Debating with More Persuasive LLMs Leads to More
// Truthful Answers"; the judge sees the rewritten text. No LibTorch here.
#pragma once

#include <map>
#include <optional>
#include <set>
#include <stdexcept>
#include <string>
#include <vector>

#include "engine/interfaces.h"
#include "protocols/qa_dataset.h"

namespace oversight {

// ---- Prompt templates ----

// The placeholders a template may use, filled by the protocols (a field that
// does not apply is ""):
//   question, passage, answer_a, answer_b   the question as shown (the order
//                                           of the answers may be swapped)
//   your_answer, other_answer               the answer a speaker argues for
//                                           and against
//   side                                    "A" or "B": the speaker's label
//   transcript                              the arguments so far
//   round, rounds                           1-based round, and their number
//   protocol                                direct, consultancy or debate
extern const std::set<std::string> kTextFields;

// A prompt file with {{field}} placeholders. Load() throws ConfigError
// "FILE:LINE: ..." for a file that cannot be read, an unclosed "{{" or an
// unknown field.
class PromptTemplate {
 public:
  static PromptTemplate Load(const std::string& path);
  static PromptTemplate FromText(const std::string& text, const std::string& where);
  std::string Render(const std::map<std::string, std::string>& fields) const;

 private:
  std::vector<std::string> pieces_;  // literal, field, literal, field, ...
};

// ---- Quotes ----

struct Quote {
  std::string text;
  bool verified = false;
};

struct CheckedArgument {
  std::string marked;  // <quote> rewritten <v_quote> / <u_quote>
  std::vector<Quote> quotes;
};

// A quote is verified when, after collapsing runs of white space, folding
// case and curly quotes to straight ones, and trimming white space and
// surrounding quotation marks, it occurs in the passage treated the same
// way. An empty quote or any quote without a passage is unverified. An
// unclosed <quote> quotes to the end of the text. <v_quote>/<u_quote> tags an
// agent wrote itself are rewritten to <quote> first, so no agent can mark its
// own quotes verified.
CheckedArgument CheckQuotes(const std::string& argument, const std::string& passage);

// ---- Judges' answers ----

struct ParsedAnswer {
  std::optional<int> choice;         // 0 = answer A, 1 = answer B
  std::optional<double> confidence;  // in [0, 1], for the chosen answer
};

// Reads "Answer: A" (or B, a capital letter; also "Answer: (B)",
// "**Answer:** A", "the answer is B") and optionally "Confidence: 0.8" or
// "Confidence: 80%", the last of each in the text; or a JSON object
// {"answer": "A", "confidence": 0.8}. A confidence outside [0, 1] is dropped.
ParsedAnswer ParseJudgeAnswer(const std::string& text);

// ---- Text agents and judges ----

// What one model call produced, for the turn's or the judgement's log.
struct TextCall {
  std::string text;
  std::string usage_json = "{}";  // tokens, attempts, retried failures
  double latency_ms = 0;
};

// Raised when a model could not be reached (retries exhausted); the
// protocol then logs the episode as failed with this message.
class TextModelError : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

class TextAgent : public Agent {
 public:
  // One argument. `fields` fill the agent's prompt template; `seed` is
  // derived from the episode's RNG. Thread-safe. Throws TextModelError.
  virtual TextCall Speak(const std::map<std::string, std::string>& fields, uint64_t seed) const = 0;
};

struct TextVerdict {
  std::optional<int> choice;  // none: unparseable, or timed out
  bool timed_out = false;     // a person did not answer in time
  std::optional<double> confidence;
  std::vector<std::string> answers;  // the raw answer of every try
  std::string usage_json = "{}";
  std::string reason;  // a person's
  double latency_ms = 0;
};

class TextJudge : public Judge {
 public:
  // Thread-safe. `episode` names the episode being judged (experiment,
  // stage, idx, protocol, task, instance), for a judge that queues it for a
  // person. Throws TextModelError, or Interrupted.
  virtual TextVerdict Decide(const std::map<std::string, std::string>& fields, uint64_t seed,
                             const EpisodeRecord& episode) const = 0;
};

// What a person judging a text episode is shown (the question of a
// pending_judgements item): {"kind": "text", "protocol", "question",
// "answer_a", "answer_b", "passage" (direct with the passage only),
// "consultant_side" (consultancy), "transcript" (quotes marked),
// "choices": ["A", "B"]}.
std::string TextQuestionJson(const std::map<std::string, std::string>& fields);

// ---- The task ----

// Task "qa": {"name": "qa", "path": "data/qa/tiny_qa.jsonl"} (a relative path
// is tried from the working directory, then from the source tree). Instance
// ids are the question ids; the truth is the index of the correct answer,
// "0" or "1".
class QaTask : public Task {
 public:
  explicit QaTask(std::string path) : path_(std::move(path)) {}
  std::string name() const override { return "qa"; }
  void Open(StageContext& ctx) override;
  size_t size() const override { return data_.questions.size(); }
  TaskInstance Instance(size_t i) const override;
  const QaQuestion& question(size_t i) const { return data_.questions.at(i); }

 private:
  std::string path_;
  QaDataset data_;
};

// Registers task "qa" and the text variants of direct, consultancy and
// debate (chosen when the task is "qa").
void RegisterTextProtocols(Registries& registries);

}  // namespace oversight
