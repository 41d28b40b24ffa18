#include "net/judge_service.h"

#include <algorithm>
#include <mutex>

#include <nlohmann/json.hpp>

namespace oversight {

std::pair<std::string, std::string> ParseJudgeToken(const std::string& arg) {
  const size_t eq = arg.find('=');
  if (eq == std::string::npos) throw std::invalid_argument("'" + arg + "' is not NAME=TOKEN");
  std::string name = arg.substr(0, eq), token = arg.substr(eq + 1);
  if (name.empty()) throw std::invalid_argument("'" + arg + "' has no judge name before '='");
  if (token.size() < 8)
    throw std::invalid_argument("the token of judge '" + name + "' is shorter than 8 characters");
  return {name, token};
}

namespace {

using json = nlohmann::json;

json ItemJson(const PendingJudgement& p, bool with_question) {
  json j = {{"id", p.id},
            {"experiment_id", p.experiment_id},
            {"stage", p.stage},
            {"episode_idx", p.episode_idx},
            {"protocol", p.protocol},
            {"task", p.task},
            {"instance", p.instance},
            {"status", p.status},
            {"claimed_by", p.claimed_by},
            {"created_at", p.created_at}};
  if (with_question) {
    const json q = json::parse(p.question, nullptr, false);
    j["question"] = q.is_discarded() ? json(p.question) : q;
  }
  return j;
}

HttpReply Ok(const json& body) {
  HttpReply r;
  r.body = body.dump();
  return r;
}

// Equal strings, in time independent of where they differ.
bool SameToken(const std::string& a, const std::string& b) {
  unsigned char diff = a.size() == b.size() ? 0 : 1;
  for (size_t i = 0; i < a.size(); ++i)
    diff |= static_cast<unsigned char>(a[i] ^ (i < b.size() ? b[i] : 0));
  return diff == 0;
}

}  // namespace

struct JudgeService::Impl {
  JudgeServiceOptions options;
  std::mutex pool_mu;
  std::vector<std::unique_ptr<Store>> pool;
  std::unique_ptr<HttpServer> server;

  // A connection of the pool for the length of one request.
  struct Lease {
    Impl& impl;
    std::unique_ptr<Store> store;
    explicit Lease(Impl& i) : impl(i) {
      {
        std::lock_guard<std::mutex> lock(impl.pool_mu);
        if (!impl.pool.empty()) {
          store = std::move(impl.pool.back());
          impl.pool.pop_back();
        }
      }
      if (!store) store = Store::Open(impl.options.db_path);
    }
    ~Lease() {
      std::lock_guard<std::mutex> lock(impl.pool_mu);
      impl.pool.push_back(std::move(store));
    }
    Store* operator->() { return store.get(); }
  };

  std::optional<std::string> JudgeOf(const HttpRequest& req) const {
    const auto h = req.headers.find("authorization");
    if (h == req.headers.end() || h->second.rfind("Bearer ", 0) != 0) return std::nullopt;
    const std::string token = h->second.substr(7);
    std::optional<std::string> who;
    for (const auto& [t, name] : options.tokens)
      if (SameToken(token, t)) who = name;
    return who;
  }

