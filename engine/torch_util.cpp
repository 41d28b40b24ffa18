#include "engine/torch_util.h"

#include <torch/torch.h>

#include "engine/config.h"

namespace oversight {

std::string ResolveDevice(const std::string& requested, const std::string& where) {
  const bool cuda = torch::cuda::is_available();
  if (requested == "cpu") return "cpu";
  if (requested == "auto") return cuda ? "cuda" : "cpu";
  if (requested == "cuda") {
    if (!cuda)
      throw ConfigError(where + ": device \"cuda\" requested, but this LibTorch build has no "
                        "CUDA support or no GPU is visible; use \"cpu\" or \"auto\", or build "
                        "with a CUDA LibTorch (-DTorch_DIR=...)");
    return "cuda";
  }
  throw ConfigError(where + ": unknown device \"" + requested +
                    "\"; expected \"cpu\", \"cuda\" or \"auto\"");
}

void SetIntraOpThreads(int threads) {
  if (threads > 0 && at::get_num_threads() != threads) at::set_num_threads(threads);
}

}  // namespace oversight
