// X, the model trained by iterated amplification (Christiano et al. 2018,
// scaled to CPU; shared/REFERENCE-amplification.md 1.7): each fact row's
// token embeddings are flattened into one vector per fact, transformer
// layers run over the facts as a set (no positions), and each question,
// embedded the same way, reads the fact encodings through transformer
// decoder layers (questions do not attend to each other). Each answer
// token's distribution mixes a vocabulary softmax with a copy distribution
// over the tokens of the facts (a pointer to fact f, position p, per answer
// position), weighted by a learned gate, so the model can copy a name.
#pragma once

#include <torch/torch.h>

#include <string>
#include <vector>

#include "protocols/amplify_tasks.h"

namespace oversight {

struct AnswererOptions {
  int embed = 32;        // per token
  int hidden = 64;       // per fact / question
  int heads = 4;
  int fact_layers = 2;   // self-attention over the facts (paper: 6)
  int question_layers = 2;  // questions reading the facts (paper: 3)
};

// A batch of instances with their questions, padded: facts [B, F,
// fact_length], fact_pad [B, F] (true = padding), questions [B, Q,
// question_length] (padding questions are all idk and are ignored).
struct AnswererBatch {
  torch::Tensor facts, fact_pad, questions;
};
AnswererBatch MakeAnswererBatch(const AmplifyTask& task,
                                const std::vector<const AmplifyInstance*>& instances,
                                const std::vector<std::vector<Tokens>>& questions);

class AnswererNetImpl : public torch::nn::Module {
 public:
  AnswererNetImpl(const AmplifyTask& task, AnswererOptions options);
  // Log-probabilities [B, Q, answer_length, vocab].
  torch::Tensor forward(const torch::Tensor& facts, const torch::Tensor& fact_pad,
                        const torch::Tensor& questions);
  const AnswererOptions& options() const { return options_; }

 private:
  AnswererOptions options_;
  int vocab_, fact_length_, question_length_, answer_length_;
  torch::nn::Embedding embed_{nullptr};
  torch::nn::Linear fact_in_{nullptr}, question_in_{nullptr}, out_{nullptr};
  torch::nn::Linear copy_query_{nullptr}, copy_key_{nullptr}, gate_{nullptr};
  torch::nn::LayerNorm fact_norm_{nullptr}, question_norm_{nullptr};
  std::vector<torch::nn::TransformerEncoderLayer> fact_layers_;
  std::vector<torch::nn::TransformerDecoderLayer> question_layers_;
};
TORCH_MODULE(AnswererNet);

// The argmax answers of `logits` (or log-probabilities) [B, Q, answer_length, vocab].
std::vector<std::vector<Tokens>> ArgmaxAnswers(const torch::Tensor& logits,
                                               const std::vector<std::vector<Tokens>>& questions);

// teacher <- decay * teacher + (1 - decay) * student, parameters and buffers.
void EmaUpdate(AnswererNet& teacher, AnswererNet& student, double decay);

}  // namespace oversight
