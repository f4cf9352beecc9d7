#!/usr/bin/env bash
# Time and peak memory of generating a noisy line of N points to an HDF5 file
# (default 10^7), for f32 and f64; the median of RUNS runs after a warm-up.
set -eu
cd "$(dirname "$0")/.."
n=${N:-10000000} runs=${RUNS:-5}
out=$(mktemp -d)
trap 'rm -rf "$out"' EXIT
printf '%-28s %10s %12s %10s\n' workload "median s" "peak RSS MiB" "file MiB"
for dt in f32 f64; do
  cmd=(bin/tg-gen line --slope 2 --intercept 3 -n "$n" --x-range 0,20 --noise 3 --seed 7 --dtype "$dt" -o "$out/d.h5")
  "${cmd[@]}"
  times=() rss=0
  for _ in $(seq "$runs"); do
    /usr/bin/time -f '%e %M' -o "$out/t" "${cmd[@]}"
    read -r t m < "$out/t"
    times+=("$t"); [ "$m" -gt "$rss" ] && rss=$m
  done
  median=$(printf '%s\n' "${times[@]}" | sort -g | sed -n "$(( (runs + 1) / 2 ))p")
  printf '%-28s %10s %12d %10d\n' "tg-gen line -n $n $dt" "$median" $((rss / 1024)) \
    $(( $(stat -c %s "$out/d.h5") / 1048576 ))
done
