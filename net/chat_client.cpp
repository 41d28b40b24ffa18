#include "net/chat_client.h"

#include <algorithm>
#include <chrono>
#include <condition_variable>
#include <cstdlib>
#include <map>
#include <mutex>
#include <thread>

#include <nlohmann/json.hpp>

#include "engine/config.h"
#include "engine/interfaces.h"

namespace oversight {

ChatEndpoint ParseChatEndpoint(const ConfigNode& node) {
  ChatEndpoint e;
  e.base_url = node.RequireString("base_url");
  try {
    ParseUrl(e.base_url);
  } catch (const std::invalid_argument& err) {
    node.FailAt("base_url", err.what());
  }
  e.model = node.RequireString("model");
  e.api_key_env = node.String("api_key_env", "");
  e.temperature = node.Number("temperature", e.temperature, 0, 2);
  e.max_tokens = static_cast<int>(node.Int("max_tokens", e.max_tokens, 1, 1 << 20));
  e.timeout_s = node.Number("timeout_s", e.timeout_s, 0.01, 3600);
  e.retries = static_cast<int>(node.Int("retries", e.retries, 0, 20));
  e.backoff_s = node.Number("backoff_s", e.backoff_s, 0, 600);
  e.max_backoff_s = node.Number("max_backoff_s", e.max_backoff_s, 0, 3600);
  e.max_concurrent = static_cast<int>(node.Int("max_concurrent", e.max_concurrent, 1, 1024));
  e.send_seed = node.Bool("send_seed", e.send_seed);
  e.tls_verify = node.Bool("tls_verify", e.tls_verify);
  e.ca_file = node.String("ca_file", "");
  node.RejectUnknownKeys();
  return e;
}

std::string ChatReply::UsageJson() const {
  nlohmann::json j;
  j["prompt_tokens"] = prompt_tokens >= 0 ? nlohmann::json(prompt_tokens) : nlohmann::json();
  j["completion_tokens"] =
      completion_tokens >= 0 ? nlohmann::json(completion_tokens) : nlohmann::json();
  j["attempts"] = attempts;
  j["retried"] = retried;
  return j.dump();
}

// The per-base-URL limit on requests in flight, shared by every client of
// the URL in this process.
struct ChatClient::Gate {
  std::mutex mu;
  std::condition_variable cv;
  int limit = 1;
  int in_flight = 0;

