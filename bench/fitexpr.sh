#!/usr/bin/env bash
# P11: tg-fit with an expression model, whose full-batch gd steps replay one
# captured graph (tg/plan.h), beside PyTorch running the same loop:
# --model 'a*exp(k*x)', mse, gd, lr 0.1, 2000 steps from a = 1, k = 0.5, on
# 10^4 float32 points (a noisy line on [0, 1], written once by tg-gen, not timed).
#  P11a: the whole tg-fit command beside a whole python3 process (import torch,
#        h5py read, the loop: bench/fitexpr.py), medians of RUNS wall times;
#  P11b: the loop alone, timed inside each (tg_fit's per-step callback,
#        bench/fitloop.c --model; PyTorch's loop by perf_counter).
# The final a and k of both are printed (float32 both: they agree to ~1e-6).
set -eu
cd "$(dirname "$0")/.."
runs=${RUNS:-5} n=${N_EXPR:-10000} steps=${STEPS_EXPR:-2000}
export OPENBLAS_NUM_THREADS=1 OMP_NUM_THREADS=1 # one thread on both sides
B=${B:-build}
make -s --no-print-directory B="$B" bin/tg-fit bin/tg-gen "$B/bench/fitloop"
out=$(mktemp -d)
trap 'rm -rf "$out"' EXIT
bin/tg-gen line --slope 2 --intercept 1 --noise 0.1 -n "$n" --x-range 0,1 --seed 3 --dtype f32 -o "$out/d.h5"

. bench/lib.sh
# wall RUNS CMD...: the median wall time in ms of RUNS runs after one warm-up; the last output in $out/o
wall() {
  local k=$1 i t0
  shift
  "$@" > "$out/o"
  for ((i = 0; i < k; i++)); do
    t0=$EPOCHREALTIME
    "$@" > "$out/o"
    awk -v a="$t0" -v b="$EPOCHREALTIME" 'BEGIN { printf "%.3f\n", (b - a) * 1e3 }'
  done | median
}

fit=(bin/tg-fit "$out/d.h5" --model 'a*exp(k*x)' --optimizer gd --lr 0.1 --steps "$steps" --init a=1,k=0.5 --format kv)
tg_ms=$(wall "$runs" "${fit[@]}")
echo "tg-fit --model 'a*exp(k*x)', $n points, $steps gd steps: median of $runs: $tg_ms ms;" \
  "$(sed -n 's/^a=/a = /p' "$out/o"), $(sed -n 's/^k=/k = /p' "$out/o")"
loop_ms=$("$B/bench/fitloop" "$out/d.h5" --model 'a*exp(k*x)' --lr 0.1 --w0 1 --b0 0.5 --steps "$steps" \
  --runs "$runs" | sed -n 's/^loop_ms=//p')
echo "tg_fit's loop alone: median of $runs: $loop_ms ms"
py_ms= py_loop=
if /usr/bin/python3 -c 'import torch, h5py' 2>/dev/null; then
  py_ms=$(wall "$runs" /usr/bin/python3 bench/fitexpr.py "$out/d.h5" --steps "$steps")
  echo "python3 bench/fitexpr.py (import torch, read, loop): median of $runs: $py_ms ms;" \
    "$(sed -n 's/^a=/a = /p' "$out/o"), $(sed -n 's/^k=/k = /p' "$out/o")"
  py_loop=$(/usr/bin/python3 bench/fitexpr.py "$out/d.h5" --steps "$steps" --runs "$runs" | sed -n 's/^median_ms=//p')
  echo "PyTorch's loop alone: median of $runs: $py_loop ms"
else
  echo "PyTorch is absent (/usr/bin/python3 cannot import torch and h5py): tg only"
fi
if [ -n "${BENCH_ROWS:-}" ]; then
  echo "P11a;tg-fit --model 'a*exp(k*x)', 10^4 pts x $steps gd steps, whole process;$tg_ms;$py_ms" >> "$BENCH_ROWS"
  echo "P11b;the same fit's loop alone (replayed steps), timed inside;$loop_ms;$py_loop" >> "$BENCH_ROWS"
fi
