#!/bin/bash
# Data-parallel scaling on this machine: time per training iteration against the number of processes N
# (mpirun -np N gafcl train), with the gradient reduction's time and the part of it the backward pass did
# not hide, for N = 1 and 2 on the CPU's OpenCL implementations (two PoCL processes; PoCL and Intel's
# runtime), with the overlap on and off. Into bench/results/<TAG>-mpi-scaling.json; bench/mpi_model.py
# turns it into the README's table and the model of 8 GPUs.
#   bench/run_mpi.sh TAG            e.g.  epyc-2core
# Settings (environment): NET (resnet18), BATCH (16: the global batch), BUCKET_MB (5), STEPS (4 per epoch; the second of
# two epochs is timed), IMPLS ("pocl intel"), PYTHON (/usr/bin/python3). Run it on a quiet machine: the
# configurations run one after another on the same cores.
set -u
tag=${1:?usage: bench/run_mpi.sh TAG}
here=$(cd "$(dirname "$0")/.." && pwd)
gafcl=${GAFCL:-$here/build/host/gafcl}
py=${PYTHON:-/usr/bin/python3}
res=${RESULTS:-$here/bench/results}
net=${NET:-resnet18}
batch=${BATCH:-16}
steps=${STEPS:-4}
read -r -a impls <<< "${IMPLS:-pocl intel}"
export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1 OMPI_MCA_btl_vader_single_copy_mechanism=none
mkdir -p "$res"
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
flags=(--data synthetic --net "$net" --batch "$batch" --subset $((batch * steps)) --test-subset "$batch" --epochs 2
  --gaf arctan --lr 0.01 --bucket-mb "${BUCKET_MB:-5}")
runs=()
one() { # NAME NPROC DEVICES OVERLAP
  local name=$1 np=$2 dev=$3 ov=$4
  echo "== $name: $np process(es) on $dev, overlap $ov"
  local cmd=("$gafcl" train "${flags[@]}" --device "$dev" --overlap "$ov" --out "$work/$name")
  if [ "$np" -gt 1 ]; then cmd=(mpirun --oversubscribe --bind-to none -np "$np" "${cmd[@]}"); fi
  if "${cmd[@]}" > "$work/$name.log" 2>&1; then
    runs+=("$name:$np:$dev:$ov")
  else
    echo "== $name FAILED"
    tail -5 "$work/$name.log"
  fi
}
one n1-${impls[0]} 1 "${impls[0]}" 1
one n2-${impls[0]}x2 2 "${impls[0]},${impls[0]}" 1
one n2-${impls[0]}x2-no-overlap 2 "${impls[0]},${impls[0]}" 0
if [ ${#impls[@]} -gt 1 ]; then
  one n1-${impls[1]} 1 "${impls[1]}" 1
  one n2-${impls[0]}+${impls[1]} 2 "${impls[0]},${impls[1]}" 1
  one n2-${impls[0]}+${impls[1]}-no-overlap 2 "${impls[0]},${impls[1]}" 0
fi
"$py" - "$work" "$res/$tag-mpi-scaling.json" "$net" "$batch" "$steps" "$("$gafcl" --version)" "${runs[@]}" << 'PY'
import json, sys
work, out, net, batch, steps, version = sys.argv[1:7]
rows = []
for spec in sys.argv[7:]:
    name, np_, dev, ov = spec.split(":")
    metrics = [json.loads(l) for l in open(f"{work}/{name}/metrics.jsonl")]
    st = [json.loads(l) for l in open(f"{work}/{name}/steps.jsonl")]
    st2 = [s for s in st if s["epoch"] == 2]
    params = json.load(open(f"{work}/{name}/params.json"))
    nparams = 0
    for p in params:
        k = 1
        for d in p["shape"]: k *= d
        nparams += k
    e2 = metrics[1]
    row = {"name": name, "ranks": int(np_), "devices": dev, "overlap": int(ov), "global_batch": int(batch),
           "iterations": len(st2), "iteration_s": e2["epoch_time_s"] / len(st2), "device_rank0": e2["device"],
           "gradient_bytes": 4 * nparams}
    if int(np_) > 1:
        row["comm_s"] = sum(s["comm_s"] for s in st2) / len(st2)
        row["comm_exposed_s"] = sum(s["comm_exposed_s"] for s in st2) / len(st2)
        n = int(np_)
        row["bytes_per_rank"] = 2 * (n - 1) / n * 4 * nparams  # all-to-all + all-gather of the chunks
    rows.append(row)
json.dump({"net": net, "global_batch": int(batch), "gafcl": version, "runs": rows}, open(out, "w"), indent=1)
for r in rows:
    extra = ""
    if "comm_s" in r:
        extra = f"  reduction {1e3 * r['comm_s']:.1f} ms, not hidden {1e3 * r['comm_exposed_s']:.1f} ms"
    print(f"{r['name']:28s} {r['iteration_s']:8.3f} s/iteration{extra}")
print("written:", out)
PY
