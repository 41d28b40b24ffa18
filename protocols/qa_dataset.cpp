#include "protocols/qa_dataset.h"

#include <fstream>
#include <nlohmann/json.hpp>
#include <set>

#include "engine/dataset.h"

namespace oversight {

namespace {

constexpr size_t kMaxLine = 1 << 20;

std::string RequireText(const nlohmann::json& obj, const char* key, const std::string& where,
                        bool required) {
  const auto it = obj.find(key);
  if (it == obj.end()) {
    if (required) throw DataError(where + ": missing \"" + key + "\"");
    return "";
  }
  if (!it->is_string())
    throw DataError(where + ": \"" + key + "\" must be a string, got " + it->type_name());
  return it->get<std::string>();
}

}  // namespace

QaDataset LoadQaDataset(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) throw DataError(path + ": cannot open the question file");
  QaDataset data;
  data.path = path;
  std::set<std::string> ids;
  std::string line;
  for (int64_t number = 1; std::getline(in, line); ++number) {
    const std::string where = path + ":" + std::to_string(number);
    if (line.size() > kMaxLine)
      throw DataError(where + ": line longer than " + std::to_string(kMaxLine) + " bytes");
    if (!line.empty() && line.back() == '\r') line.pop_back();
    if (line.find_first_not_of(" \t") == std::string::npos) continue;
    nlohmann::json obj;
    try {
      obj = nlohmann::json::parse(line);
    } catch (const nlohmann::json::parse_error& e) {
      throw DataError(where + ": not JSON (" + e.what() + ")");
    }
    if (!obj.is_object()) throw DataError(where + ": expected a JSON object, got " + std::string(obj.type_name()));
    for (const auto& item : obj.items()) {
      const std::string& k = item.key();
      if (k != "id" && k != "question" && k != "passage" && k != "answers" && k != "correct")
        throw DataError(where + ": unknown field \"" + k +
                        "\" (known: id, question, passage, answers, correct)");
    }
    QaQuestion q;
    q.id = obj.contains("id") ? RequireText(obj, "id", where, true) : "line-" + std::to_string(number);
    q.question = RequireText(obj, "question", where, true);
    if (q.question.empty()) throw DataError(where + ": \"question\" is empty");
    q.passage = RequireText(obj, "passage", where, false);
    const auto answers = obj.find("answers");
    if (answers == obj.end()) throw DataError(where + ": missing \"answers\"");
    if (!answers->is_array() || answers->size() != 2 || !(*answers)[0].is_string() ||
        !(*answers)[1].is_string())
      throw DataError(where + ": \"answers\" must be an array of exactly two strings");
    for (int a = 0; a < 2; ++a) {
      q.answers[a] = (*answers)[static_cast<size_t>(a)].get<std::string>();
      if (q.answers[a].empty()) throw DataError(where + ": answer " + std::to_string(a) + " is empty");
    }
    if (q.answers[0] == q.answers[1]) throw DataError(where + ": the two answers are the same");
    const auto correct = obj.find("correct");
    if (correct == obj.end()) throw DataError(where + ": missing \"correct\"");
    if (!correct->is_number_integer() || (correct->get<int64_t>() != 0 && correct->get<int64_t>() != 1))
      throw DataError(where + ": \"correct\" must be 0 or 1 (the index of the right answer), got " +
                      correct->dump());
    q.correct = correct->get<int>();
    if (!ids.insert(q.id).second) throw DataError(where + ": id \"" + q.id + "\" appears twice");
    data.questions.push_back(std::move(q));
  }
  if (in.bad()) throw DataError(path + ": read error");
  if (data.questions.empty()) throw DataError(path + ": no questions");
  return data;
}

}  // namespace oversight
