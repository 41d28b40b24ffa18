#!/usr/bin/env bash
# Configures and builds everything (Release, Ninja) into build/.
# Extra arguments go to the configure step, e.g. -DTorch_DIR=/opt/libtorch-cuda/share/cmake/Torch
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cmake -S "$root" -B "$root/build" -G Ninja -DCMAKE_BUILD_TYPE=Release "$@"
cmake --build "$root/build" -j "$(nproc)"
