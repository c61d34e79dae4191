#!/bin/bash
# Build the library, the programs and every test with AddressSanitizer + UndefinedBehaviorSanitizer
# (build-asan/) and run the whole ctest suite on PoCL (the only implementation the loader sees here). Any sanitizer report fails its test: UBSan
# stops at the first error, LeakSanitizer reports leaks at exit (tests/lsan.supp lists the only
# exceptions: PoCL's LLVM compiler objects). The Oclgrind checks are left to the plain build
# (Oclgrind's preloaded runtime and ASan exclude each other).
#   bash scripts/sanitize.sh [ctest arguments...]
set -euo pipefail
cd "$(dirname "$0")/.."
cmake -S . -B build-asan -DCMAKE_BUILD_TYPE=RelWithDebInfo -DGAFCL_SANITIZE=ON -DGAFCL_BUILD_BENCH=OFF >/dev/null
cmake --build build-asan -j "$(nproc)" >/dev/null
export ASAN_OPTIONS=detect_leaks=1:fast_unwind_on_malloc=0:abort_on_error=0:strict_string_checks=1
export LSAN_OPTIONS=suppressions=$PWD/tests/lsan.supp:print_suppressions=0
export UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1
# PoCL only: the ICD loader would load every registered implementation into each process, and Mesa's
# (rusticl, Clover) leak their own start-up allocations; those are not gafcl's
mkdir -p build-asan/icd-pocl
cp /etc/OpenCL/vendors/pocl.icd build-asan/icd-pocl/
export OCL_ICD_VENDORS=$PWD/build-asan/icd-pocl
ctest --test-dir build-asan -j "$(nproc)" --output-on-failure --timeout 1500 "$@"
