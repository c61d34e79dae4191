#!/bin/bash
# The paper's procedure and figure data, end to end on small Fashion-MNIST runs:
#  - steps.jsonl's gradient statistics agree with themselves and with params.json (the largest |g| is the
#    largest of the per-parameter maxima, named by the parameter holding it; the norm is at least it);
#  - gaf-suggest proposes alpha from the largest recorded gradient by the paper's rule (arctan: the bound
#    alpha*pi/2 covers it; alpha*beta > 1), writes its evidence and a configuration that trains;
#  - gaf-curve gives the optimizer's GAF: arctan/tanh/log and value clipping against their formulas;
#  - landscape: the same seed gives the same bytes, alpha 0 is the weights' own loss whatever the
#    direction, another seed another direction; bad input is refused clearly.
#   paper_check.sh GAFCL WORKDIR
set -u
gafcl=$1
work=$2
fail() { echo "paper_check: $*" >&2; exit 1; }
rm -rf "$work"
mkdir -p "$work"
flags="--data fashion --net resnet10_w16 --batch 16 --subset 128 --test-subset 32"

"$gafcl" gaf-suggest $flags --epochs 4 --suggest-epochs 2 --out "$work/sugg" > "$work/sugg.log" 2>&1 ||
  { cat "$work/sugg.log" >&2; fail "gaf-suggest failed"; }
python3 - "$work/sugg" <<'PY' || fail "the gradient statistics or the suggestion are wrong"
import json, math, sys
d = sys.argv[1]
names = [p["name"] for p in json.load(open(d + "/params.json"))]
steps = [json.loads(l) for l in open(d + "/steps.jsonl")]
assert len(steps) == 2 * 8, len(steps)  # two epochs of 128 / 16 batches
for s in steps:
    per = s["grad_max_per_param"]
    assert len(per) == len(names)
    assert s["grad_max"] == max(per), (s["grad_max"], max(per))
    assert names[per.index(max(per))] == s["grad_max_param"]
    assert s["grad_norm"] >= s["grad_max"] > 0
g = json.load(open(d + "/gaf-suggest.json"))
G = max(s["grad_max"] for s in steps)
ev = g["evidence"]
assert abs(ev["grad_max"] - G) <= 1e-6 * G, (ev, G)
assert ev["grad_max_param"] in names and ev["steps"] == 16
a, b = g["gaf_alpha"], g["gaf_beta"]
assert g["gaf"] == "arctan" and a * math.pi / 2 >= G and a * math.pi / 2 < 1.1 * G + 1e-12, (a, G)
assert a * b > 1
c = json.load(open(d + "/gaf-config.json"))
assert c["gaf"] == "arctan" and c["gaf-alpha"] == a and c["gaf-beta"] == b and c["epochs"] == 4
PY
"$gafcl" train --config "$work/sugg/gaf-config.json" --epochs 1 --out "$work/suggested" > "$work/train.log" 2>&1 ||
  { cat "$work/train.log" >&2; fail "the suggested configuration does not train"; }
python3 -c 'import json, sys; c = json.load(open(sys.argv[1])); s = json.load(open(sys.argv[2]));
sys.exit(not (c["gaf"] == "arctan" and c["gaf-alpha"] == s["gaf-alpha"] and c["gaf-beta"] == s["gaf-beta"]))' \
  "$work/suggested/config.json" "$work/sugg/gaf-config.json" || fail "the suggested run does not carry the GAF"

"$gafcl" gaf-suggest $flags --gaf none > "$work/none.log" 2>&1 && fail "gaf-suggest --gaf none was accepted"
grep -q "arctan, tanh or log" "$work/none.log" || fail "gaf-suggest --gaf none: no clear message"
"$gafcl" gaf-suggest $flags --epochs 2 --suggest-epochs 3 --out "$work/s3" > "$work/s3.log" 2>&1 && fail "more suggest epochs than epochs"
cp -r "$work/sugg" "$work/fsugg" # its model: the landscape below
# a recipe that diverges without the GAF: its steps with NaN/Inf gradients carry null statistics naming
# where they begin; the suggestion is the paper's first pair, the evidence says why; a rerun into the
# folder replaces the earlier suggestion
"$gafcl" gaf-suggest --data synthetic --net resnet10_w16 --batch 16 --subset 320 --test-subset 16 --epochs 1 --lr 1e6 \
  --out "$work/sugg" > "$work/div.log" 2>&1 || { cat "$work/div.log" >&2; fail "gaf-suggest on a diverging recipe failed"; }
