#include "agents/amplify_model.h"

#include <algorithm>
#include <cmath>

namespace oversight {

AnswererBatch MakeAnswererBatch(const AmplifyTask& task,
                                const std::vector<const AmplifyInstance*>& instances,
                                const std::vector<std::vector<Tokens>>& questions) {
  const int64_t b = static_cast<int64_t>(instances.size());
  int64_t f = 1, q = 1;
  for (const AmplifyInstance* inst : instances) f = std::max<int64_t>(f, inst->facts.size());
  for (const auto& qs : questions) q = std::max<int64_t>(q, qs.size());
  AnswererBatch batch;
  batch.facts = torch::zeros({b, f, task.fact_length()}, torch::kLong);
  batch.fact_pad = torch::ones({b, f}, torch::kBool);
  batch.questions = torch::zeros({b, q, task.question_length()}, torch::kLong);
  auto facts = batch.facts.accessor<int64_t, 3>();
  auto pad = batch.fact_pad.accessor<bool, 2>();
  auto qs = batch.questions.accessor<int64_t, 3>();
  for (int64_t i = 0; i < b; ++i) {
    const auto& rows = instances[static_cast<size_t>(i)]->facts;
    for (size_t r = 0; r < rows.size(); ++r) {
      pad[i][static_cast<int64_t>(r)] = false;
      for (size_t t = 0; t < rows[r].size(); ++t) facts[i][static_cast<int64_t>(r)][static_cast<int64_t>(t)] = rows[r][t];
    }
    const auto& qrows = questions[static_cast<size_t>(i)];
    for (size_t r = 0; r < qrows.size(); ++r)
      for (size_t t = 0; t < qrows[r].size() && static_cast<int>(t) < task.question_length(); ++t)
        qs[i][static_cast<int64_t>(r)][static_cast<int64_t>(t)] = qrows[r][t];
  }
  return batch;
}

AnswererNetImpl::AnswererNetImpl(const AmplifyTask& task, AnswererOptions o)
    : options_(o), vocab_(task.vocab_size()), fact_length_(task.fact_length()),
      question_length_(task.question_length()), answer_length_(task.answer_length()) {
  namespace nn = torch::nn;
  embed_ = register_module("embed", nn::Embedding(vocab_, o.embed));
  fact_in_ = register_module("fact_in", nn::Linear(fact_length_ * o.embed, o.hidden));
  question_in_ = register_module("question_in", nn::Linear(question_length_ * o.embed, o.hidden));
  fact_norm_ = register_module("fact_norm", nn::LayerNorm(nn::LayerNormOptions({o.hidden})));
  question_norm_ = register_module("question_norm", nn::LayerNorm(nn::LayerNormOptions({o.hidden})));
  for (int i = 0; i < o.fact_layers; ++i)
    fact_layers_.push_back(register_module(
        "fact_layer" + std::to_string(i),
        nn::TransformerEncoderLayer(nn::TransformerEncoderLayerOptions(o.hidden, o.heads)
                                        .dim_feedforward(4 * o.hidden)
                                        .dropout(0.0))));
  for (int i = 0; i < o.question_layers; ++i)
    question_layers_.push_back(register_module(
        "question_layer" + std::to_string(i),
        nn::TransformerDecoderLayer(nn::TransformerDecoderLayerOptions(o.hidden, o.heads)
                                        .dim_feedforward(4 * o.hidden)
                                        .dropout(0.0))));
  out_ = register_module("out", nn::Linear(o.hidden, answer_length_ * vocab_));
  // Pointer: a query per answer position, a key per fact token position.
  copy_query_ = register_module("copy_query", nn::Linear(o.hidden, answer_length_ * o.hidden));
  copy_key_ = register_module("copy_key", nn::Linear(o.hidden, fact_length_ * o.hidden));
  gate_ = register_module("gate", nn::Linear(o.hidden, answer_length_));
}

torch::Tensor AnswererNetImpl::forward(const torch::Tensor& facts, const torch::Tensor& fact_pad,
                                       const torch::Tensor& questions) {
  const int64_t b = facts.size(0), f = facts.size(1), q = questions.size(1);
  // [B, F, E] -> [F, B, E] (LibTorch's transformer layout).
  torch::Tensor x = fact_norm_(fact_in_(embed_(facts).reshape({b, f, -1}))).transpose(0, 1);
  for (auto& layer : fact_layers_) x = layer->forward(x, torch::Tensor(), fact_pad);
  torch::Tensor y = question_norm_(question_in_(embed_(questions).reshape({b, q, -1}))).transpose(0, 1);
  // Each question attends only to itself among the questions.
  const torch::Tensor own = torch::full({q, q}, -INFINITY, y.options()).fill_diagonal_(0.0);
  for (auto& layer : question_layers_)
    y = layer->forward(y, x, own, torch::Tensor(), torch::Tensor(), fact_pad);
  const int64_t h = options_.hidden, a = answer_length_, l = fact_length_;
  const torch::Tensor yq = y.transpose(0, 1);  // [B, Q, H]
  const torch::Tensor xf = x.transpose(0, 1);  // [B, F, H]
  const torch::Tensor vocab = torch::log_softmax(out_(yq).reshape({b, q, a, vocab_}), -1);
  // Copy scores [B, Q, A, F * L] over every token of every fact.
  const torch::Tensor query = copy_query_(yq).reshape({b, q, a, h});
  const torch::Tensor key = copy_key_(xf).reshape({b, f * l, h});
  torch::Tensor scores = torch::einsum("bqah,bkh->bqak", {query, key}) / std::sqrt(static_cast<double>(h));
  const torch::Tensor pad_tokens = fact_pad.unsqueeze(-1).expand({b, f, l}).reshape({b, 1, 1, f * l});
  scores = scores.masked_fill(pad_tokens, -1e9);
  // log of the copy distribution over the vocabulary: logsumexp of the
  // scores of the fact tokens with each id.
  const torch::Tensor ids = facts.reshape({b, 1, 1, f * l}).expand({b, q, a, f * l});
  const torch::Tensor log_attn = torch::log_softmax(scores, -1);
  const torch::Tensor copy = torch::zeros({b, q, a, vocab_}, log_attn.options())
                                 .scatter_add(-1, ids, log_attn.exp())
                                 .clamp_min(1e-12)
                                 .log();
  const torch::Tensor g = torch::log_sigmoid(gate_(yq)).unsqueeze(-1);      // log g
  const torch::Tensor not_g = torch::log_sigmoid(-gate_(yq)).unsqueeze(-1);  // log (1 - g)
  return torch::logaddexp(g + vocab, not_g + copy);
}

std::vector<std::vector<Tokens>> ArgmaxAnswers(const torch::Tensor& logits,
                                               const std::vector<std::vector<Tokens>>& questions) {
  const torch::Tensor best = logits.argmax(-1).to(torch::kCPU).contiguous();
  auto a = best.accessor<int64_t, 3>();
  std::vector<std::vector<Tokens>> out(questions.size());
  for (size_t i = 0; i < questions.size(); ++i)
    for (size_t r = 0; r < questions[i].size(); ++r) {
      Tokens t(static_cast<size_t>(best.size(2)));
      for (int64_t k = 0; k < best.size(2); ++k)
        t[static_cast<size_t>(k)] = static_cast<int>(a[static_cast<int64_t>(i)][static_cast<int64_t>(r)][k]);
      out[i].push_back(t);
    }
  return out;
}

void EmaUpdate(AnswererNet& teacher, AnswererNet& student, double decay) {
  torch::NoGradGuard no_grad;
  auto t = teacher->parameters(), s = student->parameters();
  for (size_t i = 0; i < t.size(); ++i) t[i].mul_(decay).add_(s[i], 1.0 - decay);
  auto tb = teacher->buffers(), sb = student->buffers();
  for (size_t i = 0; i < tb.size(); ++i) tb[i].copy_(sb[i]);
}

}  // namespace oversight
