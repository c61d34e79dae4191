#!/bin/bash
# Run gafcl's whole benchmark set on one OpenCL device and collect the results in one folder:
#   OUTDIR/devices.txt          the OpenCL devices seen
#   OUTDIR/kernels.json         gafcl_bench (Google Benchmark JSON: GEMM, conv, batch norm, pooling, optimizer)
#   OUTDIR/bench-resnet18.json  gafcl bench: ResNet-18 (CIFAR-10 form), batch 256, 196 iterations per epoch
#   OUTDIR/bench-resnet50.json  gafcl bench: ResNet-50 (CIFAR-100 form, 23.7M parameters), batch 256
#   OUTDIR/compare/             gafcl compare's quick default (the same run on every device: cross-device check)
#   OUTDIR/accuracy/            gafcl compare on the whole of Fashion-MNIST (with and without the GAF)
#   OUTDIR/pytorch.json         where PyTorch with CUDA is installed: bench/pytorch_gaf.py on the same GPU
#   OUTDIR/*.log                each step's output
# usage: bench/run_device.sh OUTDIR
# environment: GAFCL (the gafcl program, default build/host/gafcl), GAFCL_BENCH (default
#   build/bench/gafcl_bench), GAFCL_DEVICE (which device), FASHION_DIR (Fashion-MNIST .gz files, default
#   the Debian package's folder), QUICK=1 (tiny sizes: checks the script on a CPU in a minute or two),
#   CPU=1 (sized for a 2-core CPU: ResNet-18 at batch 16, kernels at batch 8, the default compare),
#   ACC_NET (resnet18), ACC_EPOCHS (5), ACC_SECONDS (time limit of the accuracy run, 900).
# A step that fails or runs out of time is reported and the next one runs; what finished is kept.
set -u
out=${1:?usage: bench/run_device.sh OUTDIR}
here=$(cd "$(dirname "$0")/.." && pwd)
gafcl=${GAFCL:-$here/build/host/gafcl}
gbench=${GAFCL_BENCH:-$here/build/bench/gafcl_bench}
data=${FASHION_DIR:-/usr/share/datasets/fashion-mnist}
mkdir -p "$out"
failed=0
step() { # step NAME SECONDS COMMAND...
  local name=$1 secs=$2; shift 2
  local t0=$SECONDS
  echo "== $name (limit ${secs} s)"
  timeout --signal=INT --kill-after=10 "$secs" "$@" > "$out/$name.log" 2>&1
  local rc=$?
  tail -n 15 "$out/$name.log"
  echo "== $name: exit $rc after $((SECONDS - t0)) s"
  [ $rc -eq 0 ] || failed=$((failed + 1))
}
BI=3; BR=3; LIM=600; big=1
if [ "${QUICK:-0}" = 1 ]; then
  B=8; NB=2; EI=196; filt='sgemm/256|copy/1048576|conv_fwd_im2col_batched/layer1|conv_dgrad_im2col_gemm/layer1|bn_relu_fwd/64x32|maxpool3x3s2_fwd/64x32|update_sgdm(_arctan)?/resnet18'
  acc=(--net resnet10_w16 --epochs 1 --subset 512 --test-subset 256 --batch 64); BB=4; MT=0.01
elif [ "${CPU:-0}" = 1 ]; then
  # sized for a 2-core CPU and its slowest implementation (rusticl): ResNet-18 at batch 16, the kernel set
  # of the ResNet-18 shapes at batch 8, the default compare; no ResNet-50 and no long accuracy run
  B=16; NB=8; EI=196; BB=16; MT=0.05; BI=1; BR=3; LIM=3000; big=0
  filt='BM_sgemm/(256|512|1024)/|BM_copy/1048576/|conv_(fwd_im2col_gemm|fwd_im2col_batched|bwd_im2col_gemm|wgrad_im2col_gemm)/|bn_relu_(fwd|bwd)/|maxpool3x3s2_(fwd|bwd)/|update_sgdm(_arctan)?/'
else
  B=256; NB=64; EI=196; filt='.'; acc=(--net "${ACC_NET:-resnet18}" --epochs "${ACC_EPOCHS:-5}" --subset 0 --test-subset 0 --batch 128); BB=$B; MT=0.1
fi
step devices 60 "$gafcl" devices
step selfcheck 300 "$gafcl" selfcheck
[ $big = 1 ] && step bench-resnet50 600 "$gafcl" bench --nets resnet50 --classes 100 --batch "$BB" --iters 3 --repeats 3 \
  --epoch-iters $EI --profile 2 --out "$out/bench-resnet50.json"
step bench-resnet18 $LIM "$gafcl" bench --nets resnet18 --batch "$BB" --iters $BI --repeats $BR --epoch-iters $EI \
  --profile 2 --out "$out/bench-resnet18.json"
GAFCL_BENCH_BATCH=$NB step kernels $LIM "$gbench" --benchmark_filter="$filt" --benchmark_min_time=$MT \
  --benchmark_format=json --benchmark_out="$out/kernels.json"
step compare $LIM "$gafcl" compare --data-dir "$data" --out "$out/compare"
[ $big = 1 ] && step accuracy "${ACC_SECONDS:-900}" "$gafcl" compare --data-dir "$data" "${acc[@]}" --out "$out/accuracy"
if python3 -c 'import sys, torch; sys.exit(0 if torch.cuda.is_available() else 1)' 2>/dev/null; then
  step pytorch 300 python3 "$here/bench/pytorch_gaf.py" --out "$out/pytorch.json"
fi
echo "run_device: $failed step(s) failed; results in $out"
exit $((failed > 0))
