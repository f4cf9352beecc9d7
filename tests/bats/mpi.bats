#!/usr/bin/env bats
# tg-gen and tg-fit under mpirun (OpenMPI, parallel HDF5): the same data and
# the same fit for any number of ranks, faults reported once, and plain runs
# that neither link nor start MPI.

load helpers

# A test that fails while its mpirun runs in the background must not leave the
# job running (its ranks would hold the machine for hours).
teardown() { [ -z "${mpirun_job:-}" ] || kill -KILL "$mpirun_job" 2> /dev/null || true; }

# mpi N CMD...: CMD under mpirun with N ranks (more ranks than cores allowed;
# OpenMPI refuses root unless told, here only).
mpi() {
  local n=$1
  shift
  OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1 mpirun --oversubscribe -n "$n" "$@"
}

# within A.kv B.kv RTOL: every name=value of A equals B's, numbers within RTOL relative.
within() {
  paste -d '\n' "$1" "$2" | awk -F= -v r="$3" 'NR % 2 { k = $1; v = $2; next }
    $1 != k { print "names differ: " k " vs " $1; bad = 1; next }
    { d = v - $2; if (d < 0) d = -d; m = $2 < 0 ? -$2 : $2
      if (v != $2 && (v "" !~ /^[-0-9.e+]+$/ || d > r * m)) { print k ": " v " vs " $2; bad = 1 } }
    END { exit bad }'
  [ "$(wc -l < "$1")" -eq "$(wc -l < "$2")" ]
}

@test "plain tg-fit and tg-gen link no MPI; the MPI builds do" {
  run ldd "$TG_ROOT/bin/tg-fit" "$TG_ROOT/bin/tg-gen"
  assert_success
  refute_output --partial libmpi
  run ldd "$TG_ROOT/bin/mpi/tg-fit"
  assert_output --partial libmpi
}

@test "mpirun tg-gen line: the datasets of one process for N = 1 to 4" {
  skip_unless_h5py
  args=(line --slope 2 --intercept 3 --x-range 0,20 --noise 3 --x-noise 0.5 --noise-dist laplace --seed 11 -n 100003)
  tg-gen "${args[@]}" -o one.h5
  tg-gen "${args[@]}" --dtype f64 -o one64.h5
  for n in 1 2 3 4; do
    mpi "$n" tg-gen "${args[@]}" -o "n$n.h5"
    mpi "$n" tg-gen "${args[@]}" --dtype f64 -o "n${n}_64.h5"
  done
  run py '
a = h5py.File("one.h5"); a64 = h5py.File("one64.h5")
for n in (1, 2, 3, 4):
    for ref, name in ((a, "n%d.h5" % n), (a64, "n%d_64.h5" % n)):
        b = h5py.File(name)
        assert list(b.keys()) == ["x", "y"], list(b.keys())
        for k in ("x", "y"):
            assert b[k].dtype == ref[k].dtype and np.array_equal(b[k][()], ref[k][()]), (name, k)
        ra = {k: v for k, v in ref.attrs.items() if k != "command"}
        rb = {k: v for k, v in b.attrs.items() if k != "command"}
        assert ra == rb, (ra, rb)
print("same")'
  assert_success
  assert_output same
  assert_no_file .n1.h5* .n2.h5*
}

@test "mpirun tg-gen: text, a pipe and the plain tensors come from rank 0 alone" {
  run mpi 3 tg-gen line -n 5 --seed 1 --format csv
  assert_success
  assert_equal "$(printf '%s\n' "$output" | grep -c .)" 6
  assert_equal "$output" "$(tg-gen line -n 5 --seed 1 --format csv)"
}

# The file of the fit tests: 100000 points, 13 blocks of 8192.
make_data() {
  tg-gen line --slope 2 --intercept 3 --x-range 0,20 --noise 3 --seed 1 -n 100000 --dtype f64 -o d.h5
}

