#include "fake_llm.h"

#include <algorithm>
#include <cctype>
#include <chrono>
#include <optional>
#include <set>
#include <sstream>
#include <thread>

namespace oversight {
namespace {

// Text between <tag> and </tag> (the first pair), or "".
std::string Between(const std::string& s, const std::string& tag) {
  const std::string open = "<" + tag + ">", close = "</" + tag + ">";
  const size_t a = s.find(open);
  if (a == std::string::npos) return "";
  const size_t b = s.find(close, a + open.size());
  if (b == std::string::npos) return "";
  std::string out = s.substr(a + open.size(), b - a - open.size());
  out.erase(0, out.find_first_not_of(" \n"));
  out.erase(out.find_last_not_of(" \n") + 1);
  return out;
}

std::set<std::string> Words(const std::string& s) {
  std::set<std::string> out;
  std::string w;
  for (char c : s + " ") {
    if (std::isalpha(static_cast<unsigned char>(c))) {
      w += static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
    } else {
      if (w.size() >= 4) out.insert(w);
      w.clear();
    }
  }
  return out;
}

int Overlap(const std::string& a, const std::string& b) {
  const auto x = Words(a), y = Words(b);
  int n = 0;
  for (const auto& w : x) n += y.count(w) ? 1 : 0;
  return n;
}

std::vector<std::string> Sentences(const std::string& passage) {
  std::vector<std::string> out;
  std::string cur;
  for (char c : passage) {
    cur += c;
    if (c == '.' || c == '!' || c == '?') {
      cur.erase(0, cur.find_first_not_of(' '));
      if (!cur.empty()) out.push_back(cur);
      cur.clear();
    }
  }
  cur.erase(0, cur.find_first_not_of(' '));
  if (!cur.empty()) out.push_back(cur);
  return out;
}

int Count(const std::string& s, const std::string& what) {
  int n = 0;
  for (size_t p = s.find(what); p != std::string::npos; p = s.find(what, p + 1)) ++n;
  return n;
}

std::string Completion(const std::string& model, const std::string& text) {
  nlohmann::json j = {{"id", "chatcmpl-fake"},
                      {"object", "chat.completion"},
                      {"model", model},
                      {"choices",
                       {{{"index", 0},
                         {"message", {{"role", "assistant"}, {"content", text}}},
                         {"finish_reason", "stop"}}}},
                      {"usage",
                       {{"prompt_tokens", 100},
                        {"completion_tokens", static_cast<int>(text.size() / 4)},
                        {"total_tokens", 100 + static_cast<int>(text.size() / 4)}}}};
  return j.dump();
}

}  // namespace

FakeLlm::FakeLlm(const std::string& qa_path, HttpServerOptions options) {
  if (!qa_path.empty()) qa_ = LoadQaDataset(qa_path);
  if (options.threads < 4) options.threads = 4;  // slow replies block a thread
  server_ =
      std::make_unique<HttpServer>(options, [this](const HttpRequest& r) { return Handle(r); });
}

FakeLlm::~FakeLlm() { server_->Stop(); }

void FakeLlm::Queue(std::vector<Fault> faults) {
  std::lock_guard<std::mutex> lock(mu_);
  faults_.insert(faults_.end(), faults.begin(), faults.end());
}
void FakeLlm::SetDown(bool down) {
  std::lock_guard<std::mutex> lock(mu_);
  down_ = down;
}
void FakeLlm::SetSlowSeconds(double s) {
  std::lock_guard<std::mutex> lock(mu_);
  slow_s_ = s;
}
void FakeLlm::SetDelay(double s) {
  std::lock_guard<std::mutex> lock(mu_);
  delay_s_ = s;
}
void FakeLlm::SetDownAfter(int64_t n) {
  std::lock_guard<std::mutex> lock(mu_);
  down_after_ = n;
}
int FakeLlm::max_in_flight() const {
  std::lock_guard<std::mutex> lock(mu_);
  return max_in_flight_;
}
int64_t FakeLlm::requests() const {
  std::lock_guard<std::mutex> lock(mu_);
  return static_cast<int64_t>(bodies_.size());
}
std::vector<nlohmann::json> FakeLlm::bodies() const {
  std::lock_guard<std::mutex> lock(mu_);
  return bodies_;
}
std::vector<std::string> FakeLlm::authorizations() const {
  std::lock_guard<std::mutex> lock(mu_);
  return auth_;
}

HttpReply FakeLlm::Handle(const HttpRequest& req) {
  {
    std::lock_guard<std::mutex> lock(mu_);
    max_in_flight_ = std::max(max_in_flight_, ++in_flight_);
  }
  struct Leave {
    FakeLlm* self;
    ~Leave() {
      std::lock_guard<std::mutex> lock(self->mu_);
      --self->in_flight_;
    }
  } leave{this};
  const auto body = nlohmann::json::parse(req.body, nullptr, false);
  std::optional<Fault> fault;
  double slow_s = 0, delay_s = 0;
  {
    std::lock_guard<std::mutex> lock(mu_);
    bodies_.push_back(body);
    const auto auth = req.headers.find("authorization");
    auth_.push_back(auth == req.headers.end() ? "" : auth->second);
    if (req.target != "/v1/chat/completions") return JsonError(404, "no route " + req.target);
    if (req.method != "POST") return JsonError(405, "use POST");
    if (down_after_ >= 0 && static_cast<int64_t>(bodies_.size()) > down_after_) down_ = true;
    if (down_) return JsonError(503, "the fake server is down");
    if (!faults_.empty()) {
      fault = faults_.front();
      faults_.pop_front();
    }
    slow_s = slow_s_;
    delay_s = delay_s_;
  }
  if (delay_s > 0) std::this_thread::sleep_for(std::chrono::duration<double>(delay_s));
  if (body.is_discarded() || !body.is_object() || !body.contains("messages") ||
      !body["messages"].is_array() || body["messages"].empty() || !body.contains("model"))
    return JsonError(400, "expected {\"model\": ..., \"messages\": [...]}");
  const std::string model = body["model"].is_string() ? body["model"].get<std::string>() : "";
  const std::string prompt = body["messages"].back().value("content", "");
  if (fault) {
    switch (*fault) {
      case Fault::k429: {
        HttpReply r = JsonError(429, "rate limited");
        r.headers.push_back({"Retry-After", "0"});
        return r;
      }
      case Fault::k500:
        return JsonError(500, "scripted failure");
      case Fault::kSlow:
        std::this_thread::sleep_for(std::chrono::duration<double>(slow_s));
        break;
      case Fault::kMalformed: {
        HttpReply r;
        r.body = "{\"choices\": [ not json";
        return r;
      }
      case Fault::kNoChoices: {
        HttpReply r;
        r.body = "{\"object\": \"chat.completion\"}";
        return r;
      }
      case Fault::kUnparseable: {
        HttpReply r;
        r.body = Completion(model, "I cannot decide between them.");
        return r;
      }
    }
  }
  HttpReply r;
  r.body = Completion(model, Reply(prompt));
  return r;
}

std::string FakeLlm::Reply(const std::string& prompt) const {
  const std::string question = Between(prompt, "question");
  const std::string passage = Between(prompt, "passage");
  const std::string mine = Between(prompt, "your_answer");
  const std::string a = Between(prompt, "answer_a"), b = Between(prompt, "answer_b");
  if (!mine.empty()) {
    // A debater or consultant.
    bool honest = false;
    for (const auto& q : qa_.questions)
      if (q.question == question) honest = q.answers[q.correct] == mine;
    std::string best;
    int best_overlap = 0;
    for (const auto& s : Sentences(passage)) {
      const int o = Overlap(s, mine);
      if (o > best_overlap) best = s, best_overlap = o;
    }
    if (honest && !best.empty())
      return "The answer is \"" + mine + "\". The passage says: <quote>" + best + "</quote>";
    return "The answer is \"" + mine + "\". The passage says: <quote>It is plainly true that " +
           mine + "</quote>";
  }
  if (prompt.find("You are the judge") != std::string::npos) {
    const std::string transcript = Between(prompt, "transcript");
    const size_t consult = prompt.find("The consultant argues for answer ");
    if (consult != std::string::npos) {
      const char side = prompt[consult + 33];
      const bool believe =
          Count(transcript, "<v_quote>") > 0 && Count(transcript, "<u_quote>") == 0;
      const char answer = believe ? side : (side == 'A' ? 'B' : 'A');
      return std::string("Having read the consultant.\nAnswer: ") + answer + "\nConfidence: 0.8";
    }
    // Score each debater's turns: verified minus unverified quotes.
    int score[2] = {0, 0};
    size_t pos = 0;
    while ((pos = transcript.find("Debater ", pos)) != std::string::npos) {
      const int side = transcript[pos + 8] == 'A' ? 0 : 1;
      size_t next = transcript.find("Debater ", pos + 8);
      const std::string turn =
          transcript.substr(pos, next == std::string::npos ? std::string::npos : next - pos);
      score[side] += Count(turn, "<v_quote>") - Count(turn, "<u_quote>");
      pos += 8;
    }
    const char answer = score[1] > score[0] ? 'B' : 'A';
    return std::string("Debater ") + answer + " quoted the passage.\nAnswer: " + answer +
           "\nConfidence: " + (score[0] == score[1] ? "0.5" : "0.9");
  }
  // Direct.
  if (!passage.empty()) {
    const char answer = Overlap(passage, b) > Overlap(passage, a) ? 'B' : 'A';
    return std::string("Answer: ") + answer + "\nConfidence: 0.7";
  }
  return "Answer: A\nConfidence: 0.6";
}

}  // namespace oversight
