#!/bin/sh
# A run interrupted after its first epoch and resumed ends with the same bits as an uninterrupted run:
# model.safetensors and state.safetensors must be byte-identical, and so must the per-step losses. A run
# whose activations are split over 1 MiB buffers gives the same bits too.
#   resume_check.sh GAFCL WORKDIR
set -e
gafcl=$1
work=$2
rm -rf "$work"
mkdir -p "$work"
sub="--subset 192 --test-subset 64"
# GAFCL_TEST_SCALE=small (the reruns on slower implementations): half the images, the same checks
[ "${GAFCL_TEST_SCALE:-}" = small ] && sub="--subset 96 --test-subset 32"
flags="--data synthetic --net resnet10_w16 --epochs 3 --batch 32 $sub --gaf arctan --lr 0.05"
"$gafcl" train $flags --out "$work/straight" > "$work/straight.log" 2>&1
"$gafcl" train $flags --out "$work/resumed" --stop-after 1 > "$work/part1.log" 2>&1
grep -q "stopping after 1 epoch" "$work/part1.log"
"$gafcl" train $flags --out "$work/resumed" --resume "$work/resumed" > "$work/part2.log" 2>&1
grep -q "resuming .* after epoch 1" "$work/part2.log"
cmp "$work/straight/model.safetensors" "$work/resumed/model.safetensors"
cmp "$work/straight/state.safetensors" "$work/resumed/state.safetensors"
[ "$(wc -l < "$work/resumed/metrics.jsonl")" -eq 3 ]
cmp "$work/straight/steps.jsonl" "$work/resumed/steps.jsonl" # per-step losses, appended on resume
# activations split over many small buffers (GAFCL_MAX_BUFFER_MB) train to the same bits
GAFCL_MAX_BUFFER_MB=1 "$gafcl" train $flags --out "$work/split" > "$work/split.log" 2>&1
cmp "$work/straight/model.safetensors" "$work/split/model.safetensors"
# a missing checkpoint folder is refused with the reason
"$gafcl" train $flags --out "$work/resumed" --resume "$work/part1-missing" > "$work/bad.log" 2>&1 && exit 1
grep -q "cannot open" "$work/bad.log"
echo "resume: identical to the uninterrupted run"
