#!/usr/bin/env bats
# tg-gen: usage, bad input, and the numbers it writes.

load helpers

# ---- help, version ----------------------------------------------------------

@test "tg-gen --help prints usage on stdout and exits 0" {
  run --separate-stderr tg-gen --help
  assert_success
  assert_output --partial "Usage: tg-gen line"
  assert_output --partial "--noise-dist"
  assert_output --partial "--seed"
  assert_output --partial "--chunk N"
  assert_output --partial "--compress LEVEL"
  assert_output --partial "--progress"
  assert_output --partial "--no-progress"
  [ -z "$stderr" ]
}

@test "tg-gen line --help works after a generator too" {
  run tg-gen line --help
  assert_success
  assert_output --partial "Usage: tg-gen"
}

@test "tg-gen --version" {
  run tg-gen --version
  assert_success
  assert_output "tg-gen (tg) 0.1.0"
}

# ---- usage errors: exit 2, a message naming the culprit, no output ----------

@test "unknown option: exit 2 and a hint" {
  run tg-gen line --bogus -o out.h5
  assert_failure 2
  assert_line --index 0 "tg-gen: unrecognized option '--bogus'"
  assert_line --index 1 "Try 'tg-gen --help' for more information."
  assert_no_file out.h5
}

@test "an ambiguous abbreviation lists the possibilities; a unique one works" {
  run tg-gen line --noi 2 -o out.h5
  assert_failure 2
  assert_output --partial "tg-gen: option '--noi' is ambiguous; possibilities: '--noise' '--noise-dist'"
  assert_no_file out.h5
  run tg-gen line --slo 2 --int 3 -n 2 --x-lin 0,1 --format csv
  assert_success
  assert_output "$(printf 'x,y\n0,3\n1,5')"
}

@test "unknown short option" {
  run tg-gen line -q -o out.h5
  assert_failure 2
  assert_output --partial "tg-gen: invalid option -- 'q'"
  assert_output --partial "Try 'tg-gen --help'"
  assert_no_file out.h5
}

@test "missing option argument" {
  run tg-gen line -o out.h5 --slope
  assert_failure 2
  assert_output --partial "tg-gen: option '--slope' requires an argument"
  assert_output --partial "Try 'tg-gen --help'"
  assert_no_file out.h5
  run tg-gen line -n
  assert_failure 2
  assert_output --partial "option requires an argument -- 'n'"
}

@test "an argument to an option that takes none" {
  run tg-gen line --help=yes
  assert_failure 2
  assert_output --partial "option '--help' doesn't allow an argument"
}

@test "unknown generator" {
  run tg-gen circle -o out.h5
  assert_failure 2
  assert_output --partial "tg-gen: unknown generator 'circle'"
  assert_output --partial "Try 'tg-gen --help'"
  assert_no_file out.h5
}

@test "missing generator" {
  run tg-gen -o out.h5
  assert_failure 2
  assert_output --partial "tg-gen: missing generator"
  assert_no_file out.h5
}

@test "extra argument" {
  run tg-gen line extra -o out.h5
  assert_failure 2
  assert_output --partial "unexpected argument 'extra'"
  assert_no_file out.h5
}

@test "-n 0, -n -5, -n 2.5 are refused" {
  run tg-gen line -n 0 -o out.h5
  assert_failure 2
  assert_output --partial "tg-gen: -n must be a positive integer, got '0'"
  run tg-gen line -n -5 -o out.h5
  assert_failure 2
  assert_output --partial "tg-gen: -n must be a positive integer, got '-5'"
  run tg-gen line -n 2.5 -o out.h5
  assert_failure 2
  assert_output --partial "invalid value '2.5' for -n: not an integer"
  assert_no_file out.h5
}

@test "-n 1e20 is too large" {
  run tg-gen line -n 1e20 -o out.h5
  assert_failure 2
  assert_output --partial "tg-gen: -n 1e20 is too large"
  run tg-gen line -n 99999999999999999999999 -o out.h5
  assert_failure 2
  assert_output --partial "is too large"
  assert_no_file out.h5
}

@test "-n accepts an integral exponent form" {
  run tg-gen line -n 1e1 --format csv
  assert_success
  assert_equal "${#lines[@]}" 11
}

@test "a shape whose element count overflows is refused" {
  run tg-gen randn --shape 100000,100000,100000,100000,100000 -o out.h5
  assert_failure 2
  assert_output --partial "tg-gen: --shape 100000,100000,100000,100000,100000 has too many elements"
  run tg-gen zeros --shape 4000000000,4000000000,4000000000 -o out.h5
  assert_failure 2
  assert_output --partial "too many elements"
  assert_no_file out.h5
}

@test "bad shapes: negative, non-numeric, empty, too many dimensions" {
  run tg-gen randn --shape 3,-1 -o out.h5
  assert_failure 2
  assert_output --partial "invalid value '3,-1' for --shape: dimension -1 is negative"
  run tg-gen randn --shape 3,a -o out.h5
  assert_failure 2
  assert_output --partial "dimension 'a' is not an integer"
  run tg-gen randn --shape 3,,4 -o out.h5
  assert_failure 2
  assert_output --partial "for --shape"
  run tg-gen randn --shape '' -o out.h5
  assert_failure 2
  run tg-gen ones --shape 1,1,1,1,1,1,1,1,1 -o out.h5
  assert_failure 2
  assert_output --partial "more than 8 dimensions"
  assert_no_file out.h5
}

