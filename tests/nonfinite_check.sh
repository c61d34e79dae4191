#!/bin/bash
# Runs that go non-finite (learning rate 1e4 without the GAF; a NaN in one training image):
#  - with --on-nonfinite stop the run stops naming the epoch, the step and the layer where NaN/Inf began;
#  - a run diverging after a good epoch never overwrites that epoch's checkpoint, which stays finite and
#    resumes;
#  - with --on-nonfinite skip the bad batch is skipped without a trace and the run finishes with finite
#    checkpoints.
#   nonfinite_check.sh GAFCL WORKDIR
set -u
gafcl=$1
work=$2
fail() { echo "nonfinite_check: $*" >&2; exit 1; }
rm -rf "$work"
mkdir -p "$work"
flags="--data synthetic --net resnet10_w16 --epochs 2 --batch 16 --subset 64 --test-subset 16 --gaf none"
# every tensor of a checkpoint finite; prints its epoch
finite() {
  python3 - "$1" <<'PY' || return 1
import json, math, struct, sys
b = open(sys.argv[1], "rb").read()
n = struct.unpack("<Q", b[:8])[0]
h = json.loads(b[8:8 + n])
epoch = h.get("__metadata__", {}).get("epoch")
for k, t in h.items():
    if k == "__metadata__" or t["dtype"] != "F32":
        continue
    s, e = t["data_offsets"]
    v = struct.unpack("<%df" % ((e - s) // 4), b[8 + n + s:8 + n + e])
    if not all(math.isfinite(x) for x in v):
        sys.exit(f"{sys.argv[1]}: {k} holds NaN/Inf")
print(epoch)
PY
}
command -v python3 > /dev/null || { echo "nonfinite_check: needs python3"; exit 1; }

# 1. diverging gradients, --on-nonfinite stop: the epoch, step and layer are named
"$gafcl" train $flags --lr 1e4 --on-nonfinite stop > "$work/stop.log" 2>&1 && fail "the diverging run did not stop"
grep -Eq "epoch [0-9]+, step [0-9]+ \(batch [0-9]+\): non-finite gradients \(first in [a-z0-9_.]+\); NaN/Inf begin in the (forward output|backward pass) of layer [0-9]+ \([a-z]+ .*\); stopped" "$work/stop.log" ||
  { cat "$work/stop.log" >&2; fail "the message does not name the epoch, step and layer"; }
grep -o "epoch [0-9]*, step [0-9]*.*NaN/Inf begin in [^;]*" "$work/stop.log"

# 2. a run that diverges never overwrites the last good checkpoint in its folder, which stays finite and
#    resumes (the diverging run starts from the good weights with a learning rate a resume would refuse)
"$gafcl" train $flags --lr 0.05 --out "$work/keep" --stop-after 1 > "$work/keep1.log" 2>&1 || fail "first epoch failed"
cp "$work/keep/state.safetensors" "$work/state-epoch1"
"$gafcl" train $flags --lr 1e4 --out "$work/keep" --resume "$work/keep" > "$work/keep-lr.log" 2>&1 &&
  fail "a resume with another learning rate was accepted"
grep -q "the run was started with lr 0.05 (now 10000)" "$work/keep-lr.log" || { cat "$work/keep-lr.log" >&2; fail "no message on the changed learning rate"; }
"$gafcl" train $flags --lr 1e4 --on-nonfinite stop --out "$work/keep" --init "$work/keep/model.safetensors" > "$work/keep2.log" 2>&1 &&
  fail "the diverging run did not stop"
grep -Eq "non-finite gradients|holds NaN/Inf" "$work/keep2.log" || { cat "$work/keep2.log" >&2; fail "no divergence message"; }
grep -o "gafcl: .*" "$work/keep2.log"
cmp "$work/state-epoch1" "$work/keep/state.safetensors" || fail "the last good checkpoint was overwritten"
[ "$(finite "$work/keep/state.safetensors")" = 1 ] || fail "the kept checkpoint is not epoch 1's or not finite"
"$gafcl" train $flags --lr 0.05 --out "$work/keep" --resume "$work/keep" > "$work/keep3.log" 2>&1 ||
  { cat "$work/keep3.log" >&2; fail "the kept checkpoint does not resume"; }

# 3. a corrupt image (NaN) in the data, --on-nonfinite skip: its batch is skipped every epoch and leaves
#    no trace (batch-norm running statistics put back), the run finishes with finite checkpoints
python3 - "$work" "$(dirname "$0")" <<'PY'
import sys, random
sys.path.insert(0, sys.argv[2])
from npy_files import npy
random.seed(5)
n, c, h, w = 64, 3, 16, 16
x = [random.uniform(-1, 1) for _ in range(n * c * h * w)]
x[37 * c * h * w + 100] = float("nan")  # image 37
npy(sys.argv[1] + "/x.npy", "<f4", (n, c, h, w), "f", x)
npy(sys.argv[1] + "/y.npy", "<i8", (n,), "q", [i % 10 for i in range(n)])
PY
"$gafcl" train --data npy --images "$work/x.npy" --labels "$work/y.npy" --net resnet10_w16 --epochs 2 --batch 16 \
  --gaf arctan --lr 0.05 --on-nonfinite skip --out "$work/skip" > "$work/skip.log" 2>&1 ||
  { cat "$work/skip.log" >&2; fail "the skipping run failed"; }
grep -q "NaN/Inf begin in the input batch: step skipped" "$work/skip.log" || { cat "$work/skip.log" >&2; fail "the input was not named"; }
grep -q '"skipped_steps":2' "$work/skip/metrics.jsonl" || fail "metrics do not count the skipped steps"
finite "$work/skip/state.safetensors" > /dev/null || fail "a skipping run wrote non-finite weights or statistics"
echo "non-finite: stopped naming the step and layer; the last good checkpoint kept, finite and resumable; a corrupt input skipped without a trace"