  HttpReply Verdict(const HttpRequest& req, int64_t id, const std::string& who) {
    const json body = json::parse(req.body, nullptr, false);
    if (body.is_discarded() || !body.is_object())
      return JsonError(400, "the body is not a JSON object");
    for (const auto& [key, value] : body.items())
      if (key != "verdict" && key != "confidence" && key != "reason" && key != "latency_ms")
        return JsonError(
            400, "unknown field '" + key + "' (expected verdict, confidence, reason, latency_ms)");
    HumanVerdict v;
    if (!body.contains("verdict")) return JsonError(400, "missing field 'verdict'");
    if (body["verdict"].is_string())
      v.verdict = body["verdict"].get<std::string>();
    else if (body["verdict"].is_number_integer())
      v.verdict = std::to_string(body["verdict"].get<int64_t>());
    else
      return JsonError(400, "'verdict' must be a string or an integer");
    if (body.contains("confidence") && !body["confidence"].is_null()) {
      if (!body["confidence"].is_number() || body["confidence"].get<double>() < 0 ||
          body["confidence"].get<double>() > 1)
        return JsonError(400, "'confidence' must be a number in [0, 1]");
      v.confidence = body["confidence"].get<double>();
    }
    if (body.contains("reason")) {
      if (!body["reason"].is_string() || body["reason"].get<std::string>().size() > 4000)
        return JsonError(400, "'reason' must be a string of at most 4000 bytes");
      v.reason = body["reason"].get<std::string>();
    }
    if (body.contains("latency_ms")) {
      if (!body["latency_ms"].is_number() || body["latency_ms"].get<double>() < 0)
        return JsonError(400, "'latency_ms' must be a number >= 0");
      v.latency_ms = body["latency_ms"].get<double>();
    }
    Lease store(*this);
    const auto item = store->GetPending(id);
    if (!item) return JsonError(404, "no item " + std::to_string(id));
    // The verdict must be one of the item's choices, when it lists them.
    const json q = json::parse(item->question, nullptr, false);
    if (q.is_object() && q.contains("choices") && q["choices"].is_array()) {
      bool found = false;
      for (const auto& c : q["choices"])
        found = found || (c.is_string() ? c.get<std::string>() : c.dump()) == v.verdict;
      if (!found)
        return JsonError(400, "verdict '" + v.verdict + "' is not one of the item's choices " +
                                  q["choices"].dump());
    }
    if (!store->AnswerPending(id, who, v))
      return JsonError(
          409, "item " + std::to_string(id) + " is not claimed by judge '" + who + "' (status " +
                   item->status +
                   (item->claimed_by.empty() ? "" : ", claimed by " + item->claimed_by) +
                   "); take a new one");
    return Ok({{"recorded", true}});
  }

  HttpReply Handle(const HttpRequest& req) {
    std::string path = req.target.substr(0, req.target.find('?'));
    if (path == "/api/health") {
      if (req.method != "GET") return JsonError(405, "use GET for " + path);
      return Ok({{"ok", true}, {"schema", kSchemaVersion}});
    }
    if (path.rfind("/api/", 0) != 0) return JsonError(404, "no route " + path);
    const auto who = JudgeOf(req);
    if (!who)
      return JsonError(401, req.headers.count("authorization")
                                ? "unknown token"
                                : "no token: send \"Authorization: Bearer TOKEN\"");
    auto method = [&](const char* m) { return req.method == m; };
    if (path == "/api/pending") {
      if (!method("GET")) return JsonError(405, "use GET for " + path);
      Lease store(*this);
      json items = json::array();
      for (const auto& p : store->ListPending(100)) items.push_back(ItemJson(p, false));
      return Ok({{"waiting", store->CountPending()}, {"items", items}});
    }
    if (path == "/api/claim") {
      if (!method("POST")) return JsonError(405, "use POST for " + path);
      Lease store(*this);
      const auto item = store->ClaimPending(*who, options.stale_after_s);
      return Ok({{"item", item ? ItemJson(*item, true) : json()}});
    }
    const std::string prefix = "/api/items/";
    if (path.rfind(prefix, 0) == 0) {
      std::string rest = path.substr(prefix.size());
      const bool verdict = rest.size() > 8 && rest.compare(rest.size() - 8, 8, "/verdict") == 0;
      if (verdict) rest.resize(rest.size() - 8);
      if (rest.empty() || rest.size() > 18 ||
          rest.find_first_not_of("0123456789") != std::string::npos)
        return JsonError(404, "no route " + path + " (item ids are numbers)");
      const int64_t id = std::stoll(rest);
      if (verdict) {
        if (!method("POST")) return JsonError(405, "use POST for " + path);
        return Verdict(req, id, *who);
      }
      if (!method("GET")) return JsonError(405, "use GET for " + path);
      Lease store(*this);
      const auto item = store->GetPending(id);
      if (!item) return JsonError(404, "no item " + std::to_string(id));
      return Ok({{"item", ItemJson(*item, true)}});
    }
    return JsonError(404, "no route " + path);
  }
};

JudgeService::JudgeService(JudgeServiceOptions options) : impl_(std::make_unique<Impl>()) {
  impl_->options = std::move(options);
  if (impl_->options.tokens.empty())
    throw std::invalid_argument("no judges: give at least one token (--judge NAME=TOKEN)");
  impl_->pool.push_back(Store::Open(impl_->options.db_path));  // fails now if it cannot open
  impl_->server = std::make_unique<HttpServer>(
      impl_->options.http, [this](const HttpRequest& r) { return impl_->Handle(r); });
}

JudgeService::~JudgeService() { Stop(); }
uint16_t JudgeService::port() const { return impl_->server->port(); }
HttpServerStats JudgeService::stats() const { return impl_->server->stats(); }
void JudgeService::Stop() { impl_->server->Stop(); }

// ---- Queues for the GUI ----

namespace {

class LocalQueue : public JudgeQueue {
 public:
  LocalQueue(std::string path, std::string who) : path_(std::move(path)), who_(std::move(who)) {}
  std::string where() const override { return path_; }
  int64_t CountPending() override { return store()->CountPending(); }
  std::optional<PendingJudgement> Claim() override { return store()->ClaimPending(who_); }
  bool Answer(int64_t id, const HumanVerdict& v) override {
    return store()->AnswerPending(id, who_, v);
  }

