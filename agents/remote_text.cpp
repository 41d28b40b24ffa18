// Agent "remote" and judge "remote": language models behind an
// OpenAI-compatible chat completions server (net/chat_client.h), for the text
// protocols (protocols/text.h).
//
//   {"name": "remote", "endpoint": {...}, "prompt": "prompts/debater.txt",
//    "system": "prompts/debater_system.txt"}
//   judge: the same, plus "tries": 3
//
//   endpoint  see net/chat_client.h (base_url, model, api_key_env, ...)
//   prompt    the user message: a template file (protocols/text.h lists its
//             {{fields}}); a relative path is found from the working
//             directory, then the source tree (prompts/ ships defaults)
//   system    optional system message template
//   tries     judge: calls until an answer parses ("Answer: A",
//             "Confidence: 0.8"); after the last the verdict is
//             "unparseable" (never counted as right or wrong). 1 .. 10.
// Logged name: "remote:MODEL".
#include <optional>

#include <nlohmann/json.hpp>

#include "net/chat_client.h"
#include "protocols/text.h"

namespace oversight {
namespace {

// What an agent and a judge share: the client and the prompts.
class RemoteModel {
 public:
  explicit RemoteModel(const ConfigNode& node)
      : client_(MakeClient(node)), prompt_(PromptTemplate::Load(node.RequireString("prompt"))) {
    if (node.Has("system")) system_ = PromptTemplate::Load(node.RequireString("system"));
  }

  std::string name() const { return "remote:" + client_->endpoint().model; }

  TextCall Call(const std::map<std::string, std::string>& fields, uint64_t seed) const {
    std::vector<ChatMessage> messages;
    if (system_) messages.push_back({"system", system_->Render(fields)});
    messages.push_back({"user", prompt_.Render(fields)});
    try {
      const ChatReply reply = client_->Complete(messages, seed);
      return TextCall{reply.text, reply.UsageJson(), reply.latency_ms};
    } catch (const ChatError& e) {
      throw TextModelError(name() + ": " + e.what());
    }
  }

 private:
  static std::unique_ptr<ChatClient> MakeClient(const ConfigNode& node) {
    const ConfigNode endpoint = node.Child("endpoint");
    ChatEndpoint e = ParseChatEndpoint(endpoint);
    try {
      return std::make_unique<ChatClient>(std::move(e));
    } catch (const std::invalid_argument& err) {
      endpoint.Fail(err.what());
    }
  }

  std::unique_ptr<ChatClient> client_;
  PromptTemplate prompt_;
  std::optional<PromptTemplate> system_;
};

class RemoteAgent : public TextAgent {
 public:
  explicit RemoteAgent(const ConfigNode& node) : model_(node) {}
  std::string name() const override { return model_.name(); }
  void Open(StageContext&) override {}
  TextCall Speak(const std::map<std::string, std::string>& fields, uint64_t seed) const override {
    return model_.Call(fields, seed);
  }

 private:
  RemoteModel model_;
};

class RemoteJudge : public TextJudge {
 public:
  RemoteJudge(const ConfigNode& node, int tries) : model_(node), tries_(tries) {}
  std::string name() const override { return model_.name(); }
  JudgeKind kind() const override { return JudgeKind::kRemote; }
  void Open(StageContext&) override {}

  TextVerdict Decide(const std::map<std::string, std::string>& fields, uint64_t seed,
                     const EpisodeRecord&) const override {
    TextVerdict v;
    nlohmann::json usage = nlohmann::json::array();
    for (int t = 0; t < tries_; ++t) {
      const TextCall call = model_.Call(fields, seed + static_cast<uint64_t>(t));
      v.answers.push_back(call.text);
      usage.push_back(nlohmann::json::parse(call.usage_json));
      v.latency_ms += call.latency_ms;
      const ParsedAnswer parsed = ParseJudgeAnswer(call.text);
      if (parsed.choice) {
        v.choice = parsed.choice;
        v.confidence = parsed.confidence;
        break;
      }
    }
    v.usage_json = usage.dump();
    return v;
  }

 private:
  RemoteModel model_;
  int tries_;
};

}  // namespace

void RegisterRemoteModels(Registries& registries) {
  registries.agents.Add("remote", [](const ConfigNode& node) -> std::unique_ptr<Agent> {
    return std::make_unique<RemoteAgent>(node);
  });
  registries.judges.Add("remote", [](const ConfigNode& node) -> std::unique_ptr<Judge> {
    const int tries = static_cast<int>(node.Int("tries", 3, 1, 10));
    return std::make_unique<RemoteJudge>(node, tries);
  });
}

}  // namespace oversight