python3 - "$work/sugg" <<'PY' || fail "a diverging recording is not handled"
import json, sys
d = sys.argv[1]
steps = [json.loads(l) for l in open(d + "/steps.jsonl")]
bad = [s for s in steps if s["skipped"]]
assert bad, "no step with NaN/Inf gradients"
for s in bad:
    assert s["grad_max"] is None and s["grad_norm"] is None and s["grad_max_param"]
    assert any(v is None for v in s["grad_max_per_param"])
g = json.load(open(d + "/gaf-suggest.json"))
assert g["evidence"]["diverged"] and g["evidence"]["nonfinite_steps"] == len(bad)
assert (g["gaf_alpha"], g["gaf_beta"]) == (0.1, 20)
assert json.load(open(d + "/gaf-config.json"))["lr"] == 1e6
PY
grep -q "the recording diverged" "$work/div.log" || fail "a diverging recording: no explanation"
echo "  gaf-suggest: statistics consistent, alpha from the largest gradient, a configuration that trains, a diverging recipe explained"

for k in "arctan 0.1 20" "tanh 0.2 10" "log 0.1 20"; do
  set -- $k
  "$gafcl" gaf-curve --gaf "$1" --gaf-alpha "$2" --gaf-beta "$3" --range 2 --points 101 --out "$work/curve-$1.jsonl" ||
    fail "gaf-curve $1 failed"
done
"$gafcl" gaf-curve --gaf none --clip value --clip-threshold 0.157 --range 1 --points 11 > "$work/curve-clip.jsonl" ||
  fail "gaf-curve --clip value failed"
python3 - "$work" <<'PY' || fail "gaf-curve differs from the formulas"
import json, math, sys
f = {"arctan": lambda a, b, g: a * math.atan(b * g), "tanh": lambda a, b, g: a * math.tanh(b * g),
     "log": lambda a, b, g: a * math.copysign(math.log1p(abs(b * g)), g)}
for k in f:
    rows = [json.loads(l) for l in open(sys.argv[1] + "/curve-%s.jsonl" % k)]
    assert len(rows) == 101 and rows[0]["g"] == -2 and rows[-1]["g"] == 2
    for r in rows:
        want = f[k](r["alpha"], r["beta"], r["g"])
        assert abs(r["value"] - want) <= 2e-6 * max(1.0, abs(want)), (k, r, want)
rows = [json.loads(l) for l in open(sys.argv[1] + "/curve-clip.jsonl")]
assert all(abs(r["value"] - max(-0.157, min(0.157, r["g"]))) < 1e-7 for r in rows)
PY
"$gafcl" gaf-curve --clip norm > /dev/null 2> "$work/norm.log" && fail "gaf-curve --clip norm was accepted"
grep -q "not element-wise" "$work/norm.log" || fail "gaf-curve --clip norm: no clear message"
# outputs: a full disk is an error; a FIFO and a symbolic link are written in place, not replaced
"$gafcl" gaf-curve --points 3 > /dev/full 2> "$work/full.log" && fail "gaf-curve to a full disk succeeded"
grep -q "No space left" "$work/full.log" || fail "gaf-curve to a full disk: no clear message"
mkfifo "$work/fifo"
cat "$work/fifo" > "$work/fifo.out" &
"$gafcl" gaf-curve --points 3 --out "$work/fifo" || fail "gaf-curve into a FIFO failed"
wait
[ -p "$work/fifo" ] && [ "$(wc -l < "$work/fifo.out")" -eq 3 ] || fail "gaf-curve replaced the FIFO or wrote nothing into it"
echo old > "$work/target" && ln -s target "$work/link"
"$gafcl" gaf-curve --points 3 --out "$work/link" || fail "gaf-curve into a symbolic link failed"
[ -L "$work/link" ] && [ "$(wc -l < "$work/target")" -eq 3 ] || fail "gaf-curve replaced the link instead of writing its target"
echo "  gaf-curve: the optimizer's GAF and value clipping match their formulas"

