#!/bin/bash
# Set up gafcl on a Debian 12 machine (as root, or with sudo available) and run it.
#
#   bash scripts/setup.sh run    install what is missing, build, run the main job (gafcl compare: training
#                                with and without the GAF on Fashion-MNIST) on the default device
#   bash scripts/setup.sh test   install what is missing, build, run the whole test suite (ctest) on PoCL,
#                                then the device-side suites on Intel's CPU runtime and on rusticl
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
  libclblast-dev libcjson-dev zlib1g-dev libjpeg62-turbo-dev libexpat1-dev libbenchmark-dev
  oclgrind clang libclang-rt-14-dev dataset-fashion-mnist python3 python3-matplotlib
  libopenmpi-dev openmpi-bin)
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

# Two more OpenCL implementations on the same CPU, next to PoCL (which stays the default device):
# Mesa's rusticl (Debian) and Intel's OpenCL CPU runtime (Python package index, into a virtual environment
# in gafcl's cache folder; registered with the ICD loader by an .icd file naming it). Both are optional:
# where one cannot be installed, everything runs on what is there, and this says once what is absent.
absent=()
sudo=""
[ "$(id -u)" -ne 0 ] && sudo=sudo
if ! dpkg-query -W -f='${Status}' mesa-opencl-icd 2>/dev/null | grep -q "install ok installed"; then
  echo "setup: installing mesa-opencl-icd (Mesa's rusticl)"
  mesa_install() { DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends mesa-opencl-icd >/dev/null 2>&1; }
  mesa_install || { $sudo apt-get update -qq >/dev/null 2>&1 && mesa_install; } ||
    absent+=("Mesa's rusticl (apt-get install mesa-opencl-icd failed)")
fi
intel_version=2026.2.0
intel_dir=${GAFCL_INTEL_OPENCL_DIR:-${XDG_CACHE_HOME:-${HOME:-/root}/.cache}/gafcl/intel-opencl-rt-$intel_version}
intel_icd=/etc/OpenCL/vendors/gafcl-intel-cpu.icd
intel_try=1
if [ "${GAFCL_SETUP_INTEL:-1}" = 0 ]; then
  absent+=("Intel's OpenCL CPU runtime (GAFCL_SETUP_INTEL=0)")
  intel_try=0
elif [ ! -f "$intel_dir/.installed" ]; then
  # two set-ups at once: the second waits, then finds it installed
  if ! { mkdir -p "$(dirname "$intel_dir")" && exec 9>"$intel_dir.lock" && flock 9; } 2>/dev/null; then
    absent+=("Intel's OpenCL CPU runtime (cannot write $(dirname "$intel_dir"))")
    intel_try=0
  fi
fi
if [ $intel_try = 1 ] && [ ! -f "$intel_dir/.installed" ]; then
  echo "setup: installing Intel's OpenCL CPU runtime $intel_version into $intel_dir"
  rm -rf "$intel_dir"
  # a virtual environment needs Debian's python3-venv where python3 is Debian's (optional like the rest)
  python3 -c 'import ensurepip' 2>/dev/null ||
    DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends python3-venv >/dev/null 2>&1 || true
  if python3 -m venv "$intel_dir" >"$intel_dir.log" 2>&1 &&
    "$intel_dir/bin/pip" install -q --no-cache-dir --disable-pip-version-check --retries 1 --timeout 20 \
      "intel-opencl-rt==$intel_version" "intel-cmplr-lib-rt==$intel_version" >>"$intel_dir.log" 2>&1 &&
    [ -f "$intel_dir/lib/libintelocl.so" ]; then
    touch "$intel_dir/.installed"
    rm -f "$intel_dir.log"
  else
    absent+=("Intel's OpenCL CPU runtime (python3 -m venv + pip install intel-opencl-rt failed; see $intel_dir.log)")
    rm -rf "$intel_dir"
  fi
fi
exec 9>&- # the lock, if taken
if [ -f "$intel_dir/.installed" ] && [ "$(cat "$intel_icd" 2>/dev/null)" != "$intel_dir/lib/libintelocl.so" ]; then
  echo "$intel_dir/lib/libintelocl.so" | $sudo tee "$intel_icd" >/dev/null ||
    absent+=("Intel's OpenCL CPU runtime (cannot write $intel_icd)")
fi
[ ${#absent[@]} -gt 0 ] && printf 'setup: absent, runs without it: %s\n' "${absent[@]}"

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
# Mesa's rusticl lists its CPU device only when enabled (the gafcl program enables it itself; the test
# programs use the library, which leaves the environment alone)
export RUSTICL_ENABLE=${RUSTICL_ENABLE:-llvmpipe}
echo "== the whole suite on the default device (PoCL) =="
failed=()
ctest --test-dir "$build" -j "$jobs" --output-on-failure --timeout 1800 || failed+=("the default device")
# The device-side suites again on every other implementation present, but for the accuracy runs on real
# data (label "long": 10 minutes each on rusticl; they check the pipeline, which the default device did),
# and with the crash and resume checks on half as many images (GAFCL_TEST_SCALE=small): rusticl trains
# about 13 times slower than PoCL here.
# GAFCL_TEST_IMPLEMENTATIONS narrows the list; "" skips the reruns.
for impl in ${GAFCL_TEST_IMPLEMENTATIONS-intel rusticl}; do
  if ! "$build/host/gafcl" devices 2>/dev/null | grep -qE "^[* ] [0-9]+:[0-9]+ +$impl "; then
    echo "== $impl: not installed here, its suites do not run =="
    continue
  fi
  echo "== the device-side suites on $impl (GAFCL_DEVICE=$impl ctest -L device -LE long) =="
  t0=$(date +%s)
  GAFCL_DEVICE=$impl GAFCL_TEST_SCALE=small ctest --test-dir "$build" -L device -LE long -j "$jobs" \
    --output-on-failure --timeout 1800 ||
    failed+=("$impl")
  echo "== $impl: $(($(date +%s) - t0)) s =="
done
if [ ${#failed[@]} -gt 0 ]; then
  echo "setup: tests failed on: ${failed[*]}" >&2
  exit 1
fi
