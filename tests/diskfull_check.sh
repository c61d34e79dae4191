#!/bin/bash
# A checkpoint that cannot be written (disk full; a file-size limit) stops the run with a clear error and
# leaves the previous checkpoint exactly as it was, and a later resume from it finishes normally.
# The disk-full case needs a small tmpfs (root, and mounts allowed); without it only the size limit runs.
#   diskfull_check.sh GAFCL WORKDIR
set -u
gafcl=$1
work=$2
fail() { echo "diskfull_check: $*" >&2; exit 1; }
rm -rf "$work"
mkdir -p "$work"
flags="--data synthetic --net resnet10_w16 --epochs 2 --batch 32 --subset 128 --test-subset 64 --gaf tanh --lr 0.05"
"$gafcl" train $flags --out "$work/base" --stop-after 1 > "$work/base.log" 2>&1 || fail "first epoch failed"
"$gafcl" train $flags --out "$work/straight" > "$work/straight.log" 2>&1 || fail "uninterrupted run failed"
state_bytes=$(stat -c %s "$work/base/state.safetensors")
model_bytes=$(stat -c %s "$work/base/model.safetensors")

# check_failed_run DIR LOG WHAT: the run failed naming WHAT, the checkpoint is unchanged, nothing left over,
# and resuming it elsewhere completes with the uninterrupted run's bits
check_failed_run() {
  local dir=$1 log=$2 what=$3
  grep -q "$what" "$log" || { cat "$log" >&2; fail "the error does not name '$what'"; }
  grep -q "previous checkpoint is kept" "$log" || { cat "$log" >&2; fail "the error does not say the checkpoint is kept"; }
  cmp "$work/base/state.safetensors" "$dir/state.safetensors" || fail "state.safetensors changed"
  cmp "$work/base/model.safetensors" "$dir/model.safetensors" || fail "model.safetensors changed"
  ! compgen -G "$dir/*.tmp.*" > /dev/null || fail "temporary files left in $dir"
  rm -rf "$work/again"
  cp -r "$dir" "$work/again"
  "$gafcl" train $flags --out "$work/again" --resume "$work/again" > "$work/again.log" 2>&1 || fail "resume after the failure failed"
  cmp "$work/straight/model.safetensors" "$work/again/model.safetensors" || fail "resumed run differs"
}

# 1. a file-size limit below the state file's size (bash counts ulimit -f in KiB)
cp -r "$work/base" "$work/limited"
( ulimit -f $(( state_bytes / 1024 - 1 )); exec "$gafcl" train $flags --out "$work/limited" --resume "$work/limited" ) \
  > "$work/limited.log" 2>&1 && fail "the run with a file-size limit succeeded"
check_failed_run "$work/limited" "$work/limited.log" "File too large"
echo "file-size limit: clear error, previous checkpoint intact, resumable"

# 2. a full disk: a tmpfs that holds the checkpoint and logs but not a second state file
mnt=$work/mnt
mkdir -p "$mnt"
size=$(( (state_bytes + model_bytes + 65536) / 4096 * 4096 + 4096 ))
if mount -t tmpfs -o size=$size tmpfs "$mnt" 2>/dev/null; then
  trap 'umount "$mnt" 2>/dev/null' EXIT
  cp -r "$work/base" "$mnt/run"
  "$gafcl" train $flags --out "$mnt/run" --resume "$mnt/run" > "$work/full.log" 2>&1 && fail "the run on a full disk succeeded"
  check_failed_run "$mnt/run" "$work/full.log" "No space left on device"
  echo "disk full (tmpfs of $size bytes): clear error, previous checkpoint intact, resumable"
else
  echo "disk full: skipped (cannot mount a tmpfs here)"
fi
