#!/usr/bin/env bash
# tg-fit beside PyTorch in one run:
#  1. seed 001's loop: y = 3x + 0.8 on 500 points x ~ U(0,1) (f32, fixed seed),
#     mse, full-batch gd, lr 0.01, 2000 steps from w=0.5, b=0;
#  2. 10 full-batch gd steps (lr 0.5) on a 10^7-point noisy line;
#  3. tg-fit's default descent (standardized damped Newton) on the same
#     10^7 points, for information (tg alone).
# The data are written once with tg-gen (not timed) and PyTorch reads the same
# file with h5py. tg is timed as the whole command (process start, reading the
# file, the loop, the standard errors, the report) and, for the loop alone,
# from inside tg_fit by its per-step callback (bench/fitloop.c); PyTorch
# (bench/fit_loop.py, one thread) times the loop alone. Medians of RUNS runs
# after a warm-up (RUNS_BIG for the 10^7-point commands, which take seconds;
# the default descent there runs once). Peak RSS of tg-fit by /usr/bin/time.
# PyTorch is used only if /usr/bin/python3 imports torch and h5py.
set -eu
cd "$(dirname "$0")/.."
runs=${RUNS:-5} runs_big=${RUNS_BIG:-3} big=${N:-10000000}
export OPENBLAS_NUM_THREADS=1 OMP_NUM_THREADS=1 # one thread on both sides
B=${B:-build}
make -s --no-print-directory B="$B" bin/tg-fit bin/tg-gen "$B/bench/fitloop"
out=$(mktemp -d)
trap 'rm -rf "$out"' EXIT

have_torch=0
if /usr/bin/python3 -c 'import torch, h5py' 2>/dev/null; then have_torch=1; else
  echo "PyTorch is absent (/usr/bin/python3 cannot import torch and h5py): tg only"
fi

. bench/lib.sh

# tg_time RUNS WARMUP CMD...: runs CMD (after WARMUP warm-ups), sets tg_ms (the
# median wall time), tg_rss (the largest peak RSS, KiB), and leaves the last
# run's standard output (--format kv) in $out/kv.
tg_time() {
  local n=$1 warm=$2 i t0 t1 rss
  shift 2
  for ((i = 0; i < warm; i++)); do "$@" > "$out/kv"; done
  : > "$out/times"
  tg_rss=0
  for ((i = 0; i < n; i++)); do
    t0=$EPOCHREALTIME
    /usr/bin/time -f %M -o "$out/rss" "$@" > "$out/kv"
    t1=$EPOCHREALTIME
    awk -v a="$t0" -v b="$t1" 'BEGIN { printf "%.3f\n", (b - a) * 1e3 }' >> "$out/times"
    rss=$(tail -n 1 "$out/rss")
    [ "$rss" -gt "$tg_rss" ] && tg_rss=$rss
  done
  tg_ms=$(median < "$out/times")
}
kv() { sed -n "s/^$1=//p" "$out/kv"; }

rows=()
# row WORKLOAD TG_CMD_MS TG_LOOP_MS PY_LOOP_MS RSS_KIB
row() { rows+=("$(awk -v w="$1" -v c="$2" -v l="$3" -v p="$4" -v r="$5" 'BEGIN {
  printf "%-40s %11s %11s %11s %7s %9d", w,
    c == "" ? "-" : sprintf("%.1f", c), l == "" ? "-" : sprintf("%.1f", l),
    p == "" ? "-" : sprintf("%.1f", p), (p == "" || l == "") ? "-" : sprintf("%.2f", p / l), r / 1024 }')"); }

# agree NAME TG_W TG_B PY_W PY_B TOL
agree() {
  awk -v n="$1" -v tw="$2" -v tb="$3" -v pw="$4" -v pb="$5" -v tol="$6" 'BEGIN {
    dw = tw - pw; if (dw < 0) dw = -dw; db = tb - pb; if (db < 0) db = -db
    printf "%s: tg w = %.6f, b = %.6f; PyTorch w = %.6f, b = %.6f; |dw| = %.2g, |db| = %.2g: %s (tol %g)\n",
      n, tw, tb, pw, pb, dw, db, (dw <= tol && db <= tol) ? "agree" : "DIFFER", tol }'
  awk -v tw="$2" -v tb="$3" -v pw="$4" -v pb="$5" -v w="$py_w64" -v b="$py_b64" 'BEGIN {
    a = tw - w; c = tb - b; d = pw - w; e = pb - b
    printf "  from the same loop in float64 (w = %.6f, b = %.6f): tg |dw| = %.2g, |db| = %.2g; PyTorch |dw| = %.2g, |db| = %.2g\n",
      w, b, a < 0 ? -a : a, c < 0 ? -c : c, d < 0 ? -d : d, e < 0 ? -e : e }'
}

