// Prompt templates, quote checking, judges' answers and the "qa" task (see
// protocols/text.h).
#include <algorithm>
#include <cctype>
#include <regex>

#include <nlohmann/json.hpp>

#include "engine/dataset.h"
#include "engine/util.h"
#include "protocols/text.h"

namespace oversight {

const std::set<std::string> kTextFields = {"question",    "passage",      "answer_a", "answer_b",
                                           "your_answer", "other_answer", "side",     "transcript",
                                           "round",       "rounds",       "protocol"};

// ---- Prompt templates ----

PromptTemplate PromptTemplate::Load(const std::string& path) {
  const std::string found = FindProjectFile(path);
  std::string text;
  try {
    text = ReadFile(found);
  } catch (const std::exception&) {
    throw ConfigError(path + ": cannot read the prompt template");
  }
  return FromText(text, path);
}

PromptTemplate PromptTemplate::FromText(const std::string& text, const std::string& where) {
  PromptTemplate t;
  size_t pos = 0;
  auto line_of = [&](size_t at) {
    return std::to_string(1 + std::count(text.begin(), text.begin() + at, '\n'));
  };
  for (;;) {
    const size_t open = text.find("{{", pos);
    if (open == std::string::npos) {
      t.pieces_.push_back(text.substr(pos));
      break;
    }
    const size_t close = text.find("}}", open + 2);
    if (close == std::string::npos)
      throw ConfigError(where + ":" + line_of(open) + ": '{{' without a closing '}}'");
    std::string field = text.substr(open + 2, close - open - 2);
    field.erase(0, field.find_first_not_of(" \t"));
    field.erase(field.find_last_not_of(" \t") + 1);
    if (!kTextFields.count(field)) {
      std::string known;
      for (const auto& f : kTextFields) known += (known.empty() ? "" : ", ") + f;
      throw ConfigError(where + ":" + line_of(open) + ": unknown placeholder {{" + field +
                        "}}; known: " + known);
    }
    t.pieces_.push_back(text.substr(pos, open - pos));
    t.pieces_.push_back(field);
    pos = close + 2;
  }
  return t;
}

std::string PromptTemplate::Render(const std::map<std::string, std::string>& fields) const {
  std::string out;
  for (size_t i = 0; i < pieces_.size(); ++i) {
    if (i % 2 == 0) {
      out += pieces_[i];
    } else {
      const auto it = fields.find(pieces_[i]);
      if (it != fields.end()) out += it->second;
    }
  }
  return out;
}

// ---- Quotes ----

namespace {

// The normal form quotes are matched in (see CheckQuotes()).
std::string Normalize(const std::string& s) {
  std::string out;
  out.reserve(s.size());
  bool space = false;
  for (size_t i = 0; i < s.size(); ++i) {
    unsigned char c = static_cast<unsigned char>(s[i]);
    // UTF-8 curly quotes: ‘ ’ (E2 80 98/99) and “ ” (E2 80 9C/9D).
    if (c == 0xE2 && i + 2 < s.size() && static_cast<unsigned char>(s[i + 1]) == 0x80) {
      const unsigned char d = static_cast<unsigned char>(s[i + 2]);
      if (d == 0x98 || d == 0x99 || d == 0x9C || d == 0x9D) {
        c = (d == 0x98 || d == 0x99) ? '\'' : '"';
        i += 2;
      }
    }
    if (std::isspace(c)) {
      space = true;
      continue;
    }
    if (space && !out.empty()) out += ' ';
    space = false;
    out += static_cast<char>(std::tolower(c));
  }
  return out;
}

std::string TrimQuote(std::string s) {
  const char* strip = " \"'";
  s.erase(0, s.find_first_not_of(strip));
  const size_t last = s.find_last_not_of(strip);
  s.erase(last == std::string::npos ? 0 : last + 1);
  return s;
}

void ReplaceAll(std::string& s, const std::string& from, const std::string& to) {
  for (size_t pos = 0; (pos = s.find(from, pos)) != std::string::npos; pos += to.size())
    s.replace(pos, from.size(), to);
}

}  // namespace

CheckedArgument CheckQuotes(const std::string& argument, const std::string& passage) {
  std::string text = argument;
  for (const char* tag : {"v_quote", "u_quote"}) {
    ReplaceAll(text, std::string("<") + tag + ">", "<quote>");
    ReplaceAll(text, std::string("</") + tag + ">", "</quote>");
  }
  const std::string normal_passage = Normalize(passage);
  CheckedArgument out;
  size_t pos = 0;
  for (;;) {
    const size_t open = text.find("<quote>", pos);
    if (open == std::string::npos) {
      out.marked += text.substr(pos);
      break;
    }
    out.marked += text.substr(pos, open - pos);
    const size_t start = open + 7;
    size_t close = text.find("</quote>", start);
    const bool closed = close != std::string::npos;
    if (!closed) close = text.size();
    Quote q;
    q.text = text.substr(start, close - start);
    const std::string needle = Normalize(TrimQuote(q.text));
    q.verified = !needle.empty() && !normal_passage.empty() &&
                 normal_passage.find(needle) != std::string::npos;
    const char* tag = q.verified ? "v_quote" : "u_quote";
    out.marked += std::string("<") + tag + ">" + q.text + "</" + tag + ">";
    out.quotes.push_back(std::move(q));
    pos = closed ? close + 8 : close;
  }
  return out;
}

// ---- Judges' answers ----

namespace {

// A stated confidence: a percentage when marked so or above 1; none outside
// [0, 1] after that.
std::optional<double> Confidence(double c, bool percent) {
  if (percent || c > 1) c /= 100;
  return c >= 0 && c <= 1 ? std::optional<double>(c) : std::nullopt;
}

}  // namespace

ParsedAnswer ParseJudgeAnswer(const std::string& text) {
  ParsedAnswer out;
  // A JSON object anywhere in the answer.
  const size_t brace = text.find('{');
  const size_t end = text.rfind('}');
  if (brace != std::string::npos && end != std::string::npos && end > brace) {
    const auto j = nlohmann::json::parse(text.substr(brace, end - brace + 1), nullptr, false);
    if (j.is_object() && j.contains("answer") && j["answer"].is_string()) {
      std::string a = j["answer"].get<std::string>();
      a = TrimQuote(a);
      if (a == "A" || a == "a") out.choice = 0;
      if (a == "B" || a == "b") out.choice = 1;
      if (out.choice && j.contains("confidence") && j["confidence"].is_number())
        out.confidence = Confidence(j["confidence"].get<double>(), false);
      if (out.choice) return out;
    }
  }
  // "answer" in any case, the letter in capitals ("answer a question" is
  // not an answer).
  static const std::regex answer_re(
      R"([Aa][Nn][Ss][Ww][Ee][Rr](?:\s+[Ii][Ss])?[^\w\n]{0,6}([AB])(?!\w))");
  static const std::regex conf_re(R"(confidence\W{0,6}\s*([0-9]*\.?[0-9]+)\s*(%?))",
                                  std::regex::icase);
  std::optional<int> last;
  for (auto it = std::sregex_iterator(text.begin(), text.end(), answer_re);
       it != std::sregex_iterator(); ++it) {
    last = (*it)[1].str() == "A" ? 0 : 1;
  }
  if (!last) return out;
  out.choice = last;
  for (auto it = std::sregex_iterator(text.begin(), text.end(), conf_re);
       it != std::sregex_iterator(); ++it) {
    out.confidence = Confidence(std::stod((*it)[1].str()), (*it)[2].length() > 0);
  }
  return out;
}

// ---- What a person is shown ----

std::string TextQuestionJson(const std::map<std::string, std::string>& fields) {
  auto get = [&](const char* k) {
    const auto it = fields.find(k);
    return it == fields.end() ? std::string() : it->second;
  };
  nlohmann::json q = {{"kind", "text"},
                      {"protocol", get("protocol")},
                      {"question", get("question")},
                      {"answer_a", get("answer_a")},
                      {"answer_b", get("answer_b")},
                      {"transcript", get("transcript")},
                      {"choices", {"A", "B"}}};
  if (!get("passage").empty()) q["passage"] = get("passage");
  if (get("protocol") == "consultancy") q["consultant_side"] = get("side");
  return q.dump();
}

// ---- The task ----

void QaTask::Open(StageContext&) { data_ = LoadQaDataset(FindProjectFile(path_)); }

TaskInstance QaTask::Instance(size_t i) const {
  const QaQuestion& q = data_.questions.at(i);
  TaskInstance inst;
  inst.index = static_cast<int64_t>(i);
  inst.id = q.id;
  inst.truth = std::to_string(q.correct);
  return inst;
}

}  // namespace oversight