@test "mpirun tg-fit: exact and default methods give the bits of one process for N = 1 to 4" {
  make_data
  for m in "--method exact" "" "--model poly:3" "--model poly:2 --method exact" "--loss orthogonal --method exact" \
    "--loss huber" "--slice 5000 -w x" "--model a*exp(k*x/20) --init a=3,k=1"; do
    # shellcheck disable=SC2086
    tg-fit d.h5 $m --format kv > one.kv
    for n in 1 2 3 4; do
      # shellcheck disable=SC2086
      mpi "$n" tg-fit d.h5 $m --format kv > "n$n.kv"
      cmp one.kv "n$n.kv" || { echo "differ: $m, N=$n"; diff one.kv "n$n.kv"; return 1; }
    done
  done
}

@test "mpirun tg-fit: descents agree with one process to 1e-12" {
  make_data
  for m in "--optimizer gd --lr 0.003 --steps 40" "--optimizer adam --lr 0.01 --steps 30" \
    "--optimizer momentum --lr 0.001 --steps 30" "--model a*exp(k*x/20) --init a=3,k=1 --steps 20"; do
    # shellcheck disable=SC2086
    tg-fit d.h5 $m --format kv > one.kv
    for n in 2 3 4; do
      # shellcheck disable=SC2086
      mpi "$n" tg-fit d.h5 $m --format kv > "n$n.kv"
      within "n$n.kv" one.kv 1e-12 || { echo "differ: $m, N=$n"; return 1; }
    done
  done
}

@test "mpirun tg-fit: sgd draws the batches of one process (N = 1 equals the plain run, so does N = 3)" {
  make_data
  args=(--optimizer sgd --batch 8 --lr 0.001 --steps 3000 --seed 5 --slice 16384)
  tg-fit d.h5 "${args[@]}" --format kv > one.kv
  mpi 1 tg-fit d.h5 "${args[@]}" --format kv > n1.kv
  cmp one.kv n1.kv
  mpi 3 tg-fit d.h5 "${args[@]}" --format kv > n3.kv
  cmp one.kv n3.kv
}

@test "mpirun tg-fit: rank 0 writes -o, --history and --plot, as one process does" {
  make_data
  tg-fit d.h5 --lr 0.003 --steps 10 -o one.kv --history one.csv --plot one.svg
  mpi 3 tg-fit d.h5 --lr 0.003 --steps 10 -o n.kv --history n.csv --plot n.svg
  cmp one.kv n.kv
  cmp one.csv n.csv
  cmp one.svg n.svg
}

@test "mpirun tg-fit: more ranks than points (and than blocks)" {
  tg-gen line --slope 2 --intercept 1 --noise 0.5 --seed 3 -n 3 -o s.h5
  tg-fit s.h5 --format kv > one.kv
  mpi 4 tg-fit s.h5 --format kv > n4.kv
  cmp one.kv n4.kv
  tg-fit s.h5 --method exact --format kv > one.kv
  mpi 4 tg-fit s.h5 --method exact --format kv > n4.kv
  cmp one.kv n4.kv
}

@test "mpirun tg-fit: a NaN in one rank's slice stops every rank with one message naming it, no output" {
  skip_unless_h5py
  make_data
  py 'f = h5py.File("d.h5", "r+"); f["y"][60000] = np.nan'
  run mpi 2 tg-fit d.h5 -o out.kv
  assert_failure 1
  assert_equal "$(printf '%s\n' "$output" | grep -c '^tg-fit:')" 1
  assert_output --partial "tg-fit: rank 1 of 2 (points 49152 to 99999): d.h5: y[60000] is NaN (--drop-nan drops such rows)"
  assert_no_file out.kv
  # the same file with --drop-nan fits, as one process does
  tg-fit d.h5 --drop-nan --method exact --format kv 2>/dev/null > one.kv
  mpi 3 tg-fit d.h5 --drop-nan --method exact --format kv 2>/dev/null > n3.kv
  cmp one.kv n3.kv
}

@test "mpirun tg-fit: a missing file is reported once; standard input is a usage error" {
  run mpi 3 tg-fit missing.h5
  assert_failure 1
  assert_equal "$(printf '%s\n' "$output" | grep -c '^tg-fit:')" 1
  assert_output --partial "tg-fit: missing.h5: cannot open"
  make_data
  run mpi 2 tg-fit - < d.h5
  assert_failure 2
  assert_equal "$(printf '%s\n' "$output" | grep -c '^tg-fit:')" 1
  assert_output --partial "under an MPI launcher, give a FILE"
}

