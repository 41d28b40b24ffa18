// Debates read back from the log: the training data of the policy trainers
// (SFT's moves, PPO's evaluation, DPO's and the reward model's pairs). No
// LibTorch here.
#pragma once

#include <cstdint>
#include <map>
#include <string>
#include <vector>

#include "engine/config.h"
#include "engine/store.h"
#include "protocols/debate.h"
#include "protocols/sparse_pixels.h"

namespace oversight {

// One logged sparse-pixel debate (protocol "debate", status complete).
struct LoggedDebate {
  int64_t episode_id = 0;
  int64_t idx = 0;                 // episodes.idx within its stage
  std::string task;                // "mnist" or "fashion_mnist"
  std::string instance;            // e.g. "test/45#first=honest,lie_index=0"
  std::string split;               // "test"
  int source_index = -1;           // the image's index in its source
  DebateGame game;                 // pixels = number of reveals logged
  std::vector<int> reveals;        // pixels in order
  std::vector<DebateRole> movers;  // who revealed each
  std::vector<std::string> agents; // turns.agent of each reveal
  bool honest_won = false;         // from episodes.outcome
};

// The complete debates of (experiment, stage), in episode index order.
// Throws DataError naming the episode when a logged turn cannot be read as a
// debate (wrong protocol, a claim or pixel missing, a pixel out of range).
std::vector<LoggedDebate> ReadLoggedDebates(Store& store, int64_t experiment_id,
                                            const std::string& stage);

// A preference pair for one side of the debate: two games of the same image,
// claims and order (instance ids equal but for ",seed=N"), which that side
// won in `chosen` and lost in `rejected` (under the judge that was logged).
struct DebatePair {
  const LoggedDebate* chosen = nullptr;
  const LoggedDebate* rejected = nullptr;
};
// Pairs for `side` from `debates` (which must outlive them): per group of
// games, every won game with every lost one, in episode order, at most
// `max_per_group` (0: all). Groups with only wins or only losses give none.
std::vector<DebatePair> DebatePairs(const std::vector<LoggedDebate>& debates, DebateRole side,
                                    int max_per_group);

// Whether image `source_index` is held out from training (a fixed hash:
// about `fraction` of the images, the same for every trainer).
bool HeldOutImage(int source_index, double fraction);

// The preference pairs of a trainer (DPO, reward models): `side`'s pairs of
// the debates of `stage` in experiment `source`, read into `debates` (which
// must outlive them), split by HeldOutImage(). ConfigError naming `where`
// (".from_stage") when there is no training pair.
struct PreferencePairs {
  std::vector<DebatePair> train, heldout;
};
PreferencePairs ReadPreferencePairs(Store& store, int64_t source, const std::string& stage,
                                    DebateRole side, int max_per_group, double heldout_fraction,
                                    const std::string& where, std::vector<LoggedDebate>* debates);

// The images of logged debates, each dataset loaded once (by task and
// split, from the default data location).
class LoggedDebateImages {
 public:
  // `d`'s image and its nonzero pixels; DataError naming the episode when its
  // dataset or image is missing.
  const uint8_t* Image(const LoggedDebate& d, const std::vector<int>** nonzero);
  // The position before reveal `t` (0 .. reveals.size()) of `d`, seen by
  // its mover; game and image pointers point into `d` and this object.
  DebatePosition Position(const LoggedDebate& d, int t);

 private:
  struct Loaded {
    ImageDataset data;
    std::map<int, size_t> rows;
    std::map<size_t, std::vector<int>> nonzero;  // by row, filled on use
  };
  std::map<std::string, Loaded> loaded_;  // by "task/split"
};

// Splits an image instance id "SPLIT/INDEX[#...]" (ImageTask::Instance);
// false when `instance` is not one.
bool ParseImageInstance(const std::string& instance, std::string* split, int* source_index);

// The row of each source index in `data` (ImageDataset::source_index).
std::map<int, size_t> RowsBySourceIndex(const ImageDataset& data);

// Reads the options every trainer on logged debates shares (sft, dpo,
// train_rm) into `o`, the stage's defaults in `o` as the defaults:
// from_experiment, from_stage (required), batch_size, heldout_fraction, the
// TrainingLoop's (engine/torch_util.h) batches / log_every / eval_every /
// checkpoint_every, intra_op_threads and artifact (required).
template <class Options>
void ReadLogTrainerOptions(const ConfigNode& node, Options& o) {
  o.from_experiment = node.String("from_experiment", o.from_experiment);
  o.from_stage = node.RequireString("from_stage");
  o.batch_size = static_cast<int>(node.Int("batch_size", o.batch_size, 1, 65536));
  o.heldout_fraction = node.Number("heldout_fraction", o.heldout_fraction, 0.0, 0.9);
  o.loop.ReadOptions(node);
  o.intra_op_threads = static_cast<int>(node.Int("intra_op_threads", o.intra_op_threads, 1, 64));
  o.artifact = node.RequireString("artifact");
}

// The experiment that `ref` names: "" = `current`, a number = that id, a
// name = the latest finished experiment with that name. ConfigError naming
// `where` when there is none.
int64_t ResolveExperimentRef(Store& store, const std::string& ref, int64_t current,
                             const std::string& where);

}  // namespace oversight
