#include "protocols/qa_dataset.h"

#include <catch2/catch.hpp>
#include <fstream>
#include <string>

#include "engine/dataset.h"
#include "tests/test_util.h"

using namespace oversight;
using oversight::testing::TempDir;

namespace {

std::string Write(const TempDir& dir, const std::string& text) {
  const std::string path = dir / "qa.jsonl";
  std::ofstream(path, std::ios::binary) << text;
  return path;
}

}  // namespace

TEST_CASE("The shipped two-option QA file loads with its passages", "[qa]") {
  const QaDataset d = LoadQaDataset(std::string(OVERSIGHT_REPO) + "/data/qa/tiny_qa.jsonl");
  REQUIRE(d.questions.size() == 12);
  const QaQuestion& ferry = d.questions[2];
  CHECK(ferry.id == "ferry");
  CHECK(ferry.answers[ferry.correct] == "She took a hired ferry.");
  CHECK(ferry.passage.find("small ferry") != std::string::npos);
  int closed_book = 0, correct_second = 0;
  for (const QaQuestion& q : d.questions) {
    closed_book += q.passage.empty();
    correct_second += q.correct;
  }
  CHECK(closed_book == 4);
  CHECK(correct_second == 6);  // the right answer is not always first
}

TEST_CASE("QA lines without an id are named by line; blank and CRLF lines are fine", "[qa]") {
  TempDir dir("qa");
  const QaDataset d = LoadQaDataset(Write(
      dir, "\n{\"question\": \"2+2?\", \"answers\": [\"4\", \"5\"], \"correct\": 0}\r\n  \n"
           "{\"id\": \"x\", \"question\": \"q\", \"passage\": \"p\", \"answers\": [\"a\", \"b\"], \"correct\": 1}\n"));
  REQUIRE(d.questions.size() == 2);
  CHECK(d.questions[0].id == "line-2");
  CHECK(d.questions[0].passage.empty());
  CHECK(d.questions[1].correct == 1);
}

TEST_CASE("Bad QA files name the file, the line and the field", "[qa]") {
  TempDir dir("qa-bad");
  const std::string ok = "{\"id\": \"a\", \"question\": \"q\", \"answers\": [\"x\", \"y\"], \"correct\": 0}\n";
  struct Case {
    std::string text;
    std::string message;
  };
  const Case cases[] = {
      {"", "qa.jsonl: no questions"},
      {ok + "{\"question\": \"q\", \"answers\": [\"x\", \"y\"], \"correct\": 0\n", "qa.jsonl:2: not JSON"},
      {ok + "[1, 2]\n", "qa.jsonl:2: expected a JSON object, got array"},
      {"{\"answers\": [\"x\", \"y\"], \"correct\": 0}\n", "qa.jsonl:1: missing \"question\""},
      {"{\"question\": 3, \"answers\": [\"x\", \"y\"], \"correct\": 0}\n", "qa.jsonl:1: \"question\" must be a string, got number"},
      {"{\"question\": \"q\", \"answers\": [\"x\"], \"correct\": 0}\n", "qa.jsonl:1: \"answers\" must be an array of exactly two strings"},
      {"{\"question\": \"q\", \"answers\": [\"x\", \"x\"], \"correct\": 0}\n", "qa.jsonl:1: the two answers are the same"},
      {"{\"question\": \"q\", \"answers\": [\"\", \"x\"], \"correct\": 0}\n", "qa.jsonl:1: answer 0 is empty"},
      {"{\"question\": \"q\", \"answers\": [\"x\", \"y\"], \"correct\": 2}\n", "qa.jsonl:1: \"correct\" must be 0 or 1"},
      {"{\"question\": \"q\", \"answers\": [\"x\", \"y\"], \"correct\": \"0\"}\n", "qa.jsonl:1: \"correct\" must be 0 or 1"},
      {"{\"question\": \"q\", \"answers\": [\"x\", \"y\"]}\n", "qa.jsonl:1: missing \"correct\""},
      {"{\"question\": \"q\", \"answers\": [\"x\", \"y\"], \"correct\": 0, \"label\": 1}\n", "qa.jsonl:1: unknown field \"label\""},
      {ok + ok, "qa.jsonl:2: id \"a\" appears twice"},
      {"{\"question\": \"q\", \"passage\": [\"p\"], \"answers\": [\"x\", \"y\"], \"correct\": 0}\n", "qa.jsonl:1: \"passage\" must be a string"},
      {"{\"question\": \"" + std::string((1 << 20) + 10, 'a') + "\", \"answers\": [\"x\", \"y\"], \"correct\": 0}\n",
       "qa.jsonl:1: line longer than 1048576 bytes"},
  };
  for (const Case& c : cases) {
    INFO(c.text.substr(0, 120));
    CHECK_THROWS_WITH(LoadQaDataset(Write(dir, c.text)), Catch::Contains(c.message));
  }
  CHECK_THROWS_WITH(LoadQaDataset(dir / "missing.jsonl"), Catch::Contains("missing.jsonl: cannot open"));
}