# the official CIFAR loaders keep the last partial batch: --last-batch keep trains on it (5 steps per epoch
# for 70 images at batch 16), drop leaves it (4); a last batch of one image is refused before training
k="--data synthetic --net resnet10_w16 --test-subset 16 --batch 16 --epochs 2"
"$gafcl" train $k --subset 70 --last-batch keep --out "$work/keep" > "$work/keep.log" 2>&1 ||
  { cat "$work/keep.log" >&2; fail "--last-batch keep failed"; }
"$gafcl" train $k --subset 70 --out "$work/drop" > /dev/null 2>&1 || fail "--last-batch drop failed"
[ "$(wc -l < "$work/keep/steps.jsonl")" -eq 10 ] || fail "--last-batch keep: not 5 steps per epoch"
[ "$(wc -l < "$work/drop/steps.jsonl")" -eq 8 ] || fail "--last-batch drop: not 4 steps per epoch"
"$gafcl" train $k --subset 65 --last-batch keep > "$work/one.log" 2>&1 && fail "a last batch of one image was accepted"
grep -q "last batch of one image" "$work/one.log" || fail "a last batch of one image: no clear message"
"$gafcl" reproduce --table 2 --help | tr '\n' ' ' | grep -q -- "--last-batch drop|keep .*classification) (keep)" ||
  fail "the CIFAR tables' recipe does not keep the last batch"
echo "  --last-batch keep: the partial batch trained on its own images; one image refused"

w="$work/fsugg/model.safetensors"
lflags="--data fashion --net resnet10_w16 --batch 16 --subset 64 --weights $w --points 5 --range 0.5"
"$gafcl" landscape $lflags --seed 3 --out "$work/l1.jsonl" 2> "$work/l1.log" || { cat "$work/l1.log" >&2; fail "landscape failed"; }
"$gafcl" landscape $lflags --seed 3 --out "$work/l2.jsonl" 2> "$work/l2.log" || { cat "$work/l2.log" >&2; fail "landscape failed again"; }
"$gafcl" landscape $lflags --seed 4 --out "$work/l3.jsonl" 2> "$work/l3.log" || { cat "$work/l3.log" >&2; fail "landscape with another seed failed"; }
cmp -s "$work/l1.jsonl" "$work/l2.jsonl" || fail "landscape: the same seed gave different results"
python3 - "$work" <<'PY' || fail "landscape results are wrong"
import json, sys
a = [json.loads(l) for l in open(sys.argv[1] + "/l1.jsonl")]
b = [json.loads(l) for l in open(sys.argv[1] + "/l3.jsonl")]
assert [r["alpha"] for r in a] == [-0.5, -0.25, 0, 0.25, 0.5]
assert a[2]["loss"] == b[2]["loss"], "alpha 0 depends on the direction"
assert a[0]["loss"] != b[0]["loss"], "the seed does not change the direction"
assert all(r["images"] == 64 for r in a)
PY
"$gafcl" landscape --data fashion --net resnet10_w16 > /dev/null 2> "$work/now.log" && fail "landscape without --weights"
grep -q -- "--weights" "$work/now.log" || fail "landscape without --weights: no clear message"
"$gafcl" landscape $lflags --net resnet18 > /dev/null 2> "$work/wrong.log" && fail "landscape with another net's weights"
echo "  landscape: deterministic, alpha 0 independent of the direction, wrong weights refused"

# the figures from these files (bench/figures: Fig. 1 from gaf-curve, Fig. 3 from landscape, Fig. 5 from
# steps.jsonl)
src=$(cd "$(dirname "$0")/.." && pwd)
py=python3 # the python with matplotlib (Debian's, where python3 on the PATH is another one)
python3 -c 'import matplotlib' 2> /dev/null || py=/usr/bin/python3
"$py" "$src/bench/figures" --gafcl "$gafcl" --out "$work/figures" --fig1 --fig3 "a=$work/l1.jsonl" "$work/l3.jsonl" \
  --fig5 "$work/fsugg" > "$work/figures.log" 2>&1 || { cat "$work/figures.log" >&2; fail "bench/figures failed"; }
for f in fig1_surfaces fig3_landscape fig5_grad_max; do
  [ "$(head -c 8 "$work/figures/$f.png" | od -An -tx1 | tr -d ' \n')" = 89504e470d0a1a0a ] || fail "$f.png is not a PNG"
done
grep -q "largest |g|" "$work/figures.log" || fail "bench/figures did not report Fig. 5's data"
echo "  bench/figures: Figures 1, 3 and 5 drawn from gafcl's outputs"