@test "a launcher's variables send the plain program to its MPI build; TG_NO_MPI=1 keeps it plain" {
  make_data
  tg-fit d.h5 --method exact --format kv > one.kv
  # PMI_RANK alone: the MPI build starts as a singleton and fits alone
  PMI_RANK=0 tg-fit d.h5 --method exact --format kv > single.kv
  cmp one.kv single.kv
  TG_NO_MPI=1 PMI_RANK=0 tg-fit d.h5 --method exact --format kv > plain.kv
  cmp one.kv plain.kv
  run env PMI_RANK=0 bash -c 'cp "$TG_ROOT/bin/tg-fit" ./tg-fit && ./tg-fit d.h5'
  assert_failure 1
  assert_output --partial "started by an MPI launcher (PMI_RANK is set), but the MPI build of tg-fit is missing"
}

@test "killing one rank ends the job and leaves no output" {
  tg-gen line -n 1000000 --seed 1 -o big.h5
  OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1 mpirun --oversubscribe -n 2 \
    tg-fit big.h5 --lr 0.001 --steps 100000000 --tol 0 -o out.kv --history h.csv --residuals r.h5 2> err &
  mpirun_job=$!
  local job=$mpirun_job kids= i
  for ((i = 0; i < 100; i++)); do # the ranks are mpirun's children
    kids=$(pgrep -P "$job" | tr '\n' ' ')
    [ "$(echo $kids | wc -w)" -eq 2 ] && break
    sleep 0.1
  done
  sleep 1
  kill -TERM "$(echo $kids | awk '{ print $2 }')"
  local rc=0
  wait "$job" || rc=$? # in this shell: run's subshell cannot wait for the job
  [ "$rc" -ne 0 ]
  assert_equal "$(ls -A | sort | tr '\n' ' ')" "big.h5 err "
}

@test "mpirun tg-fit: a short file is reported once; a text file is read by every rank, to the same fit" {
  make_data
  head -c 1000000 d.h5 > short.h5
  run mpi 3 tg-fit short.h5 -o out.kv
  assert_failure 1
  assert_equal "$(printf '%s\n' "$output" | grep -c '^tg-fit:')" 1
  assert_output --partial "tg-fit: short.h5: damaged HDF5 file: truncated to 1000000 bytes"
  assert_no_file out.kv
  tg-gen line -n 20000 --slope 2 --noise 1 --seed 4 --format csv -o t.csv
  tg-fit t.csv --format kv > one.kv
  mpi 3 tg-fit t.csv --format kv > n3.kv
  cmp one.kv n3.kv
}

# same_h5 REF FILE...: every FILE holds REF's datasets (names, dtypes, bits)
# and root attributes (the command line aside).
same_h5() {
  py '
ref = h5py.File(sys.argv[1])
for name in sys.argv[2:]:
    f = h5py.File(name)
    assert sorted(f.keys()) == sorted(ref.keys()), (name, list(f.keys()))
    for k in ref:
        assert f[k].dtype == ref[k].dtype and np.array_equal(f[k][()], ref[k][()], equal_nan=True), (name, k)
    strip = lambda a: {k: v for k, v in a.items() if k != "command"}
    assert strip(f.attrs) == strip(ref.attrs), (name, dict(f.attrs))
print("same")' "$@"
}

