# Shared set-up for the bats tests: `load helpers` at the top of a .bats file.
#  - bats-support and bats-assert (Debian's bats-support / bats-assert packages)
#  - bin/ of this tree first on PATH
#  - each test runs in its own empty temporary directory ($TMP), the cwd
#  - py: Debian's python3 (with h5py and numpy), not whatever is first on PATH
bats_require_minimum_version 1.5.0

load /usr/lib/bats/bats-support/load.bash
load /usr/lib/bats/bats-assert/load.bash

TG_ROOT=$(cd "$BATS_TEST_DIRNAME/../.." && pwd)
PATH="$TG_ROOT/bin:$PATH"
export PATH TG_ROOT

tg_setup() {
  TMP=$BATS_TEST_TMPDIR
  cd "$TMP" || return 1
  unset TG_SEED # tests name their seeds; TG_DEVICE is left to the caller
}

setup() { tg_setup; }

# py 'python code' [ARG...]: runs Debian's python3; the code sees sys.argv[1:].
py() {
  local code=$1
  shift
  /usr/bin/python3 -c "import sys, io, h5py, numpy as np
$code" "$@"
}

# skip_unless_h5py: skips the test when python3-h5py is not installed.
skip_unless_h5py() {
  /usr/bin/python3 -c 'import h5py, numpy' 2>/dev/null || skip "python3-h5py is not installed"
}

# assert_no_file FILE...: none of the files exists (nor a left-over temporary).
assert_no_file() {
  local f
  for f in "$@"; do
    [ ! -e "$f" ] || fail "$f exists but should not"
  done
}

# on_tty CMD: runs CMD with standard output on a pseudo-terminal (script(1)).
on_tty() {
  command -v script >/dev/null || skip "script(1) is not installed"
  script -qec "$*" /dev/null
}
