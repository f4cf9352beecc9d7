#!/usr/bin/env bash
# Seed 000's sigmoid comparison (x = randn(100,100) requiring grad; 100 calls
# of forward + y.backward(ones) for a custom Sigmoid Function, the composed
# 1/(1+exp(-x)) and the built-in sigmoid) with libgrad and with PyTorch pinned
# to one thread, timed in the same run (median of RUNS runs after a warm-up
# each), as a table: variant, tg, PyTorch, ratio PyTorch/tg (> 1: tg faster).
# PyTorch is used only if /usr/bin/python3 imports torch.
set -eu
cd "$(dirname "$0")/.."
B=${B:-build}
iters=${ITERS:-100} runs=${RUNS:-5}
bin=$B/bench/sigmoid
export OPENBLAS_NUM_THREADS=1 OMP_NUM_THREADS=1 # one thread on both sides

# Normally built by `make bench`; the Makefile's rule otherwise.
make -s --no-print-directory B="$B" "$bin"

tg_out=$("$bin" --iters "$iters" --runs "$runs") || { printf '%s\n' "$tg_out"; echo "sigmoid: tg run failed" >&2; exit 1; }
printf '%s\n' "$tg_out" | grep -v '^median_ms\.'

py_out=
if /usr/bin/python3 -c 'import torch' 2>/dev/null; then
  py_out=$(/usr/bin/python3 bench/sigmoid.py --iters "$iters" --runs "$runs")
  printf '%s\n' "$py_out" | grep -v '^median_ms\.'
else
  echo "PyTorch is absent (/usr/bin/python3 cannot import torch): tg only"
fi

times=$(mktemp)
trap 'rm -f "$times"' EXIT
printf '%s\n' "$tg_out" | sed -n 's/^median_ms\.\([a-z]*\)=/tg \1 /p' >"$times"
printf '%s\n' "$py_out" | sed -n 's/^median_ms\.\([a-z]*\)=/py \1 /p' >>"$times"
awk -v n="$iters" -v r="$runs" '
  { v[$2] = 1; t[$1, $2] = $3; if (!(($2) in seen)) { seen[$2] = 1; order[++k] = $2 } }
  END {
    printf "\nsigmoid, 100x100 f32, %d calls of forward + backward(ones), median of %d runs:\n", n, r
    printf "%-10s %12s %12s %16s\n", "variant", "tg ms", "PyTorch ms", "ratio PyTorch/tg"
    for (i = 1; i <= k; i++) {
      name = order[i]; a = t["tg", name]; b = t["py", name]
      if (b == "") printf "%-10s %12.3f %12s %16s\n", name, a, "-", "-"
      else printf "%-10s %12.3f %12.3f %16.2f\n", name, a, b, b / a
    }
  }' "$times"
if [ -n "${BENCH_ROWS:-}" ]; then
  awk -v n="$iters" '{ t[$1, $2] = $3; if (!(($2) in seen)) { seen[$2] = 1; order[++k] = $2 } }
    END { for (i = 1; i <= k; i++) printf "P3%s;sigmoid %s: %d x (forward + backward), 100x100;%s;%s\n",
      substr("abc", i, 1), order[i], n, t["tg", order[i]], t["py", order[i]] }' \
    "$times" >> "$BENCH_ROWS"
fi
