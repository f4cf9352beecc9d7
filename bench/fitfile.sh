#!/usr/bin/env bash
# tg-fit on a file larger than what it holds (issue 13), in one run:
#  P8a/P8b  tg-fit on the noisy 10^7-point f32 file (`tg-gen line --slope 2
#           --intercept 3 --x-range 0,20 --noise 3 --seed 1 -n 10000000`), whole
#           process, default method and --method exact, beside a python3 process
#           reading the same file with h5py and running scipy.stats.linregress
#           (bench/linregress.py); medians of RUNS (5) each, after a warm-up.
#           Target: tg 5x faster.
#  P8c/P8d  the fit's own time inside the process (bench/fitfile.c: open, read
#           in slices, fit; start-up excluded) beside reading x and y once at the
#           one-thread bandwidth measured now (bench/bandwidth.c on two arrays of
#           10^7 f32, the same 80 MB). Target: within 2x.
#  P9       peak RSS of tg-fit (exact, default, gd) on 10^8 points (an 800 MB
#           file), as /usr/bin/time reports it. Target: 256 MiB. N_LARGE=0 skips it.
# Rows go to $BENCH_ROWS when bench/run calls it.
set -eu
cd "$(dirname "$0")/.."
runs=${RUNS:-5} large=${N_LARGE:-100000000}
export OPENBLAS_NUM_THREADS=1 OMP_NUM_THREADS=1
B=${B:-build}
make -s --no-print-directory B="$B" bin/tg-fit bin/tg-gen "$B/bench/fitfile" "$B/bench/bandwidth"
out=$(mktemp -d)
trap 'rm -rf "$out"' EXIT

. bench/lib.sh
# wall CMD...: the median wall time of CMD in ms over $runs runs after a warm-up
wall() {
  local i t0
  "$@" > /dev/null
  for ((i = 0; i < runs; i++)); do
    t0=$EPOCHREALTIME
    "$@" > /dev/null
    awk -v a="$t0" -v b="$EPOCHREALTIME" 'BEGIN { printf "%.3f\n", (b - a) * 1e3 }'
  done | median
}
row() { [ -n "${BENCH_ROWS:-}" ] && echo "$1" >> "$BENCH_ROWS" || true; }

d=$out/d.h5
bin/tg-gen line --slope 2 --intercept 3 --x-range 0,20 --noise 3 --seed 1 -n 10000000 -o "$d"
echo "10^7 points, $(($(stat -c %s "$d") / 1048576)) MiB; tg-fit's answers:"
bin/tg-fit "$d" --format kv | sed -n '1,3p;/^steps=/p'
bin/tg-fit "$d" --method exact --format kv | sed -n '1p;3p'
tg_default=$(wall bin/tg-fit "$d" --format kv)
tg_exact=$(wall bin/tg-fit "$d" --method exact --format kv)
echo "tg-fit (default method): median of $runs: $tg_default ms; --method exact: $tg_exact ms"
py=
if /usr/bin/python3 -c 'import h5py, scipy' 2>/dev/null; then
  /usr/bin/python3 bench/linregress.py "$d" | sed -n '1,2p'
  py=$(wall /usr/bin/python3 bench/linregress.py "$d")
  echo "python3 h5py + scipy.stats.linregress: median of $runs: $py ms"
else
  echo "python3 h5py/scipy absent: no reference"
fi
row "P8a;tg-fit, 10^7-point f32 file, default method, whole process;$tg_default;$py"
row "P8b;tg-fit, 10^7-point f32 file, --method exact, whole process;$tg_exact;$py"

own=$("$B/bench/fitfile" "$d" --runs "$runs")
printf '%s\n' "$own" | { grep -v '^[a-z_0-9]*=' || true; }
bw=$("$B/bench/bandwidth" -n 10000000 --runs "$runs")
read_ms=$(printf '%s\n' "$bw" | sed -n 's/^read_ms_1=//p')
echo "reading x and y once (80 MB) at one thread's bandwidth: $read_ms ms"
row "P8c;the exact fit's own time in the process beside one read of x, y;$(printf '%s\n' "$own" | sed -n 's/^exact_ms=//p');$read_ms"
row "P8d;the default fit's own time in the process beside one read of x, y;$(printf '%s\n' "$own" | sed -n 's/^default_ms=//p');$read_ms"

if [ "$large" -gt 0 ]; then
  L=$out/large.h5
  t0=$EPOCHREALTIME
  bin/tg-gen line --slope 2 --intercept 3 --x-range 0,20 --noise 3 --seed 1 -n "$large" -o "$L"
  awk -v a="$t0" -v b="$EPOCHREALTIME" -v n="$large" -v f="$(stat -c %s "$L")" 'BEGIN {
    printf "%d points, %.0f MiB written in %.1f s\n", n, f / 1048576, b - a }'
  worst=0
  for args in "--method exact" "" "--optimizer gd --steps 3"; do
    t0=$EPOCHREALTIME
    # shellcheck disable=SC2086
    /usr/bin/time -f %M -o "$out/rss" bin/tg-fit "$L" $args --format kv > "$out/kv"
    rss=$(tail -n 1 "$out/rss")
    awk -v a="$t0" -v b="$EPOCHREALTIME" -v r="$rss" -v m="${args:-default}" -v w="$(sed -n 's/^w=//p' "$out/kv")" 'BEGIN {
      printf "tg-fit %s on it: %.2f s, peak RSS %.1f MiB, w = %s\n", m, b - a, r / 1024, w }'
    [ "$rss" -gt "$worst" ] && worst=$rss
  done
  rm -f "$L"
  row "P9;peak RSS of tg-fit on 10^8 points, worst of exact/default/gd (MiB);$(awk -v r="$worst" 'BEGIN { printf "%.1f", r / 1024 }');"
fi