@test "non-numeric option values are refused, naming the option" {
  run tg-gen line --slope abc -o out.h5
  assert_failure 2
  assert_output --partial "tg-gen: invalid value 'abc' for --slope: not a number"
  run tg-gen line --intercept 2x -o out.h5
  assert_failure 2
  assert_output --partial "invalid value '2x' for --intercept: not a number"
  run tg-gen line --noise '' -o out.h5
  assert_failure 2
  assert_output --partial "invalid value '' for --noise"
  run tg-gen line --slope nan -o out.h5
  assert_failure 2
  assert_output --partial "invalid value 'nan' for --slope: not a finite number"
  run tg-gen line --slope 1e999 -o out.h5
  assert_failure 2
  assert_output --partial "invalid value '1e999' for --slope: out of range"
  run tg-gen line --seed abc -o out.h5
  assert_failure 2
  assert_output --partial "invalid value 'abc' for --seed: not a number"
  run tg-gen line --seed -1 -o out.h5
  assert_failure 2
  assert_output --partial "--seed must be a non-negative integer, got '-1'"
  assert_no_file out.h5
}

@test "negative noise is refused" {
  run tg-gen line --noise -1 -o out.h5
  assert_failure 2
  assert_output --partial "tg-gen: --noise must be a non-negative number, got '-1'"
  assert_no_file out.h5
}

@test "--x-range 5,1 is refused" {
  run tg-gen line --x-range 5,1 -o out.h5
  assert_failure 2
  assert_output --partial "tg-gen: invalid value '5,1' for --x-range: LO must not exceed HI"
  run tg-gen line --x-range 5 -o out.h5
  assert_failure 2
  assert_output --partial "invalid value '5' for --x-range: expected LO,HI"
  run tg-gen line --x-linspace 0,b -o out.h5
  assert_failure 2
  assert_output --partial "for --x-linspace"
  assert_no_file out.h5
}

@test "--x-range together with --x-linspace is refused" {
  run tg-gen line --x-range 0,1 --x-linspace 0,1 -o out.h5
  assert_failure 2
  assert_output --partial "tg-gen: --x-range and --x-linspace cannot be used together"
  assert_no_file out.h5
}

@test "unknown dtype, distribution, format, device" {
  run tg-gen line --dtype f16 -o out.h5
  assert_failure 2
  assert_output --partial "tg-gen: invalid value 'f16' for --dtype: expected f32 or f64"
  run tg-gen line --dtype int64 -o out.h5
  assert_failure 2
  assert_output --partial "for --dtype"
  run tg-gen line --noise-dist cauchy -o out.h5
  assert_failure 2
  assert_output --partial "tg-gen: invalid value 'cauchy' for --noise-dist: expected normal, uniform or laplace"
  run tg-gen line --format xml -o out.h5
  assert_failure 2
  assert_output --partial "invalid value 'xml' for --format"
  run tg-gen line --device tpu -o out.h5
  assert_failure 2
  assert_output --partial "invalid value 'tpu' for --device"
  TG_DEVICE=tpu run tg-gen line -o out.h5
  assert_failure 2
  assert_output --partial "TG_DEVICE"
  assert_no_file out.h5
}

@test "an option that does not apply to the generator is refused" {
  run tg-gen randn --shape 3 --slope 2 -o out.h5
  assert_failure 2
  assert_output --partial "tg-gen: --slope does not apply to 'randn'"
  run tg-gen line --shape 3 -o out.h5
  assert_failure 2
  assert_output --partial "--shape does not apply to 'line'"
  assert_no_file out.h5
}

@test "required options of randn, arange, linspace" {
  run tg-gen randn -o out.h5
  assert_failure 2
  assert_output --partial "tg-gen: randn needs --shape"
  run tg-gen arange --start 1 -o out.h5
  assert_failure 2
  assert_output --partial "arange needs --end"
  run tg-gen linspace --start 0 --end 1 -o out.h5
  assert_failure 2
  assert_output --partial "linspace needs -n"
  run tg-gen arange --end 5 --step 0 -o out.h5
  assert_failure 2
  assert_output --partial "--step must not be zero"
  run tg-gen arange --start 5 --end 0 -o out.h5
  assert_failure 2
  assert_output --partial "cannot be reached"
  run tg-gen arange --end 1e30 -o out.h5
  assert_failure 2
  assert_output --partial "too many"
  assert_no_file out.h5
}

# ---- runtime errors: exit 1, no output --------------------------------------

@test "-o into a missing directory fails with exit 1" {
  run tg-gen line -o nodir/out.h5
  assert_failure 1
  assert_output --partial "tg-gen: cannot write 'nodir/out.h5': No such file or directory"
  assert_no_file nodir
}

@test "-o under a file (not a directory) fails with exit 1" {
  touch plain
  run tg-gen line -o plain/out.h5
  assert_failure 1
  assert_output --partial "tg-gen: cannot write 'plain/out.h5': Not a directory"
  run tg-gen line -o /etc/passwd/x.h5
  assert_failure 1
  assert_output --partial "/etc/passwd/x.h5"
}

@test "-o onto a directory fails with exit 1" {
  mkdir d
  run tg-gen line -o d
  assert_failure 1
  assert_output --partial "cannot write 'd': Is a directory"
}

@test "-o into an unwritable directory fails with exit 1 and leaves nothing" {
  mkdir ro
  chmod 555 ro
  if touch ro/probe 2>/dev/null; then
    # root writes anywhere on a writable file system: use one where nobody can create files
    rm -f ro/probe
    [ -d /proc ] || skip "no unwritable directory available (running as root, no /proc)"
    run tg-gen line -o /proc/out.h5
    assert_failure 1
    assert_output --regexp "tg-gen: .*/proc/out.h5"
    assert_no_file /proc/out.h5
  else
    run tg-gen line -o ro/out.h5
    assert_failure 1
    assert_output --partial "tg-gen: cannot write 'ro/out.h5': Permission denied"
    assert_no_file ro/out.h5
  fi
}

