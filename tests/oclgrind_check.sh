#!/bin/sh
# Run a test program under Oclgrind (a simulated OpenCL device that checks every memory access) and
# fail on any error it reports, even when the program itself exits 0.
#   oclgrind_check.sh OCLGRIND PROGRAM [ARGS...]
#
# One narrow exception: CLBlast's own XgemmDirect* kernels (third-party code, used for small GEMMs)
# make Oclgrind report "Uninitialized value written" from partial tiles; the GEMM results are checked
# against the CPU reference by the program itself, so these reports are counted and shown, not failed.
# Invalid accesses and data races in CLBlast's kernels, and every report in gafcl's kernels, fail.
oclgrind=$1
shift
log=$(mktemp)
# -cl-opt-disable: Oclgrind 21.10's uninitialised-value checker stops at the LLVM `freeze` instruction
# that optimised integer division produces ("Unsupported instruction: freeze"); unoptimised code checks.
GAFCL_BUILD_OPTIONS=-cl-opt-disable GAFCL_CACHE_DIR=off "$oclgrind" --check-api --data-races --uninitialized "$@" >"$log.out" 2>"$log"
rc=$?
cat "$log.out"
awk 'BEGIN { RS = ""; bad = 0; third = 0 }
     /(Invalid (read|write)|Uninitiali[sz]ed|uninitiali[sz]ed|data race|Oclgrind - OpenCL runtime error|Work-item|errors generated|Oclgrind [Ee]rror|FATAL ERROR|Unsupported)/ {
       if ($0 ~ /^Uninitialized value written/ && $0 ~ /Kernel: XgemmDirect/) { third++; next }
       bad++; print > "/dev/stderr"; print "" > "/dev/stderr"
     }
     END {
       printf "oclgrind: %d error report(s) in checked kernels, %d known report(s) in CLBlast XgemmDirect\n", bad, third
       exit bad > 0
     }' "$log"
bad=$?
if ! grep -q "Oclgrind" "$log.out"; then
  echo "oclgrind_check: the program did not report running on the Oclgrind device" >&2
  bad=1
fi
rm -f "$log" "$log.out"
[ "$rc" -eq 0 ] || { echo "oclgrind_check: program exited with $rc" >&2; exit 1; }
exit $bad
