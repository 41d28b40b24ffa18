// judges/: the sparse-pixel classifier judge and its training stage (later:
// oracles, learned reward models, human and remote judges).
#pragma once

#include <memory>
#include <string>

#include "engine/coalescer.h"
#include "engine/interfaces.h"
#include "protocols/sparse_pixels.h"

namespace oversight {

// Registers judge "sparse" and stage kind "train_judge".
void RegisterJudges(Registries& registries);

// Judge "sparse" from its config node (options: checkpoint, intra_op_threads,
// kernel_logits, coalesce, coalesce_max_batch, coalesce_wait_us,
// coalesce_parallel); the
// "human" judge's model is one.
std::unique_ptr<SparseImageJudge> MakeSparseJudge(const ConfigNode& node);

// A sparse-pixel judge loaded straight from a checkpoint file, for tools and
// benchmarks (experiments load judges by artifact name instead).
// kernel_logits = false makes Logits() always a torch forward; `coalesce`
// (or nullptr) merges concurrent torch forwards (option "coalesce"). Throws
// DataError for an unreadable checkpoint.
std::unique_ptr<SparseImageJudge> LoadSparseJudgeFile(const std::string& path,
                                                      const std::string& device,
                                                      bool kernel_logits,
                                                      const CoalescerOptions* coalesce = nullptr);

}  // namespace oversight
