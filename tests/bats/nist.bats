#!/usr/bin/env bats
# tg-fit's default method (Levenberg-Marquardt) on NIST's StRD nonlinear
# regression problems of lower difficulty, from both of NIST's starting
# points: every parameter to 9 significant digits of NIST's certified value,
# every standard error to 7, converged=1 (issue 18 asks 6 and 4; the method
# polishes its end with Gauss-Newton steps, and without them Chwirut2 and
# Lanczos3 stop at 6.4-7.5 digits). The data and certified values are
# bench/nist/ (problems.tsv; sources in bench/nist/README.md). The problems
# of average and higher difficulty are left to bench/nist (make bench-nist):
# they judge the method and are not what it was tuned on.

load helpers

NIST="$TG_ROOT/bench/nist"

setup() { tg_setup; }

# field PROBLEM COLUMN: a column of problems.tsv for the problem.
field() {
  awk -F'\t' -v p="$1" -v c="$2" '/^#/ { next } $1 == "name" { for (i = 1; i <= NF; i++) col[$i] = i; next }
    $1 == p { print $col[c] }' "$NIST/problems.tsv"
}

# within VALUE CERTIFIED DIGITS WHAT: |VALUE - CERTIFIED| <= 10^-DIGITS |CERTIFIED|.
within() {
  awk -v a="$1" -v b="$2" -v d="$3" -v what="$4" 'BEGIN {
    e = a - b; if (e < 0) e = -e; m = b < 0 ? -b : b
    if (a == "" || e > m * 10 ^ -d) { printf "%s: %s, certified %s: fewer than %d digits\n", what, a, b, d; exit 1 } }'
}

# nist PROBLEM: fits it from both starts and checks the answers.
nist() {
  local p=$1 pdigits=9 sdigits=7 data model params cert sds start init out name i
  data="$NIST/$(field "$p" data)" model=$(field "$p" model) params=$(field "$p" params)
  IFS=, read -ra names <<<"$params"
  IFS=, read -ra cert <<<"$(field "$p" certified)"
  IFS=, read -ra sds <<<"$(field "$p" stderr)"
  for start in start1 start2; do
    IFS=, read -ra s <<<"$(field "$p" $start)"
    init=""
    for i in "${!names[@]}"; do init+="${init:+,}${names[$i]}=${s[$i]}"; done
    out=$(tg-fit "$data" --model "$model" --init "$init" --dtype f64 --format kv) || {
      echo "$p $start: tg-fit failed"
      return 1
    }
    echo "$out" | grep -qx "converged=1" || { echo "$p $start: not converged"; return 1; }
    for i in "${!names[@]}"; do
      name=${names[$i]}
      within "$(echo "$out" | sed -n "s/^$name=//p")" "${cert[$i]}" $pdigits "$p $start $name" || return 1
      within "$(echo "$out" | sed -n "s/^${name}_stderr=//p")" "${sds[$i]}" $sdigits "$p $start ${name}_stderr" || return 1
    done
  done
}

@test "NIST Misra1a from both starts: certified values and standard errors" { nist Misra1a; }
@test "NIST Chwirut2 from both starts: certified values and standard errors" { nist Chwirut2; }
@test "NIST Chwirut1 from both starts: certified values and standard errors" { nist Chwirut1; }
@test "NIST Lanczos3 from both starts: certified values and standard errors" { nist Lanczos3; }
@test "NIST Gauss1 from both starts: certified values and standard errors" { nist Gauss1; }
@test "NIST Gauss2 from both starts: certified values and standard errors" { nist Gauss2; }
@test "NIST DanWood from both starts: certified values and standard errors" { nist DanWood; }
@test "NIST Misra1b from both starts: certified values and standard errors" { nist Misra1b; }