@test "a failed write leaves an existing file as it was" {
  tg-gen line -n 3 -o keep.csv
  cp keep.csv before.csv
  run tg-gen randn --shape 2,2,2 -o keep.csv # 3-D cannot be written as CSV
  assert_failure 1
  assert_output --partial "tg-gen:"
  cmp keep.csv before.csv
  [ -z "$(ls -A | grep -v -e '^keep.csv$' -e '^before.csv$')" ] || fail "left-over files: $(ls -A)"
}

@test "writing to /dev/full fails with exit 1" {
  [ -w /dev/full ] || skip "no /dev/full"
  run bash -c 'tg-gen line -n 100 > /dev/full'
  assert_failure 1
  assert_output "tg-gen: standard output: No space left on device"
  run bash -c 'tg-gen line -n 100 --format csv > /dev/full'
  assert_failure 1
  assert_output "tg-gen: standard output: No space left on device"
}

# kill_when_writing SIG FILE CMD...: starts CMD in the background with SIG's
# default action (a non-interactive shell ignores SIGINT in background jobs),
# waits until FILE's temporary file exists, sends SIG; $status is CMD's.
kill_when_writing() {
  local sig=$1 file=$2 pid i
  shift 2
  env --default-signal="$sig" "$@" &
  pid=$!
  for i in $(seq 1 400); do
    compgen -G "$file.??????" >/dev/null && break
    sleep 0.05
  done
  compgen -G "$file.??????" >/dev/null || fail "no temporary file for $file appeared"
  kill -s "$sig" "$pid"
  status=0
  wait "$pid" || status=$?
}

@test "SIGINT, SIGTERM or SIGHUP during a write: no temporary file is left, and tg-gen dies of the signal" {
  local sig n
  for sig in INT TERM HUP; do
    kill_when_writing "$sig" huge.csv tg-gen line -n 3000000 -o huge.csv
    case $sig in INT) n=2 ;; TERM) n=15 ;; HUP) n=1 ;; esac
    [ "$status" -eq $((128 + n)) ] || fail "SIG$sig: exit status $status, expected $((128 + n))"
    assert_no_file huge.csv
    [ -z "$(ls -A)" ] || fail "left-over files after SIG$sig: $(ls -A)"
  done
}

@test "-o through a symbolic link writes the file it names and keeps the link (as sort -o)" {
  echo old > real.csv
  chmod 640 real.csv
  ln -s real.csv link.csv
  tg-gen line --slope 2 --intercept 3 -n 2 --x-linspace 0,1 -o link.csv
  [ -L link.csv ] || fail "link.csv is no longer a symbolic link"
  assert_equal "$(readlink link.csv)" real.csv
  assert_equal "$(cat real.csv)" "$(printf 'x,y\n0,3\n1,5')"
  assert_equal "$(stat -c %a real.csv)" 640
  # a relative link is read from its own directory; a chain of links; a link to no file yet
  mkdir sub far
  ln -s ../far/data.csv sub/rel.csv
  ln -s sub/rel.csv chain.csv
  tg-gen line -n 2 --x-linspace 0,1 -o chain.csv
  [ -L chain.csv ] && [ -L sub/rel.csv ] && [ -f far/data.csv ]
  assert_equal "$(head -1 far/data.csv)" "x,y"
  ln -s far/new.h5 dangling.h5
  tg-gen line -n 2 -o dangling.h5
  [ -L dangling.h5 ] && [ "$(head -c 4 far/new.h5 | od -An -c | tr -d ' ')" = '211HDF' ]
  [ -z "$(find . -name '*.??????')" ] || fail "left-over files: $(find .)"
  # a loop of links fails naming the file, before any work
  ln -s loop2.csv loop1.csv
  ln -s loop1.csv loop2.csv
  run tg-gen line -n 2 -o loop1.csv
  assert_failure 1
  assert_output "tg-gen: loop1.csv: cannot write: Too many levels of symbolic links"
}

@test "text is written as the points are made: 10^12 points | head -3 ends at once" {
  # the whole would be 8 TB: only a stream can give its first lines
  run timeout 20 bash -c 'tg-gen line -n 1000000000000 --format csv | head -3'
  assert_success
  assert_equal "${#lines[@]}" 3
  assert_line --index 0 "x,y"
  run timeout 20 bash -c 'tg-gen line -n 1000000000000 --noise 1 --x-noise 1 --noise-dist laplace --format text | head -20'
  assert_success
  assert_line --index 15 --regexp '^ +x +y$'
}

@test "streamed text holds the numbers of the whole (pieces of 32768 points; every option of line)" {
  skip_unless_h5py
  local args
  for args in "--noise 0.5" "--noise 1 --x-noise 0.3 --noise-dist laplace" "--noise 2 --noise-dist uniform --dtype f64" \
    "--x-linspace -3,5 --x-noise 1 --noise 1" "--x-range 2,7 --noise 1 --dtype f64 --noise-dist laplace"; do
    # shellcheck disable=SC2086
    tg-gen line -n 100003 --slope -1.5 --intercept 2 --seed 7 $args -o whole.h5
    # shellcheck disable=SC2086
    tg-gen line -n 100003 --slope -1.5 --intercept 2 --seed 7 $args -o streamed.csv
    py 'f = h5py.File("whole.h5", "r"); t = np.loadtxt("streamed.csv", delimiter=",", skiprows=1, dtype=f["x"].dtype)
assert (t[:, 0] == f["x"][()]).all() and (t[:, 1] == f["y"][()]).all(), sys.argv[1]' "$args"
  done
}

