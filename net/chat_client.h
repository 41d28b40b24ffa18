// ChatClient: the OpenAI-compatible chat completions API
// (POST {base_url}/chat/completions), as served by vLLM, llama.cpp's server,
// Ollama and TGI. Config ("endpoint" of a remote agent or judge):
//
//   "endpoint": {"base_url": "http://gpu-box:8000/v1", "model": "llama-3-8b",
//                "api_key_env": "OPENAI_API_KEY", "temperature": 0.7,
//                "max_tokens": 512, "timeout_s": 120, "retries": 4,
//                "backoff_s": 1, "max_backoff_s": 30, "max_concurrent": 4,
//                "send_seed": true, "tls_verify": true, "ca_file": ""}
//
//   base_url        http:// or https://, up to and including the API version
//   api_key_env     the NAME of an environment variable holding the key (sent
//                   as "Authorization: Bearer"); the key is never logged or
//                   stored. "" sends no key.
//   retries         further attempts after a 429, a 5xx, a connection error,
//                   a timeout or a reply that is not a chat completion; the
//                   waits are backoff_s * 2^k (at most max_backoff_s, or the
//                   server's Retry-After). Other 4xx replies are not retried.
//   max_concurrent  requests in flight to one base_url from this process, over
//                   all agents and judges that use it (the smallest limit
//                   configured for it wins).
//   send_seed       send the episode's seed (vLLM, llama.cpp and OpenAI use it
//                   for reproducible sampling).
#pragma once

#include <cstdint>
#include <memory>
#include <optional>
#include <stdexcept>
#include <string>
#include <vector>

#include "net/http.h"

namespace oversight {

class ConfigNode;

struct ChatEndpoint {
  std::string base_url;
  std::string model;
  std::string api_key_env;
  double temperature = 0.0;
  int max_tokens = 512;
  double timeout_s = 120;
  int retries = 4;
  double backoff_s = 1.0;
  double max_backoff_s = 30.0;
  int max_concurrent = 4;
  bool send_seed = true;
  bool tls_verify = true;
  std::string ca_file;
};

// Reads and checks node (an "endpoint" object); ConfigError naming the key.
ChatEndpoint ParseChatEndpoint(const ConfigNode& node);

struct ChatMessage {
  std::string role;  // "system", "user", "assistant"
  std::string content;
};

struct ChatReply {
  std::string text;
  int64_t prompt_tokens = -1;  // -1: the server did not say
  int64_t completion_tokens = -1;
  double latency_ms = 0;  // all attempts, waits included
  int attempts = 0;
  std::vector<std::string> retried;  // why each earlier attempt failed
  // {"prompt_tokens":..,"completion_tokens":..,"attempts":..,"retried":[..]}
  std::string UsageJson() const;
};

// The request failed for good: retries exhausted, or a reply that retrying
// cannot mend (400, 401, 404, ...). The message names the endpoint, the last
// error and the attempts.
class ChatError : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

class ChatClient {
 public:
  // Reads the API key from the environment now; std::invalid_argument when
  // api_key_env names an unset variable or base_url does not parse.
  explicit ChatClient(ChatEndpoint endpoint);
  ~ChatClient();

  // Thread-safe (one connection per call). Throws ChatError, or Interrupted
  // when Ctrl-C comes during a wait.
  ChatReply Complete(const std::vector<ChatMessage>& messages,
                     std::optional<uint64_t> seed = std::nullopt) const;

  const ChatEndpoint& endpoint() const { return endpoint_; }

 private:
  struct Gate;
  ChatEndpoint endpoint_;
  Url url_;
  std::string api_key_;
  std::shared_ptr<Gate> gate_;
};

}  // namespace oversight
