#!/bin/bash
# gafcl bench-conv and gafcl tune end to end on a small network: the JSON bench/pytorch_convs.py and
# bench/report read, the tiles kept in the cache folder and read back, and the refusals.
#   convbench_check.sh GAFCL
set -u
g=${1:?usage: convbench_check.sh GAFCL}
tmp=$(mktemp -d /tmp/gafcl-convbench-XXXXXX)
trap 'rm -rf "$tmp"' EXIT
export GAFCL_CACHE_DIR=$tmp/cache
fail=0
bad() { echo "FAIL: $*"; fail=1; }

"$g" bench-conv --nets resnet10_w16 --batch 2 --iters 1 --out "$tmp/c.json" > "$tmp/out" 2>&1 || bad "bench-conv exit $?"
grep -q "per iteration" "$tmp/out" || bad "no per-iteration totals: $(tail -3 "$tmp/out")"
for key in '"shapes"' '"forward"' '"dgrad"' '"wgrad"' '"chosen"' '"algorithms"' '"im2col_vgemm"' '"totals_ms"' '"dgrad_count"'; do
  grep -q "$key" "$tmp/c.json" || bad "bench-conv JSON lacks $key"
done
# every shape of resnet10_w16 (CIFAR form): the stem, 3x3 stride 1 and 2, the 1x1 stride-2 shortcuts
n=$(grep -c '"first"' "$tmp/c.json")
[ "$n" -ge 7 ] || bad "bench-conv found $n shapes, expected at least 7"

# grouped convolutions (RegNetX): weights of c_in / groups per output, the groups in the JSON
"$g" bench-conv --nets regnetx_200mf --batch 2 --size 16 --iters 1 --out "$tmp/g.json" > "$tmp/gout" 2>&1 ||
  bad "bench-conv on a grouped net exit $?: $(tail -2 "$tmp/gout")"
grep -q '"groups":[[:space:]]*46' "$tmp/g.json" || bad "bench-conv JSON lacks RegNetX's 46 groups"
grep -q "368->368 3x3/2 g46" "$tmp/gout" || bad "bench-conv does not show the groups"

# a forced algorithm is what every supported pass reports as chosen
"$g" bench-conv --nets resnet10_w16 --batch 2 --iters 1 --conv-algo im2col_vgemm --out "$tmp/f.json" > /dev/null 2>&1 ||
  bad "bench-conv --conv-algo exit $?"
grep '"chosen"' "$tmp/f.json" | grep -qv im2col_vgemm && bad "a forced im2col_vgemm was not chosen everywhere"

# tune: keeps a tiles file, which later runs read (a second tune starts from it)
"$g" tune --nets resnet10_w16 --batch 2 --budget 1 --clblast-budget 0 > "$tmp/t" 2>&1 || bad "tune exit $?: $(tail -3 "$tmp/t")"
grep -q "tiles kept in" "$tmp/t" || bad "tune kept nothing"
ls "$tmp"/cache/*.tiles > /dev/null 2>&1 || bad "no .tiles file in the cache folder"
grep -q "per shape" "$tmp/t" || bad "tune reports no per-shape gain"
# a corrupt or foreign tiles file: the defaults, no failure
for f in "$tmp"/cache/*.tiles; do printf 'gafcl vgemm tiles 1\nnn 5 2 8 1\nnt 16 4 4 1\n' > "$f"; done
"$g" bench-conv --nets resnet10_w16 --batch 1 --iters 1 > /dev/null 2>&1 || bad "bench-conv with a corrupt tiles file"
for f in "$tmp"/cache/*.tiles; do rm -f "$f"; mkfifo "$f"; done
timeout 120 "$g" bench-conv --nets resnet10_w16 --batch 1 --iters 1 > /dev/null 2>&1 || bad "bench-conv with a FIFO as tiles file"

# CLBlast's parameters: the threshold stage as tune runs it in a process of its own (the kernel stages
# compile a CLBlast kernel per candidate: minutes on PoCL, so not here); a kept set is applied by later
# runs, and a corrupt or refused one is ignored (CLBlast's own parameters)
"$g" tune --tune-stage threshold --nets resnet10_w16 --batch 1 --size 8 --budget 2 > "$tmp/cb" 2>&1 ||
  bad "tune --tune-stage threshold exit $?: $(tail -3 "$tmp/cb")"
grep -q "CLBlast GemmRoutine" "$tmp/cb" || bad "no CLBlast GemmRoutine result: $(tail -3 "$tmp/cb")"
grep -q "XGEMM_MIN_INDIRECT_SIZE=1:" "$tmp/cb" || bad "the threshold stage tried no candidate: $(tail -3 "$tmp/cb")"
ls "$tmp"/cache/*.clblast > /dev/null 2>&1 || printf 'gafcl clblast parameters 1\nGemmRoutine XGEMM_MIN_INDIRECT_SIZE=64\n' \
  > "$tmp/cache/none.clblast"
for f in "$tmp"/cache/*.clblast; do printf 'gafcl clblast parameters 1\nXgemm KWG=3\nGemmRoutine BOGUS=1\n' > "$f"; done
"$g" bench-conv --nets resnet10_w16 --batch 1 --size 8 --iters 1 --conv-algo im2col_gemm > /dev/null 2>&1 ||
  bad "bench-conv with refused CLBlast parameters"

# refusals
"$g" tune --budget 0 > /dev/null 2>&1; [ $? -eq 2 ] || bad "--budget 0 accepted"
"$g" bench-conv --nets nosuch > /dev/null 2>&1; [ $? -eq 2 ] || bad "--nets nosuch accepted"
"$g" bench-conv --nets resnet10_w16 --batch 1 --iters 1 --out "$tmp" > /dev/null 2>&1; [ $? -eq 1 ] ||
  bad "--out to a folder did not fail"
[ $fail -eq 0 ] && echo "convbench_check: passed"
exit $fail