@test "a closed pipe ends tg-gen quietly with status 1" {
  run bash -c 'tg-gen line -n 1000000 --format csv 2>err | head -c 10 >/dev/null; echo "${PIPESTATUS[0]}"; cat err'
  assert_success
  assert_output "1"
}

@test "binary HDF5 is never written to a terminal" {
  run on_tty "tg-gen line -n 3 --format h5"
  assert_failure 2
  assert_output --partial "tg-gen: refusing to write binary HDF5 to a terminal"
  assert_output --partial "Try 'tg-gen --help'"
}

@test "a terminal gets text by default" {
  run on_tty "tg-gen line --slope 2 --intercept 3 -n 3 --x-linspace 0,2"
  assert_success
  out=$(printf '%s' "$output" | tr -d '\r' | grep -v '^# command:')
  expected=$(tg-gen line --slope 2 --intercept 3 -n 3 --x-linspace 0,2 --format text | grep -v '^# command:')
  assert_equal "$out" "$expected"
  assert_output --partial "x  y"
}

@test "the vulkan device either works or fails with a clear message" {
  run tg-gen line -n 5 --seed 3 --noise 1 --device vulkan --format csv
  if [ "$status" -eq 0 ]; then
    # same seed, same numbers on every device (to float32 rounding of the arithmetic)
    cpu=$(tg-gen line -n 5 --seed 3 --noise 1 --format csv)
    py 'a = np.loadtxt(io.StringIO(sys.argv[1]), delimiter=",", skiprows=1)
b = np.loadtxt(io.StringIO(sys.argv[2]), delimiter=",", skiprows=1)
assert np.allclose(a, b, rtol=1e-5, atol=1e-6), (a, b)' "$output" "$cpu"
  else
    assert_failure 1
    assert_output --partial "tg-gen:"
    assert_output --partial "ulkan"
  fi
}

# ---- the numbers ------------------------------------------------------------

@test "a noise-free line as CSV is exact" {
  run tg-gen line --slope 2 --intercept 3 -n 5 --x-linspace 0,4 --format csv
  assert_success
  assert_output "$(printf 'x,y\n0,3\n1,5\n2,7\n3,9\n4,11')"
}

@test "same seed gives identical bytes, in HDF5 and CSV" {
  tg-gen line -n 1000 --noise 1 --seed 42 -o d.h5
  mv d.h5 a.h5
  sleep 1 # HDF5 must not record the time either
  tg-gen line -n 1000 --noise 1 --seed 42 -o d.h5
  cmp a.h5 d.h5
  tg-gen line -n 1000 --noise 1 --seed 42 --format csv > a.csv
  tg-gen line -n 1000 --noise 1 --seed 42 --format csv > b.csv
  cmp a.csv b.csv
  tg-gen randn --shape 50,20 --seed 42 > a.h5
  tg-gen randn --shape 50,20 --seed 42 > b.h5
  cmp a.h5 b.h5
}

@test "different seeds give different numbers" {
  tg-gen line -n 100 --noise 1 --seed 1 --format csv > a.csv
  tg-gen line -n 100 --noise 1 --seed 2 --format csv > b.csv
  ! cmp -s a.csv b.csv
  tg-gen randn --shape 10 --seed 1 --format csv > a.csv
  tg-gen randn --shape 10 --seed 2 --format csv > b.csv
  ! cmp -s a.csv b.csv
}

@test "TG_SEED is the default seed, --seed overrides it" {
  tg-gen randn --shape 10 --seed 5 --format csv > a.csv
  TG_SEED=5 tg-gen randn --shape 10 --format csv > b.csv
  TG_SEED=6 tg-gen randn --shape 10 --seed 5 --format csv > c.csv
  cmp a.csv b.csv
  cmp a.csv c.csv
}

@test "HDF5 through a pipe equals HDF5 from -o, with provenance attributes" {
  skip_unless_h5py
  tg-gen line --slope 2 --intercept 3 -n 50 --noise 1 --seed 9 -o d.h5
  run bash -c 'tg-gen line --slope 2 --intercept 3 -n 50 --noise 1 --seed 9 | /usr/bin/python3 -c '"'"'
import sys, io, h5py, numpy as np
f = h5py.File(io.BytesIO(sys.stdin.buffer.read()), "r")
g = h5py.File("d.h5", "r")
assert sorted(f.keys()) == ["x", "y"], list(f.keys())
for k in "xy":
    assert f[k].shape == (50,) and f[k].dtype == np.float32, (f[k].shape, f[k].dtype)
    assert np.array_equal(f[k][()], g[k][()])
a = dict(f.attrs)
for k in ("command", "tg_version", "generator", "seed", "slope", "intercept", "n", "noise", "x_noise", "noise_dist", "dtype"):
    assert k in a, k
def s(v): return v.decode() if isinstance(v, bytes) else str(v)
assert s(a["command"]) == "tg-gen line --slope 2 --intercept 3 -n 50 --noise 1 --seed 9", a["command"]
assert s(a["generator"]) == "line" and s(a["noise_dist"]) == "normal" and s(a["dtype"]) == "float32"
assert a["seed"] == 9 and a["slope"] == 2 and a["intercept"] == 3 and a["n"] == 50 and a["noise"] == 1
# counts and seeds are 64-bit integers, the parameters doubles
assert a["seed"].dtype == np.uint64 and a["n"].dtype == np.int64 and a["slope"].dtype == np.float64
print("ok")
'"'"
  assert_success
  assert_output "ok"
}

@test "the largest seed is stored exactly, as an unsigned 64-bit integer attribute" {
  skip_unless_h5py
  tg-gen randn --shape 2 --seed 18446744073709551615 -o d.h5
  run py 'a = h5py.File("d.h5", "r").attrs["seed"]; print(a.dtype, int(a))'
  assert_success
  assert_output "uint64 18446744073709551615"
  run h5dump -a /seed d.h5
  assert_output --partial "H5T_STD_U64LE"
}