  static std::shared_ptr<Gate> For(const std::string& base_url, int limit) {
    static std::mutex registry_mu;
    static std::map<std::string, std::weak_ptr<Gate>> registry;
    std::lock_guard<std::mutex> lock(registry_mu);
    auto gate = registry[base_url].lock();
    if (!gate) {
      gate = std::make_shared<Gate>();
      gate->limit = limit;
      registry[base_url] = gate;
    }
    std::lock_guard<std::mutex> g(gate->mu);
    gate->limit = std::min(gate->limit, limit);
    return gate;
  }
  void Enter() {
    std::unique_lock<std::mutex> lock(mu);
    cv.wait(lock, [this] { return in_flight < limit; });
    ++in_flight;
  }
  void Leave() {
    {
      std::lock_guard<std::mutex> lock(mu);
      --in_flight;
    }
    cv.notify_one();
  }
};

ChatClient::ChatClient(ChatEndpoint endpoint)
    : endpoint_(std::move(endpoint)), url_(ParseUrl(endpoint_.base_url)) {
  if (!endpoint_.api_key_env.empty()) {
    const char* key = std::getenv(endpoint_.api_key_env.c_str());
    if (!key || !*key)
      throw std::invalid_argument("the environment variable " + endpoint_.api_key_env +
                                  " (api_key_env) is not set");
    api_key_ = key;
  }
  gate_ = Gate::For(endpoint_.base_url, endpoint_.max_concurrent);
}

ChatClient::~ChatClient() = default;

namespace {

// Sleeps `seconds` in slices, throwing Interrupted on Ctrl-C.
void InterruptibleSleep(double seconds) {
  const auto end = std::chrono::steady_clock::now() + SteadySeconds(seconds);
  while (std::chrono::steady_clock::now() < end) {
    if (InterruptFlag().load()) throw Interrupted();
    std::this_thread::sleep_for(std::min<std::chrono::steady_clock::duration>(
        std::chrono::milliseconds(50), end - std::chrono::steady_clock::now()));
  }
}

std::string Truncate(const std::string& s, size_t n = 200) {
  return s.size() <= n ? s : s.substr(0, n) + "...";
}

}  // namespace

ChatReply ChatClient::Complete(const std::vector<ChatMessage>& messages,
                               std::optional<uint64_t> seed) const {
  nlohmann::json body;
  body["model"] = endpoint_.model;
  body["messages"] = nlohmann::json::array();
  for (const auto& m : messages)
    body["messages"].push_back({{"role", m.role}, {"content", m.content}});
  body["temperature"] = endpoint_.temperature;
  body["max_tokens"] = endpoint_.max_tokens;
  // Servers take a signed 64-bit seed (OpenAI, vLLM) or a 32-bit one
  // (llama.cpp); 31 bits fit all.
  if (endpoint_.send_seed && seed) body["seed"] = static_cast<int64_t>(*seed & 0x7fffffff);
  const std::string payload = body.dump();
  std::vector<std::pair<std::string, std::string>> headers = {{"Content-Type", "application/json"}};
  if (!api_key_.empty()) headers.push_back({"Authorization", "Bearer " + api_key_});
  const std::string target = url_.path + "/chat/completions";
  const std::string what =
      "POST " + endpoint_.base_url + "/chat/completions (model " + endpoint_.model + ")";

  HttpClientOptions http_options;
  http_options.timeout_s = endpoint_.timeout_s;
  http_options.tls_verify = endpoint_.tls_verify;
  http_options.ca_file = endpoint_.ca_file;

  ChatReply reply;
  const auto t0 = std::chrono::steady_clock::now();
  double wait_s = endpoint_.backoff_s;
  for (int attempt = 0;; ++attempt) {
    // Ctrl-C: the episode is abandoned (not logged) rather than finished
    // call by call; --resume plays it again.
    if (InterruptFlag().load()) throw Interrupted();
    reply.attempts = attempt + 1;
    std::string failure;
    double retry_after = -1;
    try {
      const HttpResponse res = [&] {
        // Only the request itself holds a slot, not the wait before a retry.
        gate_->Enter();
        struct Release {
          Gate& gate;
          ~Release() { gate.Leave(); }
        } release{*gate_};
        HttpClient http(url_, http_options);
        return http.Send("POST", target, payload, headers);
      }();
      if (res.status == 200) {
        try {
          const auto j = nlohmann::json::parse(res.body);
          const auto& choice = j.at("choices").at(0);
          const auto& content = choice.at("message").at("content");
          if (!content.is_string()) throw std::runtime_error("message.content is not a string");
          reply.text = content.get<std::string>();
          if (j.contains("usage") && j["usage"].is_object()) {
            const auto& u = j["usage"];
            if (u.contains("prompt_tokens") && u["prompt_tokens"].is_number_integer())
              reply.prompt_tokens = u["prompt_tokens"].get<int64_t>();
            if (u.contains("completion_tokens") && u["completion_tokens"].is_number_integer())
              reply.completion_tokens = u["completion_tokens"].get<int64_t>();
          }
          reply.latency_ms =
              std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - t0)
                  .count();
          return reply;
        } catch (const std::exception& e) {
          failure = std::string("200 but not a chat completion (") + e.what() +
                    "): " + Truncate(res.body);
        }
      } else if (res.status == 429 || res.status >= 500) {
        failure = "HTTP " + std::to_string(res.status) + ": " + Truncate(res.body);
        const auto ra = res.headers.find("retry-after");
        if (ra != res.headers.end()) {
          char* end = nullptr;
          const double v = std::strtod(ra->second.c_str(), &end);
          if (end != ra->second.c_str() && v >= 0) retry_after = v;
        }
      } else {
        throw ChatError(what + ": HTTP " + std::to_string(res.status) +
                        " (not retried): " + Truncate(res.body, 500));
      }
    } catch (const NetError& e) {
      failure = e.what();
    }
    reply.retried.push_back(failure);
    if (attempt >= endpoint_.retries)
      throw ChatError(what + " failed after " + std::to_string(attempt + 1) +
                      " attempts; last: " + failure);
    InterruptibleSleep(std::min(retry_after >= 0 ? retry_after : wait_s, endpoint_.max_backoff_s));
    wait_s *= 2;
  }
}

}  // namespace oversight
