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
# LeakSanitizer checks for leaks at each process's exit by stopping every thread from a tracer thread;
# with PoCL's worker threads on a loaded machine that tracer sometimes crashes itself ("Tracer caught
# signal 11 ... LeakSanitizer has encountered a fatal error"), which reports nothing about the program.
# A test that failed only that way is run once more on its own; any other failure, and a second one,
# fail the run. The test scripts keep their programs' output in log files in the work folders they are
# given (an argument under build-asan/), so those files are read too, not only what ctest shows.
rc=0
ctest --test-dir build-asan -j "$(nproc)" --output-on-failure --timeout 1500 "$@" || rc=$?
failed=build-asan/Testing/Temporary/LastTestsFailed.log
if [ $rc -ne 0 ] && [ -f "$failed" ]; then
  log=build-asan/Testing/Temporary/LastTest.log
  retry=()
  while IFS=: read -r _ name; do
    section=$(awk -v t="$name" '$0 ~ "Test: " t "$" {on = 1} on {print} on && /end time:/ {exit}' "$log")
    # the logs in the folders the test's command names under build-asan/ (its work folders)
    for d in $(sed -n 's/^Command: //p' <<<"$section" | grep -o '"[^"]*"' | tr -d '"'); do
      case $d in "$PWD"/build-asan/?*) [ -d "$d" ] && section+=$'\n'$(find "$d" -name '*.log' -type f -exec cat {} + 2>/dev/null) ;; esac
    done
    if grep -q "LeakSanitizer has encountered a fatal error" <<<"$section" &&
       ! grep -qE "ERROR: (LeakSanitizer: detected|AddressSanitizer)|runtime error:" <<<"$section"; then
      retry+=("$name")
    else
      retry=()
      break
    fi
  done < "$failed"
  if [ ${#retry[@]} -gt 0 ]; then
    echo "== LeakSanitizer's tracer crashed in ${retry[*]}: run once more, alone =="
    rc=0
    for t in "${retry[@]}"; do
      ctest --test-dir build-asan --output-on-failure --timeout 1500 -R "^$t\$" || rc=$?
    done
  fi
fi
exit $rc
