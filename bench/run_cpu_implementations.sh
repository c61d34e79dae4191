#!/bin/bash
# The same benchmark set on every OpenCL implementation of this machine's CPU (PoCL, Intel's CPU runtime,
# Mesa's rusticl), one after the other, and the results copied into bench/results/ as
# <implementation>-<TAG>-{bench-resnet18.json,kernels.json,compare-fashion.jsonl,compare-fashion-steps.jsonl,
# compare-fashion-config.json}; then bench/report renders every committed result.
#   bench/run_cpu_implementations.sh TAG [IMPLEMENTATION...]     e.g.  epyc-2core  (default: pocl intel rusticl)
# Run it on a quiet machine: the three run back to back on the same cores, so their times compare.
set -u
tag=${1:?usage: bench/run_cpu_implementations.sh TAG [pocl intel rusticl]}
shift
here=$(cd "$(dirname "$0")/.." && pwd)
impls=("$@")
[ ${#impls[@]} -gt 0 ] || impls=(pocl intel rusticl)
export RUSTICL_ENABLE=${RUSTICL_ENABLE:-llvmpipe}
work=${WORK:-$here/build/bench-cpu}
res=$here/bench/results
failed=0
for impl in "${impls[@]}"; do
  if ! "${GAFCL:-$here/build/host/gafcl}" devices 2>/dev/null | grep -qE "^[* ] [0-9]+:[0-9]+ +$impl "; then
    echo "== $impl: not installed here (bash scripts/setup.sh installs it); skipped"
    continue
  fi
  echo "==== $impl"
  rm -rf "${work:?}/$impl"
  CPU=1 GAFCL_DEVICE=$impl bash "$here/bench/run_device.sh" "$work/$impl" || failed=$((failed + 1))
  p=$res/$impl-$tag
  [ -f "$work/$impl/bench-resnet18.json" ] && cp "$work/$impl/bench-resnet18.json" "$p-bench-resnet18.json"
  [ -f "$work/$impl/kernels.json" ] && cp "$work/$impl/kernels.json" "$p-kernels.json"
  if [ -f "$work/$impl/compare/metrics.jsonl" ]; then
    cp "$work/$impl/compare/metrics.jsonl" "$p-compare-fashion.jsonl"
    cp "$work/$impl/compare/steps.jsonl" "$p-compare-fashion-steps.jsonl"
    cp "$work/$impl/compare/config.json" "$p-compare-fashion-config.json"
  fi
done
python3 "$here/bench/report" --out "$res" "$res"/*bench*.json "$res"/*kernels.json "$res"/*-convs-*.json \
  "$res"/*-iteration-*.json "$res"/pytorch-*-convs.json "$res"/nvidia-h100-pytorch.json "$res"/*.jsonl > /dev/null && echo "report: $res/report.md"
exit $((failed > 0))
