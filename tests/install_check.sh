#!/bin/bash
# The installed library: `cmake --install` into a temporary prefix, then a program outside the tree
# (tests/install/) built against it twice, with find_package(gafcl) and with pkg-config, and run: two
# training steps of a tiny network on synthetic data. The installed gafcl program runs too.
#   install_check.sh BUILD_DIR SOURCE_DIR WORK_DIR [CFLAGS]   (CFLAGS: for a sanitizer build's libraries)
set -euo pipefail
build=$1
src=$2
work=$3
cflags=${4:-}
rm -rf "$work"
mkdir -p "$work"
prefix="$work/prefix"
cmake --install "$build" --prefix "$prefix" > "$work/install.log"
for f in include/gafcl/gafcl.h include/gafcl/gc_train.h include/gafcl/gc_data.h lib/libgafcl.a lib/libgafcl_nets.a \
         lib/libgafcl_data.a lib/cmake/gafcl/gafclConfig.cmake lib/pkgconfig/gafcl.pc bin/gafcl; do
  [ -e "$prefix/$f" ] || { echo "install_check: $f was not installed" >&2; exit 1; }
done
# nothing internal is installed
if ls "$prefix"/include/gafcl | grep -Eq 'internal|sha256|ops'; then echo "install_check: internal headers installed" >&2; exit 1; fi
# the program outside the tree, with CMake
cp -r "$src/tests/install" "$work/example"
cmake -S "$work/example" -B "$work/example/build" -DCMAKE_PREFIX_PATH="$prefix" -DCMAKE_BUILD_TYPE=Release \
  -DCMAKE_C_FLAGS="$cflags" -DCMAKE_EXE_LINKER_FLAGS="$cflags" > "$work/cmake.log"
cmake --build "$work/example/build" > "$work/build.log"
"$work/example/build/example" | tee "$work/run-cmake.log"
grep -q "two training steps" "$work/run-cmake.log"
# and with pkg-config
PKG_CONFIG_PATH="$prefix/lib/pkgconfig" cc -std=c11 -O1 $cflags -o "$work/example-pc" "$work/example/example.c" \
  $(PKG_CONFIG_PATH="$prefix/lib/pkgconfig" pkg-config --cflags --libs --static gafcl)
"$work/example-pc" | tee "$work/run-pc.log"
grep -q "two training steps" "$work/run-pc.log"
"$prefix/bin/gafcl" --version
echo "install: headers, libraries, CMake package, pkg-config file and program; a program outside the tree builds and trains"
