#!/bin/bash
# Set up gafcl on a Debian 12 machine (as root, or with sudo available) and run it.
#
#   bash scripts/setup.sh run    install what is missing, build, run the main job (gafcl compare: training
#                                with and without the GAF on Fashion-MNIST) on the default device
#   bash scripts/setup.sh test   install what is missing, build, run the whole test suite (ctest)
#
# Extra arguments after `run` go to gafcl instead of the default `compare --out gafcl-compare`. BUILD_DIR (default: build) sets the build folder.
set -euo pipefail
cd "$(dirname "$0")/.."

mode=${1:-}
[ $# -gt 0 ] && shift
case "$mode" in
  run | test) ;;
  *)
    echo "usage: bash scripts/setup.sh run|test [gafcl arguments]" >&2
    exit 2
    ;;
esac

packages=(build-essential cmake git pkg-config
  ocl-icd-opencl-dev pocl-opencl-icd clinfo
  libclblast-dev libcjson-dev zlib1g-dev libjpeg62-turbo-dev libbenchmark-dev
  oclgrind clang libclang-rt-14-dev dataset-fashion-mnist python3)
missing=()
for p in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [ ${#missing[@]} -gt 0 ]; then
  echo "setup: installing ${missing[*]}"
  sudo=""
  [ "$(id -u)" -ne 0 ] && sudo=sudo
  $sudo apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends "${missing[@]}"
fi

build=${BUILD_DIR:-build}
jobs=$(nproc 2>/dev/null || echo 2)
werror=OFF
[ "$mode" = test ] && werror=ON
cmake -S . -B "$build" -DCMAKE_BUILD_TYPE=Release -DGAFCL_WERROR=$werror
cmake --build "$build" -j "$jobs"

if [ "$mode" = run ]; then
  [ $# -gt 0 ] || set -- compare --out gafcl-compare
  exec "$build/host/gafcl" "$@"
fi
ctest --test-dir "$build" -j "$jobs" --output-on-failure --timeout 1800