@test "mpirun tg-fit --residuals FILE.h5: every rank writes its rows, the file of one process for N = 1 to 4" {
  skip_unless_h5py
  # 139000 points: 17 blocks, so at N = 2 one rank writes one slice (65536 points) and the other two
  tg-gen line --slope 2 --intercept 3 --x-range 0,20 --noise 3 --seed 1 -n 139000 --dtype f64 -o d.h5
  py 'f = h5py.File("d.h5", "r+"); n = len(f["x"]); f["s"] = 1 + (np.arange(n) % 3) * 0.5; f["y"][70001] = np.nan'
  for m in "--steps 20 --lr 0.003 --drop-nan" "--drop-nan" "--method exact --sigma s --drop-nan"; do
    # shellcheck disable=SC2086
    tg-fit d.h5 $m --residuals one.h5 --format kv > one.kv 2> /dev/null
    for n in 1 2 3 4; do
      # shellcheck disable=SC2086
      mpi "$n" tg-fit d.h5 $m --residuals "n$n.h5" --format kv > "n$n.kv" 2> /dev/null
    done
    # the fit the residuals come from is the same for every N (a descent's to 1e-12, so N = 1 only)
    for n in 1 2 3 4; do within "n$n.kv" one.kv 1e-12; done
    run same_h5 one.h5 n1.h5
    assert_output same
    if [ "$m" != "${m#--steps}" ]; then continue; fi
    run same_h5 one.h5 n2.h5 n3.h5 n4.h5
    assert_output same
  done
  run py 'f = h5py.File("n3.h5"); print(sorted(f.keys()), len(f["x"]))'
  assert_output "['fit', 'normalized', 'residual', 'sigma', 'x', 'y'] 138999"
  assert_no_file .n1.h5* .n3.h5*
}

@test "mpirun tg-fit --residuals: a text file is written by rank 0 alone, the text of one process" {
  make_data
  tg-fit d.h5 --method exact --residuals one.csv --format kv > /dev/null
  mpi 3 tg-fit d.h5 --method exact --residuals n3.csv --format kv > /dev/null
  cmp one.csv n3.csv
  [ "$(wc -l < n3.csv)" -eq 100001 ]
}

@test "mpirun tg-fit --residuals FILE.h5: a path that is not a regular file is one usage error, and no -o" {
  make_data
  run mpi 2 tg-fit d.h5 --method exact --residuals /dev/null -o out.kv
  assert_failure 2
  assert_equal "$(printf '%s\n' "$output" | grep -c '^tg-fit:')" 1
  assert_output --partial "tg-fit: /dev/null: under MPI, --residuals must name a regular file (each rank writes its part)"
  assert_no_file out.kv
}

@test "mpirun tg-gen --chunk and --compress: the data, chunks and filters of one process for N = 1 to 4" {
  skip_unless_h5py
  args=(line --slope 2 --intercept 3 --noise 3 --seed 11 -n 100003)
  for layout in "--chunk 1000 --compress 4" "--chunk 7000" "--compress 1" "--chunk 200000 --compress 9"; do
    # shellcheck disable=SC2086
    tg-gen "${args[@]}" $layout -o one.h5
    for n in 1 2 3 4; do
      # shellcheck disable=SC2086
      mpi "$n" tg-gen "${args[@]}" $layout -o "n$n.h5"
    done
    run same_h5 one.h5 n1.h5 n2.h5 n3.h5 n4.h5
    assert_output same
    run py '
ref = h5py.File("one.h5")
for name in sys.argv[1:]:
    f = h5py.File(name)
    for k in ("x", "y"):
        a, b = ref[k], f[k]
        assert (b.chunks, b.compression, b.compression_opts, b.shuffle) == (a.chunks, a.compression, a.compression_opts, a.shuffle), (name, k, b.chunks, b.compression)
print(ref["y"].chunks, ref["y"].compression, ref["y"].compression_opts, ref["y"].shuffle)' n1.h5 n2.h5 n3.h5 n4.h5
    assert_success
    case $layout in
    "--chunk 1000 --compress 4") assert_output "(1000,) gzip 4 True" ;;
    "--chunk 7000") assert_output "(7000,) None None False" ;;
    "--compress 1") assert_output "(65536,) gzip 1 True" ;;
    *) assert_output "(100003,) gzip 9 True" ;;
    esac
  done
  # what tg-fit reads from a compressed file written in parallel is the data
  mpi 3 tg-gen line --slope 2 --intercept 3 --x-range 0,20 --noise 3 --seed 1 -n 100000 --dtype f64 --compress 6 -o c.h5
  make_data
  tg-fit d.h5 --method exact --format kv > one.kv
  mpi 2 tg-fit c.h5 --method exact --format kv > n2.kv
  cmp one.kv n2.kv
}
