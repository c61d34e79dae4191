#!/bin/bash
# The command-line program as a hostile user meets it, one case per class of failure:
#  1. memory safety: a test set of another shape is refused before anything runs;
#  2. hangs: named pipes as weights, images, configuration, cache entries and kernel files never block;
#  3. files refused (the parsers' own tests cover the formats: test_data, test_checkpoint, test_flags);
#  4. logs: a diverging run writes JSON lines only (null, with the skip recorded); a second run on the same
#     folder is refused while the first holds it;
#  5. data lost: a run that fails its checks leaves an existing run folder untouched;
#  6. resume: a changed recipe, a state beyond --epochs and a finished run;
#  7. numbers: a run's config.json reproduces it bit for bit (a 64-bit seed included);
#  8. checks that come early and name the right thing: test labels outside the classes, another network's
#     state, the README's --device pocl.
#   hostile_check.sh GAFCL WORKDIR
set -u
gafcl=$1
work=$2
rm -rf "$work"
mkdir -p "$work"
fail() { echo "hostile_check: $*" >&2; exit 1; }
# run CMD... expecting exit status RC within 60 s and output matching REGEX
expect() {
  local rc=$1 regex=$2 name=$3
  shift 3
  timeout 60 "$@" > "$work/$name.log" 2>&1
  local got=$?
  [ $got = 124 ] && fail "$name: hung (no answer in 60 s)"
  [ $got = "$rc" ] || { cat "$work/$name.log" >&2; fail "$name: exit status $got, expected $rc"; }
  grep -Eq -e "$regex" "$work/$name.log" || { cat "$work/$name.log" >&2; fail "$name: output does not match '$regex'"; }
  echo "  $name: $(grep -Eo -e "$regex" "$work/$name.log" | head -1)"
}
command -v python3 > /dev/null || fail "needs python3"
python3 - "$work" "$(dirname "$0")" <<'PY'
import sys, random
sys.path.insert(0, sys.argv[2])
from npy_files import npy
random.seed(3)
w = sys.argv[1]
npy(w + "/x.npy", "<f4", (32, 3, 12, 12), "f", [random.uniform(-1, 1) for _ in range(32 * 3 * 144)])
npy(w + "/y.npy", "<i8", (32,), "q", [i % 4 for i in range(32)])
npy(w + "/x16.npy", "<f4", (8, 3, 16, 16), "f", [random.uniform(-1, 1) for _ in range(8 * 3 * 256)])
npy(w + "/y8.npy", "<i8", (8,), "q", [i % 4 for i in range(8)])
npy(w + "/y8big.npy", "<i8", (8,), "q", [7] * 8)
npy(w + "/x8.npy", "<f4", (8, 3, 12, 12), "f", [random.uniform(-1, 1) for _ in range(8 * 3 * 144)])
PY
npy="--data npy --images $work/x.npy --labels $work/y.npy --net resnet10_w16 --batch 8"

echo "1. memory safety"
expect 1 "the test images are 3x16x16 but the training images 3x12x12" test_shape \
  "$gafcl" train $npy --test-images "$work/x16.npy" --test-labels "$work/y8.npy" --epochs 1

echo "2. named pipes"
mkfifo "$work/pipe"
expect 1 "pipe \(safetensors file\): a named pipe, not a regular file" pipe_weights \
  "$gafcl" eval --net resnet10_w16 --images "$work/x8.npy" --weights "$work/pipe" --logits "$work/l.npy"
expect 1 "pipe \(.npy file\): a named pipe" pipe_images "$gafcl" eval --net resnet10_w16 --images "$work/pipe" --logits "$work/l.npy"
expect 1 "--config $work/pipe: not a regular file" pipe_config "$gafcl" train --config "$work/pipe"
expect 1 "pipe \(safetensors file\): a named pipe" pipe_init "$gafcl" train $npy --epochs 1 --init "$work/pipe"
mkdir -p "$work/kernels"
cp -r "$(dirname "$0")/../kernels/"*.cl "$work/kernels/"
rm "$work/kernels/conv.cl" && mkfifo "$work/kernels/conv.cl"
expect 1 "conv.cl \(kernel source .GAFCL_KERNEL_DIR is set.\): a named pipe" pipe_kernel \
  env GAFCL_KERNEL_DIR="$work/kernels" GAFCL_CACHE_DIR=off "$gafcl" train $npy --epochs 1