@test "the command attribute quotes words for the shell" {
  skip_unless_h5py
  tg-gen randn --shape 2 --name "my data" -o d.h5
  run py 'f = h5py.File("d.h5", "r"); c = f.attrs["command"]; print(c.decode() if isinstance(c, bytes) else c); print(list(f.keys()))'
  assert_success
  assert_line --index 0 "tg-gen randn --shape 2 --name 'my data' -o d.h5"
  assert_line --index 1 "['my data']"
}

@test "least squares on a noisy line recovers slope and intercept within 4 standard errors" {
  skip_unless_h5py
  tg-gen line --slope 2 --intercept 3 -n 100000 --x-range 0,20 --noise 3 --seed 11 --dtype f64 -o d.h5
  run py '
f = h5py.File("d.h5", "r"); x = f["x"][()]; y = f["y"][()]
n = len(x); A = np.vstack([x, np.ones(n)]).T
coef, res, *_ = np.linalg.lstsq(A, y, rcond=None)
s2 = res[0] / (n - 2); cov = s2 * np.linalg.inv(A.T @ A); se = np.sqrt(np.diag(cov))
print(coef, se, np.sqrt(s2))
assert abs(coef[0] - 2) < 4 * se[0], "slope"
assert abs(coef[1] - 3) < 4 * se[1], "intercept"
assert abs(np.sqrt(s2) - 3) < 0.05, "residual sd"
assert x.min() >= 0 and x.max() < 20 and abs(x.mean() - 10) < 0.1
'
  assert_success
}

@test "each noise distribution has standard deviation SIGMA and its own shape" {
  skip_unless_h5py
  for d in normal uniform laplace; do
    tg-gen line --slope 0 --intercept 0 -n 200000 --noise 2 --noise-dist $d --seed 5 --dtype f64 -o $d.h5
  done
  run py '
from math import sqrt
kurt = {"normal": 3.0, "uniform": 1.8, "laplace": 6.0}
for d in ("normal", "uniform", "laplace"):
    e = h5py.File(d + ".h5", "r")["y"][()]
    m, s = e.mean(), e.std(); k = ((e - m) ** 4).mean() / s ** 4
    print(d, m, s, k)
    assert abs(m) < 0.03 and abs(s - 2) < 0.02, d
    assert abs(k - kurt[d]) < 0.15 * kurt[d], d
    if d == "uniform":
        assert e.min() >= -2 * sqrt(3) and e.max() <= 2 * sqrt(3) and e.max() > 2 * sqrt(3) - 0.01
'
  assert_success
}

@test "--x-noise perturbs x only; y and the noise on y do not change" {
  skip_unless_h5py
  tg-gen line --slope 2.5 --intercept 1 -n 1000 --x-linspace 0,100 --noise 2 --seed 4 --dtype f64 -o a.h5
  tg-gen line --slope 2.5 --intercept 1 -n 1000 --x-linspace 0,100 --noise 2 --x-noise 2 --seed 4 --dtype f64 -o b.h5
  tg-gen line --slope 2.5 --intercept 1 -n 1000 --noise 2 --seed 4 --dtype f64 -o c.h5
  run py '
a = h5py.File("a.h5", "r"); b = h5py.File("b.h5", "r"); c = h5py.File("c.h5", "r")
xa, ya, xb, yb = a["x"][()], a["y"][()], b["x"][()], b["y"][()]
assert np.array_equal(ya, yb)
assert np.allclose(xa, np.linspace(0, 100, 1000))
d = xb - xa; print(d.mean(), d.std())
assert abs(d.mean()) < 0.2 and abs(d.std() - 2) < 0.15
# the y noise is the same stream values whatever x is
assert np.allclose(ya - (2.5 * xa + 1), c["y"][()] - (2.5 * c["x"][()] + 1))
'
  assert_success
}

@test "f32 and f64 uniform draws with the same seed agree to f32 rounding" {
  skip_unless_h5py
  tg-gen rand --shape 10000 --seed 123 --dtype f32 -o a.h5
  tg-gen rand --shape 10000 --seed 123 --dtype f64 -o b.h5
  tg-gen randn --shape 10000 --seed 123 --dtype f32 -o c.h5
  tg-gen randn --shape 10000 --seed 123 --dtype f64 -o d.h5
  run py '
a = h5py.File("a.h5", "r")["x"]; b = h5py.File("b.h5", "r")["x"]
c = h5py.File("c.h5", "r")["x"]; d = h5py.File("d.h5", "r")["x"]
assert a.dtype == np.float32 and b.dtype == np.float64 and c.dtype == np.float32
assert np.array_equal(a[()], b[()].astype(np.float32))
assert np.allclose(c[()], d[()].astype(np.float32), rtol=0, atol=1e-6)
assert a[()].min() >= 0 and a[()].max() < 1
'
  assert_success
}

@test "randn --shape 3,4 has shape (3,4); a large randn and rand have sane moments" {
  skip_unless_h5py
  tg-gen randn --shape 3,4 --seed 1 -o s.h5
  tg-gen randn --shape 400,500 --seed 2 -o n.h5
  tg-gen rand --shape 200000 --seed 3 --name u -o u.h5
  run py '
s = h5py.File("s.h5", "r")["x"]; assert s.shape == (3, 4) and s.dtype == np.float32, s.shape
n = h5py.File("n.h5", "r")["x"][()]; assert n.shape == (400, 500)
print(n.mean(), n.std()); assert abs(n.mean()) < 0.01 and abs(n.std() - 1) < 0.01
u = h5py.File("u.h5", "r")["u"][()]
print(u.mean(), u.var()); assert abs(u.mean() - 0.5) < 0.005 and abs(u.var() - 1 / 12) < 0.002
'
  assert_success
}

