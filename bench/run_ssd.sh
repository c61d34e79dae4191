#!/bin/bash
# SSD300 training iterations against PyTorch on this machine: gafcl bench on SSD300 (forward, backward,
# the multibox loss, the optimizer without and with each GAF; a per-layer profile) on each OpenCL
# implementation named, then bench/pytorch_ssd.py (the same architecture in PyTorch: CUDA when PyTorch has
# it, else the CPU with as many threads as cores), into bench/results/ as
#   <impl>-<TAG>-ssd300-b<batch>.json, pytorch-<TAG>-ssd300-b<batch>.json
#   bench/run_ssd.sh TAG [IMPLEMENTATION...]        e.g.  epyc-2core intel pocl   (default: pocl)
# Settings (environment): BATCH (32), ITERS (1: iterations per measurement; gafcl runs 4 warm-up
# iterations, 3 x ITERS baseline and 3 x ITERS GAF ones, and PROFILE profiled ones), PROFILE (1),
# PY_ITERS (3), PYTHON (/usr/bin/python3). SSD300 needs about 14 GiB at batch 32 (gafcl nets --batch 32):
# PoCL's device reports less than the machine has; POCL_MEMORY_LIMIT (GiB) raises it. Run it on a quiet
# machine: the implementations and PyTorch run back to back on the same cores, so their times compare.
set -u
tag=${1:?usage: bench/run_ssd.sh TAG [pocl intel rusticl nvidia ...]}
shift
here=$(cd "$(dirname "$0")/.." && pwd)
impls=("$@")
[ ${#impls[@]} -gt 0 ] || impls=(pocl)
export RUSTICL_ENABLE=${RUSTICL_ENABLE:-llvmpipe}
gafcl=${GAFCL:-$here/build/host/gafcl}
py=${PYTHON:-/usr/bin/python3}
res=${RESULTS:-$here/bench/results}
batch=${BATCH:-32}
failed=0
mkdir -p "$res"
for impl in "${impls[@]}"; do
  echo "== $impl: gafcl bench --nets ssd300 --batch $batch"
  "$gafcl" bench --device "$impl" --nets ssd300 --batch "$batch" --iters "${ITERS:-1}" --repeats 1 --profile "${PROFILE:-1}" \
    --epoch-iters 517 --out "$res/$impl-$tag-ssd300-b$batch.json" || { echo "== $impl FAILED"; failed=$((failed + 1)); }
done
echo "== PyTorch SSD300, batch $batch"
"$py" "$here/bench/pytorch_ssd.py" --batch "$batch" --iters "${PY_ITERS:-3}" --warmup 1 \
  --json "$res/pytorch-$tag-ssd300-b$batch.json" || { echo "== PyTorch FAILED"; failed=$((failed + 1)); }
exit $((failed > 0))
