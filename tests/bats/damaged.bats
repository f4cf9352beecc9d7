#!/usr/bin/env bats
# Damaged HDF5 files never end a command in a signal or a hang.
#
# tests/damaged-h5 holds files on which Debian's libhdf5 1.10.8 crashes or
# loops for ever (its README.md says what each is).
# Through a file argument, standard input and NAME=FILE:x bindings, each file
# either reads what the command needs correctly (exit 0 and the numbers h5py
# reads from the same datasets) or ends with exit 1 and a message that names
# the file and says it is damaged (or, when a bit flip renamed a dataset, that
# there is no such dataset). `timeout` is only the test's own guard.

load helpers

DAMAGED="$TG_ROOT/tests/damaged-h5"
GUARD=120 # seconds: the test's own limit; tg's watchdog ends a hang in seconds

# What h5py reads from /x and /y of each file, in a clean file of the same
# dtypes: the reference for the reads that succeed. h5py reads only those two
# datasets, as tg-fit does; a file it cannot read (it fails, or libhdf5 crashes
# under it) has no reference, and tg must then refuse it.
setup_file() {
  mkdir -p "$BATS_FILE_TMPDIR/clean"
  local f
  for f in "$DAMAGED"/*.h5; do
    timeout "$GUARD" /usr/bin/python3 -c '
import sys, h5py
with h5py.File(sys.argv[1], "r") as f, h5py.File(sys.argv[2], "w") as g:
    g["x"] = f["x"][()]
    g["y"] = f["y"][()]
' "$f" "$BATS_FILE_TMPDIR/clean/${f##*/}" >/dev/null 2>&1 || rm -f "$BATS_FILE_TMPDIR/clean/${f##*/}"
  done
}

# guarded OUT ERR CMD...: runs CMD with stdout and stderr to files, under the
# test's own time limit; the status is in $guarded_status.
guarded() {
  local out=$1 err=$2
  shift 2
  guarded_status=0
  timeout "$GUARD" "$@" >"$out" 2>"$err" || guarded_status=$?
}

# check_outcome FILE LABEL REFERENCE_OUTPUT: after a guarded run, the outcome
# is right for FILE: never a signal or the time limit; exit 0 with the
# reference output when h5py could read the file, else exit 1 with a message
# "tg-NAME: [BINDING: ]LABEL: ..." saying the file is damaged. Appends what is
# wrong to $problems.
check_outcome() {
  local file=$1 label=$2 want=$3 name=${1##*/} msg
  msg=$(tail -n 1 err)
  if [ "$guarded_status" -ge 124 ]; then
    problems+="$name: ended with status $guarded_status (a signal or a hang): $msg"$'\n'
  elif [ -n "$want" ]; then
    if [ "$guarded_status" -ne 0 ]; then
      problems+="$name: h5py reads it, but tg failed ($guarded_status): $msg"$'\n'
    elif [ "$(cat out)" != "$want" ]; then
      problems+="$name: read, but not the values h5py reads"$'\n'
    fi
  elif [ "$guarded_status" -ne 1 ]; then
    problems+="$name: h5py cannot read it, but tg exited $guarded_status"$'\n'
  else
    case $msg in
      tg-*": $label: the file is damaged (the HDF5 library failed reading it)" | \
        tg-*": $label: damaged HDF5 file"* | tg-*": $label: no dataset 'x' (datasets: "*) ;;
      *) problems+="$name: exit 1, but the message does not say the file is damaged: $msg"$'\n' ;;
    esac
  fi
}

# for_each_file MODE: runs the mode's command on every damaged file and checks it.
for_each_file() {
  local mode=$1 f clean want
  problems=
  local n=0
  for f in "$DAMAGED"/*.h5; do
    n=$((n + 1))
    clean="$BATS_FILE_TMPDIR/clean/${f##*/}"
    want=
    if [ -e "$clean" ]; then
      "run_$mode" "$clean" "$clean"
      [ "$guarded_status" -eq 0 ] || fail "${f##*/}: the clean copy does not read: $(cat err)"
      want=$(cat out)
    fi
    "run_$mode" "$f" "$f"
    case $mode in
      *_stdin) check_outcome "$f" "standard input" "$want" ;;
      *) check_outcome "$f" "$f" "$want" ;;
    esac
  done
  [ "$n" -ge 18 ] || fail "only $n damaged files"
  [ -z "$problems" ] || fail "$problems"
}