@test "randn --shape 3,4 as text prints 3 rows of 4" {
  run tg-gen randn --shape 3,4 --format text
  assert_success
  numbers=$(printf '%s\n' "$output" | grep -v '^#' | grep -v '[a-zA-Z]')
  assert_equal "$(printf '%s\n' "$numbers" | wc -l)" 3
  assert_equal "$(printf '%s\n' "$numbers" | awk '{ print NF }' | sort -u)" 4
}

@test "zeros, ones, and 0-d shapes" {
  run tg-gen zeros --shape 2,3 --format csv
  assert_success
  assert_output "$(printf '0,0,0\n0,0,0')"
  run tg-gen ones --shape 4 --name w --format csv
  assert_success
  assert_output "$(printf 'w\n1\n1\n1\n1')"
  skip_unless_h5py
  tg-gen ones --shape '()' -o s.h5
  tg-gen zeros --shape 0,3 -o e.h5
  run py 'print(h5py.File("s.h5", "r")["x"].shape, h5py.File("e.h5", "r")["x"].shape)'
  assert_output "() (0, 3)"
}

@test "arange and linspace values are exact" {
  run tg-gen arange --start -2 --end 4 --format csv
  assert_success
  assert_output "$(printf 'x\n-2\n-1\n0\n1\n2\n3')"
  run tg-gen arange --end 1 --step 0.25 --name t --format csv
  assert_success
  assert_output "$(printf 't\n0\n0.25\n0.5\n0.75')"
  run tg-gen linspace --start 0 --end 1 -n 5 --dtype f64 --format csv
  assert_success
  assert_output "$(printf 'x\n0\n0.25\n0.5\n0.75\n1')"
  run tg-gen linspace --start 10 --end 0 -n 3 --format csv
  assert_success
  assert_output "$(printf 'x\n10\n5\n0')"
}

@test "-o picks the format by extension, --format overrides it" {
  tg-gen line --slope 2 --intercept 3 -n 2 --x-linspace 0,1 -o d.csv
  assert_equal "$(cat d.csv)" "$(printf 'x,y\n0,3\n1,5')"
  tg-gen line --slope 2 --intercept 3 -n 2 --x-linspace 0,1 -o d.tsv
  assert_equal "$(cat d.tsv)" "$(printf 'x\ty\n0\t3\n1\t5')"
  tg-gen line -n 2 -o d.h5
  tg-gen line -n 2 -o d.HDF5
  tg-gen line -n 2 --format csv -o d2.h5
  tg-gen line -n 2 --format h5 -o d.data
  [ "$(head -c 4 d.h5 | od -An -c | tr -d ' ')" = '211HDF' ]
  [ "$(head -c 4 d.HDF5 | od -An -c | tr -d ' ')" = '211HDF' ]
  [ "$(head -c 4 d.data | od -An -c | tr -d ' ')" = '211HDF' ]
  assert_equal "$(head -1 d2.h5)" "x,y"
  tg-gen line -n 2 -o d.txt
  assert_equal "$(sed -n 's/^ *x *y$/header/p' d.txt)" "header"
}

@test "-o with an extension tg-gen does not write is a usage error listing what it writes" {
  for f in out.png out.json out.data out; do
    run tg-gen line -n 2 -o "$f"
    assert_failure 2
    assert_line --index 0 --partial "tg-gen: -o $f: tg-gen writes .h5/.hdf5, .csv, .tsv or .txt files, "
    assert_line --index 0 --partial "(or choose with --format h5, csv, tsv or text)"
    assert_no_file "$f"
  done
  run tg-gen line -n 2 -o out.png
  assert_line --index 0 "tg-gen: -o out.png: tg-gen writes .h5/.hdf5, .csv, .tsv or .txt files, not .png (or choose with --format h5, csv, tsv or text)"
  run tg-gen line -n 2 -o out
  assert_line --index 0 --partial "and 'out' has no extension"
  run tg-gen line -n 2 --format json
  assert_failure 2
  assert_line --index 0 "tg-gen: invalid value 'json' for --format: expected h5, csv, tsv or text"
  # a device is written as a pipe would be
  run tg-gen line -n 2 -o /dev/null
  assert_success
}

@test "-o - writes to standard output" {
  run tg-gen line --slope 2 --intercept 3 -n 2 --x-linspace 0,1 --format csv -o -
  assert_success
  assert_output "$(printf 'x,y\n0,3\n1,5')"
}

@test "f64 output is float64 in HDF5" {
  skip_unless_h5py
  tg-gen line -n 3 --dtype f64 -o d.h5
  run py 'f = h5py.File("d.h5", "r"); print(f["x"].dtype, f["y"].dtype, f.attrs["dtype"])'
  assert_output --regexp "^float64 float64 (b')?float64'?$"
}

