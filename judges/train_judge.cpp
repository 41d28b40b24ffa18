// Stage "train_judge": trains the sparse-pixel judge of Irving et al. 2018 on
// k random nonzero pixels per image, with fresh pixels every batch.
//
// Determinism and resume: batch b's images, pixels and dropout masks come from
// seeds derived from (experiment seed, stage name, b), so a run resumed from a
// checkpoint at step s continues exactly as the uninterrupted run would have.
// A checkpoint (model + Adam state + step) is written every
// `checkpoint_every` batches and when interrupted; --resume loads the latest.
#include <torch/torch.h>

#include <iostream>

#include "engine/torch_util.h"
#include "engine/util.h"
#include "judges/judges.h"
#include "judges/sparse_net.h"

namespace oversight {
namespace {

struct TrainJudgeOptions {
  std::string dataset = "mnist";   // "mnist" or "fashion_mnist"
  std::string data_dir;            // empty: the default location
  int pixels = 6;                  // k revealed pixels per example
  int batch_size = 128;            // the paper's
  double learning_rate = 1e-4;     // Adam, the paper's
  double dropout = 0.4;            // the paper's
  int64_t eval_images = 0;         // 0: the whole test split
  TrainingLoop loop{30000, 100, 1000, 1000};  // batches, log_every, eval_every, checkpoint_every
  int intra_op_threads = 2;        // both cores for batches of 128
  std::string artifact;            // name later stages load the judge by
};

class TrainJudgeStage : public Stage {
 public:
  explicit TrainJudgeStage(TrainJudgeOptions o) : o_(std::move(o)) {}

  void Run(StageContext& ctx) override {
    SetIntraOpThreads(o_.intra_op_threads);
    const torch::Device device(ctx.device);
    ImageDataset train = LoadImageDataset(o_.dataset, "train", o_.data_dir);
    ImageDataset test = LoadImageDataset(o_.dataset, "test", o_.data_dir);
    const std::vector<std::vector<int>> train_nz = NonzeroPixelsOf(train);
    const std::vector<std::vector<int>> test_nz = NonzeroPixelsOf(test);

    torch::manual_seed(DeriveSeed(ctx.seed, ctx.stage_name + "/init", 0));
    SparseNet net(SparseNetOptions{o_.dropout});
    net->to(device);
    torch::optim::Adam adam(net->parameters(), torch::optim::AdamOptions(o_.learning_rate));
    TrainingCheckpoint checkpoint(ctx, o_.artifact + ".checkpoint");
    int64_t step = ResumeFrom(checkpoint, *net, adam, ctx.device, "training");

    const SparseJudgeMeta meta{o_.pixels, o_.dataset, o_.dropout};
    const std::string stage = ctx.stage_name;
    const int64_t eval_n = o_.eval_images > 0
                               ? std::min<int64_t>(o_.eval_images, test.size())
                               : static_cast<int64_t>(test.size());
    auto evaluate = [&]() -> double {
      net->eval();
      torch::NoGradGuard no_grad;
      int64_t correct = 0;
      for (int64_t start = 0; start < eval_n; start += 256) {
        const int64_t end = std::min<int64_t>(eval_n, start + 256);
        std::vector<std::vector<int>> revealed;
        std::vector<SparseQuery> q;
        std::vector<int64_t> labels;
        revealed.reserve(end - start);
        for (int64_t i = start; i < end; ++i) {
          // Fixed masks: the same held-out pixels at every evaluation.
          Rng rng(DeriveSeed(ctx.seed, stage + "/eval", static_cast<uint64_t>(i)));
          revealed.push_back(SampleRevealed(test_nz[i], o_.pixels, rng));
          q.push_back({test.image(i), revealed.back().data(),
                       static_cast<int>(revealed.back().size())});
          labels.push_back(test.labels[i]);
        }
        torch::Tensor pred = net->forward(SparseInput(q).to(device)).argmax(1).to(torch::kCPU);
        correct += pred.eq(torch::tensor(labels)).sum().item<int64_t>();
      }
      net->train();
      return static_cast<double>(correct) / eval_n;
    };
    net->train();
    TrainingLoop loop = o_.loop;
    loop.train = [&](int64_t b) -> TrainingLoop::Figures {
      Rng rng(DeriveSeed(ctx.seed, stage + "/batch", static_cast<uint64_t>(b)));
      torch::manual_seed(DeriveSeed(ctx.seed, stage + "/dropout", static_cast<uint64_t>(b)));
      std::vector<std::vector<int>> revealed(o_.batch_size);
      std::vector<SparseQuery> q(o_.batch_size);
      std::vector<int64_t> labels(o_.batch_size);
      for (int i = 0; i < o_.batch_size; ++i) {
        const size_t img = UniformInt(rng, train.size());
        revealed[i] = SampleRevealed(train_nz[img], o_.pixels, rng);
        q[i] = {train.image(img), revealed[i].data(), static_cast<int>(revealed[i].size())};
        labels[i] = train.labels[img];
      }
      torch::Tensor logits = net->forward(SparseInput(q).to(device));
      torch::Tensor loss =
          torch::nn::functional::cross_entropy(logits, torch::tensor(labels).to(device));
      adam.zero_grad();
      loss.backward();
      adam.step();
      return {{"loss", loss.item<double>()}};
    };
    loop.evaluate = [&](int64_t) -> TrainingLoop::Figures {
      return {{"heldout_accuracy", evaluate()}};
    };
    step = RunTrainingLoop(ctx, loop, step, checkpoint, *net, adam);

    const std::string path = ctx.artifacts_dir + "/" + o_.artifact + ".pt";
    SaveSparseJudge(net, meta, path);
    RecordArtifact(ctx, "judge", o_.artifact, path, step);
    std::cerr << "  judge '" << o_.artifact << "' -> " << path << "\n";
  }

 private:
  TrainJudgeOptions o_;
};

}  // namespace

void RegisterTrainJudgeStage(Registries& registries) {
  registries.stages.Add("train_judge", [](const ConfigNode& node, const Registries&) {
    TrainJudgeOptions o;
    o.dataset = node.Enum("dataset", o.dataset, {"mnist", "fashion_mnist"});
    o.data_dir = node.String("data_dir", o.data_dir);
    o.pixels = static_cast<int>(node.Int("pixels", o.pixels, 1, kImagePixels));
    o.batch_size = static_cast<int>(node.Int("batch_size", o.batch_size, 1, 65536));
    o.learning_rate = node.Number("learning_rate", o.learning_rate, 1e-8, 1.0);
    o.dropout = node.Number("dropout", o.dropout, 0.0, 0.99);
    o.eval_images = node.Int("eval_images", o.eval_images, 0, 100000000);
    o.loop.ReadOptions(node);
    o.intra_op_threads = static_cast<int>(node.Int("intra_op_threads", o.intra_op_threads, 1, 64));
    o.artifact = node.RequireString("artifact");
    return std::make_unique<TrainJudgeStage>(o);
  });
}

}  // namespace oversight
