// The judging service: the human-judge queue (Store::AddPending ...) over
// HTTP + JSON, so people on other machines judge one experiment
// (`oversight serve`, `oversight-gui --connect`). Every route but /api/health
// needs "Authorization: Bearer TOKEN" with a token given at start; the
// token's judge name is who claims and answers.
//
//   GET  /api/health                 {"ok": true, "schema": 3}
//   GET  /api/pending                {"waiting": N, "items": [{id, experiment_id, stage,
//                                     episode_idx, protocol, task, instance, status,
//                                     claimed_by, created_at}, ...]}  (the oldest 100)
//   POST /api/claim                  {"item": ITEM or null}: the oldest free item,
//                                     now claimed by this judge
//   GET  /api/items/ID               {"item": ITEM}  (ITEM.question: what the judge
//                                     is shown, as JSON)
//   POST /api/items/ID/verdict       body {"verdict": "7", "confidence": 0.8,
//                                     "reason": "...", "latency_ms": 5200}
//                                     -> {"recorded": true}
//
// Errors are {"error": {"status", "message"}}: 400 malformed JSON or a bad
// field, 401 no or unknown token, 404 unknown route or item, 405 wrong
// method, 409 an item not claimed by this judge (timed out, or taken over),
// 413 a body over 64 KiB, 408 a request that does not arrive in time.
#pragma once

#include <map>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "engine/store.h"
#include "net/http.h"

namespace oversight {

struct JudgeServiceOptions {
  std::string db_path;
  std::map<std::string, std::string> tokens;  // token -> judge name
  HttpServerOptions http;
  double stale_after_s = 600;  // a claim older than this is free again
};

// Reads "NAME=TOKEN" (as given to --judge); std::invalid_argument naming
// what is wrong (no '=', an empty part, a token under 8 characters).
std::pair<std::string, std::string> ParseJudgeToken(const std::string& arg);

class JudgeService {
 public:
  // Opens the database (StoreError for a missing or foreign file) and
  // listens (NetError).
  explicit JudgeService(JudgeServiceOptions options);
  ~JudgeService();
  uint16_t port() const;
  HttpServerStats stats() const;
  void Stop();

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

// The human-judge queue as the GUI uses it: on the SQLite file, or through a
// judging service. Methods throw std::runtime_error with a message for the
// person (a network or database failure, a rejected token).
class JudgeQueue {
 public:
  virtual ~JudgeQueue() = default;
  virtual std::string where() const = 0;  // the file or the URL
  virtual int64_t CountPending() = 0;
  virtual std::optional<PendingJudgement> Claim() = 0;
  // false: the item is no longer this judge's (timed out or taken over).
  virtual bool Answer(int64_t id, const HumanVerdict& verdict) = 0;
};

std::unique_ptr<JudgeQueue> MakeLocalJudgeQueue(const std::string& db_path, const std::string& who);
// `url`: the service's base URL, e.g. http://host:8765
std::unique_ptr<JudgeQueue> MakeRemoteJudgeQueue(const std::string& url, const std::string& token,
                                                 double timeout_s = 5);

}  // namespace oversight