@test "the man page's examples run" {
  skip_unless_h5py
  man=$TG_ROOT/man/tg-gen.1
  [ -f "$man" ]
  # every example line in the man page (roff escapes undone, continuations joined)
  sed -n '/^\.SH EXAMPLES/,/^\.SH SEE ALSO/p' "$man" \
    | sed -e 's/\\-/-/g' -e 's/\\e$/\\/' | grep -v '^\.' \
    | awk '/\\$/ { sub(/\\$/, ""); buf = buf $0; next } { print buf $0; buf = "" }' \
    | grep '^ *tg-gen ' | grep -v 'tg-fit' > examples.sh
  [ "$(wc -l < examples.sh)" -ge 9 ]
  while IFS= read -r cmd; do
    run bash -c "$cmd > /dev/null"
    [ "$status" -eq 0 ] || fail "example failed ($status): $cmd: $output"
  done < examples.sh
  # the seeds' data sets: check what the examples wrote
  run py '
import math
def load(p): f = h5py.File(p, "r"); return f["x"][()].astype(float), f["y"][()].astype(float)
x, y = load("sgd.h5"); assert len(x) == 1000 and 0 <= x.min() and x.max() < 20
r = y - (2 * x + 3); assert abs(r.std() - 3) < 0.3, r.std()
x, y = load("lin.h5"); assert len(x) == 500 and np.allclose(y, 3 * x + 0.8, atol=1e-5)
x, y = load("small.h5"); assert len(x) == 20 and x.max() < 5
r = y - (2 * x + 5); assert 0.3 < r.std() < 2
x, y = load("tls.h5"); assert len(x) == 100
assert abs(np.mean(x - np.linspace(0, 100, 100))) < 1 and 1 < np.std(x - np.linspace(0, 100, 100)) < 3
r = y - (2.5 * np.linspace(0, 100, 100) + 1); assert 1 < r.std() < 3
a = h5py.File("a.h5", "r")["a"][()]; assert list(a) == [-2, -1, 0, 1, 2, 3]
print("ok")
'
  assert_success
  assert_output "ok"
}

@test "the man page renders" {
  command -v groff >/dev/null || skip "groff is not installed"
  run bash -c "groff -man -Tutf8 -ww '$TG_ROOT/man/tg-gen.1' 2>&1 >/dev/null"
  assert_success
  assert_output ""
}

@test "no leaks under valgrind" {
  command -v valgrind >/dev/null || skip "valgrind is not installed"
  run valgrind -q --leak-check=full --errors-for-leak-kinds=definite,indirect --error-exitcode=99 \
    "$TG_ROOT/bin/tg-gen" line -n 1000 --noise 1 --x-noise 1 --noise-dist laplace -o d.h5
  assert_success
  run valgrind -q --leak-check=full --errors-for-leak-kinds=definite,indirect --error-exitcode=99 \
    "$TG_ROOT/bin/tg-gen" randn --shape 10,10 --format csv
  assert_success
}

@test "10^6 points: -o d.h5 and a pipe into h5py hold the same numbers; f32 bytes identical twice" {
  skip_unless_h5py
  mkdir again
  tg-gen line --slope 2 --intercept 3 -n 1000000 --seed 7 -o d.h5
  (cd again && tg-gen line --slope 2 --intercept 3 -n 1000000 --seed 7 -o d.h5)
  cmp d.h5 again/d.h5
  run bash -c 'tg-gen line --slope 2 --intercept 3 -n 1000000 --seed 7 | /usr/bin/python3 -c '"'"'
import sys, io, h5py, numpy as np
f = h5py.File(io.BytesIO(sys.stdin.buffer.read()), "r")
g = h5py.File("d.h5", "r")
for k in "xy":
    assert f[k].shape == (1000000,) and f[k].dtype == np.float32
    assert np.array_equal(f[k][()], g[k][()]), k
x, y = g["x"][()], g["y"][()]
assert np.array_equal(y, (2 * x + 3).astype(np.float32)) or np.max(np.abs(y - (2 * x + 3))) < 1e-5
print("ok", x.min() >= 0, x.max() < 1)
'"'"
  assert_success
  assert_output "ok True True"
}

# ---- HDF5 written slice by slice: --chunk, --compress, bounded memory ---------

@test "--chunk and --compress: h5py reads the numbers of the contiguous file, in the layout asked for" {
  # Not skipped: python3-h5py and python3-numpy are in the Makefile's PACKAGES.
  local args="-n 20011 --slope -1.5 --intercept 2 --noise 1 --x-noise 0.5 --seed 9"
  local layout dt
  for dt in f32 f64; do
    # shellcheck disable=SC2086
    tg-gen line $args --dtype $dt -o plain.h5
    for layout in "--chunk 1" "--chunk 7" "--chunk 4096" "--chunk 20011" "--chunk 50000" "--compress 0" \
      "--compress 9" "--chunk 7 --compress 1" "--chunk 4096 --compress 6"; do
      # shellcheck disable=SC2086
      tg-gen line $args --dtype $dt $layout -o layout.h5
      py 'p = h5py.File("plain.h5", "r"); f = h5py.File("layout.h5", "r"); words = sys.argv[1].split()
opt = dict(zip(words[::2], map(int, words[1::2])))
chunk = min(opt.get("--chunk", 65536), 20011)
for name in "x", "y":
    d = f[name]
    assert d.dtype == p[name].dtype and d.shape == (20011,), (name, d.dtype, d.shape)
    assert np.array_equal(d[()], p[name][()]), (sys.argv[1], name)
    assert d.chunks == (chunk,), (sys.argv[1], d.chunks)
    if "--compress" in opt:
        assert d.compression == "gzip" and d.compression_opts == opt["--compress"] and d.shuffle, sys.argv[1]
    else:
        assert d.compression is None and not d.shuffle, sys.argv[1]
assert p["x"].chunks is None and p["x"].compression is None
assert f.attrs["n"] == 20011 and f.attrs["seed"] == 9' "$layout"
    done
  done
  # linspace x and the plain tensors take the layout too (2-D: chunks of rows)
  tg-gen line -n 1001 --x-linspace -2,3 --chunk 10 --compress 4 -o lin.h5
  tg-gen line -n 1001 --x-linspace -2,3 -o linplain.h5
  tg-gen randn --shape 300,7 --seed 2 --chunk 16 --compress 2 -o r.h5
  tg-gen randn --shape 300,7 --seed 2 -o rplain.h5
  py 'f = h5py.File("lin.h5", "r"); p = h5py.File("linplain.h5", "r")
assert np.array_equal(f["x"][()], p["x"][()]) and np.array_equal(f["y"][()], p["y"][()]) and f["x"].chunks == (10,)
assert np.allclose(f["x"][()], np.linspace(-2, 3, 1001), rtol=0, atol=1e-6)
r = h5py.File("r.h5", "r")["x"]; assert r.chunks == (16, 7) and r.compression == "gzip", r.chunks
assert np.array_equal(r[()], h5py.File("rplain.h5", "r")["x"][()])'
  h5dump -p -H -d x r.h5 | grep -q "SHUFFLE"
}