GAFCL_CACHE_DIR="$work/cache" "$gafcl" selfcheck > /dev/null 2>&1 || fail "selfcheck failed"
for f in "$work"/cache/*.clbin; do rm "$f" && mkfifo "$f"; done
expect 0 "self-check passed.*[1-9][0-9]* cache entries rejected" pipe_cache env GAFCL_CACHE_DIR="$work/cache" "$gafcl" selfcheck

echo "4. logs"
"$gafcl" train $npy --epochs 2 --lr 1e14 --gaf none --out "$work/diverge" > "$work/diverge.log" 2>&1 || true
python3 - "$work/diverge" <<'PY' || fail "the logs of a diverging run are not JSON, or do not record the skips"
import json, sys
def strict(c):
    raise ValueError("not JSON: " + c)
lines = [json.loads(l, parse_constant=strict) for f in ("steps.jsonl", "metrics.jsonl") for l in open(sys.argv[1] + "/" + f)]
assert lines and any(l.get("skipped") == 1 for l in lines), "no skipped step recorded"
assert any(l.get("loss", 0) is None for l in lines) or any(v is None for l in lines for v in l.values()), "no null"
PY
echo "  diverge: every line is JSON, NaN written as null, the skips recorded"
"$gafcl" train $npy --epochs 30 --out "$work/busy" > "$work/busy.log" 2>&1 &
first=$!
for _ in $(seq 1 200); do [ -s "$work/busy/.lock" ] && break; sleep 0.05; done
expect 1 "the run folder $work/busy is in use by another gafcl run \(process $first\)" second_run \
  "$gafcl" train $npy --epochs 1 --out "$work/busy"
wait $first || fail "the first run failed"

# a compare killed during its second run and resumed ends with the logs of one that was not
"$gafcl" compare $npy --epochs 3 --out "$work/cmp1" > /dev/null 2>&1 || fail "the uninterrupted compare failed"
"$gafcl" compare $npy --epochs 3 --out "$work/cmp2" > "$work/cmp2.log" 2>&1 &
pid=$!
for _ in $(seq 1 1200); do [ -f "$work/cmp2/gaf/state.safetensors" ] && break; kill -0 $pid 2>/dev/null || break; sleep 0.05; done
kill -9 $pid 2>/dev/null
wait $pid 2>/dev/null
"$gafcl" compare $npy --epochs 3 --out "$work/cmp2" --resume "$work/cmp2" > "$work/cmp2b.log" 2>&1 ||
  { cat "$work/cmp2b.log" >&2; fail "the resumed compare failed"; }
cmp "$work/cmp1/steps.jsonl" "$work/cmp2/steps.jsonl" || fail "a resumed compare's steps.jsonl differs from an uninterrupted one's"
python3 - "$work/cmp1/metrics.jsonl" "$work/cmp2/metrics.jsonl" <<'PY' || fail "a resumed compare's metrics differ"
import json, sys
def lines(p):
    return [{k: v for k, v in json.loads(l).items() if not k.endswith("time_s")} for l in open(p)]
sys.exit(0 if lines(sys.argv[1]) == lines(sys.argv[2]) and len(lines(sys.argv[1])) == 6 else 1)
PY
echo "  compare killed in its second run and resumed: the logs of an uninterrupted compare"
# a resume into another folder starts that folder's logs afresh (the old folder is left as it was)
"$gafcl" train $npy --epochs 3 --stop-after 1 --out "$work/from" > /dev/null 2>&1 || fail "the first part failed"
cp "$work/from/steps.jsonl" "$work/from.steps"
"$gafcl" train $npy --epochs 3 --out "$work/into" --resume "$work/from" > /dev/null 2>&1 || fail "the resume into another folder failed"
cmp -s "$work/from/steps.jsonl" "$work/from.steps" || fail "the folder resumed from was modified"
python3 -c 'import json, sys; e = {json.loads(l)["epoch"] for l in open(sys.argv[1])}; sys.exit(e != {2, 3})' "$work/into/steps.jsonl" ||
  fail "the new folder's log does not hold exactly the epochs trained into it"
echo "  a resume into another folder: that folder's logs hold its own epochs; the old folder is untouched"

echo "5. data lost"
"$gafcl" train $npy --epochs 2 --out "$work/keep" > /dev/null 2>&1 || fail "the run to keep failed"
cp -r "$work/keep" "$work/keep.before"
expect 1 "cannot open $work/typo.npy" typo "$gafcl" train --data npy --images "$work/typo.npy" --labels "$work/y.npy" \
  --net resnet10_w16 --batch 8 --epochs 1 --out "$work/keep"
expect 1 "the test set has label 7 but the training set" bad_test_labels \
  "$gafcl" train $npy --test-images "$work/x8.npy" --test-labels "$work/y8big.npy" --epochs 1 --out "$work/keep"
for f in config.json metrics.jsonl steps.jsonl state.safetensors model.safetensors; do
  cmp -s "$work/keep/$f" "$work/keep.before/$f" || fail "$f of the existing run was modified by a run that failed its checks"
done
echo "  the existing run folder is unchanged"

echo "6. resume"
expect 2 "--resume $work/keep: the run was started with batch 8 \(now 4\), lr 0.1 \(now 0.2\)" resume_changed \
  "$gafcl" train $npy --batch 4 --lr 0.2 --epochs 2 --out "$work/keep" --resume "$work/keep"
expect 2 "the run has completed 2 epochs, more than the 1 asked for" resume_epochs_low \
  "$gafcl" train $npy --epochs 1 --out "$work/keep" --resume "$work/keep"
expect 0 "has completed its 2 epochs; nothing to train" resume_finished \
  "$gafcl" train $npy --epochs 2 --out "$work/keep" --resume "$work/keep"
grep -q -- "-1.00%" "$work/resume_finished.log" && fail "a finished run printed a made-up summary"
expect 2 "this run was a resnet10_w16, not a resnet18" resume_other_net \
  "$gafcl" train $npy --net resnet18 --epochs 2 --out "$work/keep" --resume "$work/keep"

echo "7. numbers"
"$gafcl" train $npy --epochs 1 --seed 1152921504606846977 --lr 0.0123456789012345 --out "$work/repro1" > /dev/null 2>&1 ||
  fail "the first run failed"
"$gafcl" train --config "$work/repro1/config.json" --out "$work/repro2" > /dev/null 2>&1 || fail "the rerun failed"
cmp "$work/repro1/steps.jsonl" "$work/repro2/steps.jsonl" || fail "a run from the saved config.json differs"
python3 -c 'import json, sys; sys.exit(str(json.load(open(sys.argv[1]))["seed"]) != "1152921504606846977")' \
  "$work/repro1/config.json" || fail "the seed was not saved exactly"
echo "  a rerun from config.json gives the same steps, bit for bit (seed 2^60+1 kept exactly)"

echo "8. early, named checks"
if "$gafcl" devices | grep -q "Portable Computing Language"; then
  expect 0 "\* [0-9]+:[0-9]+ +pocl +Portable Computing Language" device_pocl "$gafcl" devices --device pocl
fi
echo "hostile: every case ended with a clear message, nothing hung, nothing was lost or made up"
