#!/usr/bin/env bash
# Seed 000's linear-regression loop (8000 steps of batch 8, lr 0.001) with
# libgrad and with PyTorch pinned to one thread, timed in the same run (median
# of RUNS runs after a warm-up each), then a 10^6-step run of the C loop that
# must keep a flat RSS. PyTorch is used only if /usr/bin/python3 imports torch.
set -eu
cd "$(dirname "$0")/.."
B=${B:-build}
steps=${STEPS:-8000} runs=${RUNS:-5} long=${LONG_STEPS:-1000000}
bin=$B/bench/seed000_loop
export OPENBLAS_NUM_THREADS=1 OMP_NUM_THREADS=1 # one thread on both sides

# Normally built by `make bench`; the Makefile's rule otherwise.
make -s --no-print-directory B="$B" "$bin"

tg_out=$("$bin" --steps "$steps" --runs "$runs")
printf '%s\n' "$tg_out" | grep -v '^median_ms='
tg_ms=$(printf '%s\n' "$tg_out" | sed -n 's/^median_ms=//p')
# the same loop replayed (tg/plan.h), its final w, b checked bit for bit against the eager loop's
rp_out=$("$bin" --steps "$steps" --runs "$runs" --replay)
printf '%s\n' "$rp_out" | grep -v '^median_ms='
rp_ms=$(printf '%s\n' "$rp_out" | sed -n 's/^median_ms=//p')
py_ms=

if /usr/bin/python3 -c 'import torch' 2>/dev/null; then
  py_out=$(/usr/bin/python3 bench/seed000_loop.py --steps "$steps" --runs "$runs")
  printf '%s\n' "$py_out" | grep -v '^median_ms='
  py_ms=$(printf '%s\n' "$py_out" | sed -n 's/^median_ms=//p')
  awk -v s="$steps" -v a="$tg_ms" -v b="$py_ms" -v r="$rp_ms" 'BEGIN {
    printf "seed000 loop %d steps: tg %.1f ms, PyTorch %.1f ms, ratio %.2f\n", s, a, b, b / a
    printf "replayed: tg %.1f ms, ratio %.2f\n", r, b / r
    printf "per step: tg %.2f us, PyTorch %.2f us\n", a * 1e3 / s, b * 1e3 / s }'
else
  echo "PyTorch is absent (/usr/bin/python3 cannot import torch): tg only"
  awk -v s="$steps" -v a="$tg_ms" 'BEGIN {
    printf "seed000 loop %d steps: tg %.1f ms (%.2f us/step)\n", s, a, a * 1e3 / s }'
fi

rss_out=$("$bin" --steps "$long" --rss) && rss_ok=1 || rss_ok=0
printf '%s\n' "$rss_out"
# rows for bench/run's table: ID;workload;tg;PyTorch (ms, or KiB for P7)
if [ -n "${BENCH_ROWS:-}" ]; then
  echo "P1;seed 000 loop: $steps steps of batch 8;$tg_ms;${py_ms:-}" >> "$BENCH_ROWS"
  echo "P1r;the same loop replayed (tg_plan_run), bit-identical;$rp_ms;${py_ms:-}" >> "$BENCH_ROWS"
  growth=$(printf '%s\n' "$rss_out" | sed -n 's/.*(\([-+0-9]*\) KiB)$/\1/p')
  echo "P7;VmRSS growth over $long steps (KiB);${growth#+};" >> "$BENCH_ROWS"
fi
[ "$rss_ok" = 1 ]