@test "--chunk and --compress: bad values and text output are usage errors" {
  run tg-gen line --chunk 0 -o a.h5
  assert_failure 2
  assert_output --partial "tg-gen: --chunk must be a positive integer, got '0'"
  run tg-gen line --compress 10 -o a.h5
  assert_failure 2
  assert_output --partial "--compress 10 is too large"
  run tg-gen line --compress -1 -o a.h5
  assert_failure 2
  run tg-gen line --chunk 8 -o a.csv
  assert_failure 2
  assert_output --partial "tg-gen: --chunk applies to HDF5 output only, not CSV"
  run tg-gen line --compress 1 --format text
  assert_failure 2
  assert_output --partial "--compress applies to HDF5 output only"
  run tg-gen line -n 1000000000 --chunk 600000000 --dtype f64 -o big.h5
  assert_failure 1
  assert_output --partial "beyond HDF5's limit of 4 GiB"
  assert_no_file a.h5 a.csv big.h5
  [ -z "$(ls -A)" ] || fail "left-over files: $(ls -A)"
}

@test "10^7 points are written in bounded memory: to a file, chunked and compressed, and through a pipe" {
  # The whole-set design held 3-4 times the 80 MB of x and y.
  local rss
  /usr/bin/time -f %M -o rss tg-gen line -n 10000000 --noise 1 --seed 4 -o big.h5
  rss=$(tail -1 rss)
  [ "$rss" -lt 65536 ] || fail "peak RSS ${rss} KB writing 10^7 points"
  /usr/bin/time -f %M -o rss tg-gen line -n 2000000 --noise 1 --chunk 100000 --compress 1 -o c.h5
  rss=$(tail -1 rss)
  [ "$rss" -lt 65536 ] || fail "peak RSS ${rss} KB writing compressed chunks"
  # a pipe: HDF5 needs random access, so a large file is made in $TMPDIR and copied out (and removed)
  mkdir spill
  TMPDIR=$PWD/spill /usr/bin/time -f %M -o rss tg-gen line -n 10000000 --noise 1 --seed 4 | cat > piped.h5
  rss=$(tail -1 rss)
  [ "$rss" -lt 65536 ] || fail "peak RSS ${rss} KB writing 10^7 points to a pipe"
  [ -z "$(ls -A spill)" ] || fail "left in \$TMPDIR: $(ls -A spill)"
  py 'a = h5py.File("big.h5", "r"); b = h5py.File("piped.h5", "r")
assert all(np.array_equal(a[k][()], b[k][()]) for k in "xy")
assert a["x"].shape == (10000000,)'
}

@test "a signal while a large HDF5 file for a pipe is made in \$TMPDIR removes it" {
  mkdir spill
  kill_when_writing TERM spill/tg-gen.h5 env TMPDIR="$PWD/spill" tg-gen line -n 100000000 --format h5 -o /dev/null
  [ "$status" -eq 143 ] || fail "exit status $status, expected 143"
  [ -z "$(ls -A spill)" ] || fail "left in \$TMPDIR: $(ls -A spill)"
}

# ---- progress on a terminal ---------------------------------------------------

@test "progress on a terminal: points, rate and ETA, for work over half a second" {
  TERM=xterm run on_tty tg-gen line -n 5000000 --compress 1 -o big.h5
  assert_success
  assert_output --partial "/5.00M points"
  assert_output --regexp 'M points/s  ETA [0-9]+:[0-9][0-9]'
  assert_output --partial $'\r\033[K'
  # short work shows nothing; --progress shows it from the first frame
  TERM=xterm run on_tty tg-gen line -n 1000 -o small.h5
  assert_success
  assert_output ""
  TERM=xterm run on_tty tg-gen line -n 1000 --progress -o small.h5
  assert_output --partial "1.00k/1.00k points  100%"
}

@test "no progress into a pipe or file, with TERM=dumb or empty, or with --no-progress" {
  run --separate-stderr tg-gen line -n 5000000 --compress 1 -o big.h5
  assert_success
  [ -z "$stderr" ]
  run --separate-stderr tg-gen line -n 1000 --progress -o small.h5 # --progress: still not into a file
  [ -z "$stderr" ]
  local term
  for term in dumb ""; do
    TERM=$term run on_tty tg-gen line -n 5000000 --compress 1 -o big.h5
    assert_success
    assert_output ""
  done
  TERM=xterm run on_tty tg-gen line -n 5000000 --compress 1 --no-progress -o big.h5
  assert_output ""
  # text on the terminal: the rows are the progress (none drawn over them)
  run bash -c "$(declare -f on_tty); TERM=xterm on_tty tg-gen line -n 3000000 --format csv | grep -c 'points'"
  assert_output "0"
  # --progress with TERM=dumb: carriage returns and spaces only
  TERM=dumb run on_tty tg-gen line -n 1000 --progress -o small.h5
  assert_output --partial $'\r1.00k/1.00k points  100%'
  [[ "$output" != *$'\033'* ]] || fail "an escape code with TERM=dumb"
}