 private:
  Store* store() {
    if (!store_) store_ = Store::Open(path_);
    return store_.get();
  }
  std::string path_, who_;
  std::unique_ptr<Store> store_;
};

PendingJudgement ItemFromJson(const json& j) {
  PendingJudgement p;
  p.id = j.at("id").get<int64_t>();
  p.experiment_id = j.at("experiment_id").get<int64_t>();
  p.stage = j.at("stage").get<std::string>();
  p.episode_idx = j.at("episode_idx").get<int64_t>();
  p.protocol = j.at("protocol").get<std::string>();
  p.task = j.at("task").get<std::string>();
  p.instance = j.at("instance").get<std::string>();
  p.status = j.at("status").get<std::string>();
  p.claimed_by = j.value("claimed_by", "");
  p.created_at = j.value("created_at", "");
  if (j.contains("question")) {
    const json& q = j["question"];
    p.question = q.is_string() ? q.get<std::string>() : q.dump();
  }
  return p;
}

class RemoteQueue : public JudgeQueue {
 public:
  RemoteQueue(const std::string& url, std::string token, double timeout_s)
      : url_(url), token_(std::move(token)) {
    HttpClientOptions o;
    o.timeout_s = timeout_s;
    client_ = std::make_unique<HttpClient>(ParseUrl(url), o);
  }
  std::string where() const override { return url_; }
  int64_t CountPending() override { return Call("GET", "/api/pending", "").at("waiting"); }
  std::optional<PendingJudgement> Claim() override {
    const json r = Call("POST", "/api/claim", "");
    if (r.at("item").is_null()) return std::nullopt;
    return ItemFromJson(r["item"]);
  }
  bool Answer(int64_t id, const HumanVerdict& v) override {
    json body = {{"verdict", v.verdict}, {"reason", v.reason}, {"latency_ms", v.latency_ms}};
    if (v.confidence) body["confidence"] = *v.confidence;
    int status = 0;
    Call("POST", "/api/items/" + std::to_string(id) + "/verdict", body.dump(), &status);
    return status == 200;
  }

 private:
  // The reply's JSON; a 409 is returned to the caller through `status`, any
  // other error is thrown with the service's message.
  json Call(const std::string& method, const std::string& target, const std::string& body,
            int* status = nullptr) {
    HttpResponse r;
    try {
      r = client_->Send(
          method, target, body,
          {{"Authorization", "Bearer " + token_}, {"Content-Type", "application/json"}});
    } catch (const NetError& e) {
      throw std::runtime_error(std::string("judging service: ") + e.what());
    }
    const json j = json::parse(r.body, nullptr, false);
    if (status) *status = r.status;
    if (r.status == 200 && !j.is_discarded()) return j;
    if (r.status == 409 && status) return j;
    std::string message = "HTTP " + std::to_string(r.status);
    if (!j.is_discarded() && j.contains("error") && j["error"].contains("message"))
      message += ": " + j["error"]["message"].get<std::string>();
    throw std::runtime_error(url_ + target + ": " + message);
  }

  std::string url_, token_;
  std::unique_ptr<HttpClient> client_;
};

}  // namespace

std::unique_ptr<JudgeQueue> MakeLocalJudgeQueue(const std::string& db_path,
                                                const std::string& who) {
  return std::make_unique<LocalQueue>(db_path, who);
}

std::unique_ptr<JudgeQueue> MakeRemoteJudgeQueue(const std::string& url, const std::string& token,
                                                 double timeout_s) {
  return std::make_unique<RemoteQueue>(url, token, timeout_s);
}

}  // namespace oversight
