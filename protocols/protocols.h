// protocols/: the rules of each game as a state machine, and the task worlds
// they are played on. This header is the folder's public face: registration,
// plus helpers the sparse-pixel protocols share (declared in sparse_pixels.h).
#pragma once

#include <array>
#include <cstdint>
#include <string>

#include "engine/interfaces.h"
#include "protocols/sparse_pixels.h"

namespace oversight {

// Registers every task and protocol of this folder.
void RegisterProtocols(Registries& registries);

// Turn action for revealing `pixel`: {"pixel":p,"row":r,"col":c,"value":v},
// value in [0, 1].
std::string PixelActionJson(int pixel, uint8_t value);

std::array<float, kNumClasses> Softmax(const Logits& logits);
// log softmax(logits)[label], in double (stable: the max logit is subtracted
// first). REQUIRES: 0 <= label < kNumClasses.
double LogProbOf(const Logits& logits, int label);

// Config-time checks that a protocol got the task and judge it can play with;
// ConfigError at `node` otherwise.
ImageTask& RequireImageTask(const ConfigNode& node, Task& task);
SparseImageJudge& RequireSparseJudge(const ConfigNode& node, Judge* judge);

// For stages that name their own task and judge: the image task and the
// sparse-pixel judge at `node`.`key` ({"name": ..., ...}), made from `reg`,
// with unknown keys rejected; `*image` / `*sparse` point into the result.
std::unique_ptr<Task> CreateImageTask(const ConfigNode& node, const std::string& key,
                                      const Registries& reg, ImageTask** image);
std::unique_ptr<Judge> CreateSparseJudge(const ConfigNode& node, const std::string& key,
                                         const Registries& reg, SparseImageJudge** sparse);

void RegisterDirectProtocol(Registries& registries);

}  // namespace oversight
