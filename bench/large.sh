#!/usr/bin/env bash
# `make bench-large`: data larger than memory. tg-gen writes N points of a
# noisy line (default 10^9: 8 GB of float32 x and y), then tg-fit fits them
# with the default method and with --method exact; each step prints its wall
# time and peak RSS (/usr/bin/time; mapped file pages count). The file goes to
# $BENCH_DIR (default: $TMPDIR, else /tmp) and is removed at the end; the free
# space there is checked first.
#
#   N=100000000 bench/large.sh        # 10^8 points (800 MB)
set -eu
cd "$(dirname "$0")/.."
n=${N:-1000000000}
dir=${BENCH_DIR:-${TMPDIR:-/tmp}}
need=$((n * 8 + (64 << 20))) # x and y in float32, and some room
avail=$(($(df -Pk "$dir" | awk 'NR == 2 { print $4 }') * 1024))
if [ "$avail" -lt "$need" ]; then
  echo "bench-large: $dir has $((avail >> 20)) MiB free; $n points need $((need >> 20)) MiB (set BENCH_DIR or N)" >&2
  exit 1
fi
work=$(mktemp -d "$dir/tg-bench-large.XXXXXX")
trap 'rm -rf "$work"' EXIT
file=$work/large.h5
printf '%s: %s points, %s MiB free\n' "$dir" "$n" $((avail >> 20))
printf '%-62s %10s %14s\n' workload "wall s" "peak RSS MiB"
# measure LABEL CMD...: runs CMD once under /usr/bin/time, prints its row (and CMD's output on stderr)
measure() {
  local label=$1 t m
  shift
  /usr/bin/time -f '%e %M' -o "$work/time" "$@" > "$work/out"
  read -r t m < "$work/time"
  printf '%-62s %10s %14d\n' "$label" "$t" $((m / 1024))
  grep -E '^(w|b|loss|steps|stop)=' "$work/out" | tr '\n' ' ' | sed 's/^/    /; s/ $/\n/' >&2
}
measure "tg-gen line -n $n (noise 3) -o large.h5" \
  bin/tg-gen line --slope 2 --intercept 3 --x-range 0,20 --noise 3 --seed 1 -n "$n" --no-progress -o "$file"
printf '%-62s %10s %14s\n' "  (file: $(($(stat -c %s "$file") >> 20)) MiB)" "" ""
measure "tg-fit large.h5 (default method)" bin/tg-fit "$file" --format kv --no-progress
measure "tg-fit large.h5 --method exact" bin/tg-fit "$file" --method exact --format kv --no-progress
