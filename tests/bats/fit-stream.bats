#!/usr/bin/env bats
# tg-fit on data larger than memory: the file is read in place a slice at a
# time, so the answers do not depend on how the data arrive (file, pipe, text)
# or on the slice, unrelated datasets are never read, and memory is bounded
# by the slice (tests run under `ulimit -v`).

load helpers

CHUNKED="$TG_ROOT/tests/fixtures/h5py_chunked.h5"

close() {
  awk -v a="$1" -v b="$2" -v r="$3" 'BEGIN {
    d = a - b; if (d < 0) d = -d; m = b < 0 ? -b : b
    if (a == "" || d > r * m) { printf "not close: %s vs %s (rtol %s)\n", a, b, r; exit 1 } }'
}

# kv_value FILE KEY: the value of KEY= in a --format kv report.
kv_value() { sed -n "s/^$2=//p" "$1"; }

@test "a file, a pipe, standard input, text, and slices of 1, 7, 4096 and all points give the same fit" {
  tg-gen line --slope 2 --intercept 3 --x-range 0,20 --noise 3 -n 20000 --seed 21 --dtype f64 -o d.h5
  tg-gen line --slope 2 --intercept 3 --x-range 0,20 --noise 3 -n 20000 --seed 21 --dtype f64 --format csv -o d.csv
  for args in "" "--method exact" "--optimizer gd --lr 1e-3 --steps 30"; do
    # shellcheck disable=SC2086
    tg-fit d.h5 $args --format kv > ref.kv
    for how in pipe stdin csv csv-pipe 1 7 4096 20000; do
      case $how in
        # shellcheck disable=SC2086
        pipe) cat d.h5 | tg-fit $args --format kv > got.kv ;;
        # shellcheck disable=SC2086
        stdin) tg-fit $args --format kv < d.h5 > got.kv ;;
        # shellcheck disable=SC2086
        csv) tg-fit d.csv $args --format kv > got.kv ;;
        # shellcheck disable=SC2086
        csv-pipe) cat d.csv | tg-fit $args --format kv > got.kv ;;
        # shellcheck disable=SC2086
        *) tg-fit d.h5 $args --slice "$how" --format kv > got.kv ;;
      esac
      if [ -z "$args" ] || [ "$args" = "--method exact" ]; then
        cmp ref.kv got.kv || { echo "tg-fit $args ($how) differs:"; diff ref.kv got.kv; return 1; }
      else # descents: within 1e-12 relative in f64
        close "$(kv_value got.kv w)" "$(kv_value ref.kv w)" 1e-12
        close "$(kv_value got.kv b)" "$(kv_value ref.kv b)" 1e-12
        close "$(kv_value got.kv loss)" "$(kv_value ref.kv loss)" 1e-12
      fi
    done
  done
}

@test "a large HDF5 image on a pipe goes through a temporary file that is removed" {
  # 1.1e6 float64 points: a 17.6 MB image, above the 16 MiB kept in memory
  tg-gen line --slope 2 --intercept 3 --noise 1 -n 1100000 --seed 3 --dtype f64 -o big.h5
  tg-fit big.h5 --method exact --format kv > ref.kv
  mkdir spill
  cat big.h5 | TMPDIR=$TMP/spill tg-fit --method exact --format kv > got.kv
  cmp ref.kv got.kv
  [ -z "$(ls -A spill)" ]
  # no room for the temporary file: a clear error
  run bash -c "cat big.h5 | TMPDIR=$TMP/missing tg-fit --method exact --format kv"
  assert_failure 1
  assert_output --partial "tg-fit: standard input: cannot create a temporary file in $TMP/missing for the HDF5 image"
}

@test "h5py's chunked gzip+shuffle datasets read, beside strings, compounds and 8 GB never written" {
  run tg-fit "$CHUNKED" --method exact --dtype f64 --format kv
  assert_success
  eval "$output"
  close "$w" "$(sed -n 's/^w=//p' "${CHUNKED%.h5}.expected")" 1e-13
  close "$b" "$(sed -n 's/^b=//p' "${CHUNKED%.h5}.expected")" 1e-13
  [ "$n" = 20000 ]
  run tg-fit "$CHUNKED" --slice 333 --dtype f64 --format kv
  assert_success
  run tg-fit "$CHUNKED" -y meta/units --format kv
  assert_failure 1
  assert_output --partial "dataset 'meta/units' has a type tg cannot read (string"
}

@test "unrelated datasets of any type beside x and y fit, and a large one is never read" {
  skip_unless_h5py
  # 100 MB of zeros beside x and y: under a 64 MB limit, reading it would fail
  py 'with h5py.File("d.h5", "w") as f:
    x = np.linspace(0, 1, 1000); f["x"] = x; f["y"] = 3 * x - 1
    f["big"] = np.zeros(12_500_000)
    f["meta/units"] = "metres"
    f["table"] = np.array([(1, 0.5)], dtype=[("a", "<i4"), ("b", "<f8")])'
  run bash -c 'ulimit -v 64000; tg-fit d.h5 --method exact --format kv'
  assert_success
  eval "$output"
  close "$w" 3 1e-12
  close "$b" -1 1e-12
}

@test "tg-fit holds a slice, not the file: 4e6 points under ulimit -v 64 MB, every kind of method" {
  tg-gen line --slope 2 --intercept 3 --x-range 0,20 --noise 3 -n 4000000 --seed 1 -o d.h5
  for args in "" "--method exact" "--optimizer gd --steps 3" "--model poly:2 --method exact" "--plot p.svg"; do
    # shellcheck disable=SC2086
    run bash -c "ulimit -v 64000; tg-fit d.h5 $args --format kv"
    assert_success
  done
  # the plot draws a bounded sample of the points
  grep -q "data (20000 of 4000000 points)" p.svg
}

