#!/bin/bash
# The data-parallel path's own cost on one device, without a second one: plain training against
# --comm-loopback (the gradients copied to host memory in buckets while the backward pass runs, summed,
# copied back; the same bits), without overlap and with buckets of 2, 5, 10 and 25 MiB. Epoch 2 of each
# run is timed. Into RESULTS/<TAG>-loopback/<run>-{metrics,steps}.jsonl and a summary on stdout.
#   bench/run_loopback.sh TAG [DEVICE [NET [BATCH]]]     e.g.  nvidia-h200 nvidia resnet18 256
# On a machine without the build tree, bundle the program (../shared/gpu/bundle.sh DEST build/host/gafcl)
# and set GAFCL=DEST/gafcl with LD_LIBRARY_PATH=DEST/lib.
set -u
tag=${1:?usage: bench/run_loopback.sh TAG [DEVICE [NET [BATCH]]]}
dev=${2:-}; net=${3:-resnet18}; batch=${4:-256}
here=$(cd "$(dirname "$0")/.." && pwd)
gafcl=${GAFCL:-$here/build/host/gafcl}
res=${RESULTS:-$here/bench/results}/$tag-loopback
py=${PYTHON:-python3}
mkdir -p "$res"
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
b=(--data synthetic --net "$net" --batch "$batch" --subset $((batch * 6)) --test-subset "$batch" --epochs 2 --gaf arctan
  --lr 0.05)
[ -n "$dev" ] && b+=(--device "$dev")
for r in plain: loop:--comm-loopback "loop-nooverlap:--comm-loopback --overlap 0" "loop-b2:--comm-loopback --bucket-mb 2" \
  "loop-b5:--comm-loopback --bucket-mb 5" "loop-b10:--comm-loopback --bucket-mb 10" \
  "loop-b25:--comm-loopback --bucket-mb 25" plain2:; do
  name=${r%%:*}
  read -r -a extra <<< "${r#*:}"
  if ! timeout 600 "$gafcl" train "${b[@]}" "${extra[@]}" --out "$work/$name" > "$work/$name.log" 2>&1; then
    echo "== $name FAILED"
    tail -3 "$work/$name.log"
    continue
  fi
  cp "$work/$name/metrics.jsonl" "$res/$name-metrics.jsonl"
  cp "$work/$name/steps.jsonl" "$res/$name-steps.jsonl"
  "$py" - "$res" "$name" << 'PY'
import json, sys
o, n = sys.argv[1:3]
m = [json.loads(l) for l in open(f"{o}/{n}-metrics.jsonl")]
s = [json.loads(l) for l in open(f"{o}/{n}-steps.jsonl") if json.loads(l)["epoch"] == 2]
t = m[1]["epoch_time_s"] / len(s)
c = sum(x.get("comm_s", 0) for x in s) / len(s)
e = sum(x.get("comm_exposed_s", 0) for x in s) / len(s)
print(f"{n:16s} {1e3 * t:8.1f} ms/iteration  reduction {1e3 * c:7.1f} ms  not hidden {1e3 * e:7.1f} ms  ({m[1]['device']})")
PY
done
