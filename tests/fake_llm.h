// FakeLlm: an OpenAI-compatible chat completions server on loopback (real
// HTTP, net/http.h) with scripted replies, for tests and demos of the text
// protocols without a GPU. It plays from the default prompts
// (prompts/*.txt), by the tags in them:
//  - a debater or consultant (<your_answer>) arguing for the correct answer
//    of a question it knows (from the QA file it was given) quotes the
//    passage sentence sharing most words with that answer (a verified
//    quote); arguing for the wrong one, it invents a quote (unverified);
//  - a judge of a debate picks the debater with more verified minus
//    unverified quotes (A on a tie); of a consultancy, believes the
//    consultant when it has a verified quote and no unverified one;
//  - a direct judge with the passage picks the answer sharing more words
//    with it; without, always answers A (so it is right half the time).
// Faults can be queued for the next requests, and the server can be made to
// fail every request.
#pragma once

#include <cstdint>
#include <deque>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "net/http.h"
#include "protocols/qa_dataset.h"

namespace oversight {

class FakeLlm {
 public:
  enum class Fault {
    k429,          // 429 with Retry-After: 0
    k500,          // 500
    kSlow,         // answers after slow_s seconds
    kMalformed,    // 200 whose body is not JSON
    kNoChoices,    // 200 JSON without "choices"
    kUnparseable,  // a chat completion a judge cannot read
  };

  // `qa_path`: the questions whose correct answers the debaters know ("" for
  // none: every debater then invents its quotes).
  explicit FakeLlm(const std::string& qa_path, HttpServerOptions options = {});
  ~FakeLlm();

  uint16_t port() const { return server_->port(); }
  std::string base_url() const { return "http://127.0.0.1:" + std::to_string(port()) + "/v1"; }

  void Queue(std::vector<Fault> faults);  // for the next requests, in order
  void SetDown(bool down);                // every request 503 while down
  void SetDownAfter(int64_t n);           // down once n requests came
  int max_in_flight() const;              // most requests handled at once
  void SetSlowSeconds(double s);
  void SetDelay(double s);                 // every reply waits this long
  // Requests received (bodies as JSON, "Authorization" headers).
  int64_t requests() const;
  std::vector<nlohmann::json> bodies() const;
  std::vector<std::string> authorizations() const;

  void Stop() { server_->Stop(); }

 private:
  HttpReply Handle(const HttpRequest& req);
  std::string Reply(const std::string& prompt) const;

  QaDataset qa_;
  mutable std::mutex mu_;
  std::deque<Fault> faults_;
  bool down_ = false;
  int64_t down_after_ = -1;
  int in_flight_ = 0, max_in_flight_ = 0;
  double slow_s_ = 2;
  double delay_s_ = 0;
  std::vector<nlohmann::json> bodies_;
  std::vector<std::string> auth_;
  std::unique_ptr<HttpServer> server_;
};

}  // namespace oversight
