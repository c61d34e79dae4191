#!/bin/bash
# Convolution speed against PyTorch on this machine: gafcl bench-conv (every convolution shape of the
# networks, per pass and algorithm) and gafcl bench (whole training iterations, with the GAF's share) on
# each OpenCL implementation named, then bench/pytorch_convs.py on the same shapes and iterations (CUDA
# when PyTorch has it, else the CPU with as many threads as cores), all copied into bench/results/ as
#   <impl>-<TAG>-convs-<form>-b<batch>.json, <impl>-<TAG>-iteration-b<batch>.json,
#   pytorch-<TAG>-convs-b<batch>.json
# and rendered by bench/report.
#   bench/run_convs.sh TAG [IMPLEMENTATION...]        e.g.  epyc-2core intel pocl   (default: pocl)
# Settings (environment): BATCHES ("16"), CIFAR_NETS (resnet18,resnet50,densenet_cifar), IMAGENET_NETS
# (resnet18,resnet50; "" skips the ImageNet form), IMAGENET_BATCH (4), ITERS (3), ITER_NETS (resnet18: whole
# iterations), PYTHON (/usr/bin/python3, Debian's python3-torch). Run it on a quiet machine: the
# implementations and PyTorch run back to back on the same cores, so their times compare.
set -u
tag=${1:?usage: bench/run_convs.sh TAG [pocl intel rusticl nvidia ...]}
shift
here=$(cd "$(dirname "$0")/.." && pwd)
impls=("$@")
[ ${#impls[@]} -gt 0 ] || impls=(pocl)
export RUSTICL_ENABLE=${RUSTICL_ENABLE:-llvmpipe}
gafcl=${GAFCL:-$here/build/host/gafcl}
py=${PYTHON:-/usr/bin/python3}
res=${RESULTS:-$here/bench/results}
batches=${BATCHES:-16}
cifar=${CIFAR_NETS:-resnet18,resnet50,densenet_cifar}
imagenet=${IMAGENET_NETS-resnet18,resnet50}
ibatch=${IMAGENET_BATCH:-4}
iters=${ITERS:-3}
iter_nets=${ITER_NETS:-resnet18}
failed=0
mkdir -p "$res"
step() { # NAME COMMAND...: run, report a failure and go on
  local name=$1
  shift
  echo "== $name: $*"
  "$@" || { echo "== $name FAILED (exit $?)"; failed=$((failed + 1)); }
}
for impl in "${impls[@]}"; do
  if ! "$gafcl" devices 2>/dev/null | grep -qE "^[* ] [0-9]+:[0-9]+ +$impl "; then
    echo "== $impl: not installed here (bash scripts/setup.sh installs the CPU ones); skipped"
    continue
  fi
  p=$res/$impl-$tag
  for b in $batches; do
    step "$impl cifar b$b" "$gafcl" bench-conv --device "$impl" --nets "$cifar" --batch "$b" --iters "$iters" \
      --out "$p-convs-cifar-b$b.json"
    step "$impl iteration b$b" "$gafcl" bench --device "$impl" --nets "$iter_nets" --batch "$b" --iters "$iters" \
      --repeats 1 --profile 1 --out "$p-iteration-b$b.json"
  done
  if [ -n "$imagenet" ]; then
    step "$impl imagenet b$ibatch" "$gafcl" bench-conv --device "$impl" --imagenet --nets "$imagenet" \
      --batch "$ibatch" --iters "$iters" --out "$p-convs-imagenet-b$ibatch.json"
  fi
done
# PyTorch on the shapes of the first implementation's files (the same on every implementation)
first=${impls[0]}
files=()
for b in $batches; do [ -f "$res/$first-$tag-convs-cifar-b$b.json" ] && files+=("$res/$first-$tag-convs-cifar-b$b.json"); done
[ -n "$imagenet" ] && [ -f "$res/$first-$tag-convs-imagenet-b$ibatch.json" ] && files+=("$res/$first-$tag-convs-imagenet-b$ibatch.json")
if [ ${#files[@]} -gt 0 ] && "$py" -c "import torch" 2>/dev/null; then
  step pytorch "$py" "$here/bench/pytorch_convs.py" --iters "$iters" --iterations "$iter_nets" \
    --out "$res/pytorch-$tag-convs.json" "${files[@]}"
else
  echo "== pytorch: no PyTorch for $py (Debian: apt-get install python3-torch) or no gafcl results; skipped"
fi
"${PYTHON_REPORT:-python3}" "$here/bench/report" --out "$res" "$res"/*bench*.json "$res"/*kernels.json \
  "$res"/*-convs-*.json "$res"/*-iteration-*.json "$res"/pytorch-*-convs.json "$res"/nvidia-h100-pytorch.json \
  "$res"/*.jsonl > /dev/null && echo "report: $res/report.md"
exit $((failed > 0))
