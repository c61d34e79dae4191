#!/bin/bash
# Crash safety: a training run is killed with SIGKILL again and again, at random points during epochs,
# in the middle of writing a checkpoint (the state file, or the model file after the state) and between
# a checkpoint and the logs of its epoch, and resumed each time from what is on disk. Every resume must
# load (the last complete checkpoint is always intact), and the run that finally completes must end with
# the same bits as an uninterrupted run, and with the same logs (steps.jsonl byte for byte, metrics.jsonl
# but for the times).
#   crash_check.sh GAFCL WORKDIR [SEED]
set -u
gafcl=$1
work=$2
RANDOM=${3:-2718}
rm -rf "$work"
mkdir -p "$work"
fail() { echo "crash_check: $*" >&2; exit 1; }
E=10 # enough epochs for every kind of kill twice, also when epochs take under a second
sub="--subset 192 --test-subset 64"
# GAFCL_TEST_SCALE=small (the reruns on slower implementations): half the images, the same kills
[ "${GAFCL_TEST_SCALE:-}" = small ] && sub="--subset 96 --test-subset 32"
flags="--data synthetic --net resnet10_w16 --epochs $E --batch 32 $sub --gaf arctan --lr 0.05"
"$gafcl" train $flags --out "$work/straight" > "$work/straight.log" 2>&1 || fail "the uninterrupted run failed"
out=$work/crashy
kill_epoch=0 kill_state=0 kill_model=0 kill_log=0 trial=0
while :; do
  trial=$((trial + 1))
  [ $trial -le 40 ] || fail "no completed run after 40 tries"
  resume=""
  [ -f "$out/state.safetensors" ] && resume="--resume $out"
  # what to do this time: cycle through the three kinds of kill until each happened twice, then finish
  mode=finish
  if [ $kill_state -lt 2 ] || [ $kill_model -lt 2 ] || [ $kill_epoch -lt 2 ] || [ $kill_log -lt 2 ]; then
    case $((trial % 4)) in 0) mode=state ;; 1) mode=epoch ;; 2) mode=model ;; 3) mode=log ;; esac
  fi
  delay=0 logdelay=0
  [ $mode = state ] || [ $mode = model ] && delay=500
  [ $mode = log ] && logdelay=700
  before=$(stat -c %Y.%i "$out/state.safetensors" 2>/dev/null || echo none)
  GAFCL_TEST_CKPT_DELAY_MS=$delay GAFCL_TEST_LOG_DELAY_MS=$logdelay "$gafcl" train $flags --out "$out" $resume \
    > "$work/run$trial.log" 2>&1 &
  pid=$!
  killed=0
  case $mode in
    epoch)
      # a random moment 0.3-3.2 s in: inside an epoch most of the time
      sleep "$(awk -v r=$RANDOM 'BEGIN { printf "%.2f", 0.3 + 2.9 * r / 32767 }')"
      if kill -0 $pid 2>/dev/null; then kill -9 $pid && killed=1 && kill_epoch=$((kill_epoch + 1)); fi ;;
    state|model)
      file=state.safetensors
      [ $mode = model ] && file=model.safetensors
      for _ in $(seq 1 1200); do # up to 60 s
        if compgen -G "$out/$file.tmp.*" > /dev/null; then
          kill -9 $pid && killed=1
          [ $mode = state ] && kill_state=$((kill_state + 1)) || kill_model=$((kill_model + 1))
          break
        fi
        kill -0 $pid 2>/dev/null || break
        sleep 0.05
      done ;;
    log)
      # a new checkpoint and its model file are in place; the epoch's lines are not yet in the logs
      for _ in $(seq 1 1200); do
        now=$(stat -c %Y.%i "$out/state.safetensors" 2>/dev/null || echo none)
        if [ "$now" != "$before" ] && ! compgen -G "$out/*.tmp.*" > /dev/null; then
          sleep 0.2
          kill -9 $pid && killed=1 && kill_log=$((kill_log + 1))
          break
        fi
        kill -0 $pid 2>/dev/null || break
        sleep 0.05
      done ;;
  esac
  { wait $pid; } 2>/dev/null
  rc=$?
  if [ $killed = 1 ]; then
    echo "try $trial: killed ($mode) $(grep -o 'resuming .* after epoch [0-9]*' "$work/run$trial.log" | grep -o 'epoch [0-9]*' || echo 'from the start'), $(grep -c "epoch [0-9]*/$E:" "$work/run$trial.log") epoch(s) completed in this run"
    continue
  fi
  [ $rc = 0 ] || { cat "$work/run$trial.log" >&2; fail "try $trial ($mode) exited with $rc without being killed"; }
  grep -Eq "epoch $E/$E|has completed its $E epochs" "$work/run$trial.log" || fail "try $trial ($mode) ended before the last epoch"
  break
done
echo "kills: $kill_epoch during epochs, $kill_state while writing the state, $kill_model while writing the model, $kill_log between a checkpoint and its logs; $trial runs"
[ $kill_epoch -ge 2 ] && [ $kill_state -ge 2 ] && [ $kill_model -ge 2 ] && [ $kill_log -ge 2 ] ||
  fail "not every kind of kill happened"
cmp "$work/straight/model.safetensors" "$out/model.safetensors" || fail "final model differs from the uninterrupted run"
cmp "$work/straight/state.safetensors" "$out/state.safetensors" || fail "final state differs from the uninterrupted run"
cmp "$work/straight/steps.jsonl" "$out/steps.jsonl" || fail "steps.jsonl differs from the uninterrupted run's"
python3 - "$work/straight/metrics.jsonl" "$out/metrics.jsonl" "$E" <<'PY' || fail "metrics.jsonl differs from the uninterrupted run's"
import json, sys
def lines(p):
    return [{k: v for k, v in json.loads(l).items() if not k.endswith("time_s")} for l in open(p)]
a, b = lines(sys.argv[1]), lines(sys.argv[2])
sys.exit(0 if a == b and len(a) == int(sys.argv[3]) else 1)
PY
! compgen -G "$out/*.tmp.*" > /dev/null || fail "temporary files left behind: $(ls "$out")"
echo "crash: every resume loaded; the final weights, state and logs equal the uninterrupted run's"