# PyTorch: sets py_ms, py_load_ms, py_w, py_b.
py_run() {
  /usr/bin/python3 bench/fit_loop.py "$@" > "$out/py"
  grep -v '^[a-z_0-9]*=' "$out/py" || true
  py_ms=$(sed -n 's/^median_ms=//p' "$out/py")
  py_load_ms=$(sed -n 's/^load_ms=//p' "$out/py")
  py_w=$(sed -n 's/^w=//p' "$out/py")
  py_b=$(sed -n 's/^b=//p' "$out/py")
  py_w64=$(sed -n 's/^w64=//p' "$out/py")
  py_b64=$(sed -n 's/^b64=//p' "$out/py")
}

# gd_case FILE LR STEPS RUNS TOL NAME: tg-fit's whole command (median time,
# peak RSS, final w and b), tg_fit's loop alone (bench/fitloop.c) and, with
# PyTorch, its loop and the agreement of the parameters to TOL; sets loop_ms
# and py_ms.
gd_case() {
  local file=$1 lr=$2 steps=$3 n=$4 tol=$5 name=$6
  tg_time "$n" 1 bin/tg-fit "$file" --loss mse --optimizer gd --lr "$lr" --init w=0.5,b=0 --format kv --steps "$steps"
  tg_w=$(kv w) tg_b=$(kv b)
  loop_ms=$("$B/bench/fitloop" "$file" --steps "$steps" --lr "$lr" --w0 0.5 --b0 0 --runs "$n" | sed -n 's/^loop_ms=//p')
  echo "tg-fit $name, $steps steps, median of $n: command $tg_ms ms (peak RSS $((tg_rss / 1024)) MiB)," \
    "loop $loop_ms ms; w = $tg_w, b = $tg_b, loss = $(kv loss)"
  py_ms=
  if [ $have_torch = 1 ]; then
    py_run "$file" --lr "$lr" --steps "$steps" --w0 0.5 --b0 0 --runs "$runs"
    agree "$name final parameters" "$tg_w" "$tg_b" "$py_w" "$py_b" "$tol"
  fi
}

# ---- 1. seed 001 -------------------------------------------------------------
steps=2000
bin/tg-gen line --slope 3 --intercept 0.8 -n 500 --x-range 0,1 --seed 1 --dtype f32 -o "$out/s001.h5"
gd_case "$out/s001.h5" 0.01 "$steps" "$runs" 1e-4 "seed001 gd on 500 points"
row "seed001 gd 500 pts x 2000 steps" "$tg_ms" "$loop_ms" "$py_ms" "$tg_rss"
[ -n "${BENCH_ROWS:-}" ] && echo "P2;seed 001 loop: 500 points x $steps steps (tg-fit);$loop_ms;$py_ms" >> "$BENCH_ROWS"

# ---- 2. 10^7 points, 10 gd steps (float32 sums over 10^7 terms: agreement
# to 1e-3, and both are shown beside the same loop in float64) ---------------------------------------------
steps=10
t0=$EPOCHREALTIME
bin/tg-gen line --slope 3 --intercept 0.8 --noise 0.5 -n "$big" --x-range 0,1 --seed 7 --dtype f32 -o "$out/big.h5"
awk -v a="$t0" -v b="$EPOCHREALTIME" -v n="$big" -v f="$(stat -c %s "$out/big.h5")" 'BEGIN {
  printf "tg-gen: %d points, %.0f MiB written in %.2f s (not timed below)\n", n, f / 1048576, b - a }'
gd_case "$out/big.h5" 0.5 "$steps" "$runs_big" 1e-3 "gd on $big points"
[ $have_torch = 1 ] && echo "(PyTorch's h5py read of the file: $py_load_ms ms, not in its loop time)"
row "gd $big pts x $steps steps" "$tg_ms" "$loop_ms" "$py_ms" "$tg_rss"

# ---- 3. 10^7 points, tg-fit's default descent ------------------------------------
tg_time 1 0 bin/tg-fit "$out/big.h5" --format kv
echo "tg-fit default descent: $big points, one run: command $tg_ms ms, $(kv steps) steps, stop $(kv stop);" \
  "w = $(kv w) +/- $(kv w_stderr), b = $(kv b) +/- $(kv b_stderr)"
row "default descent $big pts ($(kv steps) steps)" "$tg_ms" "" "" "$tg_rss"

echo
printf '%-40s %11s %11s %11s %7s %9s\n' workload "tg cmd ms" "tg loop ms" "torch loop" "ratio" "RSS MiB"
printf '%s\n' "${rows[@]}"
echo "tg cmd: the whole tg-fit command (start, read, loop, standard errors, report);" \
  "tg loop: the loop alone, timed inside tg_fit (bench/fitloop.c);"
echo "torch loop: PyTorch $(/usr/bin/python3 -c 'import torch; print(torch.__version__)' 2>/dev/null || echo absent)," \
  "one thread, the loop alone on tensors in memory; ratio: torch loop / tg loop; RSS: tg-fit's peak."
