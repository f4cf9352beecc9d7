#!/usr/bin/env bash
# P10: the fit over MPI ranks (tg/fit_mpi.h through bench/fitmpi.c): 10^8
# points (an 800 MB f32 file written by `mpirun -n 2 tg-gen`), --method exact
# and 100 gd steps, each timed inside the program from the first read to the
# report (mpirun's start-up is not the fit's), on 2 ranks against 1, one
# thread each. A pass that is bound by memory bandwidth can speed up only as
# much as the read bandwidth does from one reader to two (bench/bandwidth,
# measured in the same run): the ceiling; the fraction is speed-up / ceiling.
#   B=build bench/mpi.sh        (MPI_N: points, default 10^8; RUNS_BIG: runs)
set -eu
cd "$(dirname "$0")/.."
B=${B:-build}
n=${MPI_N:-100000000} runs=${RUNS_BIG:-3}
export OPENBLAS_NUM_THREADS=1 OMP_NUM_THREADS=1
make -s --no-print-directory B="$B" bin/tg-gen "$B/bench/fitmpi" "$B/bench/bandwidth"
out=$(mktemp -d)
trap 'rm -rf "$out"' EXIT
# OpenMPI refuses root unless told: told here, for this script's runs only
if [ "$(id -u)" = 0 ]; then export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1; fi
mpi() { mpirun --oversubscribe -n "$@"; }
kv() { sed -n "s/^$1=//p"; }

mpi 2 bin/tg-gen line --slope 2 --intercept 3 --x-range 0,20 --noise 3 --seed 1 -n "$n" -o "$out/d.h5"
bw=$("$B/bench/bandwidth" --runs 5)
printf '%s\n' "$bw" | { grep -v '^[a-z_0-9]*=' || true; }
bw1=$(printf '%s\n' "$bw" | kv read_gbs_1) bw2=$(printf '%s\n' "$bw" | kv read_gbs_2)
ceiling=$(awk -v a="$bw1" -v b="$bw2" 'BEGIN { c = b / a; printf "%.3f", (c > 2 ? 2 : c) }')
echo "ceiling of the speed-up from 1 to 2 readers: $bw2 / $bw1 GB/s = ${ceiling}x"
for method in exact gd; do
  t=()
  for ranks in 1 2; do
    res=$(mpi "$ranks" "$B/bench/fitmpi" "$out/d.h5" "$method" --steps 100 --runs "$runs")
    printf '%s\n' "$res" | { grep -v '^[a-z_0-9]*=' || true; }
    t+=("$(printf '%s\n' "$res" | kv fit_ms)")
  done
  awk -v m="$method" -v a="${t[0]}" -v b="${t[1]}" -v c="$ceiling" 'BEGIN {
    s = a / b; printf "P10 %s: 1 rank %.1f ms, 2 ranks %.1f ms: speed-up %.2fx, ceiling %.2fx, fraction %.0f%% (target 90%%)\n",
      m, a, b, s, c, 100 * s / c }'
  label=$([ $method = exact ] && echo "--method exact" || echo "100 gd steps")
  row="P10${method:0:1};$label, 10^8 points: mpirun -n 2 (tg) vs -n 1 (reference);${t[1]};${t[0]}"
  target="TARGET;P10${method:0:1};$(awk -v c="$ceiling" 'BEGIN { printf "%.3f", 0.9 * c }')"
  if [ -n "${BENCH_ROWS:-}" ]; then printf '%s\n%s\n' "$target" "$row" >> "$BENCH_ROWS"; fi
done