run_fit_file() { guarded out err tg-fit --format kv "$2"; }
run_fit_stdin() { guarded out err tg-fit --format kv < "$2"; }
run_grad_binding() { guarded out err tg-grad -e 'sum(x*y)' --wrt x,y --format csv "x=$2:x" "y=$2:y"; }
run_grad_stdin() { guarded out err tg-grad -e 'sum(x*y)' --wrt x,y --format csv x=-:x y=-:y < "$2"; }

@test "tg-fit FILE: every damaged file reads right or is refused as damaged" {
  for_each_file fit_file
}

@test "tg-fit < FILE: the same through standard input" {
  for_each_file fit_stdin
}

@test "tg-grad x=FILE:x y=FILE:y: the same through bindings" {
  for_each_file grad_binding
}

@test "tg-grad x=-:x y=-:y < FILE: the same through bindings on standard input" {
  for_each_file grad_stdin
}

@test "tg-grad x=FILE: a source without a dataset name lists the file: never a signal or a hang" {
  local f problems=
  for f in "$DAMAGED"/*.h5; do
    guarded out err tg-grad -e 'sum(x)' --wrt x --format csv "x=$f"
    msg=$(tail -n 1 err)
    case $guarded_status/$msg in
      0/*) ;;
      1/"tg-grad: "*"$f: the file is damaged (the HDF5 library failed reading it)" | 1/"tg-grad: "*"$f: damaged HDF5 file"* | \
        1/"tg-grad: "*"$f holds "*" datasets ("*) ;;
      *) problems+="${f##*/}: status $guarded_status: $msg"$'\n' ;;
    esac
  done
  [ -z "$problems" ] || fail "$problems"
}

@test "the files that used to crash or hang: at least one of each ends through the guard or reads right" {
  # d10 faults (SIGFPE) inside libhdf5 when opening /x: the signal handler reports it.
  run tg-fit --format kv "$DAMAGED/d10-rc136.h5"
  assert_failure 1
  assert_output "tg-fit: $DAMAGED/d10-rc136.h5: the file is damaged (the HDF5 library failed reading it)"
  # d26 loops for ever in its attributes, which a fit does not read.
  run tg-fit --format kv "$DAMAGED/d26-rc124.h5"
  assert_success
  assert_line --regexp '^w=1\.78'
}

@test "tg-check: a damaged file is trouble (exit 2), as its other data errors" {
  run tg-check -e 'sum(x)' --wrt x "x=$DAMAGED/d10-rc136.h5:x"
  assert_failure 2
  assert_output "tg-check: $DAMAGED/d10-rc136.h5: the file is damaged (the HDF5 library failed reading it)"
  run tg-check -e 'sum(x)' --wrt x "x=$DAMAGED/d12-rc139.h5:x"
  assert_failure 2
  assert_output --partial "d12-rc139.h5: damaged HDF5 file: cannot look up 'x'"
}

@test "a fault outside the guard stays a crash" {
  # tg-fit waits on an empty pipe (outside libhdf5) when it gets SIGSEGV: it dies of it, saying nothing.
  run bash -c 'timeout --preserve-status -s SEGV 1 tg-fit --format kv < <(sleep 5 2>/dev/null)'
  assert_equal "$status" 139
  refute_output --partial "damaged"
}

@test "TG_STALL_SECONDS must be a positive number" {
  TG_STALL_SECONDS=abc run tg-fit --format kv "$DAMAGED/d02-rc139.h5"
  assert_failure 2
  assert_output --partial "invalid value 'abc' for TG_STALL_SECONDS"
  TG_STALL_SECONDS=0 run tg-fit --format kv "$DAMAGED/d02-rc139.h5"
  assert_failure 2
}

@test "a long legitimate read is not a hang: 10^7 compressed points with a 10 ms step allowance" {
  skip_unless_h5py
  # Decompressing 160 MB takes far longer than 10 ms of CPU in all; each step
  # (one slice of at most 16 MB) stays within its own allowance.
  py 'n = 10_000_000
x = np.linspace(0, 1, n)
with h5py.File("big.h5", "w") as f:
    f.create_dataset("x", data=x, chunks=(1 << 16,), compression="gzip", compression_opts=1)
    f.create_dataset("y", data=2 * x + 3, chunks=(1 << 16,), compression="gzip", compression_opts=1)'
  TG_STALL_SECONDS=0.01 run timeout "$GUARD" tg-fit --method exact --format kv big.h5
  assert_success
  assert_line --regexp '^w=(2|1\.99999999|2\.0000000)'
  assert_line --regexp '^b=(3|2\.99999999|3\.0000000)'
}