@test "a file truncated in the middle of its chunks: a clear error, exit 1, nothing written" {
  head -c 60000 "$CHUNKED" > cut.h5
  run tg-fit cut.h5 --format kv -o fit.h5 --history h.csv
  assert_failure 1
  assert_output "tg-fit: cut.h5: damaged HDF5 file: truncated to 60000 bytes of 146306"
  assert_no_file fit.h5 h.csv
}

@test "a NaN in chunk 5000: the point named, exit 1, nothing written" {
  skip_unless_h5py
  py 'with h5py.File("d.h5", "w") as f:
    x = np.arange(600_000, dtype=np.float32); y = 2 * x + 1
    y[5000 * 100 + 17] = np.nan
    f.create_dataset("x", data=x, chunks=(100,)); f.create_dataset("y", data=y, chunks=(100,))'
  for args in "" "--method exact" "--optimizer adam --steps 2"; do
    # shellcheck disable=SC2086
    run tg-fit d.h5 $args --format kv -o fit.h5 --history h.csv --plot p.svg
    assert_failure 1
    assert_output "tg-fit: d.h5: y[500017] is NaN (--drop-nan drops such rows)"
    assert_no_file fit.h5 h.csv p.svg
  done
  run --separate-stderr tg-fit d.h5 --drop-nan --method exact --format kv --slice 7
  assert_success
  [ "$stderr" = "tg-fit: d.h5: dropped 1 point holding NaN or Inf (the first: index 500017); 599999 left" ]
  eval "$output"
  close "$w" 2 1e-12
  close "$b" 1 1e-9
}

@test "x and y of different lengths: refused before any point is read" {
  skip_unless_h5py
  # x: 10^9 points never written (reading them would take 8 GB and minutes)
  py 'with h5py.File("d.h5", "w") as f:
    f.create_dataset("x", shape=(10**9,), dtype="<f8", chunks=(2**20,)); f["y"] = np.arange(5.0)'
  run bash -c 'ulimit -v 64000; timeout 20 tg-fit d.h5 --format kv -o fit.h5'
  assert_failure 1
  assert_output "tg-fit: d.h5: x and y differ in length: dataset 'x' has 1000000000 points, dataset 'y' has 5"
  assert_no_file fit.h5
}

@test "--residuals and --plot --sigma over more points than a slice: every row in order, written in pieces" {
  tg-gen line --slope 2 --intercept 3 --x-range 0,20 --noise 3 -n 150000 --seed 5 --dtype f64 --format csv -o d0.csv
  awk -F, 'NR == 1 { print $0 ",s"; next } { print $0 "," 1 + (NR % 3) * 0.5 }' d0.csv > d.csv
  tg-fit d.csv --sigma s --method exact --residuals res.csv --plot p.svg --format kv > fit.kv
  w=$(kv_value fit.kv w) b=$(kv_value fit.kv b) chi2=$(kv_value fit.kv chi2)
  run head -1 res.csv
  assert_output "x,y,fit,residual,sigma,normalized"
  [ "$(wc -l < res.csv)" = 150001 ]
  # the rows are the input's, in order, across the slices (65536 points each)
  cmp <(cut -d, -f1,2 d.csv | tail -n +2 | awk -F, '{ printf "%.12g,%.12g\n", $1, $2 }') \
    <(cut -d, -f1,2 res.csv | tail -n +2 | awk -F, '{ printf "%.12g,%.12g\n", $1, $2 }')
  awk -F, -v w="$w" -v b="$b" -v chi2="$chi2" 'NR > 1 {
      f = w * $1 + b; d = $3 - f; if (d < 0) d = -d; if (d > 1e-12 * (1 + (f < 0 ? -f : f))) { print "fit", NR; exit 1 }
      d = $4 - ($2 - $3); if (d < 0) d = -d; if (d > 1e-9) { print "residual", NR; exit 1 }
      if ($5 != 1 + (NR % 3) * 0.5) { print "sigma", NR; exit 1 }
      s += $6 * $6 }
    END { d = s - chi2; if (d < 0) d = -d; if (d > 1e-9 * chi2) { print "chi2", s, chi2; exit 1 } }' res.csv
  # HDF5, written slice by slice too: the same columns
  tg-fit d.csv --sigma s --method exact --residuals res.h5 --format kv > /dev/null
  run /usr/bin/python3 -c 'import h5py, numpy as np, sys
f = h5py.File(sys.argv[1]); c = np.loadtxt(sys.argv[2], delimiter=",", skiprows=1)
names = ["x", "y", "fit", "residual", "sigma", "normalized"]
print(sorted(f.keys()), all(np.allclose(f[k][:], c[:, i], rtol=1e-14, atol=1e-12) for i, k in enumerate(names)), f.attrs["command"].startswith("tg-fit"))' res.h5 res.csv
  assert_output "['fit', 'normalized', 'residual', 'sigma', 'x', 'y'] True True"
  grep -q 'data (18750 of 150000 points)' p.svg # every 8th point
  grep -q 'residual (y - fit)' p.svg
  [ "$(grep -c '^<line x1="[0-9.]*" y1="[0-9.]*" x2="[0-9.]*" y2="[0-9.]*"/>$' p.svg)" = 37500 ] # 18750 bars, twice
}
