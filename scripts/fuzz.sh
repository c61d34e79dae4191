#!/bin/bash
# Build the libFuzzer targets (clang, ASan + UBSan) and run each for SECONDS (default 60) from its seed
# corpus in tests/fuzz/corpus/<target>. A crash, sanitizer report or leak fails the run; the input that
# caused it is left in build-fuzz/findings/ (add it to the corpus once fixed, as a regression input).
#   bash scripts/fuzz.sh [SECONDS] [TARGET...]
set -euo pipefail
cd "$(dirname "$0")/.."
secs=${1:-60}
[ $# -gt 0 ] && shift
targets=("$@")
[ ${#targets[@]} -gt 0 ] || targets=(idx cifar npy safetensors config jpeg voc_xml)
CC=clang CXX=clang++ cmake -S . -B build-fuzz -DCMAKE_BUILD_TYPE=RelWithDebInfo -DGAFCL_FUZZ=ON -DGAFCL_BUILD_BENCH=OFF >/dev/null
cmake --build build-fuzz -j "$(nproc)" --target $(printf 'fuzz_%s ' "${targets[@]}") >/dev/null
mkdir -p build-fuzz/findings
status=0
for t in "${targets[@]}"; do
  work=$(mktemp -d)
  cp tests/fuzz/corpus/"$t"/* "$work"/
  echo "== fuzz_$t: ${secs}s"
  if ! ASAN_OPTIONS=detect_leaks=1 ./build-fuzz/tests/fuzz_"$t" -max_total_time="$secs" -rss_limit_mb=2048 \
      -artifact_prefix=build-fuzz/findings/"$t"- "$work" 2>build-fuzz/fuzz_"$t".log; then
    echo "fuzz_$t: FAILED (see build-fuzz/fuzz_$t.log and build-fuzz/findings/)"
    tail -30 build-fuzz/fuzz_"$t".log
    status=1
  fi
  grep -E "^(#[0-9]+|Done)" build-fuzz/fuzz_"$t".log | tail -1
  rm -rf "$work"
done
exit $status
