// Two-option question answering (issue 9's text protocols: direct,
// consultancy, debate), read from JSONL: one question per line,
//
//   {"id": "q1", "question": "...", "passage": "...", "answers": ["A", "B"], "correct": 0}
//
// with "passage" optional (a closed-book question) and "id" optional (the
// line number, "line-N", when absent). Khan et al. 2024's QuALITY subsets
// and similar datasets convert to this with one jq line (data/qa/README.md).
// No LibTorch.
#pragma once

#include <string>
#include <vector>

namespace oversight {

struct QaQuestion {
  std::string id;
  std::string question;
  std::string passage;               // "" when the question has none
  std::string answers[2];
  int correct = 0;                   // 0 or 1
};

struct QaDataset {
  std::string path;
  std::vector<QaQuestion> questions;
};

// Reads the JSONL file at `path`. Blank lines are skipped. Throws DataError
// naming the file, the line and the field for: a file that cannot be read, a
// line that is not a JSON object or longer than 1 MiB, a missing or
// mistyped field, answers that are not exactly two distinct non-empty
// strings, "correct" other than 0 or 1, unknown fields, a repeated id, or no
// question at all.
QaDataset LoadQaDataset(const std::string& path);

}  // namespace oversight
