// LibTorch helpers shared by judges/ and agents/. This header does not include
// torch; torch_util.cpp does.
#pragma once

#include <string>

namespace oversight {

// Maps a config device ("cpu", "cuda", "auto") to the device to use:
// "cuda" without a CUDA-enabled LibTorch (or without a visible GPU) is a
// ConfigError; "auto" falls back to "cpu".
std::string ResolveDevice(const std::string& requested, const std::string& where);

// Sets LibTorch's intra-op thread count (process-wide). Measured on 2 cores:
// small single-example calls are fastest with 1, big training batches with 2.
void SetIntraOpThreads(int threads);

}  // namespace oversight
