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
# Not bound to cores: on a machine that other work shares, a rank bound to a
# busy core waits for it while another core idles (the one-rank run suffers
# most); on an idle machine the scheduler keeps two ranks on two cores anyway.
mpi() { mpirun --oversubscribe --bind-to none -n "$@"; }
kv() { sed -n "s/^$1=//p"; }
med() { sort -g | awk '{ v[NR] = $1 } END { print NR % 2 ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2 }'; }

mpi 2 bin/tg-gen line --slope 2 --intercept 3 --x-range 0,20 --noise 3 --seed 1 -n "$n" -o "$out/d.h5"
mpi 1 "$B/bench/fitmpi" "$out/d.h5" exact --runs 1 > /dev/null # the file into the page cache
# The runs interleaved (bandwidth, then each method on 1 and 2 ranks, R
# times), so that load from elsewhere that comes and goes weighs on the
# ceiling and on both sides of each speed-up alike; each figure is the median
# of its R samples.
declare -A t cpu
bw1s=() bw2s=()
for ((k = 0; k < runs; k++)); do
  bw=$("$B/bench/bandwidth" --runs 5)
  [ "$k" -gt 0 ] || printf '%s\n' "$bw" | { grep -v '^[a-z_0-9]*=' || true; }
  bw1s+=("$(printf '%s\n' "$bw" | kv read_gbs_1)") bw2s+=("$(printf '%s\n' "$bw" | kv read_gbs_2)")
  for method in exact gd; do
    for ranks in 1 2; do
      res=$(mpi "$ranks" "$B/bench/fitmpi" "$out/d.h5" "$method" --steps 100 --runs 1 --warmup 0)
      t[$method$ranks]+=" $(printf '%s\n' "$res" | kv fit_ms)"
      cpu[$method$ranks]+=" $(printf '%s\n' "$res" | kv cpu_ms)"
    done
  done
done
bw1=$(printf '%s\n' "${bw1s[@]}" | med) bw2=$(printf '%s\n' "${bw2s[@]}" | med)
ceiling=$(awk -v a="$bw1" -v b="$bw2" 'BEGIN { c = b / a; printf "%.3f", (c > 2 ? 2 : c) }')
echo "ceiling of the speed-up from 1 to 2 readers (medians of $runs): $bw2 / $bw1 GB/s = ${ceiling}x"
for method in exact gd; do
  # shellcheck disable=SC2086 # the samples, split into words
  one=$(printf '%s\n' ${t[${method}1]} | med) two=$(printf '%s\n' ${t[${method}2]} | med)
  echo "fitmpi $method on $n points: 1 rank:${t[${method}1]} ms; 2 ranks:${t[${method}2]} ms"
  # shellcheck disable=SC2086 # the samples, split into words
  c1=$(printf '%s\n' ${cpu[${method}1]} | med) c2=$(printf '%s\n' ${cpu[${method}2]} | med)
  awk -v m="$method" -v a="$c1" -v b="$c2" 'BEGIN {
    printf "(P10 %s, information: CPU time of the busiest rank %.1f ms on 1 rank, %.1f ms on 2: the work splits %.2fx)\n", m, a, b, a / b }'
  awk -v m="$method" -v a="$one" -v b="$two" -v c="$ceiling" 'BEGIN {
    s = a / b; printf "P10 %s: 1 rank %.1f ms, 2 ranks %.1f ms: speed-up %.2fx, ceiling %.2fx, fraction %.0f%% (target 90%%)\n",
      m, a, b, s, c, 100 * s / c }'
  label=$([ $method = exact ] && echo "--method exact" || echo "100 gd steps")
  row="P10${method:0:1};$label, 10^8 points: mpirun -n 2 (tg) vs -n 1 (reference);$two;$one"
  target="TARGET;P10${method:0:1};$(awk -v c="$ceiling" 'BEGIN { printf "%.3f", 0.9 * c }')"
  if [ -n "${BENCH_ROWS:-}" ]; then printf '%s\n%s\n' "$target" "$row" >> "$BENCH_ROWS"; fi
done
